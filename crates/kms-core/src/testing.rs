//! In-memory implementations of the engine's traits, for unit tests of the engine and dialects.

use std::collections::BTreeMap;
use std::sync::Mutex;

use uuid::Uuid;
use zeroize::Zeroizing;

use kms_crypto::Aes256GcmKey;

use crate::accounts::{Directory, NewAccount, create_account};
use crate::model::{Account, AccountId, DataKeyRecord, KeyRecord};
use crate::seal::{Seal, SealError};
use crate::store::{Indexed, Store, StoreError};

/// Creates an account holding the credential `(secret_id, secret_key)` and returns a directory
/// that authenticates it: the start of every dialect test and fuzz harness.
pub fn directory_with_account(
    store: &dyn Store,
    seal: &dyn Seal,
    uin: AccountId,
    secret_id: &str,
    secret_key: &str,
) -> Directory {
    create_account(
        store,
        seal,
        &NewAccount {
            uin,
            app_id: uin,
            secret_id: secret_id.into(),
            secret_key: Zeroizing::new(secret_key.into()),
            project_id: "0123456789abcdef0123456789abcdef".into(),
        },
        0,
    )
    .expect("a new account in an empty store");
    Directory::load(store, seal).expect("the account just made")
}

/// A seal whose root key lives only in this process.
pub struct MemorySeal(Aes256GcmKey);

