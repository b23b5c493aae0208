//! Key stores (Huawei's dedicated keystores): named, account-owned views of one HSM cluster
//! this node serves. A key created in a key store is created in its cluster.
//!
//! An (account, region)'s key stores are one JSON document in a store setting, replaced by
//! compare-and-swap: few per account, so one document is small, it is durable and shared by
//! every node of a PostgreSQL store, and `export`/`import` carry it as they carry every
//! setting. A store's keys are the scope's keys of its cluster: a cluster backs at most one
//! key store of an account, so no key needs to name its store.
//!
//! A key created in a store and a delete or disable of that store may race, between nodes too.
//! Two rules keep a key from landing in a store that is gone or disabled: a key creation ends by
//! counting itself in the store's entry, by compare-and-swap, which requires the store still
//! there and enabled (else the key is removed again and the creation refused); and a delete
//! checks that the store holds no key inside its own compare-and-swap. A creation whose key was
//! written after the delete's check changes the document before the delete swaps it, so the
//! delete reads again and finds the key; one that counts itself after the swap finds the store
//! gone. A disable is a swap of the same document: a creation that counts itself after it finds
//! the store disabled.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Caller, Engine, NewKey, as_of};
use crate::error::KmsError;
use crate::model::KeyRecord;
use crate::store::{KeyListFilter, StoreError};

/// Most key stores one account holds in a region.
pub const KEY_STORES_PER_REGION: usize = 100;

/// Keys read per page while counting a key store's keys.
const COUNT_PAGE: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStore {
    pub keystore_id: Uuid,
    pub alias: String,
    pub hsm_cluster: String,
    pub enabled: bool,
    pub created_at: u64,
    pub updated_at: u64,
    /// Keys ever created in the store: each creation bumps it, so that the document changes
    /// under a delete that checked the store's keys before the creation wrote its key.
    #[serde(default)]
    pub keys_created: u64,
}

/// The setting that holds (account, region)'s key stores.
fn setting_name(caller: &Caller) -> String {
    format!("key_stores/{}/{}", caller.account, caller.region)
}

fn parse_id(id: &str) -> Result<Uuid, KmsError> {
    Uuid::try_parse(id).map_err(|_| KmsError::KeyStoreNotFound)
}

impl Engine {
    /// The caller's key stores, oldest first.
    pub fn list_key_stores(&self, caller: &Caller) -> Result<Vec<KeyStore>, KmsError> {
        Ok(self.read_key_stores(caller)?.1)
    }

    pub fn key_store(&self, caller: &Caller, keystore_id: &str) -> Result<KeyStore, KmsError> {
        let id = parse_id(keystore_id)?;
        self.list_key_stores(caller)?
            .into_iter()
            .find(|s| s.keystore_id == id)
            .ok_or(KmsError::KeyStoreNotFound)
    }

    /// A new, enabled key store over `hsm_cluster`, which this node must serve and no other key
    /// store of the account may use; its alias is unique among the account's key stores.
    pub fn create_key_store(
        &self,
        caller: &Caller,
        alias: &str,
        hsm_cluster: &str,
    ) -> Result<KeyStore, KmsError> {
        if !self.has_hsm_cluster(hsm_cluster) {
            return Err(KmsError::invalid(
                "hsm_cluster_id",
                format!("this server serves no HSM cluster {hsm_cluster:?}"),
            ));
        }
        let now = self.now();
        let created = KeyStore {
            keystore_id: Uuid::now_v7(),
            alias: alias.to_owned(),
            hsm_cluster: hsm_cluster.to_owned(),
            enabled: true,
            created_at: now,
            updated_at: now,
            keys_created: 0,
        };
        self.change_key_stores(caller, |stores| {
            if stores.iter().any(|s| s.alias == alias) {
                return Err(KmsError::AliasExists);
            }
            if stores.iter().any(|s| s.hsm_cluster == hsm_cluster) {
                return Err(KmsError::invalid(
                    "hsm_cluster_id",
                    "a key store of the account already uses this HSM cluster",
                ));
            }
            if stores.len() >= KEY_STORES_PER_REGION {
                return Err(KmsError::KeyStoreLimitExceeded);
            }
            stores.push(created.clone());
            Ok(())
        })?;
        Ok(created)
    }

    /// Enables or disables a key store; a disabled store takes no new keys, its keys still work.
    pub fn set_key_store_enabled(
        &self,
        caller: &Caller,
        keystore_id: &str,
        enabled: bool,
    ) -> Result<KeyStore, KmsError> {
        let id = parse_id(keystore_id)?;
        let now = self.now();
        let mut changed = None;
        self.change_key_stores(caller, |stores| {
            let store = stores
                .iter_mut()
                .find(|s| s.keystore_id == id)
                .ok_or(KmsError::KeyStoreNotFound)?;
            store.enabled = enabled;
            store.updated_at = now;
            changed = Some(store.clone());
            Ok(())
        })?;
        changed.ok_or(KmsError::KeyStoreNotFound)
    }

