//! [`SledStore`]: the sled backend, a `sled/` directory in the data directory.

use std::{
    fmt,
    ops::Bound,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use sled::Transactional;

use crate::{
    Durability, StoreError,
    kv::{Engine, Entry, Shared, Table, Visit, Write, is_empty_range, walk},
};

/// A [`Store`](crate::Store) in `sled/`, one sled tree per domain.
///
/// sled makes writes durable only when it flushes, so every write method flushes the database
/// before it returns. A batch that touches several trees is one sled transaction over them.
pub struct SledStore {
    db: sled::Db,
    shared: Shared,
    /// One tree per table, in the order of [`Table::ALL`].
    trees: Vec<sled::Tree>,
    path: PathBuf,
    describe: String,
}

impl SledStore {
    /// The sled directory's name in the data directory.
    pub const DIR_NAME: &'static str = "sled";

    /// Opens `dir/sled/`, creating the directories and any missing tree; the directories and
    /// their files are left to their owner ([`crate::private`]).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        crate::private::create_dir(dir)
            .map_err(|cause| StoreError::CreateDir { path: dir.to_path_buf(), cause })?;
        let path = dir.join(Self::DIR_NAME);
        let describe = format!("sled database {}", path.display());
        let open_failed = |cause: sled::Error| StoreError::Open {
            store: describe.clone(),
            cause: cause.to_string(),
        };
        let db = open_db(&path).map_err(|err| {
            if is_lock_contention(&err) {
                StoreError::Locked { store: describe.clone() }
            } else {
                open_failed(err)
            }
        })?;
        let trees = Table::ALL
            .into_iter()
            .map(|table| db.open_tree(table.name()).map_err(open_failed))
            .collect::<Result<_, _>>()?;
        crate::private::restrict(&path).map_err(|cause| StoreError::Open {
            store: describe.clone(),
            cause: cause.to_string(),
        })?;
        Ok(Self { db, shared: Shared::default(), trees, path, describe })
    }

    /// The sled directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn tree(&self, table: Table) -> &sled::Tree {
        &self.trees[table as usize]
    }

    /// Makes everything written so far durable.
    fn sync(&self, operation: &str, table: Table, key: &[u8]) -> Result<(), StoreError> {
        self.db.flush().map(drop).map_err(|err| {
            self.failed(&format!("flush after {operation} of"), table, Some(key), err)
        })
    }
}

/// How long [`open_db`] keeps retrying while the directory's lock is taken.
///
/// sled 0.34 releases its file lock from background threads some time after the last `Db` is
/// dropped (spacejam/sled#1234), so reopening a directory that this process has just closed can
/// fail for a few milliseconds. A lock held by a store that is still open is held far longer, and
/// is still reported once this has passed.
const LOCK_RETRY_FOR: Duration = Duration::from_secs(2);

fn open_db(path: &Path) -> sled::Result<sled::Db> {
    let deadline = Instant::now() + LOCK_RETRY_FOR;
    let mut pause = Duration::from_millis(2);
    loop {
        match sled::Config::new().path(path).open() {
            Err(err) if is_lock_contention(&err) && Instant::now() < deadline => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            result => return result,
        }
    }
}

