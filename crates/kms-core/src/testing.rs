//! In-memory implementations of the engine's traits, for unit tests of the engine and dialects.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use uuid::Uuid;
use zeroize::Zeroizing;

use kms_crypto::Aes256GcmKey;

use crate::accounts::{Directory, NewAccount, create_account};
use crate::grants::GrantRecord;
use crate::model::{Account, AccountId, Alias, DataKeyRecord, KeyRecord};
use crate::seal::{Seal, SealError};
use crate::shared::SharedState;
use crate::store::{
    DataKeyListFilter, Indexed, KeyListFilter, ListQuery, Listed, Record, SortOrder, Store,
    StoreError,
};

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
    fn check_value(&self) -> Result<[u8; 8], SealError> {
        Ok(self.0.check_value())
    }
}

/// A store in mutex-guarded maps, with the same uniqueness, limit and revision rules as the
/// real ones. It answers listings by scanning every record: the reference the indexed stores
/// are checked against.
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
    /// (key id, grant id) → grant.
    grants: BTreeMap<(Uuid, String), GrantRecord>,
    identity: crate::identity::Identity,
    /// Every secret id ever used, with its account.
    secret_ids: BTreeMap<String, AccountId>,
    settings: BTreeMap<String, Vec<u8>>,
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

/// Whether another record of the scope holds one of `rec`'s names, or `rec` names itself twice.
fn name_taken<R: Indexed>(map: &BTreeMap<Uuid, R>, rec: &R) -> bool {
    let names = rec.unique_names();
    let repeated = names
        .iter()
        .enumerate()
        .any(|(i, n)| names[..i].contains(n));
    repeated
        || map.values().any(|r| {
            r.id() != rec.id()
                && in_scope(r, rec.account(), rec.region())
                && r.unique_names().iter().any(|n| names.contains(n))
        })
}

