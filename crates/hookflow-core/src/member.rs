//! Member lookup in the small JSON objects a flow reads: a scan of the entries where that beats
//! hashing the name (`serde_json`'s ordered maps hash with SipHash on every lookup).

use serde_json::{Map, Value};

/// Objects up to this many members are scanned; larger ones are looked up by hash.
const SCAN_MAX: usize = 8;

/// The member `name` of `map`.
pub fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if map.len() <= SCAN_MAX {
        map.iter().find_map(|(key, value)| (key == name).then_some(value))
    } else {
        map.get(name)
    }
}

/// The member `name` of `map`, mutable.
pub fn member_mut<'a>(map: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    if map.len() <= SCAN_MAX {
        map.iter_mut().find_map(|(key, value)| (key == name).then_some(value))
    } else {
        map.get_mut(name)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Both ways of looking up agree, below and above the scan limit, for present and absent
    /// names, and with a name that another one begins with.
    #[test]
    fn scanning_and_hashing_find_the_same_members() {
        for size in [0, 1, 2, SCAN_MAX, SCAN_MAX + 1, 40] {
            let mut map: Map<String, Value> =
                (0..size).map(|i| (format!("k{i}"), json!(i))).collect();
            for name in ["k0", "k1", "k7", "k8", "k39", "k", "k10", "x"] {
                assert_eq!(member(&map, name), map.get(name), "size {size}, name {name}");
            }
            if let Some(value) = member_mut(&mut map, "k0") {
                *value = json!("changed");
            }
            assert_eq!(map.get("k0").cloned(), (size > 0).then(|| json!("changed")));
            assert!(member_mut(&mut map, "absent").is_none());
        }
    }
}
