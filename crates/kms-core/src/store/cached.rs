//! A node's cache in front of a store that other nodes share (PostgreSQL), so the request path
//! (Encrypt reads its key on every call) does not wait on the database.
//!
//! It caches what requests read by id: key records, data key records, a key's grants, and
//! which key holds a name. Everything else goes to the store. The cache is only as good as the
//! change feed that invalidates it ([`FeedEvent`]): it serves nothing cached until the feed
//! reports [`FeedEvent::Resumed`], drops everything on [`FeedEvent::Lost`] and reads through to
//! the store until the feed is back. A read that missed is cached only if no invalidation
//! happened while it read (a generation counter), so a change reported during the read cannot
//! be overwritten by the older record. This node's own writes invalidate what they touch at
//! once, so a client reads its writes on the node that made them.
//!
//! A miss is a database round trip, which must not happen on an async worker: in the engine's
//! non-blocking mode ([`crate::engine::nonblocking`]) a miss is refused, and the request runs
//! again on a thread that may block.
//!
//! In front of a store this process alone writes (the embedded store, whose data dir it holds
//! locked), [`CachedStore::sole_writer`] needs no feed: its own writes are every change there
//! is, so it is trusted from the start, and a miss reads the local file inline. There it saves
//! the request path a B-tree lookup and a record decode per call.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use super::feed::{Change, FeedEvent};
use super::{DataKeyListFilter, KeyListFilter, Listed, Record, Store, StoreError};
use crate::grants::GrantRecord;
use crate::identity::Identity;
use crate::model::{Account, AccountId, Alias, DataKeyRecord, KeyRecord, Tag};

const SHARDS: usize = 16;

