//! The engine over in-memory parts and a manual clock, shared by the engine's tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::grants::GrantRecord;
use crate::store::Listed;
use crate::testing::{MemorySeal, MemoryStore};

/// Where every test's clock starts.
pub(super) const T0: u64 = 1_700_000_000;

pub(super) struct Fixture {
    pub(super) engine: Engine,
    pub(super) clock: Arc<ManualClock>,
    pub(super) store: Arc<MemoryStore>,
    pub(super) caller: Caller,
}

pub(super) fn fixture() -> Fixture {
    fixture_with(EngineConfig::default())
}

pub(super) fn fixture_with(config: EngineConfig) -> Fixture {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Arc::new(MemoryStore::default());
    let engine = Engine::new(
        store.clone(),
        Arc::new(MemorySeal::generate()),
        clock.clone(),
        config,
    );
    Fixture {
        engine,
        clock,
        store,
        caller: Caller {
            account: 100,
            user: None,
            credential: "test-credential".into(),
            region: "ap-guangzhou".into(),
            authority: None,
        },
    }
}

/// A KMS-generated symmetric key named `alias`.
pub(super) fn new_key(alias: &str) -> NewKey {
    NewKey {
        hsm_cluster: None,
        alias: alias.into(),
        description: String::new(),
        usage: KeyUsage::EncryptDecrypt,
        spec: KeySpec::Aes256,
        origin: Origin::Kms,
        tags: vec![],
    }
}

impl Fixture {
    /// Creates a KMS key named `alias`; returns its id.
    pub(super) fn key(&self, alias: &str) -> String {
        self.engine
            .create_key(&self.caller, new_key(alias))
            .unwrap()
            .key_id
            .to_string()
    }

    /// Creates a key of `origin` under a fresh alias; returns its id.
    pub(super) fn key_of(&self, origin: Origin) -> String {
        let mut new = new_key(&format!("k{}", Uuid::new_v4().simple()));
        new.origin = origin;
        self.engine
            .create_key(&self.caller, new)
            .unwrap()
            .key_id
            .to_string()
    }

    /// Runs the scrub every engine owes at start, so a test sees only the scrubs it causes.
    pub(super) fn settle_scrub(&self) {
        assert!(
            self.engine.run_owed_scrub().unwrap(),
            "a fresh engine owes one scrub"
        );
        assert!(!self.engine.scrub_owed());
    }

    /// How many versions the key has (rotation adds one).
    pub(super) fn versions(&self, id: &str) -> usize {
        self.engine
            .describe_key(&self.caller, id)
            .unwrap()
            .versions
            .len()
    }

    pub(super) fn state(&self, id: &str) -> KeyState {
        self.engine.describe_key(&self.caller, id).unwrap().state
    }
}

