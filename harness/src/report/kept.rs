//! JSON as the result file holds it, with the typed view this hvharness reads
//! from it: the run record's parts, a diagnosis's faults.
//!
//! The file is written back exactly as it was read (a merge or a copy keeps
//! every field, also those a newer hvharness added within the same schema
//! version), and readers use the types.

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// A piece of the result file: its JSON as written and the typed view of it.
#[derive(Debug, Clone)]
pub(crate) struct Kept<T> {
    typed: T,
    json: Value,
}

impl<T: Serialize> Kept<T> {
    /// A new piece, written from its typed form.
    pub(crate) fn new(typed: T) -> Result<Kept<T>, serde_json::Error> {
        let json = serde_json::to_value(&typed)?;
        Ok(Kept { typed, json })
    }
}

impl<T: DeserializeOwned> Kept<T> {
    /// Reads the typed view of `json`, keeping `json` as it is.
    pub(crate) fn read(json: Value) -> Result<Kept<T>, serde_json::Error> {
        let typed = T::deserialize(&json)?;
        Ok(Kept { typed, json })
    }
}

impl<T> Kept<T> {
    /// What this hvharness reads.
    pub(crate) fn typed(&self) -> &T {
        &self.typed
    }

    /// The JSON as written.
    pub(crate) fn json(&self) -> &Value {
        &self.json
    }
}

impl<T> Serialize for Kept<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Kept<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Kept::read(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Part {
        name: String,
    }

    /// A field this version does not know survives the round trip; the
    /// typed view reads what it knows.
    #[test]
    fn unknown_fields_are_kept() {
        let text = r#"{"name":"a","newer":[1,2]}"#;
        let kept: Kept<Part> = serde_json::from_str(text).expect("reads");
        assert_eq!(kept.typed().name, "a");
        assert_eq!(serde_json::to_string(&kept).expect("writes"), text);
        let made = Kept::new(Part { name: "b".into() }).expect("encodes");
        assert_eq!(made.json()["name"], "b");
        assert!(serde_json::from_str::<Kept<Part>>(r#"{"name":1}"#).is_err());
    }
}
