//! The byte-level engine under the embedded backends, and the one [`Store`] impl they share.
//!
//! A backend only moves bytes in and out of tables ([`Engine`]); this module turns domain records
//! into JSON and back, so every domain method is written once for every backend.

mod events;
mod executions;
mod outbound;
mod records;

use executions::packed::{Dictionaries, Packing};

use std::{
    borrow::Cow,
    ops::{Bound, ControlFlow},
    sync::{Mutex, MutexGuard, PoisonError},
};

use serde::{Serialize, de::DeserializeOwned};

use crate::{
    CollectionInfo, Credential, Delivery, DeliveryPage, DeliveryQuery, Durability,
    EncodedExecution, ExecutionPage, ExecutionQuery, ExecutionRecord, IdempotencyRecord,
    PendingEvent, RecordPage, RecordQuery, RecordWrite, RecordWritten, Store, StoreError,
    StoredRecord, Subscription,
};

/// One table (a redb table, a sled tree, a map in memory) per domain, and per index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Credentials,
    /// Execution records by id.
    Executions,
    /// `flow_id \0 id` → the execution's [summary](executions::Summary).
    ExecutionsByFlow,
    /// `status \0 id` → the execution's summary, for every status but succeeded: the unfinished
    /// (queued, running), failed and rejected executions without reading the others.
    ExecutionsByStatus,
    /// Idempotency records by `flow_id \0 key`.
    Idempotency,
    /// `expires_at_ms` (8 sortable bytes) followed by the idempotency record's key → nothing.
    IdempotencyByExpiry,
    /// The dictionaries execution records are packed against (see `executions::packed`).
    ExecutionDictionaries,
    /// Subscriptions by id.
    Subscriptions,
    /// Deliveries by id.
    Deliveries,
    /// `subscription_id \0 id` → the delivery's [summary](outbound::Summary).
    DeliveriesBySubscription,
    /// `status \0 id` → nothing, for every delivery.
    DeliveriesByStatus,
    /// `next_attempt_at_ms` (8 sortable bytes) followed by the id → nothing, for the pending
    /// deliveries that have a next attempt.
    DeliveriesDue,
    /// `subscription_id \0 id` → nothing, for the pending deliveries without a next attempt.
    DeliveriesHeld,
    /// `parent_execution_id \0 id` → the execution's summary, for the executions with a cause.
    ExecutionsByParent,
    /// Records by `collection \0 key` (see `records`).
    Records,
    /// `collection \0 created_id` → the record's key: a collection in creation order.
    RecordsByCreated,
    /// `collection` → how many records it holds.
    RecordCollections,
    /// The events outbox, by id (see `events`).
    Events,
}

impl Table {
    /// Every table; a backend creates them all when it opens.
    pub const ALL: [Table; 18] = [
        Table::Credentials,
        Table::Executions,
        Table::ExecutionsByFlow,
        Table::ExecutionsByStatus,
        Table::Idempotency,
        Table::IdempotencyByExpiry,
        Table::ExecutionDictionaries,
        Table::Subscriptions,
        Table::Deliveries,
        Table::DeliveriesBySubscription,
        Table::DeliveriesByStatus,
        Table::DeliveriesDue,
        Table::DeliveriesHeld,
        Table::ExecutionsByParent,
        Table::Records,
        Table::RecordsByCreated,
        Table::RecordCollections,
        Table::Events,
    ];

    /// The name of the table on disk. Never change one: it would orphan existing data.
    pub fn name(self) -> &'static str {
        match self {
            Table::Credentials => "credentials",
            Table::Executions => "executions",
            Table::ExecutionsByFlow => "executions_by_flow",
            Table::ExecutionsByStatus => "executions_by_status",
            Table::Idempotency => "idempotency",
            Table::IdempotencyByExpiry => "idempotency_by_expiry",
            Table::ExecutionDictionaries => "execution_dictionaries",
            Table::Subscriptions => "subscriptions",
            Table::Deliveries => "deliveries",
            Table::DeliveriesBySubscription => "deliveries_by_subscription",
            Table::DeliveriesByStatus => "deliveries_by_status",
            Table::DeliveriesDue => "deliveries_due",
            Table::DeliveriesHeld => "deliveries_held",
            Table::ExecutionsByParent => "executions_by_parent",
            Table::Records => "records",
            Table::RecordsByCreated => "records_by_created",
            Table::RecordCollections => "record_collections",
            Table::Events => "events",
        }
    }
}

