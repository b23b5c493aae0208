//! Sealing every stored secret again under the root key's current generation: the walk of a
//! root key rotation. Secrets sealed under the root key are the material of each key version,
//! the private keys of outstanding import parameters, imported material's fingerprint keys,
//! every credential's secret key (in the identity document and in each account's original
//! record) and the key of Huawei IAM tokens. Hosted data keys are sealed under their CMK, not
//! the root key, and grants hold no secret: neither needs the walk.
//!
//! Each record is read, its stale blobs opened and sealed again, and written back by revision,
//! so a write that races the walk makes it read the record again rather than be undone.

use uuid::Uuid;

use super::import::{fingerprint_aad, import_key_aad};
use super::material::material_aad;
use crate::accounts::secret_aad;
use crate::identity::{self, TOKEN_KEY_AAD};
use crate::model::KeyRecord;
use crate::seal::{Seal, SealError};
use crate::store::{Record, Store, StoreError};

/// How many times one key is read again after losing a race with another writer.
const MAX_ATTEMPTS: usize = 32;
/// Keys written in one transaction: a walk over a million keys is then some sixteen thousand
/// commits, not a million.
const BATCH: usize = 64;

/// What one walk sealed again.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    pub keys: u64,
    pub accounts: u64,
    /// Credentials and the token key of the identity document.
    pub identity_secrets: u64,
}

impl Resealed {
    pub fn total(&self) -> u64 {
        self.keys + self.accounts + self.identity_secrets
    }
}

/// Why a walk stopped. Carries no secret.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error("sealing again: {0}")]
    Seal(#[from] SealError),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error("key {0} kept changing while it was sealed again")]
    Busy(Uuid),
    #[error("the identity document: {0}")]
    Identity(String),
}

/// Seals again, under `seal`'s current root key, every stored secret whose blob `stale` says
/// is under another one; answers what it wrote. A walk that writes nothing found nothing stale.
pub fn reseal_all(
    store: &dyn Store,
    seal: &dyn Seal,
    stale: &dyn Fn(&[u8]) -> bool,
) -> Result<Resealed, ResealError> {
    let (mut keys, mut identity_stale) = (Vec::new(), false);
    store.export(&mut |record| {
        match record {
            Record::Key(key) if key_is_stale(&key, stale) => keys.push(key.key_id),
            Record::Identity(identity) => {
                identity_stale = identity
                    .credentials
                    .values()
                    .any(|c| stale(&c.sealed_secret_key))
                    || identity.sealed_token_key.as_deref().is_some_and(stale);
            }
            _ => {}
        }
        Ok(())
    })?;
    let mut done = Resealed::default();
    for chunk in keys.chunks(BATCH) {
        done.keys += reseal_keys(store, seal, stale, chunk)?;
    }
    // An account's original credential is sealed once and changed only here: the accounts
    // read now are those the export saw, with the same sealed bytes.
    for account in store.accounts()? {
        if stale(&account.sealed_secret_key) {
            let mut sealed = account.sealed_secret_key;
            again(seal, &secret_aad(&account.secret_id), &mut sealed)?;
            store.reseal_account(account.uin, &sealed)?;
            done.accounts += 1;
        }
    }
    if identity_stale {
        done.identity_secrets = reseal_identity(store, seal, stale)?;
    }
    Ok(done)
}

fn key_is_stale(key: &KeyRecord, stale: &dyn Fn(&[u8]) -> bool) -> bool {
    key.versions.iter().any(|v| stale(&v.sealed_material))
        || key
            .import_parameters
            .iter()
            .any(|p| stale(&p.sealed_private_key))
        || key
            .fingerprint
            .as_ref()
            .is_some_and(|f| stale(&f.sealed_key))
}

fn again(seal: &dyn Seal, aad: &[u8], blob: &mut Vec<u8>) -> Result<(), SealError> {
    let plaintext = seal.unseal(aad, blob)?;
    *blob = seal.seal(aad, &plaintext)?;
    Ok(())
}

/// Seals `key_ids` again in one transaction; should a writer race any of them, each is done on
/// its own. Answers how many were written.
fn reseal_keys(
    store: &dyn Store,
    seal: &dyn Seal,
    stale: &dyn Fn(&[u8]) -> bool,
    key_ids: &[Uuid],
) -> Result<u64, ResealError> {
    let mut batch = Vec::with_capacity(key_ids.len());
    for key_id in key_ids {
        if let Some(mut key) = store.get_key(key_id)?
            && key_is_stale(&key, stale)
        {
            seal_key_again(seal, stale, &mut key)?;
            batch.push(key);
        }
    }
    if batch.is_empty() {
        return Ok(0);
    }
    match store.update_keys(&batch, u64::MAX) {
        Ok(()) => Ok(batch.len() as u64),
        Err(StoreError::Conflict) => {
            let mut written = 0;
            for key in &batch {
                if reseal_key(store, seal, stale, key.key_id)? {
                    written += 1;
                }
            }
            Ok(written)
        }
        Err(e) => Err(e.into()),
    }
}

fn seal_key_again(
    seal: &dyn Seal,
    stale: &dyn Fn(&[u8]) -> bool,
    key: &mut KeyRecord,
) -> Result<(), SealError> {
    for version in &mut key.versions {
        if stale(&version.sealed_material) {
            let aad = material_aad(key.key_id, version.version);
            again(seal, &aad, &mut version.sealed_material)?;
        }
    }
    for parameters in &mut key.import_parameters {
        if stale(&parameters.sealed_private_key) {
            let aad = import_key_aad(key.key_id, &parameters.token_hash);
            again(seal, &aad, &mut parameters.sealed_private_key)?;
        }
    }
    if let Some(fingerprint) = &mut key.fingerprint
        && stale(&fingerprint.sealed_key)
    {
        again(
            seal,
            &fingerprint_aad(key.key_id),
            &mut fingerprint.sealed_key,
        )?;
    }
    key.revision += 1;
    Ok(())
}

/// Whether the key was written (false: it was deleted, or a writer resealed it first).
fn reseal_key(
    store: &dyn Store,
    seal: &dyn Seal,
    stale: &dyn Fn(&[u8]) -> bool,
    key_id: Uuid,
) -> Result<bool, ResealError> {
    for _ in 0..MAX_ATTEMPTS {
        let Some(mut key) = store.get_key(&key_id)? else {
            return Ok(false);
        };
        if !key_is_stale(&key, stale) {
            return Ok(false);
        }
        seal_key_again(seal, stale, &mut key)?;
        match store.update_key(&key, u64::MAX) {
            Ok(()) => return Ok(true),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ResealError::Busy(key_id))
}

fn reseal_identity(
    store: &dyn Store,
    seal: &dyn Seal,
    stale: &dyn Fn(&[u8]) -> bool,
) -> Result<u64, ResealError> {
    let (count, _) = identity::change(store, |identity| {
        let mut count = 0;
        for credential in identity.credentials.values_mut() {
            if stale(&credential.sealed_secret_key) {
                let aad = secret_aad(&credential.secret_id);
                again(seal, &aad, &mut credential.sealed_secret_key)?;
                count += 1;
            }
        }
        if let Some(token_key) = &mut identity.sealed_token_key
            && stale(token_key)
        {
            again(seal, TOKEN_KEY_AAD, token_key)?;
            count += 1;
        }
        Ok(count)
    })
    .map_err(|e| ResealError::Identity(e.to_string()))?;
    Ok(count)
}