/// A bounded map split into shards, so concurrent readers of different entries do not meet.
/// A full shard is emptied whole: simpler than an eviction order, and a refill costs one read
/// per entry.
struct Shards<K, V> {
    shards: Vec<RwLock<HashMap<K, V>>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl<K: Hash + Eq, V: Clone> Shards<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: Default::default(),
        }
    }

    fn shard(&self, key: &K) -> &RwLock<HashMap<K, V>> {
        &self.shards[(self.hasher.hash_one(key) % SHARDS as u64) as usize]
    }

    fn get(&self, key: &K) -> Option<V> {
        let shard = self.shard(key).read().unwrap_or_else(|e| e.into_inner());
        shard.get(key).cloned()
    }

    /// Inserts unless `still_current` says otherwise, asked under the shard's lock: an
    /// invalidation moves the generation before it removes under that lock, so it either
    /// stops this insert or removes what it inserted.
    fn insert_if(&self, key: K, value: V, still_current: impl FnOnce() -> bool) {
        let mut shard = self.shard(&key).write().unwrap_or_else(|e| e.into_inner());
        if !still_current() {
            return;
        }
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.clear();
        }
        shard.insert(key, value);
    }

    fn remove(&self, key: &K) {
        let mut shard = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        shard.remove(key);
    }

    fn clear(&self) {
        for shard in &self.shards {
            shard.write().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

/// (account, region, name): the scope a name is unique in.
type NameKey = (AccountId, String, String);

/// How the cache has done, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheFigures {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    /// Whether the change feed vouches for the cache now.
    pub trusted: bool,
}

pub struct CachedStore {
    inner: Arc<dyn Store>,
    keys: Shards<Uuid, KeyRecord>,
    data_keys: Shards<Uuid, DataKeyRecord>,
    grants: Shards<Uuid, Vec<GrantRecord>>,
    names: Shards<NameKey, Uuid>,
    /// Set by [`FeedEvent::Resumed`], cleared by [`FeedEvent::Lost`].
    trusted: AtomicBool,
    /// Moves on every invalidation; a read that saw it move does not cache what it read.
    generation: AtomicU64,
    /// Whether a miss may read the store on a thread that must not block (a local file).
    inline_misses: bool,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CachedStore {
    /// A cache of at most `capacity` records of each kind in front of `inner`, serving nothing
    /// cached until the feed reports [`FeedEvent::Resumed`].
    pub fn new(inner: Arc<dyn Store>, capacity: usize) -> Self {
        Self {
            inner,
            keys: Shards::new(capacity),
            data_keys: Shards::new(capacity),
            grants: Shards::new(capacity),
            names: Shards::new(capacity),
            trusted: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            inline_misses: false,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// A cache in front of a local store that no one but this process writes: trusted from
    /// the start, never followed by a feed, and reading its misses inline.
    pub fn sole_writer(inner: Arc<dyn Store>, capacity: usize) -> Self {
        let cache = Self {
            inline_misses: true,
            ..Self::new(inner, capacity)
        };
        cache.trusted.store(true, Ordering::SeqCst);
        cache
    }

    /// Follows the change feed: what it reports changed leaves the cache.
    pub fn apply(&self, event: FeedEvent) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        match event {
            FeedEvent::Changed(change) => self.forget(change),
            FeedEvent::Lost => {
                self.trusted.store(false, Ordering::SeqCst);
                self.clear();
            }
            FeedEvent::Resumed => {
                // Changes made while the feed was down were never reported.
                self.clear();
                self.trusted.store(true, Ordering::SeqCst);
            }
        }
    }

    pub fn figures(&self) -> CacheFigures {
        CacheFigures {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: (self.keys.len() + self.data_keys.len() + self.grants.len() + self.names.len())
                as u64,
            trusted: self.trusted.load(Ordering::SeqCst),
        }
    }

    fn clear(&self) {
        self.keys.clear();
        self.data_keys.clear();
        self.grants.clear();
        self.names.clear();
    }

    fn forget(&self, change: Change) {
        match change {
            Change::Key(id) => {
                self.keys.remove(&id);
                // Deleting a key removes its grants; any of its names may have moved.
                self.grants.remove(&id);
                self.names.clear();
            }
            Change::DataKey(id) => self.data_keys.remove(&id),
            Change::Grants(id) => self.grants.remove(&id),
            Change::Identity | Change::Accounts | Change::Settings => {}
        }
    }

    /// What this node's own write touched, reported at once and not only when the feed
    /// brings it back.
    fn wrote(&self, changes: impl IntoIterator<Item = Change>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for change in changes {
            self.forget(change);
        }
    }

    /// Refuses a database round trip on an async worker (the request runs again elsewhere).
    fn reach(&self) -> Result<&dyn Store, StoreError> {
        crate::engine::nonblocking::may_block()
            .map_err(|_| StoreError::Unavailable("would block".into()))?;
        Ok(self.inner.as_ref())
    }

    /// The store for a read: at once when it is local, else as [`Self::reach`].
    fn reach_to_read(&self) -> Result<&dyn Store, StoreError> {
        if self.inline_misses {
            Ok(self.inner.as_ref())
        } else {
            self.reach()
        }
    }

    /// Answers from `cache` when the feed vouches for it, else reads with `read` and caches the
    /// answer if nothing was invalidated meanwhile.
    fn read_through<K: Hash + Eq, V: Clone>(
        &self,
        cache: &Shards<K, V>,
        key: K,
        read: impl FnOnce(&dyn Store) -> Result<Option<V>, StoreError>,
    ) -> Result<Option<V>, StoreError> {
        let trusted = self.trusted.load(Ordering::SeqCst);
        if trusted && let Some(found) = cache.get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(found));
        }
        let store = self.reach_to_read()?;
        self.misses.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.load(Ordering::SeqCst);
        let found = read(store)?;
        if let Some(value) = &found
            && trusted
        {
            cache.insert_if(key, value.clone(), || {
                self.trusted.load(Ordering::SeqCst)
                    && self.generation.load(Ordering::SeqCst) == generation
            });
        }
        Ok(found)
    }
}

fn keys_of(keys: &[KeyRecord]) -> impl Iterator<Item = Change> + '_ {
    keys.iter().map(|k| Change::Key(k.key_id))
}

fn data_keys_of(data_keys: &[DataKeyRecord]) -> impl Iterator<Item = Change> + '_ {
    data_keys.iter().map(|d| Change::DataKey(d.data_key_id))
}

impl Store for CachedStore {
    fn create_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError> {
        let out = self.reach()?.create_key(key, max_keys);
        self.wrote([Change::Key(key.key_id)]);
        out
    }

    fn get_key(&self, key_id: &Uuid) -> Result<Option<KeyRecord>, StoreError> {
        self.read_through(&self.keys, *key_id, |s| s.get_key(key_id))
    }

    fn update_keys(&self, keys: &[KeyRecord], max_keys: u64) -> Result<(), StoreError> {
        let out = self.reach()?.update_keys(keys, max_keys);
        // Also after a refusal: a stale revision means the cached record is stale.
        self.wrote(keys_of(keys));
        out
    }

