//! Storage backends for the engine's [`kms_core::Store`] trait.
//!
//! [`EmbeddedStore`] keeps everything in one redb file in the data directory: an ACID,
//! copy-on-write B-tree that fsyncs before a commit returns, so an acknowledged write survives
//! `kill -9` and power loss, and a torn write is never visible.

mod embedded;

pub use embedded::EmbeddedStore;