/// A store that interferes like other nodes and slow disks do: it can pause every read and
/// write (widening each read-modify-write window), refuse writes as stale, and change records
/// behind the engine's back just before its first write.
#[derive(Default)]
pub(super) struct InterferingStore {
    pub(super) inner: MemoryStore,
    /// Pause before every read and every write of a key or data key.
    pub(super) delay: Duration,
    /// The next this many writes are refused as if another node had written first.
    pub(super) conflicts: AtomicUsize,
    /// Runs once, on the inner store, before the first write of a key or data key.
    #[allow(clippy::type_complexity)]
    pub(super) before_write: Mutex<Option<Box<dyn FnOnce(&MemoryStore) + Send>>>,
    /// Runs once, on the inner store, before the first key is created.
    #[allow(clippy::type_complexity)]
    pub(super) before_create: Mutex<Option<Box<dyn FnOnce(&MemoryStore) + Send>>>,
    /// The next this many setting swaps are refused as if another node had swapped first.
    pub(super) setting_conflicts: AtomicUsize,
    /// Runs once before the first setting swap (as another node would, between the swapper's
    /// read and its swap).
    #[allow(clippy::type_complexity)]
    pub(super) before_swap: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl InterferingStore {
    fn interfere(&self) -> Result<(), StoreError> {
        std::thread::sleep(self.delay);
        if let Some(change) = self.before_write.lock().unwrap().take() {
            change(&self.inner);
        }
        let lost = self
            .conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if lost.is_ok() {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }
}

impl Store for InterferingStore {
    fn identity(&self) -> Result<crate::identity::Identity, StoreError> {
        self.inner.identity()
    }
    fn replace_identity(
        &self,
        expected: u64,
        next: &crate::identity::Identity,
    ) -> Result<(), StoreError> {
        self.inner.replace_identity(expected, next)
    }
    fn reserve_secret_id(&self, secret_id: &str, account: AccountId) -> Result<(), StoreError> {
        self.inner.reserve_secret_id(secret_id, account)
    }
    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.setting(name)
    }
    fn init_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.inner.init_setting(name, value)
    }
    fn replace_setting(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let hook = self.before_swap.lock().unwrap().take();
        if let Some(change) = hook {
            change();
        }
        let lost = self
            .setting_conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if lost.is_ok() {
            return Err(StoreError::Conflict);
        }
        self.inner.replace_setting(name, expected, value)
    }
    fn reseal_account(&self, uin: AccountId, sealed_secret_key: &[u8]) -> Result<(), StoreError> {
        self.inner.reseal_account(uin, sealed_secret_key)
    }
    fn export(
        &self,
        each: &mut dyn FnMut(crate::store::Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.inner.export(each)
    }
    fn create_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError> {
        let hook = self.before_create.lock().unwrap().take();
        if let Some(change) = hook {
            change(&self.inner);
        }
        self.inner.create_key(key, max_keys)
    }
    fn get_key(&self, key_id: &Uuid) -> Result<Option<KeyRecord>, StoreError> {
        std::thread::sleep(self.delay);
        self.inner.get_key(key_id)
    }
    fn update_keys(&self, keys: &[KeyRecord], max_keys: u64) -> Result<(), StoreError> {
        self.interfere()?;
        self.inner.update_keys(keys, max_keys)
    }
    fn delete_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.inner.delete_key(key)
    }
    fn list_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &KeyListFilter,
    ) -> Result<Listed<KeyRecord>, StoreError> {
        self.inner.list_keys(account, region, filter)
    }
    fn key_by_name(
        &self,
        account: AccountId,
        region: &str,
        name: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        self.inner.key_by_name(account, region, name)
    }
    fn list_aliases(
        &self,
        account: AccountId,
        region: &str,
        key_id: Option<Uuid>,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<(Uuid, Alias)>, StoreError> {
        self.inner
            .list_aliases(account, region, key_id, offset, limit)
    }
    fn count_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.inner.count_keys(account, region)
    }
    fn due_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.inner.due_keys(now, limit)
    }
    fn create_data_key(&self, data_key: &DataKeyRecord, max: u64) -> Result<(), StoreError> {
        self.inner.create_data_key(data_key, max)
    }
    fn get_data_key(&self, data_key_id: &Uuid) -> Result<Option<DataKeyRecord>, StoreError> {
        std::thread::sleep(self.delay);
        self.inner.get_data_key(data_key_id)
    }
    fn update_data_keys(&self, data_keys: &[DataKeyRecord], max: u64) -> Result<(), StoreError> {
        self.interfere()?;
        self.inner.update_data_keys(data_keys, max)
    }
    fn delete_data_key(&self, data_key: &DataKeyRecord) -> Result<(), StoreError> {
        self.inner.delete_data_key(data_key)
    }
    fn list_data_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &DataKeyListFilter,
    ) -> Result<Listed<DataKeyRecord>, StoreError> {
        self.inner.list_data_keys(account, region, filter)
    }
    fn count_data_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.inner.count_data_keys(account, region)
    }
    fn due_data_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.inner.due_data_keys(now, limit)
    }
    fn scrub(&self) -> Result<(), StoreError> {
        self.inner.scrub()
    }
    fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.inner.create_account(account)
    }
    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.inner.accounts()
    }
    fn create_grant(&self, grant: &GrantRecord, max: u64) -> Result<(), StoreError> {
        self.inner.create_grant(grant, max)
    }
    fn key_grants(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
        self.inner.key_grants(key_id)
    }
    fn delete_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<bool, StoreError> {
        self.inner.delete_grant(key_id, grant_id)
    }
    fn most_grants_on_a_key(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.inner.most_grants_on_a_key(account, region)
    }
    fn retirable_grants(
        &self,
        region: &str,
        principal: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<GrantRecord>, StoreError> {
        self.inner
            .retirable_grants(region, principal, offset, limit)
    }
}

/// The engine over an [`InterferingStore`], and that store.
pub(super) struct InterferedFixture {
    pub(super) engine: Engine,
    pub(super) store: Arc<InterferingStore>,
    pub(super) caller: Caller,
}

pub(super) fn interfered(store: InterferingStore) -> InterferedFixture {
    let store = Arc::new(store);
    InterferedFixture {
        engine: Engine::new(
            store.clone(),
            Arc::new(MemorySeal::generate()),
            Arc::new(ManualClock::new(T0)),
            EngineConfig::default(),
        ),
        store,
        caller: Caller {
            account: 100,
            user: None,
            credential: "test-credential".into(),
            region: "ap-guangzhou".into(),
            authority: None,
        },
    }
}
