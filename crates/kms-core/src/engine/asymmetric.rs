//! Operations of asymmetric, MAC and post-quantum keys: public keys, signatures, asymmetric
//! decryption, MACs, key agreement and ML-KEM blobs. Each checks the key's usage and spec here,
//! in the engine, so no dialect can ask a key for something it was not made for.

use std::sync::Arc;

use uuid::Uuid;
use zeroize::Zeroizing;

use kms_crypto::provider::KeyHandle;
use kms_crypto::{AsymmetricAlgorithm, SignInput, SigningAlgorithm};

use super::{Caller, Engine, check_range, parse_key_id, require_state};
use crate::context::EncryptionContext;
use crate::error::{Bounded, KmsError, Operation};
use crate::model::*;

/// Bytes of a message signed or MACed whole (both vendors: 4 KiB).
pub const MESSAGE_BYTES: std::ops::RangeInclusive<u64> = 0..=4096;

/// States in which an asymmetric, MAC or agreement key works: Enabled only, as both vendors
/// have it (GetPublicKey and asymmetric decryption included).
const USABLE: &[KeyState] = &[KeyState::Enabled];
/// States in which an ML-KEM key opens its blobs: as a symmetric key, an archived one keeps
/// opening what it made.
const READABLE: &[KeyState] = &[KeyState::Enabled, KeyState::Archived];

/// Refuses `op` unless the key was made for `usage` and its spec passes `spec_ok`.
pub(super) fn require_capability(
    key: &KeyRecord,
    op: Operation,
    usage: KeyUsage,
    spec_ok: fn(KeySpec) -> bool,
) -> Result<(), KmsError> {
    if key.usage == usage && spec_ok(key.spec) {
        Ok(())
    } else {
        Err(KmsError::UnsupportedByKey {
            op,
            usage: key.usage,
            spec: key.spec,
        })
    }
}

/// Block cipher keys: AES-256 and SM4.
pub(super) fn is_block_cipher(spec: KeySpec) -> bool {
    matches!(spec, KeySpec::Aes256 | KeySpec::Sm4)
}

fn is_ml_kem(spec: KeySpec) -> bool {
    spec == KeySpec::MlKem768
}

fn decrypts_with_private_key(spec: KeySpec) -> bool {
    matches!(
        spec,
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 | KeySpec::Sm2
    )
}

fn any_spec(_: KeySpec) -> bool {
    true
}

impl Engine {
    /// Loads the caller's key for `op`: it must be made for `usage`, with a spec `spec_ok`
    /// accepts, and be in one of `states`.
    fn key_for(
        &self,
        caller: &Caller,
        key_id: &str,
        op: Operation,
        usage: KeyUsage,
        spec_ok: fn(KeySpec) -> bool,
        states: &[KeyState],
    ) -> Result<KeyRecord, KmsError> {
        let key = self.load(caller, parse_key_id(key_id)?)?;
        require_capability(&key, op, usage, spec_ok)?;
        require_state(&key, op, states)?;
        Ok(key)
    }

    /// [`Engine::key_for`] with the loaded material of the key's current version.
    fn handle_for(
        &self,
        caller: &Caller,
        key_id: &str,
        op: Operation,
        usage: KeyUsage,
        spec_ok: fn(KeySpec) -> bool,
        states: &[KeyState],
    ) -> Result<(KeyRecord, Arc<dyn KeyHandle>), KmsError> {
        let key = self.key_for(caller, key_id, op, usage, spec_ok, states)?;
        let (_, material) = self.current_material(&key, op)?;
        Ok((key, material))
    }

    /// The key and its public half (SubjectPublicKeyInfo DER); unseals nothing.
    pub fn get_public_key(
        &self,
        caller: &Caller,
        key_id: &str,
    ) -> Result<(KeyRecord, Vec<u8>), KmsError> {
        let key = self.load(caller, parse_key_id(key_id)?)?;
        if !key.spec.has_public_key() {
            return Err(KmsError::UnsupportedByKey {
                op: Operation::GetPublicKey,
                usage: key.usage,
                spec: key.spec,
            });
        }
        require_state(&key, Operation::GetPublicKey, USABLE)?;
        let public = key
            .current_version()
            .and_then(|v| v.public_key.clone())
            .ok_or(KmsError::InvalidKeyState {
                state: key.state,
                op: Operation::GetPublicKey,
            })?;
        Ok((key, public))
    }

