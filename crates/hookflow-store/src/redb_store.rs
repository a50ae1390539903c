//! [`RedbStore`]: the default backend, one redb file in the data directory.

use std::{
    fmt,
    ops::Bound,
    path::{Path, PathBuf},
};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{
    Durability, StoreError,
    kv::{Engine, Entry, Shared, Table, Visit, Write, is_empty_range, walk},
};

/// redb's page cache: enough for the indexes and recent records; history is written far more than
/// it is read, and a larger cache only grows the process (redb's default is 1 GiB).
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A [`Store`](crate::Store) in `hookflow.redb`, one redb table per domain.
///
/// Every write (a single put or delete, or a whole batch) is one transaction, committed with
/// redb's default [`Durability::Immediate`](redb::Durability::Immediate): durable when the commit
/// returns. A deferred write ([`Durability::Deferred`]) commits with `Durability::None`, which the
/// next immediate commit (or [`Store::flush`](crate::Store::flush)) makes durable.
pub struct RedbStore {
    db: Database,
    shared: Shared,
    path: PathBuf,
    describe: String,
}

impl RedbStore {
    /// The file's name in the data directory.
    pub const FILE_NAME: &'static str = "hookflow.redb";

    /// Opens `dir/hookflow.redb`, creating the directory, the file and any missing table.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|cause| StoreError::CreateDir { path: dir.to_path_buf(), cause })?;
        let path = dir.join(Self::FILE_NAME);
        let describe = format!("redb database {}", path.display());
        let open_failed = |cause: &dyn fmt::Display| StoreError::Open {
            store: describe.clone(),
            cause: cause.to_string(),
        };
        let db = redb::Builder::new().set_cache_size(CACHE_BYTES).create(&path).map_err(|err| {
            if matches!(err, redb::DatabaseError::DatabaseAlreadyOpen) {
                StoreError::Locked { store: describe.clone() }
            } else {
                open_failed(&err)
            }
        })?;
        let txn = db.begin_write().map_err(|err| open_failed(&err))?;
        for table in Table::ALL {
            txn.open_table(definition(table)).map_err(|err| open_failed(&err))?;
        }
        txn.commit().map_err(|err| open_failed(&err))?;
        Ok(Self { db, shared: Shared::default(), path, describe })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn definition(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

impl Engine for RedbStore {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let failed = |cause: &dyn fmt::Display| self.failed("read", table, Some(key), cause);
        let txn = self.db.begin_read().map_err(|err| failed(&err))?;
        let entries = txn.open_table(definition(table)).map_err(|err| failed(&err))?;
        let value = entries.get(key).map_err(|err| failed(&err))?;
        Ok(value.map(|guard| guard.value().to_vec()))
    }

    fn scan_raw(&self, table: Table) -> Result<Vec<Entry>, StoreError> {
        let failed = |cause: &dyn fmt::Display| self.failed("scan", table, None, cause);
        let txn = self.db.begin_read().map_err(|err| failed(&err))?;
        let entries = txn.open_table(definition(table)).map_err(|err| failed(&err))?;
        entries
            .iter()
            .map_err(|err| failed(&err))?
            .map(|entry| {
                let (key, value) = entry.map_err(|err| failed(&err))?;
                Ok((key.value().to_vec(), value.value().to_vec()))
            })
            .collect()
    }

    fn get_many_raw(
        &self,
        table: Table,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            // No read transaction for nothing (a batch of new records asks for no old ones).
            return Ok(Vec::new());
        }
        let failed =
            |key: Option<&[u8]>, cause: &dyn fmt::Display| self.failed("read", table, key, cause);
        let txn = self.db.begin_read().map_err(|err| failed(None, &err))?;
        let entries = txn.open_table(definition(table)).map_err(|err| failed(None, &err))?;
        keys.iter()
            .map(|key| {
                let value = entries.get(key.as_slice()).map_err(|err| failed(Some(key), &err))?;
                Ok(value.map(|guard| guard.value().to_vec()))
            })
            .collect()
    }

