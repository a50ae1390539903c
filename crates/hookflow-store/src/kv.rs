//! The byte-level engine under the embedded backends, and the one [`Store`] impl they share.
//!
//! A backend only moves bytes in and out of tables ([`Engine`]); this module turns domain records
//! into JSON and back, so every domain method is written once for every backend.

use serde::{Serialize, de::DeserializeOwned};

use crate::{Credential, Store, StoreError};

/// One table (a redb table, a sled tree, a map in memory) per domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Credentials,
}

impl Table {
    /// Every table; a backend creates them all when it opens.
    pub const ALL: [Table; 1] = [Table::Credentials];

    /// The name of the table on disk. Never change one: it would orphan existing data.
    pub fn name(self) -> &'static str {
        match self {
            Table::Credentials => "credentials",
        }
    }
}

/// A key and its value, as stored.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A domain record: which table it lives in and its key there.
pub trait Record: Serialize + DeserializeOwned {
    const TABLE: Table;

    fn key(&self) -> &[u8];
}

/// What an embedded backend provides: ordered byte tables.
///
/// Every write returns only once it is durable.
pub trait Engine: Send + Sync + 'static {
    /// The backend and where it lives, for messages, e.g. `redb database /data/hookflow.redb`.
    fn describe(&self) -> &str;

    fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every entry of `table`, in ascending byte order of the keys.
    fn scan_raw(&self, table: Table) -> Result<Vec<Entry>, StoreError>;

    fn put_raw(&self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// `true` when there was an entry to remove.
    fn remove_raw(&self, table: Table, key: &[u8]) -> Result<bool, StoreError>;

    fn flush_raw(&self) -> Result<(), StoreError>;

    /// A backend error while doing `operation` on `key` of `table`.
    fn failed(
        &self,
        operation: &str,
        table: Table,
        key: Option<&[u8]>,
        cause: impl std::fmt::Display,
    ) -> StoreError {
        let target = match key {
            Some(key) => format!("`{}/{}`", table.name(), String::from_utf8_lossy(key)),
            None => format!("`{}`", table.name()),
        };
        StoreError::Backend {
            store: self.describe().to_owned(),
            operation: format!("{operation} {target}"),
            cause: cause.to_string(),
        }
    }
}

impl<E: Engine> Store for E {
    fn put_credential(&self, credential: &Credential) -> Result<(), StoreError> {
        put(self, credential)
    }

    fn credential(&self, name: &str) -> Result<Option<Credential>, StoreError> {
        get(self, name.as_bytes())
    }

    fn credentials(&self) -> Result<Vec<Credential>, StoreError> {
        scan(self)
    }

    fn delete_credential(&self, name: &str) -> Result<bool, StoreError> {
        self.remove_raw(Credential::TABLE, name.as_bytes())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.flush_raw()
    }
}

fn put<R: Record>(engine: &impl Engine, record: &R) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(record).map_err(|cause| StoreError::Encode {
        table: R::TABLE.name(),
        key: String::from_utf8_lossy(record.key()).into_owned(),
        cause,
    })?;
    engine.put_raw(R::TABLE, record.key(), &bytes)
}

fn get<R: Record>(engine: &impl Engine, key: &[u8]) -> Result<Option<R>, StoreError> {
    engine.get_raw(R::TABLE, key)?.map(|bytes| decode(engine, key, &bytes)).transpose()
}

fn scan<R: Record>(engine: &impl Engine) -> Result<Vec<R>, StoreError> {
    engine
        .scan_raw(R::TABLE)?
        .into_iter()
        .map(|(key, bytes)| decode(engine, &key, &bytes))
        .collect()
}

/// Parses the record stored under `key`, and checks that it is the record of that key.
fn decode<R: Record>(engine: &impl Engine, key: &[u8], bytes: &[u8]) -> Result<R, StoreError> {
    let corrupt = |cause: String| StoreError::Corrupt {
        store: engine.describe().to_owned(),
        table: R::TABLE.name(),
        key: String::from_utf8_lossy(key).into_owned(),
        cause,
    };
    let record: R = serde_json::from_slice(bytes).map_err(|err| corrupt(err.to_string()))?;
    if record.key() != key {
        return Err(corrupt(format!(
            "the record is keyed `{}`",
            String::from_utf8_lossy(record.key())
        )));
    }
    Ok(record)
}

#[cfg(test)]
pub(crate) mod tests {
    //! Engine-level cases, run by each backend's tests: what the domain API cannot produce.

    use super::*;

    /// Garbage under a key is an error that names the key, for a single read and for a scan.
    pub(crate) fn corrupt_record_is_an_error_naming_the_key(engine: &impl Engine) {
        engine.put_raw(Table::Credentials, b"broken", b"{\"name\":").unwrap();
        for err in [engine.credential("broken").unwrap_err(), engine.credentials().unwrap_err()] {
            let message = err.to_string();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
            assert!(message.starts_with(engine.describe()), "{message}");
            assert!(
                message.contains("corrupt record `broken` in `credentials`: EOF while parsing"),
                "{message}"
            );
        }
    }

    /// A record filed under another name is corrupt, not silently returned.
    pub(crate) fn misfiled_record_is_corrupt(engine: &impl Engine) {
        let record = serde_json::to_vec(&crate::testing::credential("right")).unwrap();
        engine.put_raw(Table::Credentials, b"wrong", &record).unwrap();
        let err = engine.credential("wrong").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("corrupt record `wrong` in `credentials`: the record is keyed `right`"),
            "{err}"
        );
    }

    /// Runs every engine-level case, each on a fresh engine.
    pub(crate) fn run_all<E: Engine>(make: &dyn Fn() -> E) {
        corrupt_record_is_an_error_naming_the_key(&make());
        misfiled_record_is_corrupt(&make());
    }
}
