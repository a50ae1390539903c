//! [`MemoryStore`]: the store that keeps everything in memory, for tests.

use std::{
    collections::BTreeMap,
    ops::Bound,
    sync::{Mutex, MutexGuard, PoisonError},
};

use crate::{
    Durability, StoreError,
    kv::{Engine, Entry, Shared, Table, Visit, Write, is_empty_range},
};

type Tables = BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>;

/// How many entries a range copies out of the maps before visiting them: first a few (a page
/// is usually small), then twice as many each time, up to [`MAX_CHUNK`].
const FIRST_CHUNK: usize = 16;
const MAX_CHUNK: usize = 1024;

/// A [`Store`](crate::Store) in memory: nothing survives the value, so nothing is ever lost
/// before it is dropped. Records go through the same JSON encoding as on disk.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    shared: Shared,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // The maps are never left half-updated, so a panic elsewhere does not make them unusable.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Engine for MemoryStore {
    fn describe(&self) -> &str {
        "memory store"
    }

    fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tables().get(&table).and_then(|entries| entries.get(key)).cloned())
    }

    fn scan_raw(&self, table: Table) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .tables()
            .get(&table)
            .map(|entries| entries.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    fn range_raw(
        &self,
        table: Table,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        visit: Visit<'_>,
    ) -> Result<(), StoreError> {
        // Copied out a chunk at a time: `visit` may read this store (and the lock is not
        // reentrant), and a scan that stops early (a page) copies little more than it visits.
        let (mut lower, mut upper) = (lower.map(<[u8]>::to_vec), upper.map(<[u8]>::to_vec));
        let mut chunk = FIRST_CHUNK;
        loop {
            if is_empty_range(lower.as_ref().map(Vec::as_slice), upper.as_ref().map(Vec::as_slice))
            {
                return Ok(());
            }
            let entries: Vec<Entry> = match self.tables().get(&table) {
                Some(entries) => {
                    let range = entries.range::<[u8], _>((
                        lower.as_ref().map(Vec::as_slice),
                        upper.as_ref().map(Vec::as_slice),
                    ));
                    let copy = |(key, value): (&Vec<u8>, &Vec<u8>)| (key.clone(), value.clone());
                    match reverse {
                        false => range.take(chunk).map(copy).collect(),
                        true => range.rev().take(chunk).map(copy).collect(),
                    }
                }
                None => return Ok(()),
            };
            for (key, value) in &entries {
                if visit(key, value)?.is_break() {
                    return Ok(());
                }
            }
            // A short chunk is the end of the range.
            let Some((last, _)) = entries.into_iter().nth(chunk - 1) else { return Ok(()) };
            match reverse {
                false => lower = Bound::Excluded(last),
                true => upper = Bound::Excluded(last),
            }
            chunk = (chunk * 2).min(MAX_CHUNK);
        }
    }

    fn apply_raw(&self, writes: &[Write<'_>], _: Durability) -> Result<(), StoreError> {
        let mut tables = self.tables();
        for write in writes {
            let entries = tables.entry(write.table()).or_default();
            match write {
                Write::Put { key, value, .. } => {
                    entries.insert(key.clone(), value.to_vec());
                }
                Write::Remove { key, .. } => {
                    entries.remove(key);
                }
            }
        }
        Ok(())
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn put_raw(&self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tables().entry(table).or_default().insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn remove_raw(&self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.tables().get_mut(&table).is_some_and(|entries| entries.remove(key).is_some()))
    }

    fn flush_raw(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::conformance;

    #[test]
    fn passes_the_conformance_suite() {
        conformance::run_all(&|| Arc::new(MemoryStore::new()));
    }

    #[test]
    fn passes_the_engine_cases() {
        crate::kv::tests::run_all(&MemoryStore::new);
    }
}
