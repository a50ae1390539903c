//! Request intake rules shared by the server and the offline runner: how a body is parsed by its
//! content type, and how a query string becomes an object.

use serde_json::{Map, Value};

/// A body that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("malformed JSON body at line {line}, column {column}: {message}")]
    Json { line: usize, column: usize, message: String },
    #[error("the body is not valid UTF-8 text")]
    NotUtf8,
}

/// Parses a body by its `Content-Type`: JSON (`application/json`, `*/*+json`) to its value, a form
/// (`application/x-www-form-urlencoded`) to an object, `text/*` to a string; any other type is a
/// string when it is UTF-8 and `null` otherwise (the raw bytes stay available). An empty body is
/// `null`.
pub fn parse_body(content_type: Option<&str>, bytes: &[u8]) -> Result<Value, IntakeError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let mime = content_type.and_then(|ct| ct.split(';').next()).map_or("", str::trim).as_bytes();
    // Media types are case-insensitive.
    let ends_with = |suffix: &str| {
        mime.len() >= suffix.len()
            && mime[mime.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    if mime.eq_ignore_ascii_case(b"application/json") || ends_with("+json") {
        return serde_json::from_slice(bytes).map_err(|e| {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            IntakeError::Json { line: e.line(), column: e.column(), message }
        });
    }
    if mime.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
        return Ok(Value::Object(pairs(form_urlencoded::parse(bytes))));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Value::String(text.to_owned())),
        Err(_) if mime.get(..5).is_some_and(|m| m.eq_ignore_ascii_case(b"text/")) => {
            Err(IntakeError::NotUtf8)
        }
        Err(_) => Ok(Value::Null),
    }
}

/// Parses a query string; a repeated key becomes an array of its values.
pub fn parse_query(query: &str) -> Map<String, Value> {
    pairs(form_urlencoded::parse(query.as_bytes()))
}

/// Collects key/value pairs; a repeated key becomes an array of its values, in order.
pub fn pairs<K: AsRef<str>, V: Into<String>>(
    iter: impl Iterator<Item = (K, V)>,
) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in iter {
        let v = Value::String(v.into());
        match map.get_mut(k.as_ref()) {
            None => {
                map.insert(k.as_ref().to_owned(), v);
            }
            Some(Value::Array(items)) => items.push(v),
            Some(first) => {
                let first = first.take();
                map.insert(k.as_ref().to_owned(), Value::Array(vec![first, v]));
            }
        }
    }
    map
}

/// Headers as a flow sees them: one entry per name (names as given: lower-case over HTTP),
/// repeated ones joined with `", "` in order; values read as UTF-8, lossily. `hint`: how many
/// names there are, when known.
pub fn join_headers<'a>(
    headers: impl Iterator<Item = (&'a str, &'a [u8])>,
    hint: usize,
) -> Map<String, Value> {
    let mut map = Map::with_capacity(hint);
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value);
        match map.entry(name) {
            serde_json::map::Entry::Vacant(e) => {
                e.insert(Value::String(value.into_owned()));
            }
            serde_json::map::Entry::Occupied(mut e) => {
                if let Value::String(joined) = e.get_mut() {
                    joined.push_str(", ");
                    joined.push_str(&value);
                }
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bodies_by_content_type() {
        assert_eq!(
            parse_body(Some("application/json; charset=utf-8"), b"{\"a\":1}"),
            Ok(json!({"a": 1}))
        );
        assert_eq!(parse_body(Some("application/vnd.api+json"), b"[1]"), Ok(json!([1])));
        assert_eq!(
            parse_body(Some("application/x-www-form-urlencoded"), b"a=1&b=x+y&a=2"),
            Ok(json!({"a": ["1", "2"], "b": "x y"}))
        );
        assert_eq!(parse_body(Some("text/plain"), b"hi"), Ok(json!("hi")));
        assert_eq!(parse_body(None, b""), Ok(Value::Null));
        assert_eq!(parse_body(Some("application/octet-stream"), &[0xff, 0xfe]), Ok(Value::Null));
        assert_eq!(parse_body(Some("text/plain"), &[0xff]), Err(IntakeError::NotUtf8));
        // Media types are case-insensitive.
        assert_eq!(parse_body(Some(" Application/JSON ;q=1"), b"[2]"), Ok(json!([2])));
        assert_eq!(parse_body(Some("application/Problem+JSON"), b"[3]"), Ok(json!([3])));
        assert_eq!(
            parse_body(Some("Application/X-WWW-Form-Urlencoded"), b"a=1"),
            Ok(json!({"a": "1"}))
        );
        assert_eq!(parse_body(Some("TEXT/csv"), &[0xff]), Err(IntakeError::NotUtf8));
        assert_eq!(parse_body(Some("json"), b"[4]"), Ok(json!("[4]")));
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = parse_body(Some("application/json"), b"{\n  \"a\": 1,\n  oops\n}").unwrap_err();
        assert!(matches!(err, IntakeError::Json { line: 3, column: 3, .. }), "{err:?}");
        assert!(err.to_string().contains("line 3, column 3"));
    }

    #[test]
    fn repeated_headers_are_joined() {
        let headers = [("x-a", "1"), ("content-type", "text/plain"), ("x-a", "2")];
        let json = join_headers(headers.iter().map(|(n, v)| (*n, v.as_bytes())), 2);
        assert_eq!(
            json,
            json!({"x-a": "1, 2", "content-type": "text/plain"}).as_object().cloned().unwrap()
        );
    }

    #[test]
    fn repeated_query_keys_become_arrays() {
        assert_eq!(
            Value::Object(parse_query("s=1&t=a&s=2&s=3")),
            json!({"s": ["1", "2", "3"], "t": "a"})
        );
    }
}