impl MemorySeal {
    /// A seal over a known root key, for fixtures made under it.
    pub fn from_root_key(bytes: &[u8]) -> Self {
        Self(Aes256GcmKey::from_bytes(bytes).expect("a 32-byte root key"))
    }

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

/// A store in mutex-guarded maps, with the same uniqueness, limit and revision rules as the
/// real ones.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    scrubs: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct Inner {
    keys: BTreeMap<Uuid, KeyRecord>,
    data_keys: BTreeMap<Uuid, DataKeyRecord>,
    accounts: Vec<Account>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many times [`Store::scrub`] ran: the engine must not scrub once per erasure.
    pub fn scrubs(&self) -> usize {
        self.scrubs.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn in_scope<R: Indexed>(r: &R, account: AccountId, region: &str) -> bool {
    r.account() == account && r.region() == region
}

fn name_taken<R: Indexed>(map: &BTreeMap<Uuid, R>, rec: &R) -> bool {
    map.values().any(|r| {
        r.id() != rec.id()
            && in_scope(r, rec.account(), rec.region())
            && r.unique_name() == rec.unique_name()
    })
}

fn create<R: Indexed>(map: &mut BTreeMap<Uuid, R>, rec: &R, max: u64) -> Result<(), StoreError> {
    if name_taken(map, rec) {
        return Err(StoreError::NameTaken);
    }
    if count(map, rec.account(), rec.region()) >= max {
        return Err(StoreError::LimitReached);
    }
    map.insert(rec.id(), rec.clone());
    Ok(())
}

fn update<R: Indexed>(map: &mut BTreeMap<Uuid, R>, rec: &R, max: u64) -> Result<(), StoreError> {
    let old_counts = match map.get(&rec.id()) {
        Some(old) if old.revision() + 1 == rec.revision() => old.counts_toward_limit(),
        _ => return Err(StoreError::Conflict),
    };
    if rec.counts_toward_limit() && !old_counts && count(map, rec.account(), rec.region()) >= max {
        return Err(StoreError::LimitReached);
    }
    if name_taken(map, rec) {
        return Err(StoreError::NameTaken);
    }
    map.insert(rec.id(), rec.clone());
    Ok(())
}

/// Updates every record or none: applied to a copy that replaces the map only if all succeed.
fn update_all<R: Indexed>(
    map: &mut BTreeMap<Uuid, R>,
    recs: &[R],
    max: u64,
) -> Result<(), StoreError> {
    let mut staged = map.clone();
    for rec in recs {
        update(&mut staged, rec, max)?;
    }
    *map = staged;
    Ok(())
}

fn delete<R: Indexed>(map: &mut BTreeMap<Uuid, R>, rec: &R) -> Result<(), StoreError> {
    match map.get(&rec.id()) {
        Some(old) if old.revision() == rec.revision() => {
            map.remove(&rec.id());
            Ok(())
        }
        _ => Err(StoreError::Conflict),
    }
}

fn scan<R: Indexed>(
    map: &BTreeMap<Uuid, R>,
    account: AccountId,
    region: &str,
    newest_first: bool,
    visit: &mut dyn FnMut(R) -> bool,
) {
    let mut recs: Vec<R> = map
        .values()
        .filter(|r| in_scope(*r, account, region))
        .cloned()
        .collect();
    recs.sort_by_key(|r| (r.created_at(), r.id()));
    if newest_first {
        recs.reverse();
    }
    for r in recs {
        if !visit(r) {
            break;
        }
    }
}

/// Records of the scope that count toward its limit (not those pending deletion).
fn count<R: Indexed>(map: &BTreeMap<Uuid, R>, account: AccountId, region: &str) -> u64 {
    map.values()
        .filter(|r| in_scope(*r, account, region) && r.counts_toward_limit())
        .count() as u64
}

fn due<R: Indexed>(map: &BTreeMap<Uuid, R>, now: u64, limit: usize) -> Vec<Uuid> {
    map.values()
        .filter(|r| r.due_time().is_some_and(|t| t <= now))
        .map(|r| r.id())
        .take(limit)
        .collect()
}

impl Store for MemoryStore {
    fn create_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError> {
        create(&mut self.lock().keys, key, max_keys)
    }
    fn get_key(&self, key_id: &Uuid) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.lock().keys.get(key_id).cloned())
    }
    fn update_keys(&self, keys: &[KeyRecord], max_keys: u64) -> Result<(), StoreError> {
        update_all(&mut self.lock().keys, keys, max_keys)
    }
    fn delete_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        delete(&mut self.lock().keys, key)
    }
    fn scan_keys(
        &self,
        account: AccountId,
        region: &str,
        newest_first: bool,
        visit: &mut dyn FnMut(KeyRecord) -> bool,
    ) -> Result<(), StoreError> {
        let keys = self.lock().keys.clone();
        scan(&keys, account, region, newest_first, visit);
        Ok(())
    }
    fn count_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        Ok(count(&self.lock().keys, account, region))
    }
    fn due_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        Ok(due(&self.lock().keys, now, limit))
    }

    fn create_data_key(&self, data_key: &DataKeyRecord, max: u64) -> Result<(), StoreError> {
        create(&mut self.lock().data_keys, data_key, max)
    }
    fn get_data_key(&self, data_key_id: &Uuid) -> Result<Option<DataKeyRecord>, StoreError> {
        Ok(self.lock().data_keys.get(data_key_id).cloned())
    }
    fn update_data_keys(&self, data_keys: &[DataKeyRecord], max: u64) -> Result<(), StoreError> {
        update_all(&mut self.lock().data_keys, data_keys, max)
    }
    fn delete_data_key(&self, data_key: &DataKeyRecord) -> Result<(), StoreError> {
        delete(&mut self.lock().data_keys, data_key)
    }
    fn scan_data_keys(
        &self,
        account: AccountId,
        region: &str,
        newest_first: bool,
        visit: &mut dyn FnMut(DataKeyRecord) -> bool,
    ) -> Result<(), StoreError> {
        let data_keys = self.lock().data_keys.clone();
        scan(&data_keys, account, region, newest_first, visit);
        Ok(())
    }
    fn count_data_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        Ok(count(&self.lock().data_keys, account, region))
    }
    fn due_data_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        Ok(due(&self.lock().data_keys, now, limit))
    }

    fn scrub(&self) -> Result<(), StoreError> {
        self.scrubs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::MemoryStore;

    #[test]
    fn memory_store_keeps_the_store_contract() {
        crate::store::contract::check(MemoryStore::default);
    }
}
