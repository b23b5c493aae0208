//! The storage contract the engine needs. Implementations: embedded (redb) and PostgreSQL.
//!
//! Every method is one atomic, durable transaction: when it returns `Ok`, the write survives a
//! crash. Uniqueness and limits are enforced inside the transaction, never read-then-write.

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::model::{Account, AccountId, DataKeyRecord, KeyRecord};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("name (alias) already in use")]
    NameTaken,
    #[error("limit reached")]
    LimitReached,
    #[error("record changed concurrently")]
    Conflict,
    #[error("record already exists")]
    AlreadyExists,
    #[error("storage backend failure: {0}")]
    Backend(String),
}

/// What a store needs to keep and index a record: keys and hosted data keys alike have an id,
/// a scope (account, region), a name unique in the scope, a creation time for ordered listing,
/// a time when background work is due, and a revision for compare-and-swap.
pub trait Indexed: Clone + Serialize + DeserializeOwned + Send + Sync {
    fn id(&self) -> Uuid;
    fn account(&self) -> AccountId;
    fn region(&self) -> &str;
    fn unique_name(&self) -> &str;
    fn created_at(&self) -> u64;
    fn due_time(&self) -> Option<u64>;
    fn revision(&self) -> u64;
    /// Whether the record counts toward its scope's limit: records scheduled for deletion do
    /// not, as the vendor counts them.
    fn counts_toward_limit(&self) -> bool;
}

impl Indexed for KeyRecord {
    fn id(&self) -> Uuid {
        self.key_id
    }
    fn account(&self) -> AccountId {
        self.account
    }
    fn region(&self) -> &str {
        &self.region
    }
    fn unique_name(&self) -> &str {
        &self.alias
    }
    fn created_at(&self) -> u64 {
        self.created_at
    }
    fn due_time(&self) -> Option<u64> {
        self.next_due_time()
    }
    fn revision(&self) -> u64 {
        self.revision
    }
    fn counts_toward_limit(&self) -> bool {
        self.state != crate::model::KeyState::PendingDelete
    }
}

impl Indexed for DataKeyRecord {
    fn id(&self) -> Uuid {
        self.data_key_id
    }
    fn account(&self) -> AccountId {
        self.account
    }
    fn region(&self) -> &str {
        &self.region
    }
    fn unique_name(&self) -> &str {
        &self.name
    }
    fn created_at(&self) -> u64 {
        self.created_at
    }
    fn due_time(&self) -> Option<u64> {
        self.next_due_time()
    }
    fn revision(&self) -> u64 {
        self.revision
    }
    fn counts_toward_limit(&self) -> bool {
        self.state != crate::model::DataKeyState::PendingDelete
    }
}

pub trait Store: Send + Sync {
    /// Inserts a new key, reserving its alias within (account, region), and refusing when the
    /// region already holds `max_keys` keys of the account (not counting those pending deletion).
    fn create_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError>;

    fn get_key(&self, key_id: &Uuid) -> Result<Option<KeyRecord>, StoreError>;

    /// Replaces a key whose stored revision is `key.revision - 1`; moves its alias if it changed.
    /// Refuses with `LimitReached` when the change makes the key count toward the limit again
    /// (a cancelled deletion) and the region already holds `max_keys` keys that count.
    fn update_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError> {
        self.update_keys(std::slice::from_ref(key), max_keys)
    }

    /// [`Store::update_key`] for several keys in one transaction: every one is written, or, if
    /// any is refused (a stale revision, an alias in use, the limit), none is.
    fn update_keys(&self, keys: &[KeyRecord], max_keys: u64) -> Result<(), StoreError>;

    /// Removes a key whose stored revision is `key.revision`, freeing its alias.
    fn delete_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

    /// Visits every key of (account, region) in creation order (newest first if asked) until
    /// `visit` returns false. Streaming keeps memory flat however many keys a scope holds.
    fn scan_keys(
        &self,
        account: AccountId,
        region: &str,
        newest_first: bool,
        visit: &mut dyn FnMut(KeyRecord) -> bool,
    ) -> Result<(), StoreError>;

    /// Keys of (account, region) that count toward the limit.
    fn count_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError>;

    /// Keys whose [`KeyRecord::next_due_time`] is at or before `now`, at most `limit` of them.
    fn due_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError>;

    /// Inserts a hosted data key, reserving its name within (account, region), and refusing
    /// when the region already holds `max` data keys of the account.
    fn create_data_key(&self, data_key: &DataKeyRecord, max: u64) -> Result<(), StoreError>;

    fn get_data_key(&self, data_key_id: &Uuid) -> Result<Option<DataKeyRecord>, StoreError>;

    /// Replaces a data key whose stored revision is `data_key.revision - 1`; refuses with
    /// `LimitReached` when the change makes it count toward a limit of `max` that is reached.
    fn update_data_key(&self, data_key: &DataKeyRecord, max: u64) -> Result<(), StoreError> {
        self.update_data_keys(std::slice::from_ref(data_key), max)
    }

    /// [`Store::update_data_key`] for several data keys in one transaction: all or none.
    fn update_data_keys(&self, data_keys: &[DataKeyRecord], max: u64) -> Result<(), StoreError>;

    /// Removes a data key whose stored revision is `data_key.revision`, freeing its name.
    fn delete_data_key(&self, data_key: &DataKeyRecord) -> Result<(), StoreError>;

    /// As [`Store::scan_keys`], for hosted data keys.
    fn scan_data_keys(
        &self,
        account: AccountId,
        region: &str,
        newest_first: bool,
        visit: &mut dyn FnMut(DataKeyRecord) -> bool,
    ) -> Result<(), StoreError>;

    /// Data keys of (account, region) that count toward the limit.
    fn count_data_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError>;

    /// Data keys whose purge is due at or before `now`, at most `limit` of them.
    fn due_data_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError>;

    /// Overwrites the store's free space, so a secret erased from a record (sealed material of
    /// a deleted key, or imported material deleted or expired) lingers in no earlier copy. Every
    /// erasure committed before the call is covered. Costs time in proportion to the store's
    /// size and leaves the file no larger than it found it: the engine runs it in the
    /// background, once for all the erasures since the last one (`Engine::run_owed_scrub`).
    fn scrub(&self) -> Result<(), StoreError>;

    /// Inserts an account; `AlreadyExists` if its uin, secret id or project id is taken.
    fn create_account(&self, account: &Account) -> Result<(), StoreError>;

    fn accounts(&self) -> Result<Vec<Account>, StoreError>;
}

#[cfg(any(test, feature = "testing"))]
pub mod contract;