fn create<R: Indexed>(map: &mut BTreeMap<Uuid, R>, rec: &R, max: u64) -> Result<(), StoreError> {
    if map.contains_key(&rec.id()) {
        return Err(StoreError::AlreadyExists);
    }
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

fn list<R: Indexed>(
    map: &BTreeMap<Uuid, R>,
    account: AccountId,
    region: &str,
    query: &dyn ListQuery<R>,
) -> Listed<R> {
    let mut recs: Vec<&R> = map
        .values()
        .filter(|r| in_scope(*r, account, region) && query.matches(r))
        .collect();
    recs.sort_by_key(|r| (r.created_at(), r.id()));
    if query.order() == SortOrder::NewestFirst {
        recs.reverse();
    }
    Listed {
        total: recs.len() as u64,
        page: recs
            .into_iter()
            .skip(query.offset())
            .take(query.limit())
            .cloned()
            .collect(),
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
        let mut inner = self.lock();
        delete(&mut inner.keys, key)?;
        inner.grants.retain(|(key_id, _), _| *key_id != key.key_id);
        Ok(())
    }
    fn list_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &KeyListFilter,
    ) -> Result<Listed<KeyRecord>, StoreError> {
        Ok(list(&self.lock().keys, account, region, filter))
    }
    fn key_by_name(
        &self,
        account: AccountId,
        region: &str,
        name: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        Ok(self
            .lock()
            .keys
            .values()
            .find(|k| in_scope(*k, account, region) && k.names().any(|n| n == name))
            .map(|k| k.key_id))
    }
    fn list_aliases(
        &self,
        account: AccountId,
        region: &str,
        key_id: Option<Uuid>,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<(Uuid, Alias)>, StoreError> {
        let inner = self.lock();
        let mut aliases: Vec<(Uuid, Alias)> = inner
            .keys
            .values()
            .filter(|k| in_scope(*k, account, region) && key_id.is_none_or(|id| id == k.key_id))
            .flat_map(|k| k.aliases.iter().map(|a| (k.key_id, a.clone())))
            .collect();
        aliases.sort_by(|a, b| a.1.name.cmp(&b.1.name));
        Ok(Listed {
            total: aliases.len() as u64,
            page: aliases.into_iter().skip(offset).take(limit).collect(),
        })
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
    fn list_data_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &DataKeyListFilter,
    ) -> Result<Listed<DataKeyRecord>, StoreError> {
        Ok(list(&self.lock().data_keys, account, region, filter))
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
        if inner.secret_ids.contains_key(&account.secret_id)
            || inner
                .accounts
                .iter()
                .any(|a| a.uin == account.uin || a.project_id == account.project_id)
        {
            return Err(StoreError::AlreadyExists);
        }
        inner.accounts.push(account.clone());
        inner
            .secret_ids
            .insert(account.secret_id.clone(), account.uin);
        Ok(())
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(self.lock().accounts.clone())
    }

    fn create_grant(&self, grant: &GrantRecord, max: u64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let id = (grant.key_id, grant.grant_id.clone());
        if inner.grants.contains_key(&id) {
            return Err(StoreError::AlreadyExists);
        }
        let held = inner.grants.keys().filter(|(k, _)| *k == grant.key_id);
        if held.count() as u64 >= max {
            return Err(StoreError::LimitReached);
        }
        inner.grants.insert(id, grant.clone());
        Ok(())
    }

    fn key_grants(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
        let mut grants: Vec<GrantRecord> = self
            .lock()
            .grants
            .values()
            .filter(|g| g.key_id == *key_id)
            .cloned()
            .collect();
        grants.sort_by(|a, b| (a.created_at, &a.grant_id).cmp(&(b.created_at, &b.grant_id)));
        Ok(grants)
    }

    fn delete_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<bool, StoreError> {
        let id = (*key_id, grant_id.to_owned());
        Ok(self.lock().grants.remove(&id).is_some())
    }

    fn most_grants_on_a_key(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        let mut held: BTreeMap<Uuid, u64> = BTreeMap::new();
        for g in self.lock().grants.values() {
            if g.account == account && g.region == region {
                *held.entry(g.key_id).or_default() += 1;
            }
        }
        Ok(held.into_values().max().unwrap_or(0))
    }

    fn retirable_grants(
        &self,
        region: &str,
        principal: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<GrantRecord>, StoreError> {
        let mut grants: Vec<GrantRecord> = self
            .lock()
            .grants
            .values()
            .filter(|g| g.region == region && g.retiring_principal == principal)
            .cloned()
            .collect();
        grants.sort_by(|a, b| (a.created_at, &a.grant_id).cmp(&(b.created_at, &b.grant_id)));
        Ok(Listed {
            total: grants.len() as u64,
            page: grants.into_iter().skip(offset).take(limit).collect(),
        })
    }

    fn identity(&self) -> Result<crate::identity::Identity, StoreError> {
        Ok(self.lock().identity.clone())
    }

    fn replace_identity(
        &self,
        expected: u64,
        next: &crate::identity::Identity,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.identity.revision != expected {
            return Err(StoreError::Conflict);
        }
        let mut reserved = inner.secret_ids.clone();
        for (id, credential) in &next.credentials {
            if inner.identity.credentials.contains_key(id) {
                continue;
            }
            // An account's creation credential was reserved with the account.
            let own_first = inner
                .accounts
                .iter()
                .any(|a| a.uin == credential.account && &a.secret_id == id);
            match reserved.get(id) {
                Some(&owner) if own_first && owner == credential.account => {}
                Some(_) => return Err(StoreError::AlreadyExists),
                None => {
                    reserved.insert(id.clone(), credential.account);
                }
            }
        }
        inner.secret_ids = reserved;
        inner.identity = next.clone();
        inner.identity.revision = expected + 1;
        Ok(())
    }

    fn reserve_secret_id(&self, secret_id: &str, account: AccountId) -> Result<(), StoreError> {
        let mut inner = self.lock();
        match inner.secret_ids.get(secret_id) {
            Some(&owner) if owner == account => Ok(()),
            Some(_) => Err(StoreError::AlreadyExists),
            None => {
                inner.secret_ids.insert(secret_id.to_owned(), account);
                Ok(())
            }
        }
    }

    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().settings.get(name).cloned())
    }

    fn init_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut inner = self.lock();
        Ok(inner
            .settings
            .entry(name.to_owned())
            .or_insert_with(|| value.to_vec())
            .clone())
    }

    fn replace_setting(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.settings.get(name).map(Vec::as_slice) != expected {
            return Err(StoreError::Conflict);
        }
        inner.settings.insert(name.to_owned(), value.to_vec());
        Ok(())
    }

    fn reseal_account(&self, uin: AccountId, sealed_secret_key: &[u8]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let account = inner
            .accounts
            .iter_mut()
            .find(|a| a.uin == uin)
            .ok_or(StoreError::Conflict)?;
        account.sealed_secret_key = sealed_secret_key.to_vec();
        Ok(())
    }

    fn export(
        &self,
        each: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let inner = self.lock();
        for account in &inner.accounts {
            each(Record::Account(account.clone()))?;
        }
        if inner.identity.revision > 0 {
            each(Record::Identity(inner.identity.clone()))?;
        }
        for (secret_id, &account) in &inner.secret_ids {
            each(Record::SecretId {
                secret_id: secret_id.clone(),
                account,
            })?;
        }
        for (name, value) in &inner.settings {
            each(Record::Setting {
                name: name.clone(),
                value: value.clone(),
            })?;
        }
        for key in inner.keys.values() {
            each(Record::Key(key.clone()))?;
        }
        for data_key in inner.data_keys.values() {
            each(Record::DataKey(data_key.clone()))?;
        }
        for grant in inner.grants.values() {
            each(Record::Grant(grant.clone()))?;
        }
        Ok(())
    }
}

