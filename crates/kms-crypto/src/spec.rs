//! Key specs: the algorithm and size of a key's material.

use serde::{Deserialize, Serialize};

/// The algorithm and size of a key's material, across both vendors.
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

    /// Secret material only: block ciphers and MAC keys.
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

    /// Whether the key has a public half that may be given out.
    pub fn has_public_key(self) -> bool {
        !self.is_symmetric()
    }
}
