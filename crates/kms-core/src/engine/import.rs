//! Bring your own key: import parameters, material import, expiry and deletion.

use uuid::Uuid;
use zeroize::Zeroizing;

use kms_crypto::constant_time_eq;
use kms_crypto::digest::{hmac_sha256, sha256};
use kms_crypto::{random, wrapping};

use super::{Caller, Engine, parse_key_id, require_state};
use crate::error::{KmsError, Operation};
use crate::model::*;

/// How long import parameters stay usable, as the vendors document.
pub const IMPORT_TOKEN_LIFETIME_SECS: u64 = 86_400;
/// The latest accepted material expiry (Tencent's documented bound).
pub const MAX_VALID_TO: u64 = 2_147_443_200;
/// Outstanding import parameter sets kept per key; older ones are dropped.
const MAX_OUTSTANDING_IMPORTS: usize = 10;
const TOKEN_LEN: usize = 32;
const IMPORT_KEY_AAD_LABEL: &[u8] = b"kms/import-wrapping-key/v1";
const FINGERPRINT_AAD_LABEL: &[u8] = b"kms/material-fingerprint/v1";

/// What GetParametersForImport hands the customer.
pub struct ImportParametersIssued {
    pub key_id: Uuid,
    /// The opaque import token; only its hash is stored.
    pub token: Vec<u8>,
    /// The wrapping public key, SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    pub expires_at: u64,
}

pub(super) fn import_key_aad(key_id: Uuid, token_hash: &[u8]) -> Vec<u8> {
    [IMPORT_KEY_AAD_LABEL, key_id.as_bytes(), token_hash].concat()
}

pub(super) fn fingerprint_aad(key_id: Uuid) -> Vec<u8> {
    [FINGERPRINT_AAD_LABEL, key_id.as_bytes()].concat()
}

fn internal(e: impl std::fmt::Display) -> KmsError {
    KmsError::Internal(e.to_string())
}

fn require_external(key: &KeyRecord) -> Result<(), KmsError> {
    if key.origin == Origin::External {
        Ok(())
    } else {
        Err(KmsError::NotExternalKey)
    }
}

impl Engine {
    /// Issues a fresh wrapping key pair and token for importing material into an EXTERNAL key.
    pub fn get_parameters_for_import(
        &self,
        caller: &Caller,
        key_id: &str,
        algorithm: WrappingAlgorithm,
        spec: WrappingKeySpec,
    ) -> Result<ImportParametersIssued, KmsError> {
        let id = parse_key_id(key_id)?;
        let key = self.load(caller, id)?;
        require_external(&key)?;
        require_state(
            &key,
            Operation::GetImportParameters,
            &[KeyState::Enabled, KeyState::PendingImport],
        )?;
        // Generating an RSA key takes long; do it once, outside the write retry loop.
        let pair = wrapping::generate(spec).map_err(internal)?;
        let token = random::secret_bytes(TOKEN_LEN).map_err(internal)?;
        let token_hash = sha256(&token).to_vec();
        let sealed_private_key = self
            .seal
            .seal(&import_key_aad(id, &token_hash), &pair.private_pkcs8)?;
        let expires_at = self.mutate(caller, id, |k, now| {
            require_external(k)?;
            require_state(
                k,
                Operation::GetImportParameters,
                &[KeyState::Enabled, KeyState::PendingImport],
            )?;
            k.import_parameters.retain(|p| p.expires_at > now);
            let expires_at = now + IMPORT_TOKEN_LIFETIME_SECS;
            k.import_parameters.push(ImportParameters {
                token_hash: token_hash.clone(),
                algorithm,
                spec,
                sealed_private_key: sealed_private_key.clone(),
                expires_at,
            });
            let excess = k
                .import_parameters
                .len()
                .saturating_sub(MAX_OUTSTANDING_IMPORTS);
            k.import_parameters.drain(..excess);
            Ok(expires_at)
        })?;
        Ok(ImportParametersIssued {
            key_id: id,
            token: token.to_vec(),
            public_key: pair.public_spki,
            expires_at,
        })
    }

    /// Imports wrapped material with a token from [`Engine::get_parameters_for_import`]. A
    /// re-import (or a retry of a lost answer) must bring the material first imported.
    pub fn import_key_material(
        &self,
        caller: &Caller,
        key_id: &str,
        wrapped: &[u8],
        token: &[u8],
        valid_to: u64,
    ) -> Result<(), KmsError> {
        let id = parse_key_id(key_id)?;
        let token_hash = sha256(token);
        // Unwrap before the write loop: it depends only on the token's parameters.
        let material = {
            let key = self.load(caller, id)?;
            self.check_import(&key, &token_hash, valid_to)?;
            self.unwrap_material(&key, &token_hash, wrapped)?
        };
        self.store_imported(caller, id, &token_hash, valid_to, &material)
    }

