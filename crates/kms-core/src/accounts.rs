//! Accounts and their credentials, shared by every dialect: one credential pair is both a
//! Tencent SecretId/SecretKey and a Huawei AK/SK.

use std::collections::HashMap;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::KmsError;
use crate::model::{Account, AccountId};
use crate::seal::Seal;
use crate::store::{Store, StoreError};

const SECRET_AAD_LABEL: &[u8] = b"kms/account-secret/v1";

/// An authenticated caller's identity and signing secret.
pub struct Principal {
    pub account: AccountId,
    pub app_id: u64,
    pub project_id: String,
    secret_key: Zeroizing<Vec<u8>>,
}

impl Principal {
    /// The secret that request signatures are keyed with.
    pub fn secret_key(&self) -> &[u8] {
        &self.secret_key
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// A new account's credentials, as given by the operator or generated.
pub struct NewAccount {
    pub uin: AccountId,
    pub app_id: u64,
    pub secret_id: String,
    pub secret_key: Zeroizing<String>,
    pub project_id: String,
}

fn secret_aad(secret_id: &str) -> Vec<u8> {
    [SECRET_AAD_LABEL, secret_id.as_bytes()].concat()
}

/// Stores a new account with its secret key sealed under the root key.
pub fn create_account(
    store: &dyn Store,
    seal: &dyn Seal,
    new: &NewAccount,
    now: u64,
) -> Result<(), KmsError> {
    let sealed_secret_key = seal.seal(&secret_aad(&new.secret_id), new.secret_key.as_bytes())?;
    store
        .create_account(&Account {
            uin: new.uin,
            app_id: new.app_id,
            secret_id: new.secret_id.clone(),
            sealed_secret_key,
            project_id: new.project_id.clone(),
            created_at: now,
        })
        .map_err(|e| match e {
            StoreError::AlreadyExists => KmsError::invalid("account", "already exists"),
            other => other.into(),
        })
}

/// Every account's credentials, unsealed once at start and looked up per request.
#[derive(Default)]
pub struct Directory {
    by_secret_id: HashMap<String, Arc<Principal>>,
}

impl Directory {
    pub fn load(store: &dyn Store, seal: &dyn Seal) -> Result<Self, KmsError> {
        let mut by_secret_id = HashMap::new();
        for account in store.accounts()? {
            let secret_key =
                seal.unseal(&secret_aad(&account.secret_id), &account.sealed_secret_key)?;
            by_secret_id.insert(
                account.secret_id.clone(),
                Arc::new(Principal {
                    account: account.uin,
                    app_id: account.app_id,
                    project_id: account.project_id,
                    secret_key,
                }),
            );
        }
        Ok(Self { by_secret_id })
    }

    pub fn by_secret_id(&self, secret_id: &str) -> Option<Arc<Principal>> {
        self.by_secret_id.get(secret_id).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.by_secret_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemorySeal, MemoryStore};

    #[test]
    fn secrets_round_trip_sealed() {
        let store = MemoryStore::default();
        let seal = MemorySeal::generate();
        let new = NewAccount {
            uin: 7,
            app_id: 8,
            secret_id: "AKIDtest".into(),
            secret_key: Zeroizing::new("sekrit".into()),
            project_id: "0".repeat(32),
        };
        create_account(&store, &seal, &new, 0).unwrap();
        let stored = store.accounts().unwrap().remove(0);
        assert!(!stored.sealed_secret_key.windows(6).any(|w| w == b"sekrit"));
        let dir = Directory::load(&store, &seal).unwrap();
        let p = dir.by_secret_id("AKIDtest").unwrap();
        assert_eq!(p.secret_key(), b"sekrit");
        assert_eq!(p.account, 7);
        assert!(!format!("{p:?}").contains("sekrit"));
        assert!(dir.by_secret_id("other").is_none());
    }
}
