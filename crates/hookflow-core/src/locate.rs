//! Finds where a JSON pointer lands in a JSON document's text, as a 1-based line and column.
//!
//! Only used to render diagnostics, so it favours clarity over speed: it walks the text once,
//! skipping every value that is not on the pointer's way. When a segment does not exist (a missing
//! field), it answers the position of the deepest value that does.

/// The line and column (1-based, columns counted in characters) of the value `pointer` names.
pub fn line_column(text: &str, pointer: &str) -> Option<(usize, usize)> {
    let segments = split_pointer(pointer)?;
    let mut scanner = Scanner { bytes: text.as_bytes(), pos: 0 };
    scanner.ws();
    let offset = scanner.find(&segments)?;
    Some(offset_to_line_column(text, offset))
}

/// The line and column in `text` of a place inside the string value `pointer` names: the
/// character at 1-based `line` and `column` of the string as decoded, where an escaped `\n`
/// starts a line (a script written in a JSON string, say). The string's end when the place is
/// past it; `None` when the value is not a string.
pub fn line_column_within(
    text: &str,
    pointer: &str,
    within: (usize, usize),
) -> Option<(usize, usize)> {
    let segments = split_pointer(pointer)?;
    let mut scanner = Scanner { bytes: text.as_bytes(), pos: 0 };
    scanner.ws();
    let start = scanner.find(&segments)?;
    let raw = text.get(start..)?.strip_prefix('"')?;
    let (mut line, mut column) = (1, 1);
    let mut chars = raw.char_indices();
    let mut at = raw.len();
    while let Some((i, c)) = chars.next() {
        if (line, column) >= within || c == '"' {
            at = i;
            break;
        }
        if c != '\\' {
            column += 1;
            continue;
        }
        match chars.next() {
            Some((_, 'n')) => (line, column) = (line + 1, 1),
            Some((_, 'u')) => {
                chars.by_ref().take(4).for_each(drop);
                column += 1;
            }
            _ => column += 1,
        }
    }
    Some(offset_to_line_column(text, start + 1 + at))
}

fn split_pointer(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(rest.split('/').map(crate::pointer::unescape).collect())
}

fn offset_to_line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    /// At the start of a value: the offset of the value `segments` leads to from here.
    fn find(&mut self, segments: &[String]) -> Option<usize> {
        let here = self.pos;
        let Some((first, rest)) = segments.split_first() else { return Some(here) };
        match self.peek()? {
            b'{' => {
                self.pos += 1;
                loop {
                    self.ws();
                    if self.peek()? == b'}' {
                        return Some(here);
                    }
                    let key = self.string()?;
                    self.ws();
                    self.expect(b':')?;
                    self.ws();
                    if key == *first {
                        return self.find(rest);
                    }
                    self.skip_value()?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.pos += 1;
                    }
                }
            }
            b'[' => {
                let wanted: usize = first.parse().ok()?;
                self.pos += 1;
                let mut index = 0;
                loop {
                    self.ws();
                    if self.peek()? == b']' {
                        return Some(here);
                    }
                    if index == wanted {
                        return self.find(rest);
                    }
                    self.skip_value()?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.pos += 1;
                    }
                    index += 1;
                }
            }
            _ => Some(here),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Reads a string token and decodes it.
    fn string(&mut self) -> Option<String> {
        let start = self.pos;
        self.skip_string()?;
        serde_json::from_slice(&self.bytes[start..self.pos]).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => self.pos += 1,
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                ) {
                    self.pos += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::line_column;

    const DOC: &str = "{\n  \"id\": \"a\",\n  \"nodes\": [\n    { \"id\": \"x\", \"s\": \"{\\\"]\" },\n    { \"id\": \"y\",\n      \"fields\": { \"a/b\": 1 } }\n  ]\n}\n";

    #[test]
    fn finds_nested_values() {
        assert_eq!(line_column(DOC, ""), Some((1, 1)));
        assert_eq!(line_column(DOC, "/id"), Some((2, 9)));
        assert_eq!(line_column(DOC, "/nodes/0/id"), Some((4, 13)));
        assert_eq!(line_column(DOC, "/nodes/1"), Some((5, 5)));
        assert_eq!(line_column(DOC, "/nodes/1/fields/a~1b"), Some((6, 26)));
    }

    #[test]
    fn missing_segment_answers_the_deepest_existing_value() {
        assert_eq!(line_column(DOC, "/nodes/1/nope"), Some((5, 5)));
        assert_eq!(line_column(DOC, "/nodes/9"), Some((3, 12)));
    }

    #[test]
    fn finds_a_place_inside_a_string() {
        let text = "{\n  \"s\": \"let a = 1;\\n  a = = \\\"x\\\";\" }";
        assert_eq!(super::line_column_within(text, "/s", (1, 1)), Some((2, 9)));
        assert_eq!(super::line_column_within(text, "/s", (1, 5)), Some((2, 13)));
        // Line 2 starts after the escaped newline; the escaped quote is one character.
        assert_eq!(super::line_column_within(text, "/s", (2, 7)), Some((2, 27)));
        assert_eq!(super::line_column_within(text, "/s", (2, 10)), Some((2, 31)));
        assert_eq!(super::line_column_within(text, "/s", (9, 1)), Some((2, 35)));
    }

    #[test]
    fn counts_columns_in_characters() {
        assert_eq!(line_column("{\"é\": 1, \"b\": 2}", "/b"), Some((1, 15)));
    }
}
