//! Wrapping keys for bring-your-own-key import: a fresh key pair per import request; the
//! customer encrypts their key material to its public half, and the private half unwraps it.
//! RSA goes through aws-lc-rs, SM2 through RustCrypto `sm2`.

mod sm2;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey,
    Pkcs1PrivateDecryptingKey, PrivateDecryptingKey,
};
use zeroize::Zeroizing;

/// The wrapping key's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WrappingKeySpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    Sm2,
}

/// How the customer encrypted the material to the wrapping key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WrappingAlgorithm {
    RsaesPkcs1V15,
    RsaesOaepSha1,
    RsaesOaepSha256,
    /// SM2 public key encryption (GB/T 32918.4), only with an [`WrappingKeySpec::Sm2`] key.
    Sm2Encrypt,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WrappingError {
    #[error("wrapping key generation failed")]
    KeyGeneration,
    #[error("the wrapped material could not be decrypted with this wrapping key and algorithm")]
    Unwrap,
}

/// A freshly generated wrapping key pair.
pub struct WrappingKeyPair {
    /// PKCS#8 DER of the private key; zeroized on drop.
    pub private_pkcs8: Zeroizing<Vec<u8>>,
    /// SubjectPublicKeyInfo DER of the public key.
    pub public_spki: Vec<u8>,
}

impl std::fmt::Debug for WrappingKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappingKeyPair(..)")
    }
}

pub fn generate(spec: WrappingKeySpec) -> Result<WrappingKeyPair, WrappingError> {
    let size = match spec {
        WrappingKeySpec::Rsa2048 => KeySize::Rsa2048,
        WrappingKeySpec::Rsa3072 => KeySize::Rsa3072,
        WrappingKeySpec::Rsa4096 => KeySize::Rsa4096,
        WrappingKeySpec::Sm2 => return sm2::generate(),
    };
    let private = PrivateDecryptingKey::generate(size).map_err(|_| WrappingError::KeyGeneration)?;
    let pkcs8 = private.as_der().map_err(|_| WrappingError::KeyGeneration)?;
    let public = private
        .public_key()
        .as_der()
        .map_err(|_| WrappingError::KeyGeneration)?;
    Ok(WrappingKeyPair {
        private_pkcs8: Zeroizing::new(pkcs8.as_ref().to_vec()),
        public_spki: public.as_ref().to_vec(),
    })
}

/// Decrypts `wrapped` with the private key (PKCS#8 DER) and algorithm.
pub fn unwrap(
    private_pkcs8: &[u8],
    algorithm: WrappingAlgorithm,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, WrappingError> {
    if algorithm == WrappingAlgorithm::Sm2Encrypt {
        return sm2::unwrap(private_pkcs8, wrapped);
    }
    let private =
        PrivateDecryptingKey::from_pkcs8(private_pkcs8).map_err(|_| WrappingError::Unwrap)?;
    let mut out = Zeroizing::new(vec![0u8; private.key_size_bytes()]);
    let len = match algorithm {
        WrappingAlgorithm::RsaesPkcs1V15 => Pkcs1PrivateDecryptingKey::new(private)
            .map_err(|_| WrappingError::Unwrap)?
            .decrypt(wrapped, &mut out)
            .map_err(|_| WrappingError::Unwrap)?
            .len(),
        WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaesOaepSha256 => {
            let oaep = if algorithm == WrappingAlgorithm::RsaesOaepSha1 {
                &OAEP_SHA1_MGF1SHA1
            } else {
                &OAEP_SHA256_MGF1SHA256
            };
            OaepPrivateDecryptingKey::new(private)
                .map_err(|_| WrappingError::Unwrap)?
                .decrypt(oaep, wrapped, &mut out, None)
                .map_err(|_| WrappingError::Unwrap)?
                .len()
        }
        WrappingAlgorithm::Sm2Encrypt => return Err(WrappingError::Unwrap),
    };
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::public_key::{WrapAlgorithm, encrypt_to_public_key};

    fn pem(der: &[u8]) -> String {
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    }

    #[test]
    fn every_algorithm_round_trips_and_wrong_ones_fail() {
        let pair = generate(WrappingKeySpec::Rsa2048).unwrap();
        let material = [0x5au8; 32];
        let cases = [
            (WrappingAlgorithm::RsaesPkcs1V15, WrapAlgorithm::RsaPkcs1V15),
            (WrappingAlgorithm::RsaesOaepSha1, WrapAlgorithm::RsaOaepSha1),
            (
                WrappingAlgorithm::RsaesOaepSha256,
                WrapAlgorithm::RsaOaepSha256,
            ),
        ];
        for (alg, wrap) in cases {
            let wrapped = encrypt_to_public_key(&pem(&pair.public_spki), wrap, &material).unwrap();
            assert_eq!(
                &unwrap(&pair.private_pkcs8, alg, &wrapped).unwrap()[..],
                &material
            );
            for (other, _) in cases.iter().filter(|(o, _)| *o != alg) {
                assert!(
                    unwrap(&pair.private_pkcs8, *other, &wrapped).is_err(),
                    "{alg:?} as {other:?}"
                );
            }
        }
        assert_eq!(
            unwrap(
                &pair.private_pkcs8,
                WrappingAlgorithm::RsaesOaepSha256,
                b"garbage"
            ),
            Err(WrappingError::Unwrap)
        );
        let other = generate(WrappingKeySpec::Rsa2048).unwrap();
        let wrapped = encrypt_to_public_key(
            &pem(&other.public_spki),
            WrapAlgorithm::RsaOaepSha256,
            &material,
        )
        .unwrap();
        assert!(
            unwrap(
                &pair.private_pkcs8,
                WrappingAlgorithm::RsaesOaepSha256,
                &wrapped
            )
            .is_err()
        );
    }

    #[test]
    fn larger_keys_generate() {
        let pair = generate(WrappingKeySpec::Rsa3072).unwrap();
        assert!(pair.public_spki.len() > 390);
    }
}
