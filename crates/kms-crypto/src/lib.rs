//! The cryptographic primitives the KMS uses, behind one small API.
//!
//! The [`provider`] module holds every key type behind the [`CryptoProvider`] and [`KeyHandle`]
//! traits: aws-lc-rs for AES-GCM, RSA, the NIST curves, secp256k1, Ed25519, HMAC-SHA2, ML-KEM
//! and ML-DSA; RustCrypto for SM2, SM3 and SM4. Randomness comes from the operating system's
//! CSPRNG. Callers never see a backend type, so a provider can be swapped
//! without touching the engine.

pub mod aead;
pub mod digest;
pub mod key_wrap;
pub mod provider;
pub mod public_key;
pub mod random;
pub mod spec;
pub mod wrapping;

pub use aead::{AeadError, Aes256GcmKey};
pub use provider::{CryptoError, CryptoProvider, KeyHandle, KeyPairMaterial, Software};
pub use spec::{AsymmetricAlgorithm, KeySpec, SignInput, SigningAlgorithm};

/// Compares two byte strings in time independent of where they first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