/// Feeds the entries of `range` to `step` in key order (descending when `reverse`) until it
/// answers `Break`; the one loop every backend's `range_raw` ends with.
pub(crate) fn walk<T>(
    range: impl DoubleEndedIterator<Item = T>,
    reverse: bool,
    mut step: impl FnMut(T) -> Result<ControlFlow<()>, StoreError>,
) -> Result<(), StoreError> {
    let mut run = |entry: T| step(entry).map(|flow| flow.is_break());
    if reverse {
        for entry in range.rev() {
            if run(entry)? {
                break;
            }
        }
    } else {
        for entry in range {
            if run(entry)? {
                break;
            }
        }
    }
    Ok(())
}

/// A key and its value, as stored.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One write of an atomic batch ([`Engine::apply_raw`]); a value may be borrowed from the
/// caller, so that a large record is not copied on its way to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write<'a> {
    Put { table: Table, key: Vec<u8>, value: Cow<'a, [u8]> },
    Remove { table: Table, key: Vec<u8> },
}

/// Puts `writes` in (table, key) order, so that an engine can write each table's keys in one
/// pass over their range. Only for a batch in which no key occurs twice in a table: the order of
/// two writes to one key would decide which one wins.
///
/// A batch's writes usually come interleaved by table but in key order within each (records in
/// id order): they are grouped by a stable sort on the table alone, and a table's writes are
/// sorted by key only when they are not in order already.
pub fn group_by_table(writes: &mut [Write<'_>]) {
    writes.sort_by_key(Write::table);
    for run in writes.chunk_by_mut(|a, b| a.table() == b.table()) {
        if !run.is_sorted_by(|a, b| a.key() <= b.key()) {
            run.sort_unstable_by(|a, b| a.key().cmp(b.key()));
        }
    }
}

impl Write<'_> {
    pub fn table(&self) -> Table {
        match self {
            Write::Put { table, .. } | Write::Remove { table, .. } => *table,
        }
    }

    pub fn key(&self) -> &[u8] {
        match self {
            Write::Put { key, .. } | Write::Remove { key, .. } => key,
        }
    }
}

/// What [`Engine::range_raw`] calls with each key and value; `Break` stops the scan.
///
/// It must not call the engine: a backend may hold a lock or a read transaction while it runs.
pub type Visit<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>, StoreError>;

/// Whether no key can lie between `lower` and `upper` (including inverted bounds, which some
/// backends reject with a panic).
pub fn is_empty_range(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> bool {
    match (lower, upper) {
        (Bound::Included(low), Bound::Included(high)) => low > high,
        (
            Bound::Included(low) | Bound::Excluded(low),
            Bound::Included(high) | Bound::Excluded(high),
        ) => low >= high,
        _ => false,
    }
}

/// A record serialized for `table`, or the error naming its key.
pub fn encode<T: Serialize>(table: Table, key: &[u8], value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|cause| StoreError::Encode {
        table: table.name(),
        key: String::from_utf8_lossy(key).into_owned(),
        cause,
    })
}

/// A domain record: which table it lives in and its key there.
pub trait Record: Serialize + DeserializeOwned {
    const TABLE: Table;

    fn key(&self) -> Cow<'_, [u8]>;
}

