//! The storage contract the engine needs. Implementations: embedded (redb) and PostgreSQL.
//!
//! Every method is one atomic, durable transaction: when it returns `Ok`, the write survives a
//! crash. Uniqueness and limits are enforced inside the transaction, never read-then-write.

use uuid::Uuid;

use crate::model::{Account, AccountId, KeyRecord};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("alias already in use")]
    AliasTaken,
    #[error("key limit reached")]
    LimitReached,
    #[error("record changed concurrently")]
    Conflict,
    #[error("record already exists")]
    AlreadyExists,
    #[error("storage backend failure: {0}")]
    Backend(String),
}

pub trait Store: Send + Sync {
    /// Inserts a new key, reserving its alias within (account, region), and refusing when the
    /// region already holds `max_keys` keys of the account.
    fn create_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError>;

    fn get_key(&self, key_id: &Uuid) -> Result<Option<KeyRecord>, StoreError>;

    /// Replaces a key whose stored revision is `key.revision - 1`; moves its alias if it changed.
    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

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

    fn count_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError>;

    /// Keys whose [`KeyRecord::next_due_time`] is at or before `now`, at most `limit` of them.
    fn due_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError>;

    /// Inserts an account; `AlreadyExists` if its uin, secret id or project id is taken.
    fn create_account(&self, account: &Account) -> Result<(), StoreError>;

    fn accounts(&self) -> Result<Vec<Account>, StoreError>;
}
