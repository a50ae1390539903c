//! JSON objects written field by field into a buffer: the field names are literals with nothing to
//! escape, written as they are, where a derived `Serialize` escapes every one of them; the values
//! go through `serde_json`. For records written on every call (see `hookflow-runtime`'s record).

use serde::Serialize;

/// Where the fields of one object go: a [`JsonObject`], or a serializer's map.
pub trait Fields {
    type Error;

    fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Self::Error>;
}

/// An object being written into a buffer, open until [`close`](Self::close).
pub struct JsonObject<'j> {
    json: &'j mut Vec<u8>,
    empty: bool,
}

impl<'j> JsonObject<'j> {
    pub fn open(json: &'j mut Vec<u8>) -> Self {
        json.push(b'{');
        JsonObject { json, empty: true }
    }

    /// Writes the field's name; the caller writes its value (JSON) into the buffer returned.
    pub fn name(&mut self, name: &'static str) -> &mut Vec<u8> {
        debug_assert!(!name.contains(['"', '\\']), "a field name with nothing to escape");
        if !self.empty {
            self.json.push(b',');
        }
        self.empty = false;
        self.json.push(b'"');
        self.json.extend_from_slice(name.as_bytes());
        self.json.extend_from_slice(b"\":");
        self.json
    }

    /// A field whose value is an object, open until its own [`close`](Self::close).
    pub fn object(&mut self, name: &'static str) -> JsonObject<'_> {
        JsonObject::open(self.name(name))
    }

    pub fn close(self) {
        self.json.push(b'}');
    }
}

impl Fields for JsonObject<'_> {
    type Error = serde_json::Error;

    fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        serde_json::to_writer(self.name(name), value)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn writes_the_json_of_the_object() {
        let mut json = Vec::new();
        let mut object = JsonObject::open(&mut json);
        object.field("a", &1).unwrap();
        object.field("b", "quote \" and \\ escaped").unwrap();
        let mut inner = object.object("c");
        inner.field("d", &[true, false]).unwrap();
        inner.close();
        object.object("e").close();
        object.name("f").extend_from_slice(b"null");
        object.close();
        let value: Value = serde_json::from_slice(&json).unwrap();
        let want = json!({"a": 1, "b": "quote \" and \\ escaped", "c": {"d": [true, false]}, "e": {}, "f": null});
        assert_eq!(value, want);
        let mut empty = Vec::new();
        JsonObject::open(&mut empty).close();
        assert_eq!(empty, b"{}");
    }
}
