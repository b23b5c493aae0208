//! The root of trust: seals every secret the store keeps.
//!
//! A seal may hold the root key in memory (the key-file seal) or keep it inside an HSM and seal
//! through PKCS#11, so the trait exposes sealing, never the root key.

use zeroize::Zeroizing;

/// Why unsealing failed. Carries no secret material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("sealed data failed authentication")]
    Authentication,
    #[error("seal backend failure: {0}")]
    Backend(String),
    /// The root key is not in memory: the server is sealed (a Shamir seal waiting for its
    /// shares, or sealed by an operator), or the root of trust (an HSM) cannot be reached.
    #[error("the root key is sealed or its root of trust is unreachable")]
    Sealed,
    /// The root of trust (an HSM) cannot be reached now; trying again later may succeed.
    #[error("the root of trust cannot be reached now: {0}")]
    Unreachable(String),
}

/// Seals and unseals secrets under the root key, binding `aad` (what the secret belongs to).
pub trait Seal: Send + Sync {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError>;
    fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError>;
    /// The root key's check value: the same for every node holding the same root key, and
    /// nothing of the key itself. Kept in the store ([`crate::store::ROOT_KEY_CHECK`]) so a
    /// node started with another key refuses to serve.
    fn check_value(&self) -> Result<[u8; 8], SealError>;
}