    /// Deletes a key store that holds no key (one pending deletion still counts). The keys are
    /// counted inside the swap, so a key created meanwhile makes it count again.
    pub fn delete_key_store(&self, caller: &Caller, keystore_id: &str) -> Result<(), KmsError> {
        let id = parse_id(keystore_id)?;
        self.change_key_stores(caller, |stores| {
            let at = stores
                .iter()
                .position(|s| s.keystore_id == id)
                .ok_or(KmsError::KeyStoreNotFound)?;
            if self.key_store_holds_keys(caller, &stores[at].hsm_cluster)? {
                return Err(KmsError::KeyStoreHoldsKeys);
            }
            stores.remove(at);
            Ok(())
        })
    }

    /// Creates `new` in the key store's HSM cluster. The store must be enabled when the key is
    /// generated and still be there and enabled once the key is written; else the key is
    /// removed again (its HSM objects destroyed) and the creation refused.
    pub fn create_key_in_key_store(
        &self,
        caller: &Caller,
        keystore_id: &str,
        mut new: NewKey,
    ) -> Result<KeyRecord, KmsError> {
        let store = self.key_store(caller, keystore_id)?;
        if !store.enabled {
            return Err(KmsError::KeyStoreDisabled);
        }
        new.hsm_cluster = Some(store.hsm_cluster);
        let key = self.create_key(caller, new)?;
        let counted = self.change_key_stores(caller, |stores| {
            let entry = stores
                .iter_mut()
                .find(|s| s.keystore_id == store.keystore_id)
                .ok_or(KmsError::KeyStoreNotFound)?;
            if !entry.enabled {
                return Err(KmsError::KeyStoreDisabled);
            }
            entry.keys_created += 1;
            Ok(())
        });
        match counted {
            Ok(()) => Ok(key),
            Err(refused) => {
                self.remove_created_key(&key)?;
                Err(refused)
            }
        }
    }

    /// Removes a key this node just created and no caller has been told of, with what its HSM
    /// holds. Another writer may have changed it meanwhile (a listing shows its id), so a stale
    /// record is read again.
    fn remove_created_key(&self, created: &KeyRecord) -> Result<(), KmsError> {
        let mut retry = self.retry();
        let mut key = created.clone();
        loop {
            match self.store.delete_key(&key) {
                Ok(()) => break,
                Err(StoreError::Conflict) => {
                    retry.wait()?;
                    match self.store.get_key(&key.key_id)? {
                        Some(current) => key = current,
                        None => break,
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.forget_material(key.key_id);
        self.destroy_outside_material(&key);
        Ok(())
    }

    fn key_store_holds_keys(&self, caller: &Caller, hsm_cluster: &str) -> Result<bool, KmsError> {
        let now = self.now();
        let in_cluster = |k: &KeyRecord| k.hsm_cluster.as_deref() == Some(hsm_cluster);
        let mut offset = 0;
        loop {
            let filter = KeyListFilter {
                offset,
                limit: COUNT_PAGE,
                ..KeyListFilter::default()
            };
            let listed = self
                .store
                .list_keys(caller.account, &caller.region, &filter)?;
            let read = listed.page.len();
            if listed
                .page
                .into_iter()
                .filter_map(|k| as_of(k, now))
                .any(|k| in_cluster(&k))
            {
                return Ok(true);
            }
            offset += read;
            if read == 0 || offset as u64 >= listed.total {
                return Ok(false);
            }
        }
    }

    /// The stored document's bytes (to compare and swap) and its key stores.
    fn read_key_stores(
        &self,
        caller: &Caller,
    ) -> Result<(Option<Vec<u8>>, Vec<KeyStore>), KmsError> {
        let Some(bytes) = self.store.setting(&setting_name(caller))? else {
            return Ok((None, Vec::new()));
        };
        let stores = serde_json::from_slice(&bytes)
            .map_err(|e| KmsError::Internal(format!("unreadable key stores: {e}")))?;
        Ok((Some(bytes), stores))
    }

    /// Applies `change` to the current key stores and writes them back unless another writer
    /// changed them first, in which case it reads them again and retries, with backoff, within
    /// the engine's retry budget.
    fn change_key_stores(
        &self,
        caller: &Caller,
        mut change: impl FnMut(&mut Vec<KeyStore>) -> Result<(), KmsError>,
    ) -> Result<(), KmsError> {
        let name = setting_name(caller);
        let mut retry = self.retry();
        loop {
            let (current, mut stores) = self.read_key_stores(caller)?;
            change(&mut stores)?;
            let next = serde_json::to_vec(&stores)
                .map_err(|e| KmsError::Internal(format!("key stores: {e}")))?;
            match self.store.replace_setting(&name, current.as_deref(), &next) {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => retry.wait()?,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
