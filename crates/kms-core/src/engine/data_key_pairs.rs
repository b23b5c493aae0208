//! Data key pairs: a fresh asymmetric key pair for use outside the service, its private half
//! also sealed under a symmetric CMK so that only the CMK can give it back.

use uuid::Uuid;
use zeroize::Zeroizing;

use super::{Caller, Engine, nonblocking, parse_key_id, require_block_cipher, require_state};
use crate::context::EncryptionContext;
use crate::error::{KmsError, Operation};
use crate::model::{KeySpec, KeyState};

/// A generated data key pair. The private half is never in Debug output.
pub struct DataKeyPair {
    /// The CMK the private key is sealed under.
    pub key_id: Uuid,
    pub spec: KeySpec,
    /// SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    /// PKCS #8 DER.
    pub private_key: Zeroizing<Vec<u8>>,
    /// The private key sealed under the CMK: a blob of ours, opened by `decrypt` like any other.
    pub private_key_blob: Vec<u8>,
}

impl std::fmt::Debug for DataKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeyPair")
            .field("key_id", &self.key_id)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// The specs a data key pair may have: the RSA and elliptic-curve ones the provider generates
/// as PKCS #8 (Ed25519 and the post-quantum specs are not offered by either vendor).
fn is_pair_spec(spec: KeySpec) -> bool {
    matches!(
        spec,
        KeySpec::Rsa2048
            | KeySpec::Rsa3072
            | KeySpec::Rsa4096
            | KeySpec::EccP256
            | KeySpec::EccP384
            | KeySpec::EccSecp256k1
            | KeySpec::Sm2
    )
}

impl Engine {
    /// Generates a key pair of `spec` and seals its private half under the symmetric CMK
    /// `key_id` with `context`. Key generation may take long (RSA): it counts as blocking work.
    pub fn generate_data_key_pair(
        &self,
        caller: &Caller,
        key_id: &str,
        spec: KeySpec,
        context: &EncryptionContext,
    ) -> Result<DataKeyPair, KmsError> {
        if !is_pair_spec(spec) {
            return Err(KmsError::invalid(
                "key_spec",
                format!("{spec:?} is not a data key pair spec"),
            ));
        }
        let key = self.load(caller, parse_key_id(key_id)?)?;
        require_block_cipher(&key, Operation::GenerateDataKey)?;
        require_state(&key, Operation::GenerateDataKey, &[KeyState::Enabled])?;
        nonblocking::may_block()?;
        let material = self.crypto.generate(spec)?;
        let public_key = material
            .public
            .ok_or_else(|| KmsError::Internal("generated pair without a public key".into()))?;
        let private_key_blob = self.seal_blob(&key, &material.private, context)?;
        Ok(DataKeyPair {
            key_id: key.key_id,
            spec,
            public_key,
            private_key: material.private,
            private_key_blob,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::*;

    #[test]
    fn the_sealed_private_key_decrypts_to_the_returned_one() {
        let f = fixture();
        let cmk = f.key("cmk");
        let ctx = EncryptionContext::new([("a".to_string(), "b".to_string())].into());
        for spec in [KeySpec::EccP256, KeySpec::Sm2, KeySpec::Rsa2048] {
            let pair = f
                .engine
                .generate_data_key_pair(&f.caller, &cmk, spec, &ctx)
                .unwrap();
            assert_eq!(pair.key_id.to_string(), cmk);
            assert!(!pair.public_key.is_empty());
            let (id, opened) = f
                .engine
                .decrypt(&f.caller, &pair.private_key_blob, &ctx)
                .unwrap();
            assert_eq!(id, pair.key_id);
            assert_eq!(opened, pair.private_key);
            assert_eq!(
                f.engine
                    .decrypt(
                        &f.caller,
                        &pair.private_key_blob,
                        &EncryptionContext::default()
                    )
                    .unwrap_err(),
                KmsError::InvalidCiphertext
            );
            assert!(!format!("{pair:?}").contains("private_key"));
        }
    }

    #[test]
    fn only_pair_specs_and_symmetric_enabled_cmks() {
        let f = fixture();
        let cmk = f.key("cmk");
        let ctx = EncryptionContext::default();
        for spec in [KeySpec::Aes256, KeySpec::Ed25519, KeySpec::MlKem768] {
            assert!(matches!(
                f.engine.generate_data_key_pair(&f.caller, &cmk, spec, &ctx),
                Err(KmsError::InvalidParameter { .. })
            ));
        }
        f.engine.disable_key(&f.caller, &cmk).unwrap();
        assert!(matches!(
            f.engine
                .generate_data_key_pair(&f.caller, &cmk, KeySpec::EccP256, &ctx),
            Err(KmsError::InvalidKeyState { .. })
        ));
        assert_eq!(
            f.engine
                .generate_data_key_pair(&f.caller, "nope", KeySpec::EccP256, &ctx)
                .unwrap_err(),
            KmsError::InvalidKeyId
        );
    }
}
