//! The KMS engine: domain types, the key state machine and every operation, independent of any
//! wire protocol or storage backend.
//!
//! Dialect crates (Tencent, Huawei) translate their requests into [`Engine`] calls; the binary
//! wires a concrete [`Store`] and [`Seal`] into it.

pub mod accounts;
pub mod audit_fields;
pub mod base64_text;
pub mod ciphertext;
pub mod clock;
pub mod context;
pub mod engine;
pub mod error;
pub mod grants;
pub mod identity;
pub mod json_text;
pub mod model;
pub mod replay;
pub mod seal;
pub mod shared;
pub mod store;
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock, utc_civil_date, utc_date_time};
pub use context::EncryptionContext;
pub use engine::{Caller, DeletableFrom, Engine, EngineConfig, KeyListFilter, SortOrder};
pub use error::{Bounded, KmsError, Operation};
pub use model::*;
pub use seal::{Seal, SealError};
pub use store::{Store, StoreError};