/// sled reports a taken lock as an `Other` I/O error; only its message tells.
fn is_lock_contention(err: &sled::Error) -> bool {
    matches!(err, sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock on"))
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Engine for SledStore {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value =
            self.tree(table).get(key).map_err(|err| self.failed("read", table, Some(key), err))?;
        Ok(value.map(|bytes| bytes.to_vec()))
    }

    fn scan_raw(&self, table: Table) -> Result<Vec<Entry>, StoreError> {
        self.tree(table)
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(|err| self.failed("scan", table, None, err))?;
                Ok((key.to_vec(), value.to_vec()))
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
        let range = self.tree(table).range::<&[u8], _>((lower, upper));
        let step = |entry: sled::Result<(sled::IVec, sled::IVec)>| {
            let (key, value) = entry.map_err(|err| self.failed("scan", table, None, err))?;
            visit(&key, &value)
        };
        walk(range, reverse, step)
    }

    fn apply_raw(&self, writes: &[Write<'_>], durability: Durability) -> Result<(), StoreError> {
        let Some(first) = writes.first() else { return Ok(()) };
        // One batch per tree, in the order of the writes (a later write to a key wins).
        let mut batches: Vec<(Table, sled::Batch)> = Vec::new();
        for write in writes {
            let index = match batches.iter().position(|(table, _)| *table == write.table()) {
                Some(index) => index,
                None => {
                    batches.push((write.table(), sled::Batch::default()));
                    batches.len() - 1
                }
            };
            let batch = &mut batches[index].1;
            match write {
                Write::Put { key, value, .. } => batch.insert(key.as_slice(), &**value),
                Write::Remove { key, .. } => batch.remove(key.as_slice()),
            }
        }
        let batch_failed = |cause: &dyn fmt::Display| StoreError::Backend {
            store: self.describe.clone(),
            operation: format!("write a batch of {} writes", writes.len()),
            cause: cause.to_string(),
        };
        if let [(table, batch)] = batches.as_slice() {
            // One tree: its batch is atomic on its own.
            self.tree(*table).apply_batch(batch.clone()).map_err(|err| batch_failed(&err))?;
        } else {
            let trees: Vec<sled::Tree> =
                batches.iter().map(|(table, _)| self.tree(*table).clone()).collect();
            trees
                .as_slice()
                .transaction(|views: &Vec<sled::transaction::TransactionalTree>| {
                    for (view, (_, batch)) in views.iter().zip(&batches) {
                        view.apply_batch(batch)?;
                    }
                    Ok::<_, sled::transaction::ConflictableTransactionError<std::convert::Infallible>>(())
                })
                .map_err(|err| batch_failed(&err))?;
        }
        match durability {
            Durability::Now => self.sync("batch write to", first.table(), first.key()),
            // sled also flushes on its own every 500 ms.
            Durability::Deferred => Ok(()),
        }
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn put_raw(&self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tree(table)
            .insert(key, value)
            .map_err(|err| self.failed("write", table, Some(key), err))?;
        self.sync("write", table, key)
    }

    fn remove_raw(&self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        let removed = self
            .tree(table)
            .remove(key)
            .map_err(|err| self.failed("delete", table, Some(key), err))?
            .is_some();
        self.sync("delete", table, key)?;
        Ok(removed)
    }

    fn flush_raw(&self) -> Result<(), StoreError> {
        self.db.flush().map(drop).map_err(|err| StoreError::Backend {
            store: self.describe.clone(),
            operation: "flush".to_owned(),
            cause: err.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::testing::on_disk_backend_tests!(SledStore);

    #[test]
    fn trees_follow_the_order_of_the_tables() {
        for (index, table) in Table::ALL.into_iter().enumerate() {
            assert_eq!(table as usize, index, "{table:?}");
        }
    }

    #[test]
    fn creates_the_data_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        let store = SledStore::open(&dir).unwrap();
        assert_eq!(store.path(), dir.join("sled"));
        assert!(store.path().is_dir());
    }

    #[test]
    fn a_directory_still_open_is_an_error_after_the_lock_retries() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SledStore::open(dir.path()).unwrap();
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.starts_with("cannot open the sled database "), "{message}");
        assert!(message.contains("another process has it open"), "{message}");
    }

    #[test]
    fn a_sled_path_that_is_a_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SledStore::DIR_NAME);
        std::fs::write(&path, "").unwrap();
        let err = SledStore::open(dir.path()).unwrap_err();
        let expected = format!("cannot open the sled database {}: ", path.display());
        assert!(err.to_string().starts_with(&expected), "{err}");
    }
}
