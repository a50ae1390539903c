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