/// What an embedded backend provides: ordered byte tables.
///
/// Every write returns only once it is durable.
pub trait Engine: Send + Sync + 'static {
    /// The backend and where it lives, for messages, e.g. `redb database /data/hookflow.redb`.
    fn describe(&self) -> &str;

    fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The values of `keys` in `table`, in the order of `keys`. Backends that can read them in
    /// one transaction override this.
    fn get_many_raw(
        &self,
        table: Table,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|key| self.get_raw(table, key)).collect()
    }

    /// Every entry of `table`, in ascending byte order of the keys.
    fn scan_raw(&self, table: Table) -> Result<Vec<Entry>, StoreError>;

    /// Calls `visit` with the entries of `table` whose keys lie between `lower` and `upper`, in
    /// ascending byte order of the keys, or descending when `reverse`, until it breaks. An empty
    /// or inverted range visits nothing. `visit` may read the engine.
    fn range_raw(
        &self,
        table: Table,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        visit: Visit<'_>,
    ) -> Result<(), StoreError>;

    fn put_raw(&self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// `true` when there was an entry to remove.
    fn remove_raw(&self, table: Table, key: &[u8]) -> Result<bool, StoreError>;

    /// Applies `writes` in order, atomically (all or none, also across a crash); durably, or with
    /// [`Durability::Deferred`] at the next durable write or [`Engine::flush_raw`].
    fn apply_raw(&self, writes: &[Write<'_>], durability: Durability) -> Result<(), StoreError>;

    /// Makes every write so far durable, deferred ones included.
    fn flush_raw(&self) -> Result<(), StoreError>;

    /// What this module keeps per open store.
    fn shared(&self) -> &Shared;

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

/// What this module keeps per open store: the lock that serializes its read-modify-write
/// sequences (index maintenance, packing), with the packing state it guards, and the
/// dictionaries read for unpacking.
#[derive(Debug, Default)]
pub struct Shared {
    writes: Mutex<Packing>,
    pub(crate) dictionaries: Dictionaries,
}

/// Takes the engine's write lock; nothing it guards is left half-done by a panic.
fn lock<E: Engine>(engine: &E) -> MutexGuard<'_, Packing> {
    engine.shared().writes.lock().unwrap_or_else(PoisonError::into_inner)
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

    fn put_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        executions::put_executions(self, records)
    }

    fn put_encoded_executions(
        &self,
        records: &[EncodedExecution],
        durability: Durability,
    ) -> Result<(), StoreError> {
        executions::put_encoded_executions(self, records, durability)
    }

    fn execution(&self, id: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        executions::execution(self, id)
    }

    fn list_executions(&self, query: &ExecutionQuery) -> Result<ExecutionPage, StoreError> {
        executions::list_executions(self, query)
    }

    fn unfinished_executions(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        executions::unfinished_executions(self)
    }

    fn prune_executions(
        &self,
        flow_id: &str,
        keep: usize,
        older_than_ms: i64,
    ) -> Result<usize, StoreError> {
        executions::prune_executions(self, flow_id, keep, older_than_ms)
    }

    fn prune_rejected(&self, keep: usize) -> Result<usize, StoreError> {
        executions::prune_rejected(self, keep)
    }

    fn flows_with_executions(&self) -> Result<Vec<String>, StoreError> {
        executions::flows_with_executions(self)
    }

    fn idempotency(
        &self,
        flow_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        get(self, &executions::idempotency_key(flow_id, key))
    }

    fn put_idempotency(&self, record: &IdempotencyRecord) -> Result<(), StoreError> {
        executions::put_idempotency(self, record)
    }

    fn prune_idempotency(&self, now_ms: i64) -> Result<usize, StoreError> {
        executions::prune_idempotency(self, now_ms)
    }

    fn put_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        put(self, subscription)
    }

    fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        get(self, id.as_bytes())
    }

    fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        scan(self)
    }

    fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        outbound::delete_subscription(self, id)
    }

    fn put_deliveries(
        &self,
        deliveries: &[Delivery],
        durability: Durability,
    ) -> Result<(), StoreError> {
        outbound::put_deliveries(self, deliveries, durability)
    }

    fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        get(self, id.as_bytes())
    }

    fn due_deliveries(&self, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        outbound::due_deliveries(self, now_ms, limit)
    }

    fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        outbound::next_due_ms(self)
    }

    fn held_deliveries(&self, subscription_id: &str) -> Result<Vec<Delivery>, StoreError> {
        outbound::held_deliveries(self, subscription_id)
    }

    fn list_deliveries(&self, query: &DeliveryQuery) -> Result<DeliveryPage, StoreError> {
        outbound::list_deliveries(self, query)
    }

    fn pending_deliveries(&self) -> Result<usize, StoreError> {
        outbound::pending_deliveries(self)
    }

    fn prune_deliveries(&self, keep: usize, older_than_ms: i64) -> Result<usize, StoreError> {
        outbound::prune_deliveries(self, keep, older_than_ms)
    }

    fn put_records(&self, writes: &[RecordWrite]) -> Result<Vec<RecordWritten>, StoreError> {
        records::put_records(self, writes)
    }

    fn record(&self, collection: &str, key: &str) -> Result<Option<StoredRecord>, StoreError> {
        records::record(self, collection, key)
    }

    fn delete_record(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        records::delete_record(self, collection, key)
    }

    fn collections(&self) -> Result<Vec<CollectionInfo>, StoreError> {
        records::collections(self)
    }

    fn list_records(&self, query: &RecordQuery) -> Result<RecordPage, StoreError> {
        records::list_records(self, query)
    }

    fn put_events(&self, events: &[PendingEvent]) -> Result<(), StoreError> {
        events::put_events(self, events)
    }

    fn pending_events(&self, limit: usize) -> Result<Vec<PendingEvent>, StoreError> {
        events::pending_events(self, limit)
    }

    fn delete_events(&self, ids: &[String]) -> Result<(), StoreError> {
        events::delete_events(self, ids)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.flush_raw()
    }
}

