//! AES-256-GCM with a fresh 96-bit random nonce per message.
//!
//! The sealed form is `nonce (12) || ciphertext || tag (16)`. Random nonces are safe here because
//! no single key seals anywhere near 2^32 messages between rotations in this service's use.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::random;

/// Length of an AES-256 key.
pub const KEY_LEN: usize = 32;
/// Length of the GCM nonce that prefixes every sealed message.
pub const NONCE_SIZE: usize = NONCE_LEN;
/// Length of the GCM tag that ends every sealed message.
pub const TAG_LEN: usize = 16;

/// Why an AEAD operation failed. Deliberately coarse: a caller learns nothing about which check
/// rejected a forged message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AeadError {
    #[error("key must be 32 bytes")]
    BadKeyLength,
    #[error("message failed authentication")]
    Authentication,
    #[error("the random source failed")]
    Random,
}

/// An AES-256-GCM key. The bytes are zeroized on drop and never printed.
#[derive(Clone)]
pub struct Aes256GcmKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for Aes256GcmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Aes256GcmKey(..)")
    }
}

impl Aes256GcmKey {
    /// Wraps existing key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AeadError> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| AeadError::BadKeyLength)?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Result<Self, AeadError> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        random::fill(&mut k[..]).map_err(|_| AeadError::Random)?;
        Ok(Self(k))
    }

    /// The raw key bytes, for sealing the key itself.
    pub fn expose(&self) -> &[u8] {
        &self.0[..]
    }

    /// A key check value: 8 bytes of HMAC-SHA256 under the key over a fixed label. It tells
    /// whether two parties hold the same key without revealing anything of it (a one-way
    /// function of the key, over a label used for nothing else).
    pub fn check_value(&self) -> [u8; 8] {
        let mac = crate::digest::hmac_sha256(&self.0[..], b"kmsd root key check value v1");
        let mut out = [0u8; 8];
        out.copy_from_slice(&mac[..8]);
        out
    }

    fn aws_key(&self) -> LessSafeKey {
        // Cannot fail: the algorithm's key length is KEY_LEN, which the type guarantees.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0[..]).expect("32-byte AES key"))
    }

    /// Seals with a fresh random nonce: returns `nonce || ciphertext || tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, AeadError> {
        let mut nonce = [0u8; NONCE_SIZE];
        random::fill(&mut nonce).map_err(|_| AeadError::Random)?;
        self.seal_with_nonce(nonce, aad, plaintext)
    }

    /// Seals with a caller-chosen nonce. Only for known-answer tests and for formats that carry
    /// their own nonce; reusing a nonce under one key is catastrophic.
    pub fn seal_with_nonce(
        &self,
        nonce: [u8; NONCE_SIZE],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, AeadError> {
        let mut out = Vec::with_capacity(NONCE_SIZE + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .aws_key()
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[NONCE_SIZE..],
            )
            .map_err(|_| AeadError::Authentication)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens `nonce || ciphertext || tag`; the plaintext is zeroized on drop.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AeadError> {
        if sealed.len() < NONCE_SIZE + TAG_LEN {
            return Err(AeadError::Authentication);
        }
        let (nonce, body) = sealed.split_at(NONCE_SIZE);
        let nonce: [u8; NONCE_SIZE] = nonce.try_into().map_err(|_| AeadError::Authentication)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len = self
            .aws_key()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| AeadError::Authentication)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13, 14 and 16
    /// (AES-256, 96-bit IV); the same vectors appear in NIST's GCM validation suite.
    #[test]
    fn known_answers() {
        let cases = [
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "",
                "",
                "",
                "530f8afbc74536b9a963b4f1c4cb738b",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "",
                "00000000000000000000000000000000",
                "cea7403d4d606b6e074ec5d3baf39d18",
                "d0d1c8a799996bf0265b98b5d48ab919",
            ),
            (
                "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
                "cafebabefacedbaddecaf888",
                "feedfacedeadbeeffeedfacedeadbeefabaddad2",
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
                "76fc6ece0f4e1768cddf8853bb2d551b",
            ),
        ];
        for (k, iv, aad, pt, ct, tag) in cases {
            let key = Aes256GcmKey::from_bytes(&h(k)).unwrap();
            let nonce: [u8; 12] = h(iv).try_into().unwrap();
            let sealed = key.seal_with_nonce(nonce, &h(aad), &h(pt)).unwrap();
            let mut expected = h(iv);
            expected.extend(h(ct));
            expected.extend(h(tag));
            assert_eq!(hex::encode(&sealed), hex::encode(&expected));
            assert_eq!(*key.open(&h(aad), &sealed).unwrap(), h(pt));
        }
    }

    #[test]
    fn tampering_is_detected() {
        let key = Aes256GcmKey::generate().unwrap();
        let sealed = key.seal(b"aad", b"secret").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(key.open(b"aad", &bad), Err(AeadError::Authentication));
        }
        assert_eq!(key.open(b"other", &sealed), Err(AeadError::Authentication));
        assert_eq!(
            key.open(b"aad", &sealed[..20]),
            Err(AeadError::Authentication)
        );
    }

    #[test]
    fn debug_hides_key() {
        let key = Aes256GcmKey::from_bytes(&[7u8; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "Aes256GcmKey(..)");
    }
}
