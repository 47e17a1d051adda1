//! What can go wrong with the spool itself (delivery failures are not errors of `send`: they
//! are retried or dead-lettered).

use std::path::PathBuf;
use std::sync::Arc;

/// An error of the shipper: opening or writing the spool, or a refused `send`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShipError {
    /// The file is not a spool of this SDK (not SQLite, other tables, another
    /// `application_id` or format version, or a spool of the other API). It was not modified.
    #[error("{} is not an auditkit spool: {reason}; the file was left untouched", path.display())]
    NotASpool {
        /// The file that was refused.
        path: PathBuf,
        /// What gave it away, for a human reader (e.g. its `application_id`).
        reason: String,
    },
    /// The spool file, or a file SQLite keeps beside it (`-wal`, `-shm`, `-journal`), can be
    /// written by other users or belongs to another user: its contents cannot be trusted.
    /// It was not opened or modified.
    #[error("the spool file {} is not private: {reason}; the file was left untouched", path.display())]
    NotPrivate {
        /// The offending file: the database or one of its companions.
        path: PathBuf,
        /// What is wrong with it (its owner or its mode), for a human reader.
        reason: String,
    },
    /// SQLite reports the file as damaged. It was not modified.
    #[error("the spool {} is damaged; the file was left untouched", path.display())]
    Corrupt {
        /// The damaged spool file.
        path: PathBuf,
        /// SQLite's report of the damage.
        #[source]
        source: rusqlite::Error,
    },
    /// Another shipper (in this or another process) has the spool open.
    #[error("the spool {} is in use by another shipper", path.display())]
    Locked {
        /// The spool file that is locked.
        path: PathBuf,
    },
    /// The spool holds `capacity` events and the shipper was built with
    /// [`WhenFull::Error`](super::WhenFull::Error). Nothing was recorded; send again later.
    #[error("the spool is full ({capacity} events); the event was not recorded")]
    Full {
        /// The configured [`ShipperBuilder::capacity`](super::ShipperBuilder::capacity), in
        /// events.
        capacity: u64,
    },
    /// A batch given to [`Shipper::send_all`](super::Shipper::send_all) holds more events
    /// than the spool's capacity, so it could never be recorded in one commit. Nothing was
    /// recorded; split it into batches of at most `capacity` events.
    #[error(
        "a batch of {events} events does not fit in the spool (capacity {capacity}); nothing was recorded"
    )]
    BatchTooLarge {
        /// How many events the refused batch holds.
        events: u64,
        /// The configured [`ShipperBuilder::capacity`](super::ShipperBuilder::capacity), in
        /// events.
        capacity: u64,
    },
    /// Reading or writing the spool failed. For `send`, the event was not recorded.
    #[error("spool database error")]
    Database(#[source] Arc<rusqlite::Error>),
    /// A file of the spool could not be inspected, created, read or made private, or the
    /// spool's thread could not be started.
    #[error("cannot access the spool {}", path.display())]
    Io {
        /// The file concerned: the database or one of its companions (the database for a
        /// thread that could not be started).
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The event could not be turned into JSON.
    #[error("cannot encode the event")]
    Encode(#[source] serde_json::Error),
    /// A spooled event no longer decodes as the event type (written by an incompatible build).
    #[error("cannot decode spooled event {event_id}")]
    Decode {
        /// The client-generated id of the event that does not decode.
        event_id: String,
        /// Why it does not decode.
        #[source]
        source: serde_json::Error,
    },
    /// No dead letter has this id (it was re-queued or never existed).
    #[error("no dead letter with id {0}")]
    UnknownDeadLetter(i64),
    /// The shipper must be opened inside a tokio runtime.
    #[error("a shipper must be opened inside a tokio runtime")]
    NoRuntime,
    /// The shipper was shut down (or its spool thread stopped); nothing was recorded.
    #[error("the shipper is shut down")]
    Closed,
}

impl From<rusqlite::Error> for ShipError {
    fn from(error: rusqlite::Error) -> Self {
        ShipError::Database(Arc::new(error))
    }
}

impl From<Arc<rusqlite::Error>> for ShipError {
    fn from(error: Arc<rusqlite::Error>) -> Self {
        ShipError::Database(error)
    }
}
