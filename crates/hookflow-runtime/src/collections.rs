//! The records of `store` nodes, kept in the store's collections: the writes of concurrent
//! executions are committed together, and each node's output comes once its write is durable;
//! reads go to the blocking pool.

use std::sync::Arc;

use hookflow_core::services::{
    BoxFuture, RecordError, RecordSaved, RecordWrite, Records, WriteMode,
};
use hookflow_store::clock::now_ms;
use hookflow_store::{self as store, RecordWritten, Store};
use serde_json::Value;

use crate::group_commit::{GroupCommit, Names, SyncPolicy};
use crate::store_errors::{self, blocking};

/// Writes one commit takes, at most.
const BATCH: usize = 512;

/// The `store` node's records, in `store`.
pub struct StoreRecords {
    store: Arc<dyn Store>,
    writes: Arc<GroupCommit<store::RecordWrite, RecordWritten>>,
}

impl std::fmt::Debug for StoreRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreRecords").finish_non_exhaustive()
    }
}

impl StoreRecords {
    /// Starts the records' writer on the current runtime.
    pub fn start(store: Arc<dyn Store>) -> StoreRecords {
        let names = Names {
            store: "records",
            operation: "write_record",
            stopped: "the records writer has stopped",
        };
        let writes = GroupCommit::start(
            store.clone(),
            BATCH,
            names,
            SyncPolicy::EveryWrite,
            |store, writes, _| store.put_records(&writes),
        );
        StoreRecords { store, writes: Arc::new(writes) }
    }
}

impl Records for StoreRecords {
    fn write(&self, write: RecordWrite) -> BoxFuture<Result<RecordSaved, RecordError>> {
        let writes = self.writes.clone();
        let write = store::RecordWrite {
            collection: write.collection,
            key: write.key,
            value: write.value,
            mode: match write.mode {
                WriteMode::Insert => store::WriteMode::Insert,
                WriteMode::Upsert => store::WriteMode::Upsert,
            },
            execution_id: write.execution_id,
            now_ms: now_ms(),
        };
        Box::pin(async move {
            match writes.write(write).await {
                Ok(RecordWritten::Stored { created, version }) => {
                    Ok(RecordSaved { created, version })
                }
                Ok(RecordWritten::Exists { version }) => Err(RecordError::Exists { version }),
                Err(e) => {
                    store_errors::failed("write_record", &e, "a record could not be stored");
                    Err(RecordError::Failed(format!("the record could not be stored: {e}")))
                }
            }
        })
    }

    fn get(
        &self,
        collection: String,
        key: String,
    ) -> BoxFuture<Result<Option<Value>, RecordError>> {
        let store = self.store.clone();
        Box::pin(async move {
            match blocking(&store, "records", move |s| s.record(&collection, &key)).await {
                Ok(record) => Ok(record.map(|r| r.value)),
                Err(e) => {
                    store_errors::failed("read_record", &e, "a record could not be read");
                    Err(RecordError::Failed(format!("the record could not be read: {e}")))
                }
            }
        })
    }
}
