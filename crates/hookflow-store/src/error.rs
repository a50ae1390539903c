//! The errors of the storage layer.
//!
//! Messages carry the underlying cause in full (backend errors are kept as text so that redb and
//! sled types never leave this crate), so `to_string()` alone says what failed and where.

use std::{io, path::PathBuf};

/// What can go wrong in a [`Store`](crate::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {}: {cause}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        cause: io::Error,
    },

    /// The database could not be opened (missing permissions, locked by another process,
    /// not a database of this backend, ...).
    #[error("cannot open the {store}: {cause}")]
    Open {
        /// The backend and its path, e.g. `redb database /var/lib/hookflow/hookflow.redb`.
        store: String,
        /// What the backend reported.
        cause: String,
    },

    /// Another process holds the database open (each backend allows one process at a time):
    /// usually a `hookflow serve` on the same data directory.
    #[error(
        "cannot open the {store}: another process has it open (is `hookflow serve` running on this data directory?)"
    )]
    Locked {
        /// The backend and its path.
        store: String,
    },

    /// A read, write or sync failed in the backend.
    #[error("{store}: cannot {operation}: {cause}")]
    Backend {
        /// The backend and its path.
        store: String,
        /// What was being done, e.g. ``write `credentials/deploy-bot` ``.
        operation: String,
        /// What the backend reported.
        cause: String,
    },

    /// A stored record could not be read back: the bytes under `key` are not a valid record.
    #[error("{store}: corrupt record `{key}` in `{table}`: {cause}")]
    Corrupt {
        /// The backend and its path.
        store: String,
        /// The table (or tree) the record is in.
        table: &'static str,
        /// The key of the record (lossy UTF-8).
        key: String,
        /// What is wrong with it.
        cause: String,
    },

    /// A record's collection name or key is empty or too long (see
    /// [`MAX_NAME_BYTES`](crate::records::MAX_NAME_BYTES)): nothing of its batch was written.
    #[error(
        "invalid record {field} `{shown}`: {len} bytes, expected 1 to {max}",
        max = crate::records::MAX_NAME_BYTES
    )]
    InvalidRecordName {
        /// `collection` or `key`.
        field: &'static str,
        /// The name, cut after its first 64 characters.
        shown: String,
        /// Its length in bytes.
        len: usize,
    },

    /// A record could not be serialized; a bug, reported rather than panicking.
    #[error("cannot encode record `{key}` for `{table}`: {cause}")]
    Encode {
        /// The table the record was going to.
        table: &'static str,
        /// The key of the record.
        key: String,
        /// What serde_json reported.
        cause: serde_json::Error,
    },
}

/// A store kind that hookflow does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown store backend `{0}`: expected `redb` or `sled`")]
pub struct UnknownStoreKind(pub String);