    /// Signs a message (bounded to 4 KiB) or a digest of the algorithm's length.
    pub fn sign(
        &self,
        caller: &Caller,
        key_id: &str,
        algorithm: SigningAlgorithm,
        input: SignInput<'_>,
    ) -> Result<(Uuid, Vec<u8>), KmsError> {
        check_message(&input)?;
        let (key, material) = self.handle_for(
            caller,
            key_id,
            Operation::Sign,
            KeyUsage::SignVerify,
            any_spec,
            USABLE,
        )?;
        Ok((key.key_id, material.sign(algorithm, input)?))
    }

    /// Whether `signature` is the key's over the message or digest. A signature that does not
    /// verify is `Ok(false)`; a malformed request is an error.
    pub fn verify(
        &self,
        caller: &Caller,
        key_id: &str,
        algorithm: SigningAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<(Uuid, bool), KmsError> {
        check_message(&input)?;
        let key = self.key_for(
            caller,
            key_id,
            Operation::Verify,
            KeyUsage::SignVerify,
            any_spec,
            USABLE,
        )?;
        let public = key
            .current_version()
            .and_then(|v| v.public_key.as_deref())
            .ok_or(KmsError::InvalidKeyState {
                state: key.state,
                op: Operation::Verify,
            })?;
        let valid = self
            .crypto
            .verify_with_public_key(key.spec, public, algorithm, input, signature)?;
        Ok((key.key_id, valid))
    }

    /// Decrypts what a client encrypted to the key's public half (RSA OAEP or PKCS #1 v1.5,
    /// SM2 C1C3C2).
    pub fn asymmetric_decrypt(
        &self,
        caller: &Caller,
        key_id: &str,
        algorithm: AsymmetricAlgorithm,
        ciphertext: &[u8],
    ) -> Result<(Uuid, Zeroizing<Vec<u8>>), KmsError> {
        let (key, material) = self.handle_for(
            caller,
            key_id,
            Operation::AsymmetricDecrypt,
            KeyUsage::EncryptDecrypt,
            decrypts_with_private_key,
            USABLE,
        )?;
        Ok((key.key_id, material.decrypt(algorithm, ciphertext)?))
    }

    /// Encrypts up to 4 KiB under an ML-KEM-768 key: a shared secret encapsulated to the key's
    /// public half keys AES-256-GCM for the data; the blob carries both.
    pub fn encrypt_post_quantum(
        &self,
        caller: &Caller,
        key_id: &str,
        plaintext: &[u8],
    ) -> Result<(Uuid, Vec<u8>), KmsError> {
        check_range(
            Bounded::PlaintextLength,
            plaintext.len() as u64,
            super::PLAINTEXT_BYTES,
        )?;
        let key = self.key_for(
            caller,
            key_id,
            Operation::Encrypt,
            KeyUsage::EncryptDecrypt,
            is_ml_kem,
            USABLE,
        )?;
        let blob = self.seal_blob(&key, plaintext, &EncryptionContext::default())?;
        Ok((key.key_id, blob))
    }

    /// Opens a blob of [`Engine::encrypt_post_quantum`]; the blob names its key.
    pub fn decrypt_post_quantum(
        &self,
        caller: &Caller,
        blob: &[u8],
    ) -> Result<(Uuid, Zeroizing<Vec<u8>>), KmsError> {
        let key = self.blob_key(caller, blob)?;
        require_capability(
            &key,
            Operation::Decrypt,
            KeyUsage::EncryptDecrypt,
            is_ml_kem,
        )?;
        require_state(&key, Operation::Decrypt, READABLE)?;
        let plaintext = self.open_blob(&key, blob, &EncryptionContext::default())?;
        Ok((key.key_id, plaintext))
    }

    /// The MAC of a message under an HMAC key.
    pub fn generate_mac(
        &self,
        caller: &Caller,
        key_id: &str,
        message: &[u8],
    ) -> Result<(Uuid, Vec<u8>), KmsError> {
        check_range(Bounded::MessageLength, message.len() as u64, MESSAGE_BYTES)?;
        let (key, material) = self.handle_for(
            caller,
            key_id,
            Operation::GenerateMac,
            KeyUsage::GenerateVerifyMac,
            any_spec,
            USABLE,
        )?;
        Ok((key.key_id, material.mac(message)?))
    }

    /// Whether `mac` is the key's MAC of the message, compared in constant time.
    pub fn verify_mac(
        &self,
        caller: &Caller,
        key_id: &str,
        message: &[u8],
        mac: &[u8],
    ) -> Result<(Uuid, bool), KmsError> {
        check_range(Bounded::MessageLength, message.len() as u64, MESSAGE_BYTES)?;
        let (key, material) = self.handle_for(
            caller,
            key_id,
            Operation::VerifyMac,
            KeyUsage::GenerateVerifyMac,
            any_spec,
            USABLE,
        )?;
        Ok((key.key_id, material.verify_mac(message, mac)?))
    }

    /// The ECDH shared secret of the key and a peer's public key (SubjectPublicKeyInfo DER).
    pub fn derive_shared_secret(
        &self,
        caller: &Caller,
        key_id: &str,
        peer_public_key: &[u8],
    ) -> Result<(Uuid, Zeroizing<Vec<u8>>), KmsError> {
        let (key, material) = self.handle_for(
            caller,
            key_id,
            Operation::DeriveSharedSecret,
            KeyUsage::KeyAgreement,
            any_spec,
            USABLE,
        )?;
        let secret = material
            .derive_shared_secret(peer_public_key)
            .map_err(|e| match e {
                kms_crypto::provider::CryptoError::InvalidKeyMaterial(_)
                | kms_crypto::provider::CryptoError::InvalidInput(_) => KmsError::InvalidPublicKey,
                other => other.into(),
            })?;
        Ok((key.key_id, secret))
    }

    /// Records that a cloud product's resource uses the key; binding twice is one binding. A
    /// bound key cannot be archived or scheduled for deletion, and its imported material no
    /// longer expires.
    pub fn bind_cloud_resource(
        &self,
        caller: &Caller,
        key_id: &str,
        product_id: &str,
        resource_id: &str,
    ) -> Result<(), KmsError> {
        check_resource_ids(product_id, resource_id)?;
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            require_state(
                k,
                Operation::BindCloudResource,
                &[KeyState::Enabled, KeyState::Disabled, KeyState::Archived],
            )?;
            let binding = CloudResource {
                product_id: product_id.to_owned(),
                resource_id: resource_id.to_owned(),
            };
            if !k.cloud_resources.contains(&binding) {
                check_range(
                    Bounded::BindingCount,
                    k.cloud_resources.len() as u64 + 1,
                    BINDINGS,
                )?;
                k.cloud_resources.push(binding);
            }
            // As the vendor documents: binding cancels the expiry of imported material, so a
            // key a cloud product uses cannot lapse on its own.
            k.valid_to = 0;
            Ok(())
        })
    }

    /// Removes a binding made by [`Engine::bind_cloud_resource`].
    pub fn unbind_cloud_resource(
        &self,
        caller: &Caller,
        key_id: &str,
        product_id: &str,
        resource_id: &str,
    ) -> Result<(), KmsError> {
        check_resource_ids(product_id, resource_id)?;
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            let before = k.cloud_resources.len();
            k.cloud_resources
                .retain(|b| !(b.product_id == product_id && b.resource_id == resource_id));
            if k.cloud_resources.len() == before {
                return Err(KmsError::BindingNotFound);
            }
            Ok(())
        })
    }
}

/// Cloud resources bound to one key.
pub const BINDINGS: std::ops::RangeInclusive<u64> = 0..=1000;
/// Bytes of a product or resource id.
const RESOURCE_ID_BYTES: std::ops::RangeInclusive<u64> = 1..=1024;

fn check_resource_ids(product_id: &str, resource_id: &str) -> Result<(), KmsError> {
    check_range(
        Bounded::NameLength,
        product_id.len() as u64,
        RESOURCE_ID_BYTES,
    )?;
    check_range(
        Bounded::NameLength,
        resource_id.len() as u64,
        RESOURCE_ID_BYTES,
    )
}

fn check_message(input: &SignInput<'_>) -> Result<(), KmsError> {
    if let SignInput::Message(message) = input {
        check_range(Bounded::MessageLength, message.len() as u64, MESSAGE_BYTES)?;
    }
    Ok(())
}