fn put<R: Record>(engine: &impl Engine, record: &R) -> Result<(), StoreError> {
    let key = record.key();
    let bytes = encode(R::TABLE, &key, record)?;
    engine.put_raw(R::TABLE, &key, &bytes)
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
    let corrupt = |cause: String| corrupt(engine, R::TABLE, key, cause);
    let record: R = serde_json::from_slice(bytes).map_err(|err| corrupt(err.to_string()))?;
    if *record.key() != *key {
        return Err(corrupt(format!(
            "the record is keyed `{}`",
            String::from_utf8_lossy(&record.key())
        )));
    }
    Ok(record)
}

/// The error for bad bytes under `key` of `table`.
fn corrupt(engine: &impl Engine, table: Table, key: &[u8], cause: String) -> StoreError {
    StoreError::Corrupt {
        store: engine.describe().to_owned(),
        table: table.name(),
        key: String::from_utf8_lossy(key).into_owned(),
        cause,
    }
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

    fn assert_corrupt(err: StoreError, engine: &impl Engine, expected: &str) {
        let message = err.to_string();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(message.starts_with(engine.describe()), "{message}");
        assert!(message.contains(expected), "{message}");
    }

    /// Garbage under an execution's id, in an index, or under an idempotency key is an error that
    /// names the table and the key, from every method that reads it.
    pub(crate) fn corrupt_executions_are_errors_naming_the_key(engine: &impl Engine) {
        use crate::{ExecutionStatus, conformance};
        engine.put_raw(Table::Executions, b"broken", b"{\"id\":").unwrap();
        let expected = "corrupt record `broken` in `executions`";
        assert_corrupt(engine.execution("broken").unwrap_err(), engine, expected);
        let all = ExecutionQuery::default();
        assert_corrupt(engine.list_executions(&all).unwrap_err(), engine, expected);

        let fine = conformance::execution("fine", Some("f"), ExecutionStatus::Queued, 0);
        engine.put_executions(&[fine]).unwrap();
        engine.put_raw(Table::ExecutionsByStatus, b"running\0odd", b"\x07").unwrap();
        let expected = "corrupt record `running\0odd` in `executions_by_status`";
        let by_status = ExecutionQuery { status: Some(ExecutionStatus::Running), ..all.clone() };
        assert_corrupt(engine.list_executions(&by_status).unwrap_err(), engine, expected);
        engine.put_raw(Table::ExecutionsByFlow, b"f\0zz", b"").unwrap();
        let expected = "corrupt record `f\0zz` in `executions_by_flow`";
        let by_flow = ExecutionQuery { flow: Some("f".to_owned()), ..all };
        assert_corrupt(engine.list_executions(&by_flow).unwrap_err(), engine, expected);
        assert_corrupt(engine.prune_executions("f", 0, 0).unwrap_err(), engine, expected);

        engine.put_raw(Table::Idempotency, b"f\0k", b"[]").unwrap();
        let expected = "corrupt record `f\0k` in `idempotency`";
        assert_corrupt(engine.idempotency("f", "k").unwrap_err(), engine, expected);
    }

    /// An execution whose stored bytes are garbage can still be replaced, and is then indexed.
    pub(crate) fn a_corrupt_execution_can_be_replaced(engine: &impl Engine) {
        use crate::{ExecutionStatus, conformance};
        engine.put_raw(Table::Executions, b"broken", b"not json").unwrap();
        engine.put_raw(Table::ExecutionsByStatus, b"queued\0broken", &[0; 10]).unwrap();
        let record = conformance::execution("broken", Some("f"), ExecutionStatus::Failed, 1);
        engine.put_executions(std::slice::from_ref(&record)).unwrap();
        assert_eq!(engine.execution("broken").unwrap(), Some(record.clone()));
        assert_eq!(engine.unfinished_executions().unwrap(), vec![]);
        let failed = ExecutionQuery { status: Some(ExecutionStatus::Failed), ..Default::default() };
        assert_eq!(engine.list_executions(&failed).unwrap().items, vec![record]);
    }

    /// Garbage under a subscription's or a delivery's id, or in a delivery index, is an error that
    /// names the table and the key, from every method that reads it.
    pub(crate) fn corrupt_outbound_records_are_errors_naming_the_key(engine: &impl Engine) {
        use crate::{DeliveryStatus, conformance};
        engine.put_raw(Table::Subscriptions, b"sub_broken", b"{\"id\":").unwrap();
        let expected = "corrupt record `sub_broken` in `subscriptions`";
        assert_corrupt(engine.subscription("sub_broken").unwrap_err(), engine, expected);
        assert_corrupt(engine.subscriptions().unwrap_err(), engine, expected);

        let s = conformance::subscription_id(1);
        let other = conformance::delivery("msg_other", &s, DeliveryStatus::Pending, 0, None);
        engine
            .put_raw(
                Table::Deliveries,
                b"msg_wrong",
                &encode(Table::Deliveries, b"", &other).unwrap(),
            )
            .unwrap();
        let err = engine.delivery("msg_wrong").unwrap_err();
        assert_corrupt(
            err,
            engine,
            "corrupt record `msg_wrong` in `deliveries`: the record is keyed `msg_other`",
        );
        engine.put_raw(Table::Deliveries, b"msg_wrong", b"[]").unwrap();
        let expected = "corrupt record `msg_wrong` in `deliveries`";
        assert_corrupt(engine.delivery("msg_wrong").unwrap_err(), engine, expected);
        let all = DeliveryQuery::default();
        assert_corrupt(engine.list_deliveries(&all).unwrap_err(), engine, expected);
        engine.remove_raw(Table::Deliveries, b"msg_wrong").unwrap();

        let fine = conformance::delivery("msg_fine", &s, DeliveryStatus::Succeeded, 0, None);
        engine.put_deliveries(&[fine], Durability::Now).unwrap();
        let key = [s.as_bytes(), b"\0msg_odd"].concat();
        engine.put_raw(Table::DeliveriesBySubscription, &key, b"\x07").unwrap();
        let expected = format!("corrupt record `{s}\0msg_odd` in `deliveries_by_subscription`");
        let failed = DeliveryQuery {
            subscription_id: Some(s.clone()),
            status: Some(DeliveryStatus::Failed),
            ..all.clone()
        };
        assert_corrupt(engine.list_deliveries(&failed).unwrap_err(), engine, &expected);
        assert_corrupt(engine.prune_deliveries(0, 0).unwrap_err(), engine, &expected);

        engine.put_raw(Table::DeliveriesDue, b"\x01", b"").unwrap();
        let expected = "corrupt record `\u{1}` in `deliveries_due`";
        assert_corrupt(engine.next_due_ms().unwrap_err(), engine, expected);
        assert_corrupt(engine.due_deliveries(0, 10).unwrap_err(), engine, expected);
    }

    /// A delivery whose stored record or summary is garbage can still be replaced, and its
    /// subscription deleted, leaving no index entry behind.
    pub(crate) fn a_corrupt_delivery_can_be_replaced_or_deleted(engine: &impl Engine) {
        use crate::{Delivery, DeliveryStatus, conformance};
        let s = conformance::subscription_id(1);
        let pending = conformance::delivery("msg_a", &s, DeliveryStatus::Pending, 0, Some(7));
        let by_subscription = [s.as_bytes(), b"\0msg_a"].concat();
        let succeeded = Delivery {
            status: DeliveryStatus::Succeeded,
            next_attempt_at_ms: None,
            ..pending.clone()
        };
        let assert_only = |delivery: &Delivery| {
            assert_eq!(engine.delivery(&delivery.id).unwrap().as_ref(), Some(delivery));
            assert_eq!(engine.pending_deliveries().unwrap(), 0);
            assert_eq!(engine.next_due_ms().unwrap(), None);
            assert_eq!(engine.held_deliveries(&s).unwrap(), vec![]);
            let query = DeliveryQuery { status: Some(delivery.status), ..Default::default() };
            assert_eq!(engine.list_deliveries(&query).unwrap().items, vec![delivery.clone()]);
        };

        // The summary is garbage: the record tells where the delivery was.
        engine.put_deliveries(std::slice::from_ref(&pending), Durability::Now).unwrap();
        engine.put_raw(Table::DeliveriesBySubscription, &by_subscription, b"?").unwrap();
        engine.put_deliveries(std::slice::from_ref(&succeeded), Durability::Now).unwrap();
        assert_only(&succeeded);

        // Both are garbage: every entry it may have goes.
        engine.put_deliveries(std::slice::from_ref(&pending), Durability::Now).unwrap();
        engine.put_raw(Table::DeliveriesHeld, &by_subscription, b"").unwrap();
        engine.put_raw(Table::DeliveriesBySubscription, &by_subscription, b"?").unwrap();
        engine.put_raw(Table::Deliveries, b"msg_a", b"not json").unwrap();
        engine.put_deliveries(std::slice::from_ref(&succeeded), Durability::Now).unwrap();
        assert_only(&succeeded);

        // A record without a summary.
        engine.remove_raw(Table::DeliveriesBySubscription, &by_subscription).unwrap();
        engine.put_raw(Table::Deliveries, b"msg_a", b"not json").unwrap();
        engine.put_deliveries(std::slice::from_ref(&succeeded), Durability::Now).unwrap();
        assert_only(&succeeded);

        // Deleting the subscription of a delivery whose summary and record are garbage.
        engine.put_deliveries(std::slice::from_ref(&pending), Durability::Now).unwrap();
        engine.put_raw(Table::DeliveriesBySubscription, &by_subscription, b"?").unwrap();
        engine.put_raw(Table::Deliveries, b"msg_a", b"not json").unwrap();
        assert!(!engine.delete_subscription(&s).unwrap());
        assert_eq!(engine.delivery("msg_a").unwrap(), None);
        assert_eq!(engine.pending_deliveries().unwrap(), 0);
        assert_eq!(engine.next_due_ms().unwrap(), None);
        assert_eq!(engine.list_deliveries(&DeliveryQuery::default()).unwrap().items, vec![]);
        for table in [
            Table::DeliveriesBySubscription,
            Table::DeliveriesByStatus,
            Table::DeliveriesDue,
            Table::DeliveriesHeld,
        ] {
            assert_eq!(engine.scan_raw(table).unwrap(), vec![], "{table:?}");
        }
    }

    /// Every execution with a cause has one entry under its parent, and nothing else has one,
    /// through replacements (a new parent, no parent) and every prune.
    pub(crate) fn parent_entries_follow_the_executions(engine: &impl Engine) {
        use crate::{Cause, ExecutionStatus, conformance};
        let cause = |parent: &str| Cause {
            event_id: "evt_1".to_owned(),
            event_type: "order.paid".to_owned(),
            parent_execution_id: parent.to_owned(),
            depth: 1,
            event: serde_json::json!({"type": "order.paid"}),
        };
        let statuses = [ExecutionStatus::Succeeded, ExecutionStatus::Rejected];
        let records: Vec<ExecutionRecord> = (0..60u64)
            .map(|n| {
                let status = statuses[usize::from(n % 5 == 0)];
                let flow = (n % 7 != 0).then_some("f");
                let mut record = conformance::execution(
                    &conformance::execution_id(n),
                    flow,
                    status,
                    i64::try_from(n).unwrap(),
                );
                record.cause = (n % 3 != 0).then(|| cause(["p", "q"][usize::from(n % 2 == 0)]));
                record
            })
            .collect();
        engine.put_executions(&records).unwrap();
        let mut moved = records[1].clone();
        moved.cause = Some(cause("r"));
        let mut orphan = records[2].clone();
        orphan.cause = None;
        engine.put_executions(&[moved, orphan]).unwrap();
        let check = || {
            let mut expected: Vec<Vec<u8>> = Vec::new();
            for (id, _) in engine.scan_raw(Table::Executions).unwrap() {
                let id = String::from_utf8(id).unwrap();
                let record = engine.execution(&id).unwrap().unwrap();
                if let Some(cause) = record.cause {
                    expected.push(executions::parent_index_key(
                        &cause.parent_execution_id,
                        id.as_bytes(),
                    ));
                }
            }
            expected.sort();
            let stored: Vec<Vec<u8>> = engine
                .scan_raw(Table::ExecutionsByParent)
                .unwrap()
                .into_iter()
                .map(|(key, _)| key)
                .collect();
            assert_eq!(stored, expected);
        };
        check();
        assert!(engine.prune_executions("f", 10, 20).unwrap() > 0);
        check();
        assert!(engine.prune_rejected(2).unwrap() > 0);
        check();
        assert!(engine.prune_executions("f", 0, i64::MAX).unwrap() > 0);
        check();
    }

    /// Writes come out in (table, key) order, whether each table's keys came in order or not.
    #[test]
    fn a_batch_is_grouped_by_table_in_key_order() {
        let put = |table, key: &str| Write::Put {
            table,
            key: key.as_bytes().to_vec(),
            value: Cow::Borrowed(&[]),
        };
        let remove = |table, key: &str| Write::Remove { table, key: key.as_bytes().to_vec() };
        let (records, by_flow, by_status) =
            (Table::Executions, Table::ExecutionsByFlow, Table::ExecutionsByStatus);
        let mut writes = vec![
            put(by_flow, "f\0b"),
            put(records, "a"),
            put(by_status, "queued\0b"),
            put(by_flow, "e\0c"),
            put(records, "b"),
            remove(by_status, "failed\0a"),
            put(by_flow, "f\0a"),
            put(records, "c"),
        ];
        let mut expected: Vec<(Table, Vec<u8>)> =
            writes.iter().map(|w| (w.table(), w.key().to_vec())).collect();
        expected.sort();
        group_by_table(&mut writes);
        let order: Vec<(Table, Vec<u8>)> =
            writes.iter().map(|w| (w.table(), w.key().to_vec())).collect();
        assert_eq!(order, expected);
    }

    /// Runs every engine-level case, each on a fresh engine.
    pub(crate) fn run_all<E: Engine>(make: &dyn Fn() -> E) {
        corrupt_record_is_an_error_naming_the_key(&make());
        misfiled_record_is_corrupt(&make());
        corrupt_executions_are_errors_naming_the_key(&make());
        a_corrupt_execution_can_be_replaced(&make());
        corrupt_outbound_records_are_errors_naming_the_key(&make());
        a_corrupt_delivery_can_be_replaced_or_deleted(&make());
        parent_entries_follow_the_executions(&make());
        records::tests::run_all(make);
        events::tests::a_corrupt_event_is_an_error_naming_the_key(&make());
    }
}
