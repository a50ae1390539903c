//! [`RedbStore`]: the default backend, one redb file in the data directory.

use std::{
    cmp::Ordering,
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

/// Removals (or puts) of this many keys or more, in order, in one table, go in one pass over
/// their range ([`remove_run`], [`insert_run`]) rather than one tree walk each.
const MIN_RUN: usize = 8;
/// A run's range holding more than this many keys per key of the run is removed a key at a time.
const MAX_SPREAD: usize = 2;

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

    /// Opens `dir/hookflow.redb`, creating the directory, the file and any missing table; the
    /// directory and the file are left to their owner ([`crate::private`]).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        crate::private::create_dir(dir)
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
        crate::private::restrict(&path).map_err(|err| open_failed(&err))?;
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
            let mut rest = writes;
            while let Some(write) = rest.first() {
                let slot = &mut open[write.table() as usize];
                let entries = match slot {
                    Some(entries) => entries,
                    None => slot.insert(
                        txn.open_table(definition(write.table()))
                            .map_err(|err| failed(Some(write), &err))?,
                    ),
                };
                let done = apply_next(entries, rest);
                rest = &rest[done.map_err(|err| failed(Some(write), &err))?..];
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

/// Applies the writes at the start of `rest` that go together, and answers how many: a run (see
/// [`put_run`], [`removal_run`]) of at least [`MIN_RUN`] in one pass, else the first write alone.
fn apply_next(
    entries: &mut redb::Table<&[u8], &[u8]>,
    rest: &[Write<'_>],
) -> Result<usize, String> {
    let (run, doing) = match &rest[0] {
        Write::Put { .. } => (put_run(rest), "writing"),
        Write::Remove { .. } => (removal_run(rest), "removing"),
    };
    let applied = match &rest[0] {
        Write::Put { .. } if run.len() >= MIN_RUN => insert_run(entries, run),
        Write::Remove { .. } if run.len() >= MIN_RUN => remove_run(entries, run),
        Write::Put { key, value, .. } => {
            return entries.insert(key.as_slice(), &**value).map(|_| 1).map_err(|e| e.to_string());
        }
        Write::Remove { key, .. } => {
            return entries.remove(key.as_slice()).map(|_| 1).map_err(|e| e.to_string());
        }
    };
    applied
        .map(|()| run.len())
        .map_err(|err| format!("{doing} {} keys from this one on: {err}", run.len()))
}

/// The removals at the start of `writes` from one table with keys in strictly ascending order
/// (empty when `writes` starts with a put).
fn removal_run<'w, 'a>(writes: &'w [Write<'a>]) -> &'w [Write<'a>] {
    run(writes, |write| matches!(write, Write::Remove { .. }))
}

/// The puts at the start of `writes` into one table with keys in strictly ascending order (empty
/// when `writes` starts with a removal).
fn put_run<'w, 'a>(writes: &'w [Write<'a>]) -> &'w [Write<'a>] {
    run(writes, |write| matches!(write, Write::Put { .. }))
}

/// The writes at the start of `writes` that are all `kind`, into one table, with keys in strictly
/// ascending order.
fn run<'w, 'a>(writes: &'w [Write<'a>], kind: impl Fn(&Write) -> bool) -> &'w [Write<'a>] {
    let Some(first) = writes.first().filter(|write| kind(write)) else { return &[] };
    let len = writes
        .windows(2)
        .take_while(|pair| {
            kind(&pair[1]) && pair[1].table() == first.table() && pair[0].key() < pair[1].key()
        })
        .count();
    &writes[..=len]
}

