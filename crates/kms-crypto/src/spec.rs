//! Key specs and the algorithms each one accepts.

use serde::{Deserialize, Serialize};

/// The type of a customer master key's material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum KeySpec {
    Aes256,
    Sm4,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EccP256,
    EccP384,
    EccSecp256k1,
    Sm2,
    Ed25519,
    Hmac256,
    Hmac384,
    Hmac512,
    HmacSm3,
    MlKem768,
    MlDsa65,
}

impl KeySpec {
    /// Every spec, in declaration order.
    pub const ALL: [KeySpec; 16] = [
        KeySpec::Aes256,
        KeySpec::Sm4,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::EccP256,
        KeySpec::EccP384,
        KeySpec::EccSecp256k1,
        KeySpec::Sm2,
        KeySpec::Ed25519,
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
        KeySpec::HmacSm3,
        KeySpec::MlKem768,
        KeySpec::MlDsa65,
    ];

    /// Secret-key specs: the block ciphers and the HMAC keys.
    pub fn is_symmetric(self) -> bool {
        matches!(
            self,
            KeySpec::Aes256
                | KeySpec::Sm4
                | KeySpec::Hmac256
                | KeySpec::Hmac384
                | KeySpec::Hmac512
                | KeySpec::HmacSm3
        )
    }

    /// Whether the spec has a public half (every asymmetric spec does).
    pub fn has_public_key(self) -> bool {
        !self.is_symmetric()
    }
}

/// A signature scheme together with its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    RsaPssSha256,
    RsaPssSha384,
    RsaPssSha512,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    EcdsaSha256,
    EcdsaSha384,
    /// SM2 with SM3 over `Z || M`, Z computed with the GM/T 0009 default user id.
    Sm2Sm3,
    Ed25519,
    MlDsa,
}

impl SigningAlgorithm {
    /// Whether a key of `spec` may sign or verify with this algorithm.
    pub fn allowed_for(self, spec: KeySpec) -> bool {
        use SigningAlgorithm as A;
        match self {
            A::RsaPssSha256
            | A::RsaPssSha384
            | A::RsaPssSha512
            | A::RsaPkcs1Sha256
            | A::RsaPkcs1Sha384
            | A::RsaPkcs1Sha512 => {
                matches!(spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096)
            }
            A::EcdsaSha256 => matches!(spec, KeySpec::EccP256 | KeySpec::EccSecp256k1),
            A::EcdsaSha384 => spec == KeySpec::EccP384,
            A::Sm2Sm3 => spec == KeySpec::Sm2,
            A::Ed25519 => spec == KeySpec::Ed25519,
            A::MlDsa => spec == KeySpec::MlDsa65,
        }
    }

    /// The length a digest input must have; `None` when the scheme has no prehash form.
    pub fn digest_len(self) -> Option<usize> {
        use SigningAlgorithm as A;
        match self {
            A::RsaPssSha256 | A::RsaPkcs1Sha256 | A::EcdsaSha256 | A::Sm2Sm3 => Some(32),
            A::RsaPssSha384 | A::RsaPkcs1Sha384 | A::EcdsaSha384 => Some(48),
            A::RsaPssSha512 | A::RsaPkcs1Sha512 => Some(64),
            A::Ed25519 | A::MlDsa => None,
        }
    }
}

/// What a signature covers: the message itself, or its digest computed by the caller (for SM2,
/// the digest is SM3 of `Z || M`).
#[derive(Clone, Copy)]
pub enum SignInput<'a> {
    Message(&'a [u8]),
    Digest(&'a [u8]),
}

/// Public-key encryption schemes whose ciphertexts a private key decrypts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsymmetricAlgorithm {
    RsaOaepSha1,
    RsaOaepSha256,
    RsaPkcs1v15,
    /// SM2 public-key encryption, the GM/T 0009 ASN.1 structure in C1C3C2 order.
    Sm2C1C3C2Asn1,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_public_partition_all() {
        let symmetric = KeySpec::ALL.iter().filter(|s| s.is_symmetric()).count();
        assert_eq!(symmetric, 6);
        for spec in KeySpec::ALL {
            assert_ne!(spec.is_symmetric(), spec.has_public_key(), "{spec:?}");
        }
    }

    #[test]
    fn algorithm_table() {
        use SigningAlgorithm as A;
        assert!(A::EcdsaSha256.allowed_for(KeySpec::EccSecp256k1));
        assert!(!A::EcdsaSha384.allowed_for(KeySpec::EccP256));
        assert!(A::RsaPssSha512.allowed_for(KeySpec::Rsa3072));
        assert!(!A::RsaPssSha512.allowed_for(KeySpec::Sm2));
        assert!(!A::Sm2Sm3.allowed_for(KeySpec::EccP256));
        assert_eq!(A::Sm2Sm3.digest_len(), Some(32));
        assert_eq!(A::EcdsaSha384.digest_len(), Some(48));
        assert_eq!(A::MlDsa.digest_len(), None);
        for spec in KeySpec::ALL.into_iter().filter(|s| s.is_symmetric()) {
            for alg in [A::RsaPkcs1Sha256, A::EcdsaSha256, A::Ed25519, A::MlDsa] {
                assert!(!alg.allowed_for(spec));
            }
        }
    }
}