    fn delete_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let out = self.reach()?.delete_key(key);
        self.wrote([Change::Key(key.key_id)]);
        out
    }

    fn list_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &KeyListFilter,
    ) -> Result<Listed<KeyRecord>, StoreError> {
        self.reach_to_read()?.list_keys(account, region, filter)
    }

    fn key_by_name(
        &self,
        account: AccountId,
        region: &str,
        name: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        let key = (account, region.to_owned(), name.to_owned());
        self.read_through(&self.names, key, |s| s.key_by_name(account, region, name))
    }

    fn list_aliases(
        &self,
        account: AccountId,
        region: &str,
        key_id: Option<Uuid>,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<(Uuid, Alias)>, StoreError> {
        self.reach_to_read()?
            .list_aliases(account, region, key_id, offset, limit)
    }

    fn count_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.reach_to_read()?.count_keys(account, region)
    }

    fn key_tags(&self, account: AccountId, region: &str) -> Result<Vec<Tag>, StoreError> {
        self.reach_to_read()?.key_tags(account, region)
    }

    fn due_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.reach_to_read()?.due_keys(now, limit)
    }

    fn create_data_key(&self, data_key: &DataKeyRecord, max: u64) -> Result<(), StoreError> {
        let out = self.reach()?.create_data_key(data_key, max);
        self.wrote([Change::DataKey(data_key.data_key_id)]);
        out
    }

    fn get_data_key(&self, data_key_id: &Uuid) -> Result<Option<DataKeyRecord>, StoreError> {
        self.read_through(&self.data_keys, *data_key_id, |s| {
            s.get_data_key(data_key_id)
        })
    }

    fn update_data_keys(&self, data_keys: &[DataKeyRecord], max: u64) -> Result<(), StoreError> {
        let out = self.reach()?.update_data_keys(data_keys, max);
        self.wrote(data_keys_of(data_keys));
        out
    }

    fn delete_data_key(&self, data_key: &DataKeyRecord) -> Result<(), StoreError> {
        let out = self.reach()?.delete_data_key(data_key);
        self.wrote([Change::DataKey(data_key.data_key_id)]);
        out
    }

    fn list_data_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &DataKeyListFilter,
    ) -> Result<Listed<DataKeyRecord>, StoreError> {
        self.reach_to_read()?
            .list_data_keys(account, region, filter)
    }

    fn count_data_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.reach_to_read()?.count_data_keys(account, region)
    }

    fn due_data_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.reach_to_read()?.due_data_keys(now, limit)
    }

    fn scrub(&self) -> Result<(), StoreError> {
        self.reach()?.scrub()
    }

    fn create_grant(&self, grant: &GrantRecord, max: u64) -> Result<(), StoreError> {
        let out = self.reach()?.create_grant(grant, max);
        self.wrote([Change::Grants(grant.key_id)]);
        out
    }

    fn key_grants(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
        self.read_through(&self.grants, *key_id, |s| s.key_grants(key_id).map(Some))
            .map(Option::unwrap_or_default)
    }

    fn delete_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<bool, StoreError> {
        let out = self.reach()?.delete_grant(key_id, grant_id);
        self.wrote([Change::Grants(*key_id)]);
        out
    }

    fn retirable_grants(
        &self,
        region: &str,
        principal: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<GrantRecord>, StoreError> {
        self.reach_to_read()?
            .retirable_grants(region, principal, offset, limit)
    }

    fn most_grants_on_a_key(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.reach_to_read()?.most_grants_on_a_key(account, region)
    }

    fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.reach()?.create_account(account)
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.reach_to_read()?.accounts()
    }

    fn identity(&self) -> Result<Identity, StoreError> {
        self.reach_to_read()?.identity()
    }

    fn replace_identity(&self, expected: u64, next: &Identity) -> Result<(), StoreError> {
        self.reach()?.replace_identity(expected, next)
    }

    fn reserve_secret_id(&self, secret_id: &str, account: AccountId) -> Result<(), StoreError> {
        self.reach()?.reserve_secret_id(secret_id, account)
    }

    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.reach_to_read()?.setting(name)
    }

    fn init_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.reach()?.init_setting(name, value)
    }

    fn replace_setting(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.reach()?.replace_setting(name, expected, value)
    }

    fn reseal_account(&self, uin: AccountId, sealed_secret_key: &[u8]) -> Result<(), StoreError> {
        self.reach()?.reseal_account(uin, sealed_secret_key)
    }

    fn export(
        &self,
        each: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.reach_to_read()?.export(each)
    }

    fn import(&self, record: &Record) -> Result<(), StoreError> {
        let out = self.reach()?.import(record);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.clear();
        out
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        self.reach_to_read()?.is_empty()
    }
}

#[cfg(test)]
mod tests;
