//! Importing an asymmetric private key in an envelope: the customer wraps a temporary AES key
//! to the import wrapping key and encrypts the PKCS#8 private key under it with AES key wrap with
//! padding (RFC 5649), so a private key of any size travels under a small wrapping operation.

use zeroize::Zeroizing;

use kms_crypto::digest::sha256;
use kms_crypto::key_wrap;

use super::{Caller, Engine, parse_key_id};
use crate::error::KmsError;

/// The temporary key is AES-128 or AES-256.
const TEMPORARY_KEY_LENGTHS: [usize; 2] = [16, 32];

impl Engine {
    /// Imports an asymmetric key's private half: `wrapped_key` is the temporary AES key wrapped
    /// to the token's wrapping key, `encrypted_private_key` the PKCS#8 DER private key under it
    /// (AES-KWP). A temporary key of another length is [`KmsError::InvalidMaterialLength`].
    pub fn import_enveloped_key_material(
        &self,
        caller: &Caller,
        key_id: &str,
        wrapped_key: &[u8],
        encrypted_private_key: &[u8],
        token: &[u8],
        valid_to: u64,
    ) -> Result<(), KmsError> {
        let id = parse_key_id(key_id)?;
        let token_hash = sha256(token);
        let material: Zeroizing<Vec<u8>> = {
            let key = self.load(caller, id)?;
            self.check_import(&key, &token_hash, valid_to)?;
            if !key.spec.has_public_key() {
                return Err(KmsError::invalid(
                    "encrypted_privatekey",
                    "only asymmetric keys import a private key",
                ));
            }
            let temporary = self.unwrap_material(&key, &token_hash, wrapped_key)?;
            if !TEMPORARY_KEY_LENGTHS.contains(&temporary.len()) {
                return Err(KmsError::InvalidMaterialLength { expected: 32 });
            }
            key_wrap::unwrap_with_padding(&temporary, encrypted_private_key)
                .map_err(|_| KmsError::MaterialUnwrapFailed)?
        };
        self.store_imported(caller, id, &token_hash, valid_to, &material)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine as _;
    use kms_crypto::public_key::{WrapAlgorithm, encrypt_to_public_key};
    use kms_crypto::wrapping::{WrappingAlgorithm, WrappingKeySpec};

    use super::super::test_fixture::*;
    use super::*;
    use crate::engine::NewKey;
    use crate::model::{KeySpec, KeyState, KeyUsage, Origin};

    fn wrap_rsa(spki: &[u8], material: &[u8]) -> Vec<u8> {
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            base64::engine::general_purpose::STANDARD.encode(spki)
        );
        encrypt_to_public_key(&pem, WrapAlgorithm::RsaOaepSha256, material).unwrap()
    }

    fn kwp(kek: &[u8], plain: &[u8]) -> Vec<u8> {
        let kek = AesKek::new(&AES_256, kek).unwrap();
        let mut out = vec![0u8; plain.len() + 16];
        kek.wrap_with_padding(plain, &mut out).unwrap().to_vec()
    }

    fn external(f: &Fixture, spec: KeySpec, usage: KeyUsage) -> String {
        f.engine
            .create_key(
                &f.caller,
                NewKey {
                    hsm_cluster: None,
                    alias: format!("env-{}", uuid::Uuid::new_v4().simple()),
                    description: String::new(),
                    usage,
                    spec,
                    origin: Origin::External,
                    tags: Vec::new(),
                },
            )
            .unwrap()
            .key_id
            .to_string()
    }

    #[test]
    fn an_enveloped_ec_key_imports_and_signs_as_itself() {
        let f = fixture();
        let id = external(&f, KeySpec::EccP256, KeyUsage::SignVerify);
        let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let p = f
            .engine
            .get_parameters_for_import(
                &f.caller,
                &id,
                WrappingAlgorithm::RsaesOaepSha256,
                WrappingKeySpec::Rsa2048,
            )
            .unwrap();
        let temporary = [7u8; 32];
        let wrapped = wrap_rsa(&p.public_key, &temporary);
        let short = wrap_rsa(&p.public_key, &[7u8; 24]);
        assert_eq!(
            f.engine.import_enveloped_key_material(
                &f.caller,
                &id,
                &short,
                &kwp(&temporary, pkcs8.as_ref()),
                &p.token,
                0
            ),
            Err(KmsError::InvalidMaterialLength { expected: 32 })
        );
        assert_eq!(
            f.engine.import_enveloped_key_material(
                &f.caller,
                &id,
                &wrapped,
                b"not wrapped",
                &p.token,
                0
            ),
            Err(KmsError::MaterialUnwrapFailed)
        );
        f.engine
            .import_enveloped_key_material(
                &f.caller,
                &id,
                &wrapped,
                &kwp(&temporary, pkcs8.as_ref()),
                &p.token,
                0,
            )
            .unwrap();
        let key = f.engine.describe_key(&f.caller, &id).unwrap();
        assert_eq!(key.state, KeyState::Enabled);
        let (_, public) = f.engine.get_public_key(&f.caller, &id).unwrap();
        let expected = pair.public_key().as_der().unwrap();
        assert_eq!(public, expected.as_ref());
    }

    #[test]
    fn symmetric_keys_refuse_an_envelope() {
        let f = fixture();
        let id = external(&f, KeySpec::Aes256, KeyUsage::EncryptDecrypt);
        let p = f
            .engine
            .get_parameters_for_import(
                &f.caller,
                &id,
                WrappingAlgorithm::RsaesOaepSha256,
                WrappingKeySpec::Rsa2048,
            )
            .unwrap();
        let wrapped = wrap_rsa(&p.public_key, &[1u8; 32]);
        assert!(matches!(
            f.engine
                .import_enveloped_key_material(&f.caller, &id, &wrapped, b"x", &p.token, 0),
            Err(KmsError::InvalidParameter { .. })
        ));
    }
}
