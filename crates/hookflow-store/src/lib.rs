//! hookflow's storage: the [`Store`] trait, its embedded backends and their conformance suite.
//!
//! The rest of hookflow talks to storage only through [`Store`], a domain trait: it speaks of
//! its domains, never of tables or bytes:
//!
//! - [`credentials`]: the secrets that authenticate calls (as digests).
//! - [`executions`]: every call and what became of it, what caused it when an event did
//!   ([`Cause`]), and the idempotency records.
//! - [`subscriptions`], the outbound domain: subscriptions and their deliveries.
//! - [`records`]: named collections of JSON records, written by flows' `store` node.
//! - [`events`]: the outbox of events raised by flows, stored before anything acts on them.
//!
//! Three backends implement it:
//!
//! - [`RedbStore`], the default: one `hookflow.redb` file in the data directory.
//! - [`SledStore`]: a `sled/` directory in the data directory.
//! - [`MemoryStore`]: nothing on disk, for tests.
//!
//! Every backend passes the same suite, the `conformance` module (behind the `conformance`
//! feature outside this crate). redb and sled types never leave this crate.
//!
//! # Adding a domain
//!
//! 1. A module beside [`credentials`] with its record types and an `impl Record` (its table and
//!    key).
//! 2. A variant of `Table`, which gives it its own redb table and sled tree.
//! 3. Its methods on [`Store`], implemented once for every embedded backend in `kv.rs`.
//! 4. Cases in `conformance`.

pub mod clock;
pub mod credentials;
mod error;
pub mod events;
pub mod executions;
mod kv;
mod memory;
pub mod private;
pub mod records;
mod redb_store;
mod sled_store;
pub mod subscriptions;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

#[cfg(test)]
mod testing;

use std::{fmt, path::Path, str::FromStr, sync::Arc};

pub use crate::{
    credentials::{Credential, CredentialKind, StoredSecret, UnknownCredentialKind},
    error::{StoreError, UnknownStoreKind},
    events::PendingEvent,
    executions::{
        Cause, EncodedExecution, ExecutionPage, ExecutionQuery, ExecutionRecord, ExecutionStatus,
        IdempotencyRecord, RecordedError, RecordedRequest, RecordedResponse,
        UnknownExecutionStatus,
    },
    memory::MemoryStore,
    records::{
        CollectionInfo, RecordOrder, RecordPage, RecordQuery, RecordWrite, RecordWritten,
        StoredRecord, UnknownRecordOrder, WriteMode,
    },
    redb_store::RedbStore,
    sled_store::SledStore,
    subscriptions::{
        Attempt, Delivery, DeliveryPage, DeliveryQuery, DeliveryStatus, SigningSecret,
        Subscription, UnknownDeliveryStatus,
    },
};

