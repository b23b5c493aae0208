//! Key stores (Huawei's dedicated keystores): named, account-owned views of one HSM cluster
//! this node serves. A key created in a key store is created in its cluster.
//!
//! An (account, region)'s key stores are one JSON document in a store setting, replaced by
//! compare-and-swap: few per account, so one document is small, it is durable and shared by
//! every node of a PostgreSQL store, and `export`/`import` carry it as they carry every
//! setting. A store's keys are the scope's keys of its cluster: a cluster backs at most one
//! key store of an account, so no key needs to name its store.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Caller, Engine, as_of};
use crate::error::KmsError;
use crate::model::KeyRecord;
use crate::store::{KeyListFilter, StoreError};

/// Most key stores one account holds in a region.
pub const KEY_STORES_PER_REGION: usize = 100;

/// Tries of a key store change that lost a race with another writer before giving up.
const CHANGE_TRIES: usize = 8;

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

    /// Deletes a key store that holds no key (one pending deletion still counts).
    pub fn delete_key_store(&self, caller: &Caller, keystore_id: &str) -> Result<(), KmsError> {
        let store = self.key_store(caller, keystore_id)?;
        if self.key_store_holds_keys(caller, &store.hsm_cluster)? {
            return Err(KmsError::KeyStoreHoldsKeys);
        }
        self.change_key_stores(caller, |stores| {
            let before = stores.len();
            stores.retain(|s| s.keystore_id != store.keystore_id);
            if stores.len() == before {
                return Err(KmsError::KeyStoreNotFound);
            }
            Ok(())
        })
    }

    /// The HSM cluster a new key in the key store is created in: the store must be enabled.
    pub fn key_store_cluster(
        &self,
        caller: &Caller,
        keystore_id: &str,
    ) -> Result<String, KmsError> {
        let store = self.key_store(caller, keystore_id)?;
        if !store.enabled {
            return Err(KmsError::KeyStoreDisabled);
        }
        Ok(store.hsm_cluster)
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
    /// changed them first, in which case it reads them again and retries.
    fn change_key_stores(
        &self,
        caller: &Caller,
        mut change: impl FnMut(&mut Vec<KeyStore>) -> Result<(), KmsError>,
    ) -> Result<(), KmsError> {
        let name = setting_name(caller);
        for _ in 0..CHANGE_TRIES {
            let (current, mut stores) = self.read_key_stores(caller)?;
            change(&mut stores)?;
            let next = serde_json::to_vec(&stores)
                .map_err(|e| KmsError::Internal(format!("key stores: {e}")))?;
            match self.store.replace_setting(&name, current.as_deref(), &next) {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Contended)
    }
}
