//! The differences between two JSON values, each named by its JSON pointer: what a test case's
//! body expectation reports, and what a replay reports between two responses.

use serde_json::Value;

use crate::pointer::push_token;

/// A value that differs: each side's value at `pointer` (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq)]
pub struct Difference<'a> {
    pub pointer: String,
    pub left: Option<&'a Value>,
    pub right: Option<&'a Value>,
}

/// Which keys count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// A key on either side only is a difference.
    Both,
    /// Only the keys of `left` are compared, and arrays only when they are as long (a subset).
    Left,
}

/// Every difference between `left` and `right`, in document order: each object's keys as `left`
/// has them, then those only `right` has; array elements by index. Leaves (and values of
/// different types) are equal when `same` says so; a key or element on one side only is reported
/// with its whole value.
pub fn diff<'a>(
    left: &'a Value,
    right: &'a Value,
    keys: Keys,
    same: impl Fn(&Value, &Value) -> bool,
) -> Vec<Difference<'a>> {
    let mut out = Vec::new();
    walk(&mut String::new(), left, right, keys, &same, &mut out);
    out
}

fn walk<'a>(
    pointer: &mut String,
    left: &'a Value,
    right: &'a Value,
    keys: Keys,
    same: &impl Fn(&Value, &Value) -> bool,
    out: &mut Vec<Difference<'a>>,
) {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => {
            for (key, lv) in l {
                let len = push_token(pointer, key);
                match r.get(key) {
                    Some(rv) => walk(pointer, lv, rv, keys, same, out),
                    None => out.push(at(pointer, Some(lv), None)),
                }
                pointer.truncate(len);
            }
            if keys == Keys::Both {
                for (key, rv) in r.iter().filter(|(key, _)| !l.contains_key(*key)) {
                    let len = push_token(pointer, key);
                    out.push(at(pointer, None, Some(rv)));
                    pointer.truncate(len);
                }
            }
        }
        (Value::Array(l), Value::Array(r)) if keys == Keys::Both || l.len() == r.len() => {
            for i in 0..l.len().max(r.len()) {
                let len = push_token(pointer, &i.to_string());
                match (l.get(i), r.get(i)) {
                    (Some(lv), Some(rv)) => walk(pointer, lv, rv, keys, same, out),
                    (lv, rv) => out.push(at(pointer, lv, rv)),
                }
                pointer.truncate(len);
            }
        }
        (l, r) if same(l, r) => {}
        (l, r) => out.push(at(pointer, Some(l), Some(r))),
    }
}

fn at<'a>(pointer: &str, left: Option<&'a Value>, right: Option<&'a Value>) -> Difference<'a> {
    Difference { pointer: pointer.to_owned(), left, right }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pointers(left: &Value, right: &Value, keys: Keys) -> Vec<String> {
        diff(left, right, keys, |a, b| a == b).into_iter().map(|d| d.pointer).collect()
    }

    #[test]
    fn differences_come_in_document_order_by_escaped_pointer() {
        let left = json!({ "a/b": [1, 2], "c": { "d~": 1 }, "same": true });
        let right = json!({ "new": 0, "c": { "d~": 2, "e": 3 }, "a/b": [1], "same": true });
        assert_eq!(pointers(&left, &right, Keys::Both), ["/a~1b/1", "/c/d~0", "/c/e", "/new"]);
        // A subset: keys only `right` has are not differences; an array of another length is one.
        assert_eq!(pointers(&left, &right, Keys::Left), ["/a~1b", "/c/d~0"]);
        assert_eq!(pointers(&json!("x"), &json!({ "k": 1 }), Keys::Both), [""]);
        let ignore_case = |a: &Value, b: &Value| a.to_string().eq_ignore_ascii_case(&b.to_string());
        assert!(diff(&json!(["A"]), &json!(["a"]), Keys::Both, ignore_case).is_empty());
    }
}