/// Writes the puts of `run` (see [`put_run`]) through one cursor that moves up their range: redb
/// buffers the inserts made into one gap and applies them together, where an insert each would
/// walk the tree and rewrite the leaf once per key. Records arrive in time order, so a run
/// usually lands in one gap, at the end of its table or of its flow's keys. A key already there
/// is replaced.
fn insert_run(
    entries: &mut redb::Table<&[u8], &[u8]>,
    run: &[Write<'_>],
) -> Result<(), redb::Error> {
    let mut cursor = entries.lower_bound_mut(Bound::Included(run[0].key()))?;
    for write in run {
        let Write::Put { key, value, .. } = write else { continue };
        let key = key.as_slice();
        // Past the entries before `key`; an entry with the same key goes.
        loop {
            let next = cursor.peek_next()?.map(|(next, _)| next.value().cmp(key));
            match next {
                Some(Ordering::Less) => drop(cursor.next()?),
                Some(Ordering::Equal) => {
                    cursor.remove_next()?;
                    break;
                }
                Some(Ordering::Greater) | None => break,
            }
        }
        cursor.insert_before(key, &**value)?;
    }
    Ok(cursor.close()?)
}

/// Removes the keys of `run` (see [`removal_run`]) in one pass over the range they span: redb
/// removes the entries of a leaf together, where a removal each would walk the tree and rewrite
/// the leaf once per key. The keys between them that are not in `run` stay. That pass visits every
/// key in the range, so it is taken only when the range holds at most [`MAX_SPREAD`] times as many
/// keys as the run (counting stops there): the keys of a run may be spread among many others (one
/// flow's records among a busier flow's), and then a removal each costs less.
fn remove_run(
    entries: &mut redb::Table<&[u8], &[u8]>,
    run: &[Write<'_>],
) -> Result<(), redb::Error> {
    let (first, last) = (run[0].key(), run[run.len() - 1].key());
    let limit = run.len().saturating_mul(MAX_SPREAD);
    let mut spanned = 0;
    for entry in entries.range(first..=last)?.take(limit + 1) {
        entry?;
        spanned += 1;
    }
    if spanned > limit {
        for write in run {
            entries.remove(write.key())?;
        }
        return Ok(());
    }
    let mut doomed = run.iter().map(Write::key).peekable();
    // redb calls this once per key in the range, in ascending byte order (the order of `run`).
    entries.retain_in(first..=last, |key, _| {
        // Skip the doomed keys before `key` (absent from the table).
        while doomed.next_if(|&next| next < key).is_some() {}
        doomed.next_if_eq(&key).is_none()
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

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

    fn remove(table: Table, key: &[u8]) -> Write<'static> {
        Write::Remove { table, key: key.to_vec() }
    }

    /// The test key numbered `n`: `k000`, `k001`, ... (in the order of the numbers).
    fn key(n: u32) -> Vec<u8> {
        format!("k{n:03}").into_bytes()
    }

    /// A store in a fresh directory (kept as long as the store is used).
    fn fresh() -> (tempfile::TempDir, RedbStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        (dir, store)
    }

    /// The keys in `table`, in order.
    fn keys(store: &RedbStore, table: Table) -> Vec<Vec<u8>> {
        store.scan_raw(table).unwrap().into_iter().map(|(key, _)| key).collect()
    }

    #[test]
    fn a_run_is_the_ascending_writes_of_one_kind_into_one_table_at_the_start() {
        let (a, b) = (Table::Executions, Table::ExecutionsByFlow);
        let put = Write::Put { table: a, key: b"k".to_vec(), value: Cow::Borrowed(b"v") };
        let writes = [remove(a, b"1"), remove(a, b"2"), remove(a, b"4"), remove(a, b"3")];
        assert_eq!(removal_run(&writes).len(), 3, "stops where the keys go down");
        let writes = [remove(a, b"1"), remove(a, b"1")];
        assert_eq!(removal_run(&writes).len(), 1, "stops at a repeated key");
        let writes = [remove(a, b"1"), remove(b, b"2")];
        assert_eq!(removal_run(&writes).len(), 1, "stops at another table");
        let writes = [remove(a, b"1"), put.clone(), remove(a, b"2")];
        assert_eq!(removal_run(&writes).len(), 1, "stops at a put");
        assert!(removal_run(std::slice::from_ref(&put)).is_empty());
        assert!(removal_run(&[]).is_empty());
        let puts = [put.clone(), put.clone(), remove(a, b"l")];
        assert_eq!(put_run(&puts).len(), 1, "stops at a repeated key");
        assert!(put_run(&[remove(a, b"1"), put]).is_empty());
    }

    /// Runs of removals (long enough for one pass over their range, with keys between them that
    /// stay, and keys that are not there) and single ones mixed with puts, in one batch.
    #[test]
    fn a_batch_removes_exactly_its_keys_in_runs_and_one_by_one() {
        let (_dir, store) = fresh();
        let (a, b) = (Table::Executions, Table::ExecutionsByFlow);
        let fill: Vec<Write> = (0..60)
            .flat_map(|n| {
                [a, b].map(|table| Write::Put { table, key: key(n), value: Cow::Owned(key(n)) })
            })
            .collect();
        store.apply_raw(&fill, Durability::Now).unwrap();

        // In `a`: two keys of every three from 0 to 45 (dense enough for one pass), 100 (not
        // there) and 1, then 50 and 52 alone;
        // in `b`: 10..20, then 30 and 40 after a put into `b`.
        let doomed = |n: &u32| !n.is_multiple_of(3);
        let mut batch: Vec<Write> = (0..=45).filter(doomed).map(|n| remove(a, &key(n))).collect();
        batch.extend([remove(a, &key(100)), remove(a, &key(1))]);
        batch.extend([remove(a, &key(52)), remove(a, &key(50))]);
        batch.extend((10..20).map(|n| remove(b, &key(n))));
        batch.push(Write::Put { table: b, key: key(99), value: Cow::Borrowed(b"new") });
        batch.extend([remove(b, &key(30)), remove(b, &key(40))]);
        store.apply_raw(&batch, Durability::Now).unwrap();

        let gone_a = |n: u32| (n <= 45 && doomed(&n)) || [50, 52].contains(&n);
        let want_a: Vec<Vec<u8>> = (0..60).filter(|&n| !gone_a(n)).map(key).collect();
        assert_eq!(keys(&store, a), want_a);
        let gone_b = |n: u32| (10..20).contains(&n) || n == 30 || n == 40;
        let mut want_b: Vec<Vec<u8>> = (0..60).filter(|&n| !gone_b(n)).map(key).collect();
        want_b.push(key(99));
        assert_eq!(keys(&store, b), want_b);
        assert_eq!(store.get_raw(a, &key(3)).unwrap(), Some(key(3)), "values stay");
    }

    /// A run of puts lands between the keys already there, replaces the ones it repeats, and
    /// goes on past the last one; shorter runs and a removal between them go too.
    #[test]
    fn a_run_of_puts_writes_exactly_its_keys() {
        let (_dir, store) = fresh();
        let table = Table::Executions;
        let put = |n: u32, value: &str| Write::Put {
            table,
            key: key(n),
            value: Cow::Owned(value.as_bytes().to_vec()),
        };
        let even: Vec<Write> = (0..60).step_by(2).map(|n| put(n, "old")).collect();
        store.apply_raw(&even, Durability::Now).unwrap();

        // 5..=25 (new odd keys between old even ones, old even keys replaced), 70..80 past the
        // end; then 40 alone, a removal of 42, and 44 and 46.
        let mut batch: Vec<Write> = (5..=25).map(|n| put(n, "new")).collect();
        batch.extend((70..80).map(|n| put(n, "new")));
        batch.extend([put(40, "new"), remove(table, &key(42)), put(44, "new"), put(46, "new")]);
        assert_eq!(put_run(&batch).len(), 31);
        store.apply_raw(&batch, Durability::Now).unwrap();

        let want: Vec<(Vec<u8>, Vec<u8>)> = (0..80)
            .filter_map(|n| {
                let new = (5..=25).contains(&n) || n >= 70 || [40, 44, 46].contains(&n);
                let value = if new {
                    "new"
                } else if n % 2 == 0 && n < 60 && n != 42 {
                    "old"
                } else {
                    return None;
                };
                Some((key(n), value.as_bytes().to_vec()))
            })
            .collect();
        assert_eq!(store.scan_raw(table).unwrap(), want);
    }

    /// A run whose keys are spread among many others (more than `MAX_SPREAD` per key) is removed
    /// a key at a time, to the same effect.
    #[test]
    fn a_sparse_run_removes_exactly_its_keys() {
        let (_dir, store) = fresh();
        let table = Table::Executions;
        let fill: Vec<Write> = (0..100)
            .map(|n| Write::Put { table, key: key(n), value: Cow::Owned(key(n)) })
            .collect();
        store.apply_raw(&fill, Durability::Now).unwrap();
        let run: Vec<Write> = (0..100).step_by(10).map(|n| remove(table, &key(n))).collect();
        store.apply_raw(&run, Durability::Now).unwrap();
        let want: Vec<Vec<u8>> = (0..100).filter(|n| n % 10 != 0).map(key).collect();
        assert_eq!(keys(&store, table), want);
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
