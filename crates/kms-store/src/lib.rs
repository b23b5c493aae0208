//! Storage backends for the engine's [`kms_core::Store`] trait.
//!
//! [`EmbeddedStore`] keeps everything in one redb file in the data directory: an ACID,
//! copy-on-write B-tree that fsyncs before a commit returns, so an acknowledged write survives
//! `kill -9` and power loss, and a torn write is never visible.
//!
//! [`PgStore`] keeps it in PostgreSQL, which several nodes share: it also implements
//! [`kms_core::shared::SharedState`] and runs a change feed ([`PgStore::watch`]).

mod embedded;
mod postgres;

pub use embedded::EmbeddedStore;
pub use postgres::{
    CallFigures, FEED_APPLICATION_NAME, Feed, PgMetrics, PgOptions, PgSettings, PgStore,
};
