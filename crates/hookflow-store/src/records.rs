//! The records domain: named collections of JSON records, written by flows' `store` node and
//! read back by key or page by page, in key order or in the order they were created.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The longest collection name or record key, in bytes.
pub const MAX_NAME_BYTES: usize = 512;

/// One record of a collection, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRecord {
    pub collection: String,
    /// Unique within the collection: any non-empty UTF-8 of at most [`MAX_NAME_BYTES`].
    pub key: String,
    pub value: serde_json::Value,
    /// 1 when created, one more at each write that replaces it.
    pub version: u64,
    /// `rec_` and a UUIDv7 in hex, made when the record was first stored and kept when it is
    /// replaced: the records of a collection sort by it in the order they were created.
    pub created_id: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The execution that wrote it last.
    pub execution_id: String,
}

/// What a write does when its key is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteMode {
    /// Stores the record only if the key is free; else nothing is written.
    Insert,
    /// Stores the record whether or not the key is taken, replacing the one there.
    Upsert,
}

/// One write of [`Store::put_records`](crate::Store::put_records).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    pub collection: String,
    pub key: String,
    pub value: serde_json::Value,
    pub mode: WriteMode,
    /// The execution writing it.
    pub execution_id: String,
    /// When it is written: the record's `updated_at_ms`, and its `created_at_ms` if it is new.
    pub now_ms: i64,
}

/// What became of one [`RecordWrite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordWritten {
    /// Stored: `created` when there was no record under the key, and its `version` now.
    Stored { created: bool, version: u64 },
    /// An [`WriteMode::Insert`] of a key already taken: nothing was written; the record there
    /// has `version`.
    Exists { version: u64 },
}

/// The order of a listing of records: both ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecordOrder {
    /// By key (byte order, which is the order of `str`).
    #[default]
    Key,
    /// By [`StoredRecord::created_id`]: oldest first.
    Created,
}

impl RecordOrder {
    pub const ALL: [RecordOrder; 2] = [RecordOrder::Key, RecordOrder::Created];

    /// The name in a query string.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordOrder::Key => "key",
            RecordOrder::Created => "created",
        }
    }
}

impl fmt::Display for RecordOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order name that is not one of [`RecordOrder::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record order `{0}`: expected key or created")]
pub struct UnknownRecordOrder(pub String);

impl FromStr for RecordOrder {
    type Err = UnknownRecordOrder;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordOrder::ALL
            .into_iter()
            .find(|order| order.as_str() == s)
            .ok_or_else(|| UnknownRecordOrder(s.to_owned()))
    }
}

/// Which records to list: one collection, in `order`, one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    pub collection: String,
    pub order: RecordOrder,
    /// Continue strictly after this: the `next_cursor` of the previous page (in key order the
    /// last key, in created order the last `created_id`); empty for the first page.
    pub cursor: String,
    /// 0 means [`RecordQuery::DEFAULT_LIMIT`]; more than [`RecordQuery::MAX_LIMIT`] is capped.
    pub limit: usize,
}

impl RecordQuery {
    pub const DEFAULT_LIMIT: usize = 50;
    pub const MAX_LIMIT: usize = 1000;

    /// The page size this query gets: `limit`, 0 meaning [`Self::DEFAULT_LIMIT`], capped at
    /// [`Self::MAX_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            limit => limit.min(Self::MAX_LIMIT),
        }
    }
}

/// One page of records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordPage {
    pub items: Vec<StoredRecord>,
    /// Pass as `cursor` for the next page; `None` when no record remains after this page.
    pub next_cursor: Option<String>,
}

/// A collection that holds records, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    pub name: String,
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_round_trip_through_their_names() {
        for order in RecordOrder::ALL {
            assert_eq!(order.to_string().parse::<RecordOrder>(), Ok(order));
        }
        let err = "newest".parse::<RecordOrder>().unwrap_err();
        assert_eq!(err.to_string(), "unknown record order `newest`: expected key or created");
    }

    #[test]
    fn limit_defaults_and_is_capped() {
        let query = |limit| RecordQuery { limit, ..RecordQuery::default() };
        assert_eq!(query(0).effective_limit(), RecordQuery::DEFAULT_LIMIT);
        assert_eq!(query(7).effective_limit(), 7);
        assert_eq!(query(1000).effective_limit(), 1000);
        assert_eq!(query(usize::MAX).effective_limit(), RecordQuery::MAX_LIMIT);
    }
}
