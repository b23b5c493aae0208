//! Key material: generation and import through the crypto provider, sealing under the root key,
//! the cache of ready-to-use handles, and the ciphertext blobs symmetric and ML-KEM keys make.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use uuid::Uuid;
use zeroize::Zeroizing;

use kms_crypto::Aes256GcmKey;
use kms_crypto::digest::hmac_sha256;
use kms_crypto::provider::{CryptoProvider, KeyHandle, KeyPairMaterial};

use super::Engine;
use crate::ciphertext::{self, BlobAlgorithm, BlobHeader, ML_KEM_768_CIPHERTEXT_LEN};
use crate::context::EncryptionContext;
use crate::error::{KmsError, Operation};
use crate::model::*;

const MATERIAL_AAD_LABEL: &[u8] = b"kms/key-material/v1";
/// Label of the derivation from an ML-KEM shared secret to the AES-256-GCM key of one blob.
const ML_KEM_BLOB_KEY_LABEL: &[u8] = b"kms/ml-kem-768/aes-256-gcm/v1";
/// Unsealed material kept in memory; the cache is cleared (and zeroized) when it fills.
const MATERIAL_CACHE_CAPACITY: usize = 4096;

/// Ready-to-use handles of unsealed material, per key version.
pub(super) type MaterialCache = Mutex<HashMap<(Uuid, u32), Arc<dyn KeyHandle>>>;

impl Engine {
    /// A new version of `spec` made by `provider`, its private half sealed, its public half
    /// kept beside it.
    pub(super) fn new_version(
        &self,
        provider: &dyn CryptoProvider,
        key_id: Uuid,
        version: u32,
        spec: KeySpec,
        now: u64,
    ) -> Result<KeyVersion, KmsError> {
        let material = provider.generate(spec)?;
        self.seal_version(key_id, version, material, now)
    }

    /// A version holding customer material, checked and normalised by the provider.
    pub(super) fn imported_version(
        &self,
        key_id: Uuid,
        version: u32,
        spec: KeySpec,
        material: &[u8],
        now: u64,
    ) -> Result<KeyVersion, KmsError> {
        let material = self
            .crypto
            .import(spec, material)
            .map_err(|_| KmsError::InvalidKeyMaterial)?;
        self.seal_version(key_id, version, material, now)
    }

    fn seal_version(
        &self,
        key_id: Uuid,
        version: u32,
        material: KeyPairMaterial,
        now: u64,
    ) -> Result<KeyVersion, KmsError> {
        let sealed_material = self
            .seal
            .seal(&material_aad(key_id, version), &material.private)?;
        Ok(KeyVersion {
            version,
            created_at: now,
            sealed_material,
            public_key: material.public,
        })
    }

    /// The handle of one key version's material, from the cache when possible.
    pub(super) fn material(
        &self,
        key: &KeyRecord,
        version: &KeyVersion,
    ) -> Result<Arc<dyn KeyHandle>, KmsError> {
        // A key in an HSM is used through its PKCS#11 library, which may wait on the device or
        // the network: the server's async workers hand such calls to the blocking pool.
        if key.hsm_cluster.is_some() {
            super::nonblocking::may_block()?;
        }
        let cache_key = (key.key_id, version.version);
        if let Some(m) = self.lock_cache().get(&cache_key) {
            return Ok(m.clone());
        }
        let bytes = self.seal.unseal(
            &material_aad(key.key_id, version.version),
            &version.sealed_material,
        )?;
        let handle = self.key_provider(key)?.load(key.spec, &bytes)?;
        let mut cache = self.lock_cache();
        if cache.len() >= MATERIAL_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(cache_key, handle.clone());
        Ok(handle)
    }

    /// The handle of the version that encrypts and signs now.
    pub(super) fn current_material(
        &self,
        key: &KeyRecord,
        op: Operation,
    ) -> Result<(u32, Arc<dyn KeyHandle>), KmsError> {
        let version = key.current_version().ok_or(KmsError::InvalidKeyState {
            state: key.state,
            op,
        })?;
        Ok((version.version, self.material(key, version)?))
    }

