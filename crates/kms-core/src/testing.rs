//! In-memory implementations of the engine's traits, for unit tests of the engine and dialects.

use std::collections::BTreeMap;
use std::sync::Mutex;

use uuid::Uuid;
use zeroize::Zeroizing;

use kms_crypto::Aes256GcmKey;

use crate::model::{Account, AccountId, KeyRecord};
use crate::seal::{Seal, SealError};
use crate::store::{Store, StoreError};

/// A seal whose root key lives only in this process.
pub struct MemorySeal(Aes256GcmKey);

impl MemorySeal {
    pub fn generate() -> Self {
        Self(Aes256GcmKey::generate().expect("OS random source"))
    }
}

impl Seal for MemorySeal {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.0
            .seal(aad, plaintext)
            .map_err(|e| SealError::Backend(e.to_string()))
    }
    fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.0
            .open(aad, sealed)
            .map_err(|_| SealError::Authentication)
    }
}

/// A store in a mutex-guarded map, with the same uniqueness, limit and revision rules as the
/// real ones.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    keys: BTreeMap<Uuid, KeyRecord>,
    accounts: Vec<Account>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn alias_taken(inner: &Inner, key: &KeyRecord) -> bool {
    inner.keys.values().any(|k| {
        k.key_id != key.key_id
            && k.account == key.account
            && k.region == key.region
            && k.alias == key.alias
    })
}

impl Store for MemoryStore {
    fn create_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if alias_taken(&inner, key) {
            return Err(StoreError::AliasTaken);
        }
        let count = inner
            .keys
            .values()
            .filter(|k| k.account == key.account && k.region == key.region)
            .count() as u64;
        if count >= max_keys {
            return Err(StoreError::LimitReached);
        }
        inner.keys.insert(key.key_id, key.clone());
        Ok(())
    }

    fn get_key(&self, key_id: &Uuid) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.lock().keys.get(key_id).cloned())
    }

    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        match inner.keys.get(&key.key_id) {
            Some(old) if old.revision + 1 == key.revision => {}
            _ => return Err(StoreError::Conflict),
        }
        if alias_taken(&inner, key) {
            return Err(StoreError::AliasTaken);
        }
        inner.keys.insert(key.key_id, key.clone());
        Ok(())
    }

    fn delete_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        match inner.keys.get(&key.key_id) {
            Some(old) if old.revision == key.revision => {
                inner.keys.remove(&key.key_id);
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    fn scan_keys(
        &self,
        account: AccountId,
        region: &str,
        newest_first: bool,
        visit: &mut dyn FnMut(KeyRecord) -> bool,
    ) -> Result<(), StoreError> {
        let mut keys: Vec<KeyRecord> = self
            .lock()
            .keys
            .values()
            .filter(|k| k.account == account && k.region == region)
            .cloned()
            .collect();
        keys.sort_by_key(|k| (k.created_at, k.key_id));
        if newest_first {
            keys.reverse();
        }
        for k in keys {
            if !visit(k) {
                break;
            }
        }
        Ok(())
    }

    fn count_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .keys
            .values()
            .filter(|k| k.account == account && k.region == region)
            .count() as u64)
    }

    fn due_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        Ok(self
            .lock()
            .keys
            .values()
            .filter(|k| k.next_due_time().is_some_and(|t| t <= now))
            .map(|k| k.key_id)
            .take(limit)
            .collect())
    }

    fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.accounts.iter().any(|a| {
            a.uin == account.uin
                || a.secret_id == account.secret_id
                || a.project_id == account.project_id
        }) {
            return Err(StoreError::AlreadyExists);
        }
        inner.accounts.push(account.clone());
        Ok(())
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(self.lock().accounts.clone())
    }
}