    /// Installs unwrapped material under the token's checks, or confirms a re-import of it.
    pub(super) fn store_imported(
        &self,
        caller: &Caller,
        id: Uuid,
        token_hash: &[u8],
        valid_to: u64,
        material: &[u8],
    ) -> Result<(), KmsError> {
        self.mutate(caller, id, |k, _| {
            self.check_import(k, token_hash, valid_to)?;
            self.check_fingerprint(k, material)?;
            if k.versions.is_empty() {
                let version = self.imported_version(k.key_id, 1, k.spec, material, self.now())?;
                k.versions.push(version);
            }
            k.valid_to = valid_to;
            k.state = KeyState::Enabled;
            Ok(())
        })
    }

    /// Erases an EXTERNAL key's material now; the key waits for a re-import in PendingImport.
    /// The copy left in the store's free space is scrubbed in the background (see
    /// [`Engine::run_owed_scrub`]), and only when there was material to erase.
    pub fn delete_imported_material(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        let id = parse_key_id(key_id)?;
        let erased = self.mutate(caller, id, |k, _| {
            require_external(k)?;
            require_state(
                k,
                Operation::DeleteMaterial,
                &[
                    KeyState::Enabled,
                    KeyState::Disabled,
                    KeyState::PendingImport,
                ],
            )?;
            let had_material = !k.versions.is_empty();
            erase_material(k);
            Ok(had_material)
        })?;
        self.forget_material(id);
        if erased {
            self.owe_scrub();
        }
        Ok(())
    }

    pub(super) fn check_import(
        &self,
        key: &KeyRecord,
        token_hash: &[u8],
        valid_to: u64,
    ) -> Result<(), KmsError> {
        require_external(key)?;
        require_state(
            key,
            Operation::ImportMaterial,
            &[KeyState::Enabled, KeyState::PendingImport],
        )?;
        let now = self.now();
        let params = find_parameters(key, token_hash)?;
        if now >= params.expires_at {
            return Err(KmsError::ImportTokenExpired);
        }
        if valid_to != 0 && (valid_to <= now || valid_to > MAX_VALID_TO) {
            return Err(KmsError::invalid(
                "ValidTo",
                format!("must be 0 (never) or a future Unix time up to {MAX_VALID_TO}"),
            ));
        }
        Ok(())
    }

    pub(super) fn unwrap_material(
        &self,
        key: &KeyRecord,
        token_hash: &[u8],
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let params = find_parameters(key, token_hash)?;
        let private = self.seal.unseal(
            &import_key_aad(key.key_id, token_hash),
            &params.sealed_private_key,
        )?;
        let material = wrapping::unwrap(&private, params.algorithm, wrapped)
            .map_err(|_| KmsError::MaterialUnwrapFailed)?;
        if let Some(expected) = raw_material_len(key.spec)
            && material.len() != expected
        {
            return Err(KmsError::InvalidMaterialLength { expected });
        }
        Ok(material)
    }

    /// Checks `material` against the key's fingerprint, or records the fingerprint on first import.
    fn check_fingerprint(&self, key: &mut KeyRecord, material: &[u8]) -> Result<(), KmsError> {
        let aad = fingerprint_aad(key.key_id);
        match &key.fingerprint {
            Some(fp) => {
                let mac_key = self.seal.unseal(&aad, &fp.sealed_key)?;
                if constant_time_eq(&hmac_sha256(&mac_key, material), &fp.mac) {
                    Ok(())
                } else {
                    Err(KmsError::MaterialMismatch)
                }
            }
            None => {
                let mac_key = random::secret_bytes(32).map_err(internal)?;
                key.fingerprint = Some(MaterialFingerprint {
                    sealed_key: self.seal.seal(&aad, &mac_key)?,
                    mac: hmac_sha256(&mac_key, material).to_vec(),
                });
                Ok(())
            }
        }
    }
}

fn find_parameters<'a>(
    key: &'a KeyRecord,
    token_hash: &[u8],
) -> Result<&'a ImportParameters, KmsError> {
    key.import_parameters
        .iter()
        .find(|p| constant_time_eq(&p.token_hash, token_hash))
        .ok_or(KmsError::InvalidImportToken)
}

/// Removes imported material from the record (the fingerprint stays): the key returns to
/// PendingImport unless it is scheduled for deletion.
pub(super) fn erase_material(key: &mut KeyRecord) {
    key.versions.clear();
    key.valid_to = 0;
    if key.state != KeyState::PendingDelete {
        key.state = KeyState::PendingImport;
    }
}

/// Bytes of the raw material a block cipher key imports; other specs are checked by the
/// provider.
pub fn raw_material_len(spec: KeySpec) -> Option<usize> {
    match spec {
        KeySpec::Aes256 => Some(32),
        KeySpec::Sm4 => Some(16),
        _ => None,
    }
}
