//! AES key wrap with padding (RFC 5649, NIST SP 800-38F KWP; OpenSSL's `id-aes256-wrap-pad`)
//! through aws-lc-rs: how a customer encrypts an asymmetric private key under a temporary AES
//! key for import.

use aws_lc_rs::key_wrap::{AES_128, AES_256, AesKek, KeyWrapPadded};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyWrapError {
    #[error("the key-encryption key must be 16 or 32 bytes")]
    KekLength,
    #[error("the wrapped key does not unwrap under this key-encryption key")]
    Unwrap,
}

/// Unwraps `wrapped` with the AES-128 or AES-256 key-encryption key `kek`; the integrity check
/// of KWP refuses a wrong key or altered input.
pub fn unwrap_with_padding(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyWrapError> {
    let cipher = match kek.len() {
        16 => &AES_128,
        32 => &AES_256,
        _ => return Err(KeyWrapError::KekLength),
    };
    let kek = AesKek::new(cipher, kek).map_err(|_| KeyWrapError::KekLength)?;
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let len = kek
        .unwrap_with_padding(wrapped, &mut out)
        .map_err(|_| KeyWrapError::Unwrap)?
        .len();
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// NIST CAVP KWP_AD vectors (SP 800-38F key wrap with padding, unwrap direction).
    #[test]
    fn nist_known_answers() {
        let cases = [
            (
                "49319c331231cd6bf74c2f70b07fcc5c",
                "9c211f32f8b341f32b052fed5f31a387",
                "e4",
            ),
            (
                "20e4ff6a88ffa9a2818b81702793d8a016722c2fa1ff445f24b9db293cb12069",
                "85011dc927b167f411b0b8e21b11d819",
                "d2",
            ),
            (
                "09ab4286a845c18bb481da91c39a58fd52ed78d54973fc41f25163a0c33f4727",
                "0a180a84b01fc1e44b9f9301cc89af95de758219015abc86c3e48e764e7379246ae7209aaa4f889d",
                "4c1b6accb492c88b10a56a56eb9b6d6ed9797056a559fe3f0c7c0429a200af",
            ),
        ];
        for (kek, wrapped, plain) in cases {
            assert_eq!(
                &unwrap_with_padding(&h(kek), &h(wrapped)).unwrap()[..],
                &h(plain)[..]
            );
        }
    }

    #[test]
    fn nist_failures_and_bad_keys_are_refused() {
        let fails = [
            (
                "7a3f4d970501bf86147e915fe1b90318",
                "add70bafafb15e79c3a85ce1de558272",
            ),
            (
                "c32cb3e1e41a4b9f4de79989957866f5dd48dba38c22a6ebb80e14c84bdd9534",
                "c29b05c2619a58ecc1d239e7a34273cd",
            ),
        ];
        for (kek, wrapped) in fails {
            assert_eq!(
                unwrap_with_padding(&h(kek), &h(wrapped)),
                Err(KeyWrapError::Unwrap)
            );
        }
        assert_eq!(
            unwrap_with_padding(&[0u8; 24], &[0u8; 16]),
            Err(KeyWrapError::KekLength)
        );
        assert_eq!(
            unwrap_with_padding(&[0u8; 32], b"short"),
            Err(KeyWrapError::Unwrap)
        );
    }
}