    fn lock_cache(&self) -> MutexGuard<'_, HashMap<(Uuid, u32), Arc<dyn KeyHandle>>> {
        // A panic while holding this lock cannot leave the map inconsistent: recover it.
        self.material.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops every cached material. The server calls this every few seconds, which bounds how
    /// long another node's erasure of imported material (or a purge) can leave a copy in this
    /// node's memory.
    pub fn expire_cached_material(&self) {
        self.lock_cache().clear();
    }

    pub(super) fn forget_material(&self, key_id: Uuid) {
        self.lock_cache().retain(|(id, _), _| *id != key_id);
    }

    /// Seals `plaintext` into a blob under the key's current version.
    pub(super) fn seal_blob(
        &self,
        key: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsError> {
        let algorithm = BlobAlgorithm::for_spec(key.spec).ok_or(KmsError::UnsupportedByKey {
            op: Operation::Encrypt,
            usage: key.usage,
            spec: key.spec,
        })?;
        let (version, material) = self.current_material(key, Operation::Encrypt)?;
        let header = BlobHeader {
            algorithm,
            key_id: key.key_id,
            key_version: version,
        };
        let aad = header.aad(key.account, &key.region, context);
        let payload = match algorithm {
            BlobAlgorithm::Aes256Gcm | BlobAlgorithm::Sm4Gcm => material.seal(&aad, plaintext)?,
            BlobAlgorithm::MlKem768Aes256Gcm => {
                let (kem_ciphertext, shared) = material.encapsulate()?;
                let mut payload = kem_ciphertext;
                let sealed = ml_kem_blob_key(&shared)?
                    .seal(&aad, plaintext)
                    .map_err(|e| KmsError::Internal(e.to_string()))?;
                payload.extend(sealed);
                payload
            }
        };
        Ok(ciphertext::encode(header, &payload))
    }

    /// Opens a blob of the key's; any failure is the same `InvalidCiphertext`.
    pub(super) fn open_blob(
        &self,
        key: &KeyRecord,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let (header, payload) = ciphertext::decode(blob).ok_or(KmsError::InvalidCiphertext)?;
        if BlobAlgorithm::for_spec(key.spec) != Some(header.algorithm) {
            return Err(KmsError::InvalidCiphertext);
        }
        let version = key
            .version(header.key_version)
            .ok_or(KmsError::InvalidCiphertext)?;
        let material = self.material(key, version)?;
        let aad = header.aad(key.account, &key.region, context);
        let opened = match header.algorithm {
            BlobAlgorithm::Aes256Gcm | BlobAlgorithm::Sm4Gcm => material.open(&aad, payload),
            BlobAlgorithm::MlKem768Aes256Gcm => {
                let (kem_ciphertext, sealed) = payload.split_at(ML_KEM_768_CIPHERTEXT_LEN);
                let shared = material
                    .decapsulate(kem_ciphertext)
                    .map_err(|_| KmsError::InvalidCiphertext)?;
                ml_kem_blob_key(&shared)?
                    .open(&aad, sealed)
                    .map_err(|_| kms_crypto::provider::CryptoError::DecryptFailed)
            }
        };
        // An HSM that cannot be reached says nothing about the blob: the transient refusal.
        opened.map_err(|e| match e {
            kms_crypto::provider::CryptoError::Unavailable(_) => KmsError::from(e),
            _ => KmsError::InvalidCiphertext,
        })
    }
}

/// The AES-256-GCM key of one ML-KEM blob: HMAC-SHA256 keyed by the shared secret over a label,
/// so the secret is never used directly as a key of another algorithm.
fn ml_kem_blob_key(shared: &[u8]) -> Result<Aes256GcmKey, KmsError> {
    let key = Zeroizing::new(hmac_sha256(shared, ML_KEM_BLOB_KEY_LABEL));
    Aes256GcmKey::from_bytes(&key[..]).map_err(|e| KmsError::Internal(e.to_string()))
}

/// What a key version's sealed material is bound to; public so a provider's tests can look at
/// what the store keeps.
pub fn material_aad(key_id: Uuid, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(MATERIAL_AAD_LABEL.len() + 20);
    aad.extend_from_slice(MATERIAL_AAD_LABEL);
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}
