//! Admin request bodies: JSON read into a typed struct, with a precise error. A syntax error is a
//! `400` naming its line and column; a missing, unknown or mistyped field is a `422` naming its
//! JSON pointer.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::error::Category;

use crate::error::AdminError;

/// Reads `bytes`, a JSON object, as a `T`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice::<IgnoredAny>(bytes)
        .map_err(|e| AdminError::MalformedBody(e.to_string()))?;
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        let reason = "expected a JSON object".to_owned();
        return Err(AdminError::InvalidField { pointer: String::new(), reason });
    }
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let pointer = hookflow_core::pointer::of_path(e.path());
        let inner = e.into_inner();
        match inner.classify() {
            Category::Data => AdminError::InvalidField { pointer, reason: inner.to_string() },
            Category::Io | Category::Syntax | Category::Eof => {
                AdminError::MalformedBody(inner.to_string())
            }
        }
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
        #[serde(default)]
        items: Vec<u32>,
    }

    fn error(text: &str) -> AdminError {
        parse::<Body>(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn syntax_errors_are_400_with_their_position() {
        for text in ["", "{", r#"{"name": "a"} x"#, "{name: 1}"] {
            let AdminError::MalformedBody(reason) = error(text) else { panic!("{text}") };
            assert!(reason.contains("line 1 column"), "{text}: {reason}");
        }
    }

    #[test]
    fn field_errors_are_422_with_their_pointer() {
        for (text, at, says) in [
            (r#"{"name": 1}"#, "/name", "invalid type: integer `1`, expected a string"),
            (r#"{"name": "a", "items": [1, "x"]}"#, "/items/1", "invalid type: string"),
            (r#"{"name": "a", "colour": 1}"#, "/colour", "unknown field `colour`"),
            ("{}", "", "missing field `name`"),
            (r#"["a"]"#, "", "expected a JSON object"),
        ] {
            let AdminError::InvalidField { pointer, reason } = error(text) else {
                panic!("{text}")
            };
            assert_eq!(pointer, at, "{text}");
            assert!(reason.contains(says), "{text}: {reason}");
        }
        let body = parse::<Body>(br#"{"name": "a", "items": [7]}"#).unwrap();
        assert_eq!((body.name.as_str(), body.items.as_slice()), ("a", &[7][..]));
    }
}
