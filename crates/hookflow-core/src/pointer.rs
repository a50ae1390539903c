//! JSON pointer reference tokens (RFC 6901): a key escaped into a pointer, and back.

/// `token` escaped for a JSON pointer: `~` as `~0`, `/` as `~1`.
pub fn escape(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    push_escaped(&mut out, token);
    out
}

/// Appends `/` and `token`, escaped, to `pointer`; answers the length to truncate back to.
pub fn push_token(pointer: &mut String, token: &str) -> usize {
    let len = pointer.len();
    pointer.push('/');
    push_escaped(pointer, token);
    len
}

/// A reference token of a pointer read back: `~1` as `/`, `~0` as `~`.
pub fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// The pointer of a deserializer's path (`""` for the document itself); a segment the
/// deserializer could not name (a map key that is not a string) is `?`.
pub fn of_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => push_token(&mut out, &index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => push_token(&mut out, key),
            Segment::Unknown => push_token(&mut out, "?"),
        };
    }
    out
}

fn push_escaped(out: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deserializer_path_becomes_a_pointer() {
        let text = r#"{"cases": [{"a/b": {"n": "x"}}]}"#;
        type Doc = std::collections::HashMap<String, Vec<std::collections::HashMap<String, Inner>>>;
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            n: u32,
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let err = serde_path_to_error::deserialize::<_, Doc>(de).unwrap_err();
        assert_eq!(of_path(err.path()), "/cases/0/a~1b/n");
    }

    #[test]
    fn tokens_escape_and_read_back() {
        assert_eq!(escape("a/b~c"), "a~1b~0c");
        assert_eq!(escape("~1"), "~01");
        assert_eq!(unescape("~01"), "~1");
        assert_eq!(unescape(&escape("x/~/y~")), "x/~/y~");
        let mut pointer = String::from("/a");
        let len = push_token(&mut pointer, "b/c");
        assert_eq!(pointer, "/a/b~1c");
        pointer.truncate(len);
        assert_eq!(pointer, "/a");
    }
}
