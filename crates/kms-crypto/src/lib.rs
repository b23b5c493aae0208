//! The cryptographic primitives the KMS uses, behind one small API.
//!
//! Everything here goes through aws-lc-rs (AES-GCM, HMAC, SHA-2, RSA) or, for randomness, the
//! operating system's CSPRNG. Callers never see a backend type, so a provider can be swapped
//! without touching the engine.

pub mod aead;
pub mod digest;
pub mod public_key;
pub mod random;
pub mod spec;
pub mod wrapping;

pub use aead::{AeadError, Aes256GcmKey};
pub use spec::KeySpec;

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
