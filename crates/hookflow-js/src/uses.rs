//! What a script may read of its globals, found in its source when it compiles, so that a run
//! copies into the engine only that: `request.body.total` needs the body's `total`, not the
//! request's headers. The analysis over-approximates: where it cannot tell (a computed member,
//! the bare object passed on, `arguments`), the whole value is needed.

use serde_json::Value;

use crate::GLOBALS;

/// How deep a chain of static member names is followed (`request.body.items`).
const MAX_CHAIN: usize = 3;

/// What a script needs of one value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Need {
    /// Not read.
    #[default]
    Nothing,
    /// Read as a whole.
    Whole,
    /// Only these members are read (each with what it needs of the member).
    Parts(Vec<(String, Need)>),
}

impl Need {
    /// Adds a read of `chain` (member names from this value down).
    fn add(&mut self, chain: &[String]) {
        let Some((first, rest)) = chain.split_first() else {
            *self = Need::Whole;
            return;
        };
        match self {
            Need::Whole => {}
            Need::Nothing => {
                *self = Need::Parts(Vec::new());
                self.add(chain);
            }
            Need::Parts(parts) => {
                let i = match parts.iter().position(|(name, _)| name == first) {
                    Some(i) => i,
                    None => {
                        parts.push((first.clone(), Need::Nothing));
                        parts.len() - 1
                    }
                };
                parts[i].1.add(rest);
            }
        }
    }

    /// Whether anything of the value is read.
    pub fn any(&self) -> bool {
        *self != Need::Nothing
    }

    /// Whether the member at `path` below this value, or anything in it, may be read.
    pub fn reaches(&self, path: &[&str]) -> bool {
        match (self, path.split_first()) {
            (Need::Nothing, _) => false,
            (Need::Whole, _) | (Need::Parts(_), None) => true,
            (Need::Parts(parts), Some((first, rest))) => {
                parts.iter().any(|(name, need)| name == first && need.reaches(rest))
            }
        }
    }

    /// The length of `value`, an array of which only `length` is read.
    pub fn length_only(&self, value: &Value) -> Option<u32> {
        match (self, value) {
            (Need::Parts(parts), Value::Array(items))
                if parts.len() == 1 && parts[0].0 == "length" =>
            {
                u32::try_from(items.len()).ok()
            }
            _ => None,
        }
    }

    /// Whether `value` can be copied in part: it is an object that has every member named (a
    /// member it lacks would be looked up on the prototype, which may reflect on the object).
    pub fn prunes(&self, value: &Value) -> Option<&[(String, Need)]> {
        match (self, value) {
            (Need::Parts(parts), Value::Object(map))
                if parts.iter().all(|(name, _)| map.contains_key(name)) =>
            {
                Some(parts)
            }
            _ => None,
        }
    }
}

/// What a source may read: of each of [`GLOBALS`], and whether it names `globalThis`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uses {
    /// Per [`GLOBALS`] entry.
    pub globals: [Need; 4],
    pub global_this: bool,
}

impl Uses {
    /// What `source` may read. Every occurrence of a global's name as a word counts (in code,
    /// strings or comments alike: more than it reads, never less), with the static member names
    /// that follow it; `arguments` reaches every parameter.
    pub fn of(source: &str) -> Uses {
        let mut uses = Uses::default();
        let bytes = source.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if !is_ident_start(bytes[i]) || (i > 0 && is_ident(bytes[i - 1])) {
                i += 1;
                continue;
            }
            let end = word_end(bytes, i);
            let word = &source[i..end];
            if word == "arguments" {
                uses.globals = std::array::from_fn(|_| Need::Whole);
                uses.global_this = true;
                return uses;
            }
            uses.global_this |= word == "globalThis";
            let is_member = source[..i].trim_end().ends_with('.');
            if let Some(g) = GLOBALS.iter().position(|g| *g == word)
                && !is_member
            {
                uses.globals[g].add(&chain(source, end));
            }
            i = end;
        }
        uses
    }

    /// Whether the source may read `name`, one of [`GLOBALS`].
    pub fn reads(&self, name: &str) -> bool {
        GLOBALS.iter().position(|g| *g == name).is_some_and(|i| self.globals[i].any())
    }

    /// Whether the source may read what `path` names (`["request", "headers"]`), or anything in
    /// it.
    pub fn reaches(&self, path: &[&str]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return self.globals.iter().any(Need::any);
        };
        GLOBALS.iter().position(|g| g == first).is_some_and(|i| self.globals[i].reaches(rest))
    }
}