    fn range_raw(
        &self,
        table: Table,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        visit: Visit<'_>,
    ) -> Result<(), StoreError> {
        if is_empty_range(lower, upper) {
            return Ok(());
        }
        let failed = |cause: &dyn fmt::Display| self.failed("scan", table, None, cause);
        let txn = self.db.begin_read().map_err(|err| failed(&err))?;
        let entries = txn.open_table(definition(table)).map_err(|err| failed(&err))?;
        let range = entries.range::<&[u8]>((lower, upper)).map_err(|err| failed(&err))?;
        let step = |entry: Result<_, redb::StorageError>| {
            let (key, value): (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>) =
                entry.map_err(|err| failed(&err))?;
            visit(key.value(), value.value())
        };
        walk(range, reverse, step)
    }

    fn apply_raw(&self, writes: &[Write<'_>], durability: Durability) -> Result<(), StoreError> {
        let failed = |write: Option<&Write>, cause: &dyn fmt::Display| match write {
            Some(write) => self.failed("write", write.table(), Some(write.key()), cause),
            None => StoreError::Backend {
                store: self.describe.clone(),
                operation: format!("commit a batch of {} writes", writes.len()),
                cause: cause.to_string(),
            },
        };
        let mut txn = self.db.begin_write().map_err(|err| failed(None, &err))?;
        if durability == Durability::Deferred {
            // Written, not synced: the next commit with the default durability syncs it too.
            txn.set_durability(redb::Durability::None).map_err(|err| failed(None, &err))?;
        }
        {
            // Each table is opened once, on its first write, and stays open to the end.
            let mut open: Vec<Option<redb::Table<&[u8], &[u8]>>> =
                Table::ALL.iter().map(|_| None).collect();
            for write in writes {
                let slot = &mut open[write.table() as usize];
                let entries = match slot {
                    Some(entries) => entries,
                    None => slot.insert(
                        txn.open_table(definition(write.table()))
                            .map_err(|err| failed(Some(write), &err))?,
                    ),
                };
                match write {
                    Write::Put { key, value, .. } => {
                        entries.insert(key.as_slice(), &**value).map(drop)
                    }
                    Write::Remove { key, .. } => entries.remove(key.as_slice()).map(drop),
                }
                .map_err(|err| failed(Some(write), &err))?;
            }
        }
        txn.commit().map_err(|err| failed(None, &err))
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn put_raw(&self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let failed = |cause: &dyn fmt::Display| self.failed("write", table, Some(key), cause);
        let txn = self.db.begin_write().map_err(|err| failed(&err))?;
        {
            let mut entries = txn.open_table(definition(table)).map_err(|err| failed(&err))?;
            entries.insert(key, value).map_err(|err| failed(&err))?;
        }
        txn.commit().map_err(|err| failed(&err))
    }

    fn remove_raw(&self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        let failed = |cause: &dyn fmt::Display| self.failed("delete", table, Some(key), cause);
        let txn = self.db.begin_write().map_err(|err| failed(&err))?;
        let removed = {
            let mut entries = txn.open_table(definition(table)).map_err(|err| failed(&err))?;
            entries.remove(key).map_err(|err| failed(&err))?.is_some()
        };
        txn.commit().map_err(|err| failed(&err))?;
        Ok(removed)
    }

    /// An empty commit with the default durability: it syncs the deferred commits before it.
    fn flush_raw(&self) -> Result<(), StoreError> {
        let failed = |cause: &dyn fmt::Display| StoreError::Backend {
            store: self.describe.clone(),
            operation: "flush".to_owned(),
            cause: cause.to_string(),
        };
        self.db.begin_write().map_err(|err| failed(&err))?.commit().map_err(|err| failed(&err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::testing::on_disk_backend_tests!(RedbStore);

    #[test]
    fn creates_the_data_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        let store = RedbStore::open(&dir).unwrap();
        assert_eq!(store.path(), dir.join("hookflow.redb"));
        assert!(store.path().is_file());
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RedbStore::FILE_NAME);
        std::fs::write(&path, vec![7u8; 8192]).unwrap();
        let err = RedbStore::open(dir.path()).unwrap_err();
        let expected = format!("cannot open the redb database {}: ", path.display());
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    #[test]
    fn a_data_directory_that_is_a_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        std::fs::write(&file, "").unwrap();
        let err = RedbStore::open(&file).unwrap_err();
        let expected = format!("cannot create the data directory {}: ", file.display());
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    #[test]
    fn a_second_open_of_the_same_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RedbStore::open(dir.path()).unwrap();
        let err = RedbStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.starts_with("cannot open the redb database "), "{message}");
        assert!(message.contains("another process has it open"), "{message}");
    }
}