/// Security state shared across nodes, in mutex-guarded maps: what several dialect instances
/// ("nodes") given one of these share, as they would share a PostgreSQL store's.
#[derive(Default)]
pub struct MemorySharedState {
    inner: Mutex<SharedInner>,
}

#[derive(Default)]
struct SharedInner {
    /// (room, id) → when the entry may be forgotten.
    used: HashMap<(String, [u8; 16]), u64>,
    /// login → (failures of its window, when the window opened).
    failures: HashMap<[u8; 32], (u32, u64)>,
}

impl MemorySharedState {
    fn inner(&self) -> std::sync::MutexGuard<'_, SharedInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SharedState for MemorySharedState {
    fn first_use(
        &self,
        room: &str,
        id: &[u8; 16],
        now: u64,
        expires: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner();
        let key = (room.to_owned(), *id);
        if inner.used.get(&key).is_some_and(|&until| until >= now) {
            return Ok(false);
        }
        inner.used.insert(key, expires);
        Ok(true)
    }

    fn login_failed(
        &self,
        login: &[u8; 32],
        now: u64,
        window_secs: u64,
    ) -> Result<u32, StoreError> {
        let mut inner = self.inner();
        let (count, since) = inner.failures.entry(*login).or_insert((0, now));
        if now >= since.saturating_add(window_secs) {
            (*count, *since) = (0, now);
        }
        *count = count.saturating_add(1);
        Ok(*count)
    }

    fn login_failures(
        &self,
        login: &[u8; 32],
        now: u64,
        window_secs: u64,
    ) -> Result<u32, StoreError> {
        Ok(match self.inner().failures.get(login) {
            Some(&(count, since)) if now < since.saturating_add(window_secs) => count,
            _ => 0,
        })
    }

    fn login_succeeded(&self, login: &[u8; 32]) -> Result<(), StoreError> {
        self.inner().failures.remove(login);
        Ok(())
    }

    fn forget_expired(&self, now: u64, window_secs: u64) -> Result<(), StoreError> {
        let mut inner = self.inner();
        inner.used.retain(|_, expires| *expires >= now);
        inner
            .failures
            .retain(|_, (_, since)| now < since.saturating_add(window_secs));
        Ok(())
    }
}

/// A shared state whose store always fails, for the dialects' fail-closed paths: with it, no
/// request that needs the shared state may be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailingSharedState {
    /// The store cannot be reached ([`StoreError::Unavailable`]): a transient refusal.
    Unavailable,
    /// The store fails otherwise ([`StoreError::Backend`]): an internal error.
    Broken,
}

impl FailingSharedState {
    fn error(&self) -> StoreError {
        match self {
            Self::Unavailable => StoreError::Unavailable("the test's store is down".into()),
            Self::Broken => StoreError::Backend("the test's store is broken".into()),
        }
    }
}

impl SharedState for FailingSharedState {
    fn first_use(&self, _: &str, _: &[u8; 16], _: u64, _: u64) -> Result<bool, StoreError> {
        Err(self.error())
    }

    fn login_failed(&self, _: &[u8; 32], _: u64, _: u64) -> Result<u32, StoreError> {
        Err(self.error())
    }

    fn login_failures(&self, _: &[u8; 32], _: u64, _: u64) -> Result<u32, StoreError> {
        Err(self.error())
    }

    fn login_succeeded(&self, _: &[u8; 32]) -> Result<(), StoreError> {
        Err(self.error())
    }

    fn forget_expired(&self, _: u64, _: u64) -> Result<(), StoreError> {
        Err(self.error())
    }
}

#[cfg(test)]
mod tests {
    use super::{FailingSharedState, MemorySharedState, MemoryStore};
    use crate::shared::SharedState;
    use crate::store::StoreError;

    #[test]
    fn memory_store_keeps_the_store_contract() {
        crate::store::contract::check(MemoryStore::default);
    }

    #[test]
    fn memory_shared_state_keeps_the_shared_state_contract() {
        crate::shared::contract::check(MemorySharedState::default);
    }

    #[test]
    fn a_failing_shared_state_fails_every_call() {
        for state in [FailingSharedState::Unavailable, FailingSharedState::Broken] {
            let unavailable = state == FailingSharedState::Unavailable;
            let is_expected =
                |e: StoreError| matches!(e, StoreError::Unavailable(_)) == unavailable;
            assert!(is_expected(
                state.first_use("r", &[0; 16], 1, 2).unwrap_err()
            ));
            assert!(is_expected(state.login_failed(&[0; 32], 1, 2).unwrap_err()));
            assert!(is_expected(
                state.login_failures(&[0; 32], 1, 2).unwrap_err()
            ));
            assert!(is_expected(state.login_succeeded(&[0; 32]).unwrap_err()));
            assert!(is_expected(state.forget_expired(1, 2).unwrap_err()));
        }
    }
}