/// Where hookflow keeps its state.
///
/// Backends are blocking: async callers run these methods on `spawn_blocking`.
///
/// # Durability
///
/// Every write (`put_*`, `delete_*`) is durable when it returns `Ok`: after a crash or power loss
/// the write is still there. A backend that buffers writes must flush them before returning.
/// The one exception is asked for by name: [`Store::put_encoded_executions`] with
/// [`Durability::Deferred`], durable at the next durable write or [`Store::flush`].
pub trait Store: Send + Sync + 'static {
    /// Inserts `credential`, or replaces the one with the same name.
    fn put_credential(&self, credential: &Credential) -> Result<(), StoreError>;

    /// The credential named `name`, if there is one.
    fn credential(&self, name: &str) -> Result<Option<Credential>, StoreError>;

    /// Every credential, sorted by name.
    fn credentials(&self) -> Result<Vec<Credential>, StoreError>;

    /// Deletes the credential named `name`; `false` when there was none.
    fn delete_credential(&self, name: &str) -> Result<bool, StoreError>;

    /// Inserts every record of `records`, replacing those with the same id, in one atomic write:
    /// after a crash either all of them are there or none. A record repeated in the batch is
    /// stored as its last occurrence. Efficient for batches of hundreds.
    fn put_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError>;

    /// [`Store::put_executions`] for records their caller has encoded: the same atomic write,
    /// without encoding them again. A record marked [`EncodedExecution::new`] replaces nothing.
    /// With [`Durability::Deferred`] the write is visible at once and durable at the next
    /// durable write or [`Store::flush`]: a crash before that loses it (and the other deferred
    /// writes since the last durable one), whole, and nothing else.
    fn put_encoded_executions(
        &self,
        records: &[EncodedExecution],
        durability: Durability,
    ) -> Result<(), StoreError>;

    /// The execution with id `id`, if there is one.
    fn execution(&self, id: &str) -> Result<Option<ExecutionRecord>, StoreError>;

    /// One page of the executions that match `query`, newest (greatest id) first.
    ///
    /// `limit` 0 means [`ExecutionQuery::DEFAULT_LIMIT`]; more than [`ExecutionQuery::MAX_LIMIT`]
    /// is capped. `cursor` continues strictly after (older than) that id; an empty cursor is the
    /// first page. `next_cursor` is set when more matching executions remain. With `parent`,
    /// only that execution's children are read (filtered by the other fields); else with `flow`
    /// or `status` only that flow's (or status's) executions are read.
    fn list_executions(&self, query: &ExecutionQuery) -> Result<ExecutionPage, StoreError>;

    /// Every execution that is `queued` or `running`, oldest first: what to resume at start-up.
    fn unfinished_executions(&self) -> Result<Vec<ExecutionRecord>, StoreError>;

    /// Removes the finished executions of flow `flow_id` beyond its newest `keep` (rejected ones
    /// do not count towards `keep`: they have their own budget, [`Store::prune_rejected`]), and
    /// every finished one (rejected included) received before `older_than_ms`. Unfinished
    /// executions are never removed. Returns how many were removed.
    fn prune_executions(
        &self,
        flow_id: &str,
        keep: usize,
        older_than_ms: i64,
    ) -> Result<usize, StoreError>;

    /// Removes the `rejected` executions beyond the newest `keep` of them, whatever their flow.
    /// Returns how many were removed.
    fn prune_rejected(&self, keep: usize) -> Result<usize, StoreError>;

    /// The distinct flow ids that have executions, sorted.
    fn flows_with_executions(&self) -> Result<Vec<String>, StoreError>;

    /// The idempotency record of `key` on flow `flow_id`, if there is one, expired or not: the
    /// caller compares [`IdempotencyRecord::expires_at_ms`] with its clock.
    fn idempotency(
        &self,
        flow_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Inserts `record`, or replaces the one with the same flow and key.
    fn put_idempotency(&self, record: &IdempotencyRecord) -> Result<(), StoreError>;

    /// Removes every idempotency record that has expired at `now_ms` (`expires_at_ms <= now_ms`).
    /// Returns how many were removed.
    fn prune_idempotency(&self, now_ms: i64) -> Result<usize, StoreError>;

    /// Inserts `subscription`, or replaces the one with the same id.
    fn put_subscription(&self, subscription: &Subscription) -> Result<(), StoreError>;

    /// The subscription with id `id`, if there is one.
    fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError>;

    /// Every subscription, by id (creation order).
    fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError>;

    /// Deletes the subscription with id `id` and every delivery of it, in one atomic write;
    /// `false` when there was no such subscription (its deliveries, if any, are deleted all the
    /// same).
    fn delete_subscription(&self, id: &str) -> Result<bool, StoreError>;

    /// Inserts every delivery of `deliveries`, replacing those with the same id, in one atomic
    /// write that keeps the indexes: a delivery that changed status or schedule leaves its old
    /// index entries. A delivery repeated in the batch is stored as its last occurrence.
    /// Efficient for batches of hundreds. With [`Durability::Deferred`] the write is visible at
    /// once and durable at the next durable write or [`Store::flush`], as for executions.
    fn put_deliveries(
        &self,
        deliveries: &[Delivery],
        durability: Durability,
    ) -> Result<(), StoreError>;

    /// The delivery with id `id`, if there is one.
    fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError>;

    /// The pending deliveries whose next attempt is due at `now_ms`
    /// (`next_attempt_at_ms <= now_ms`), earliest due first (ties by id), at most `limit`.
    fn due_deliveries(&self, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, StoreError>;

    /// When the earliest scheduled pending delivery is due, if any is scheduled.
    fn next_due_ms(&self) -> Result<Option<i64>, StoreError>;

    /// The pending deliveries of subscription `subscription_id` that have no next attempt (held
    /// while it is paused), oldest first.
    fn held_deliveries(&self, subscription_id: &str) -> Result<Vec<Delivery>, StoreError>;

    /// One page of the deliveries that match `query`, newest (greatest id) first.
    ///
    /// `limit` 0 means [`DeliveryQuery::DEFAULT_LIMIT`]; more than [`DeliveryQuery::MAX_LIMIT`]
    /// is capped. `cursor` continues strictly after (older than) that id; an empty cursor is the
    /// first page. `next_cursor` is set when more matching deliveries remain. With
    /// `subscription_id` only that subscription's deliveries are read (with `status` too, its
    /// deliveries of other statuses are skipped by their index entries, not read); with only
    /// `status`, only that status's.
    fn list_deliveries(&self, query: &DeliveryQuery) -> Result<DeliveryPage, StoreError>;

    /// How many deliveries are pending, scheduled or held: the depth of the outbound queue.
    fn pending_deliveries(&self) -> Result<usize, StoreError>;

    /// Removes the finished (succeeded or failed) deliveries created before `older_than_ms`, and
    /// those beyond the newest `keep` finished ones of each subscription. Pending deliveries are
    /// never removed. Returns how many were removed.
    fn prune_deliveries(&self, keep: usize, older_than_ms: i64) -> Result<usize, StoreError>;

    /// Applies `writes` in order, in one atomic write: after a crash either all of them are
    /// there or none. Each write sees those before it in the batch (an [`WriteMode::Insert`] of
    /// a key that an earlier write created gives [`RecordWritten::Exists`]). Answers one
    /// [`RecordWritten`] per write, in their order. A new record gets version 1 and a new
    /// [`StoredRecord::created_id`]; a replaced one keeps its creation and gets the next
    /// version. An empty or too long collection name or key
    /// ([`StoreError::InvalidRecordName`]) fails the whole batch before anything is written; so
    /// does a record stored under a written key whose bytes do not read. Efficient for batches
    /// of thousands.
    fn put_records(&self, writes: &[RecordWrite]) -> Result<Vec<RecordWritten>, StoreError>;

    /// Record `key` of `collection`, if there is one.
    fn record(&self, collection: &str, key: &str) -> Result<Option<StoredRecord>, StoreError>;

    /// Deletes record `key` of `collection`; `false` when there was none.
    fn delete_record(&self, collection: &str, key: &str) -> Result<bool, StoreError>;

    /// Every collection that holds records, sorted by name, with how many it holds (kept as
    /// records are written and deleted, not counted on each call).
    fn collections(&self) -> Result<Vec<CollectionInfo>, StoreError>;

    /// One page of the records of `query.collection`, ascending by key or by
    /// [`StoredRecord::created_id`] ([`RecordQuery::order`]).
    ///
    /// `limit` 0 means [`RecordQuery::DEFAULT_LIMIT`]; more than [`RecordQuery::MAX_LIMIT`] is
    /// capped. `cursor` continues strictly after that key (or created id); empty is the first
    /// page. `next_cursor` is set when more records remain. A page reads its own records, not
    /// the collection.
    fn list_records(&self, query: &RecordQuery) -> Result<RecordPage, StoreError>;

    /// Stores every event of `events`, replacing those with the same id, in one atomic write.
    fn put_events(&self, events: &[PendingEvent]) -> Result<(), StoreError>;

    /// The oldest (smallest id) stored events, at most `limit`.
    fn pending_events(&self, limit: usize) -> Result<Vec<PendingEvent>, StoreError>;

    /// Deletes the events with these ids in one atomic write; ids that are not stored are
    /// ignored.
    fn delete_events(&self, ids: &[String]) -> Result<(), StoreError>;

    /// Makes every write so far durable, deferred ones included.
    fn flush(&self) -> Result<(), StoreError>;
}

/// When a write reaches the disk (see [`Store::put_encoded_executions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Durable when the call returns.
    Now,
    /// Durable at the next durable write or [`Store::flush`]; many deferred writes share one
    /// sync to disk.
    Deferred,
}

