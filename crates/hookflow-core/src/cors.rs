//! A route's CORS policy (`cors` on the `webhook` node), compiled once: the origins it allows,
//! the answer to a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`,
//! answered before auth runs, with the route's real methods), and the headers an allowed
//! origin's calls get. The matching origin is reflected with `Vary: Origin`, never the first of
//! the list and never `*` with credentials; another origin gets no CORS header at all.

use schemars::JsonSchema;
use serde::Deserialize;

/// The `cors` field of a `webhook` node.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call, exactly as browsers send them (`https://app.example.com`,
    /// with a port when not the default), or `"*"` for any origin (not with `credentials`).
    pub origins: Vec<String>,
    /// Request headers a caller may send (`Access-Control-Allow-Headers`), e.g. `X-API-Key`.
    #[serde(default)]
    pub headers: Vec<String>,
    /// How long a browser may keep a preflight's answer, in seconds.
    #[serde(default)]
    pub max_age_s: Option<u64>,
    /// Whether calls may carry cookies or HTTP auth (`Access-Control-Allow-Credentials`).
    #[serde(default)]
    pub credentials: bool,
}

/// A compiled CORS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Lower-cased origins; empty with `any`.
    origins: Vec<String>,
    any: bool,
    /// `Access-Control-Allow-Headers`, joined once.
    headers: Option<String>,
    max_age: Option<String>,
    credentials: bool,
}

/// A header an answer gets: its name (lower case) and value.
pub type Header = (&'static str, String);

impl Cors {
    /// `config`, checked; a problem is named with the JSON pointer (under the `cors` field) of
    /// what is wrong.
    pub fn compile(config: &CorsConfig) -> Result<Cors, (String, String)> {
        if config.origins.is_empty() {
            return Err(("/origins".into(), "no origin: name at least one, or \"*\"".into()));
        }
        let any = config.origins.iter().any(|o| o == "*");
        if any && config.credentials {
            return Err((
                "/credentials".into(),
                "`credentials: true` cannot go with the origin \"*\": name the origins".into(),
            ));
        }
        let mut origins = Vec::new();
        for (i, origin) in config.origins.iter().enumerate() {
            if origin == "*" {
                continue;
            }
            if !is_origin(origin) {
                return Err((
                    format!("/origins/{i}"),
                    format!(
                        "`{origin}` is not an origin: a scheme and a host, with a port if not the default, and no path (`https://app.example.com`)"
                    ),
                ));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        for (i, header) in config.headers.iter().enumerate() {
            if header.is_empty()
                || !header.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err((format!("/headers/{i}"), format!("`{header}` is not a header name")));
            }
        }
        Ok(Cors {
            origins,
            any,
            headers: (!config.headers.is_empty()).then(|| config.headers.join(", ")),
            max_age: config.max_age_s.map(|s| s.to_string()),
            credentials: config.credentials,
        })
    }

    /// Whether a call from `origin` is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        self.any || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// The headers of an allowed origin's call: the origin reflected, `Vary: Origin`, and
    /// credentials when allowed. `None` for another origin.
    pub fn headers(&self, origin: &str) -> Option<Vec<Header>> {
        if !self.allows(origin) {
            return None;
        }
        let mut headers =
            vec![("access-control-allow-origin", origin.to_owned()), ("vary", "Origin".to_owned())];
        if self.credentials {
            headers.push(("access-control-allow-credentials", "true".to_owned()));
        }
        Some(headers)
    }

    /// The answer to a preflight from `origin` for a route served by `methods`: the call's
    /// headers, the methods, the allowed headers and the max age. `None` for another origin.
    pub fn preflight(&self, origin: &str, methods: &str) -> Option<Vec<Header>> {
        let mut headers = self.headers(origin)?;
        headers.push(("access-control-allow-methods", methods.to_owned()));
        if let Some(allowed) = &self.headers {
            headers.push(("access-control-allow-headers", allowed.clone()));
        }
        if let Some(age) = &self.max_age {
            headers.push(("access-control-max-age", age.clone()));
        }
        Some(headers)
    }
}

/// `scheme://host[:port]` with nothing after it.
fn is_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else { return false };
    let host = rest
        .rsplit_once(':')
        .map_or(rest, |(host, port)| if port.parse::<u16>().is_ok() { host } else { rest });
    !scheme.is_empty()
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !host.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], credentials: bool) -> Result<Cors, (String, String)> {
        Cors::compile(&CorsConfig {
            origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            headers: vec!["X-API-Key".into(), "Content-Type".into()],
            max_age_s: Some(600),
            credentials,
        })
    }

    #[test]
    fn the_matching_origin_is_reflected_and_another_gets_nothing() {
        let c = cors(&["https://a.example.com", "http://localhost:3000"], true).unwrap();
        let h = c.headers("http://localhost:3000").unwrap();
        assert_eq!(h[0], ("access-control-allow-origin", "http://localhost:3000".to_owned()));
        assert!(h.contains(&("vary", "Origin".to_owned())));
        assert!(h.contains(&("access-control-allow-credentials", "true".to_owned())));
        assert_eq!(c.headers("https://evil.example.com"), None);
        let p = c.preflight("https://a.example.com", "POST, OPTIONS").unwrap();
        assert!(p.contains(&("access-control-allow-methods", "POST, OPTIONS".to_owned())));
        assert!(
            p.contains(&("access-control-allow-headers", "X-API-Key, Content-Type".to_owned()))
        );
        assert!(p.contains(&("access-control-max-age", "600".to_owned())));
        assert_eq!(c.preflight("https://b.example.com", "POST"), None);
        let any = cors(&["*"], false).unwrap();
        assert_eq!(any.headers("https://x.test").unwrap()[0].1, "https://x.test");
        assert!(
            !any.headers("https://x.test").unwrap().iter().any(|(n, _)| n.contains("credentials"))
        );
    }

    #[test]
    fn bad_policies_are_named() {
        assert_eq!(cors(&["*"], true).unwrap_err().0, "/credentials");
        assert_eq!(cors(&[], false).unwrap_err().0, "/origins");
        for bad in ["https://a.example.com/", "a.example.com", "https://", "https://a b"] {
            assert_eq!(
                cors(&["https://ok.example", bad], false).unwrap_err().0,
                "/origins/1",
                "{bad}"
            );
        }
        assert!(cors(&["https://[::1]:8443"], false).is_ok());
    }
}