/// The static member names (`.name` or `?.name`) that follow position `at`, at most
/// [`MAX_CHAIN`].
fn chain(source: &str, mut at: usize) -> Vec<String> {
    let bytes = source.as_bytes();
    let mut names = Vec::new();
    while names.len() < MAX_CHAIN {
        let rest = source[at..].trim_start();
        let skipped = source.len() - at - rest.len();
        let dot = if rest.starts_with("?.") {
            2
        } else if rest.starts_with('.') && !rest.starts_with("..") {
            1
        } else {
            break;
        };
        let after = &rest[dot..];
        let name_at = at + skipped + dot + (after.len() - after.trim_start().len());
        if name_at >= bytes.len() || !is_ident_start(bytes[name_at]) {
            break;
        }
        let end = word_end(bytes, name_at);
        names.push(source[name_at..end].to_owned());
        at = end;
    }
    names
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_ident(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

fn word_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && is_ident(bytes[end]) {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parts(items: &[(&str, Need)]) -> Need {
        Need::Parts(items.iter().map(|(n, need)| ((*n).to_owned(), need.clone())).collect())
    }

    #[test]
    fn member_chains_are_followed() {
        let uses = Uses::of("Math.round(request.body.total * 1.2) + request.body?.items.length");
        assert_eq!(
            uses.globals[0],
            parts(&[(
                "body",
                parts(&[("total", Need::Whole), ("items", parts(&[("length", Need::Whole)]))])
            )])
        );
        assert!(!uses.reads("nodes") && !uses.reads("execution") && !uses.global_this);
        let whole = Uses::of("Object.keys(request.body).length + nodes.calc.n");
        assert_eq!(whole.globals[0], parts(&[("body", Need::Whole)]));
        assert_eq!(whole.globals[1], parts(&[("calc", parts(&[("n", Need::Whole)]))]));
        assert_eq!(Uses::of("const { body } = request;").globals[0], Need::Whole);
        assert_eq!(Uses::of("request['body'].x").globals[0], Need::Whole);
        assert_eq!(
            Uses::of("x.request.body").globals[0],
            Need::Nothing,
            "a member, not the global"
        );
        let all = Uses::of("arguments[2]");
        assert!(all.reads("execution") && all.reads("event") && all.global_this);
        let body = Uses::of("request.body.total");
        assert!(body.reaches(&["request", "body"]) && !body.reaches(&["request", "headers"]));
        assert!(Uses::of("request").reaches(&["request", "headers"]));
        assert!(!body.reaches(&["execution"]));
    }

    #[test]
    fn a_value_is_pruned_only_when_it_has_every_member_named() {
        let need = parts(&[("total", Need::Whole)]);
        assert!(need.prunes(&json!({ "total": 1, "x": 2 })).is_some());
        assert!(need.prunes(&json!({ "x": 2 })).is_none(), "`total` would be looked up further");
        assert!(need.prunes(&json!([1])).is_none());
        let length = parts(&[("length", Need::Whole)]);
        assert_eq!(length.length_only(&json!([1, 2, 3])), Some(3));
        assert_eq!(length.length_only(&json!({ "length": 1 })), None);
        let method = parts(&[("hasOwnProperty", Need::Whole)]);
        assert!(method.prunes(&json!({ "a": 1 })).is_none());
    }
}