/// The embedded backends that [`open`] can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StoreKind {
    /// [`RedbStore`]: a commit is durable when it returns.
    #[default]
    Redb,
    /// [`SledStore`]: durable because every write flushes.
    Sled,
}

impl StoreKind {
    /// Every kind, in the order they are documented.
    pub const ALL: [StoreKind; 2] = [StoreKind::Redb, StoreKind::Sled];

    /// The name used in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Redb => "redb",
            StoreKind::Sled => "sled",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StoreKind {
    type Err = UnknownStoreKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StoreKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownStoreKind(s.to_owned()))
    }
}

/// Opens (creating if needed) the store of the given kind in the data directory `dir`.
pub fn open(kind: StoreKind, dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match kind {
        StoreKind::Redb => Arc::new(RedbStore::open(dir)?),
        StoreKind::Sled => Arc::new(SledStore::open(dir)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_kind_round_trips_through_its_name() {
        for kind in StoreKind::ALL {
            assert_eq!(kind.to_string().parse::<StoreKind>().ok(), Some(kind));
        }
        assert_eq!(StoreKind::default(), StoreKind::Redb);
    }

    #[test]
    fn unknown_store_kind_names_the_choices() {
        let err = "postgres".parse::<StoreKind>().unwrap_err();
        assert_eq!(err.to_string(), "unknown store backend `postgres`: expected `redb` or `sled`");
    }

    #[test]
    fn open_starts_each_kind_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        for kind in StoreKind::ALL {
            let store = open(kind, dir.path()).unwrap();
            store.put_credential(&crate::testing::credential("k")).unwrap();
            assert!(store.credential("k").unwrap().is_some(), "{kind}");
        }
        assert!(dir.path().join(RedbStore::FILE_NAME).is_file());
        assert!(dir.path().join(SledStore::DIR_NAME).is_dir());
    }
}
