//! The ciphertext blob: our own versioned, self-describing format, shared by every dialect.
//!
//! ```text
//! format (1) = 1 | algorithm (1) | key id (16) | key version (4, BE) | payload
//! payload, algorithms 1 and 2:  nonce (12) | ciphertext | tag (16)
//! payload, algorithm 3:         ML-KEM-768 ciphertext (1088) | nonce (12) | ciphertext | tag (16)
//! ```
//! Algorithm 1 is AES-256-GCM under the key's material (every blob written before other key types
//! existed is one), 2 is SM4-GCM, 3 is AES-256-GCM under a key derived from an ML-KEM-768 shared
//! secret encapsulated to the key's public half.
//! The header (format through key version) names the key, so Decrypt needs no key id. The
//! associated data binds the header, the owning account and region, and the canonical encryption
//! context, so a blob moved to another key, account or context fails to decrypt.

use uuid::Uuid;

use crate::context::EncryptionContext;
use crate::model::{AccountId, KeySpec};

const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 1 + 1 + 16 + 4;
const AAD_LABEL: &[u8] = b"kms/ciphertext/v1";
/// Nonce and tag around an empty plaintext: the smallest AEAD output.
const MIN_AEAD_LEN: usize = kms_crypto::aead::NONCE_SIZE + kms_crypto::aead::TAG_LEN;
/// Bytes of an ML-KEM-768 ciphertext (FIPS 203, table 3).
pub const ML_KEM_768_CIPHERTEXT_LEN: usize = 1088;

/// The algorithm that sealed the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobAlgorithm {
    Aes256Gcm = 1,
    Sm4Gcm = 2,
    MlKem768Aes256Gcm = 3,
}

impl BlobAlgorithm {
    /// The algorithm a key of `spec` seals blobs with, if it seals any.
    pub fn for_spec(spec: KeySpec) -> Option<Self> {
        match spec {
            KeySpec::Aes256 => Some(BlobAlgorithm::Aes256Gcm),
            KeySpec::Sm4 => Some(BlobAlgorithm::Sm4Gcm),
            KeySpec::MlKem768 => Some(BlobAlgorithm::MlKem768Aes256Gcm),
            _ => None,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(BlobAlgorithm::Aes256Gcm),
            2 => Some(BlobAlgorithm::Sm4Gcm),
            3 => Some(BlobAlgorithm::MlKem768Aes256Gcm),
            _ => None,
        }
    }

    /// The smallest payload this algorithm can produce.
    fn min_payload(self) -> usize {
        match self {
            BlobAlgorithm::Aes256Gcm | BlobAlgorithm::Sm4Gcm => MIN_AEAD_LEN,
            BlobAlgorithm::MlKem768Aes256Gcm => ML_KEM_768_CIPHERTEXT_LEN + MIN_AEAD_LEN,
        }
    }
}

/// What the blob header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    pub algorithm: BlobAlgorithm,
    pub key_id: Uuid,
    pub key_version: u32,
}

impl BlobHeader {
    fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = FORMAT_V1;
        out[1] = self.algorithm as u8;
        out[2..18].copy_from_slice(self.key_id.as_bytes());
        out[18..22].copy_from_slice(&self.key_version.to_be_bytes());
        out
    }

    /// The associated data for this header under the given owner and context.
    pub fn aad(&self, account: AccountId, region: &str, context: &EncryptionContext) -> Vec<u8> {
        let mut aad = Vec::with_capacity(64);
        aad.extend_from_slice(AAD_LABEL);
        aad.extend_from_slice(&self.to_bytes());
        aad.extend_from_slice(&account.to_be_bytes());
        aad.extend_from_slice(&(region.len() as u32).to_be_bytes());
        aad.extend_from_slice(region.as_bytes());
        aad.extend_from_slice(&context.canonical_bytes());
        aad
    }
}

/// Joins a header and an AEAD output (`nonce || ciphertext || tag`) into a blob.
pub fn encode(header: BlobHeader, sealed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(sealed);
    out
}

/// Splits a blob into its header and AEAD output; `None` when it is not one of ours.
pub fn decode(blob: &[u8]) -> Option<(BlobHeader, &[u8])> {
    if blob.len() < HEADER_LEN || blob[0] != FORMAT_V1 {
        return None;
    }
    let algorithm = BlobAlgorithm::from_byte(blob[1])?;
    if blob.len() < HEADER_LEN + algorithm.min_payload() {
        return None;
    }
    let key_id = Uuid::from_slice(&blob[2..18]).ok()?;
    let key_version = u32::from_be_bytes(blob[18..22].try_into().ok()?);
    Some((
        BlobHeader {
            algorithm,
            key_id,
            key_version,
        },
        &blob[HEADER_LEN..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let header = BlobHeader {
            algorithm: BlobAlgorithm::Aes256Gcm,
            key_id: Uuid::new_v4(),
            key_version: 7,
        };
        let sealed = vec![9u8; 40];
        let blob = encode(header, &sealed);
        let (h, s) = decode(&blob).unwrap();
        assert_eq!(h, header);
        assert_eq!(s, &sealed[..]);
    }

    #[test]
    fn rejects_foreign_and_short_input() {
        assert!(decode(b"").is_none());
        assert!(decode(&[2u8; 80]).is_none());
        let mut blob = vec![1u8, 9];
        blob.extend([0u8; 60]);
        assert!(decode(&blob).is_none(), "unknown algorithm");
        let mut short_pq = vec![1u8, 3];
        short_pq.extend([0u8; 20 + 28 + ML_KEM_768_CIPHERTEXT_LEN - 1]);
        assert!(
            decode(&short_pq).is_none(),
            "ML-KEM payload without its ciphertext"
        );
        short_pq.push(0);
        assert!(decode(&short_pq).is_some());
        assert!(decode(&[1u8, 1, 0, 0]).is_none());
    }

    #[test]
    fn random_input_never_panics() {
        let mut buf = [0u8; 96];
        for len in 0..buf.len() {
            for _ in 0..200 {
                kms_crypto::random::fill(&mut buf[..len]).unwrap();
                buf[0] = 1;
                if let Some((h, sealed)) = decode(&buf[..len]) {
                    assert_eq!(encode(h, sealed), buf[..len].to_vec());
                }
            }
        }
    }

    #[test]
    fn aad_binds_owner_and_context() {
        let header = BlobHeader {
            algorithm: BlobAlgorithm::Aes256Gcm,
            key_id: Uuid::nil(),
            key_version: 1,
        };
        let empty = EncryptionContext::default();
        let base = header.aad(1, "ap-guangzhou", &empty);
        assert_ne!(base, header.aad(2, "ap-guangzhou", &empty));
        assert_ne!(base, header.aad(1, "ap-shanghai", &empty));
        let ctx = EncryptionContext::new([("a".into(), "b".into())].into());
        assert_ne!(base, header.aad(1, "ap-guangzhou", &ctx));
    }
}
