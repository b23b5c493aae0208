//! Secret-key specs: AES-256-GCM and SM4-GCM sealing, HMAC-SHA2 and HMAC-SM3.

use ::hmac::{Hmac, Mac};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{AesGcm, Nonce};
use aws_lc_rs::hmac as lc_hmac;
use sm4::Sm4;
use zeroize::Zeroizing;

use super::{CryptoError, KeyHandle, KeyPairMaterial, backend};
use crate::aead::{Aes256GcmKey, NONCE_SIZE, TAG_LEN};
use crate::spec::KeySpec;
use crate::{constant_time_eq, random};

type Sm4Gcm = AesGcm<Sm4, U12>;

/// Shortest HMAC key accepted on import: 128 bits.
const HMAC_MIN_KEY_LEN: usize = 16;

fn cipher_key_len(spec: KeySpec) -> usize {
    if spec == KeySpec::Sm4 { 16 } else { 32 }
}

/// (generated key length = output length, longest importable key = block size)
fn hmac_lengths(spec: KeySpec) -> (usize, usize) {
    match spec {
        KeySpec::Hmac384 => (48, 128),
        KeySpec::Hmac512 => (64, 128),
        _ => (32, 64),
    }
}

fn fresh(len: usize) -> Result<KeyPairMaterial, CryptoError> {
    let private = random::secret_bytes(len).map_err(|_| backend("random source"))?;
    Ok(KeyPairMaterial {
        private,
        public: None,
    })
}

pub(super) fn generate_cipher(spec: KeySpec) -> Result<KeyPairMaterial, CryptoError> {
    fresh(cipher_key_len(spec))
}

pub(super) fn generate_hmac(spec: KeySpec) -> Result<KeyPairMaterial, CryptoError> {
    fresh(hmac_lengths(spec).0)
}

pub(super) fn import_cipher(
    spec: KeySpec,
    material: &[u8],
) -> Result<KeyPairMaterial, CryptoError> {
    CipherKey::load(spec, material)?;
    Ok(KeyPairMaterial {
        private: Zeroizing::new(material.to_vec()),
        public: None,
    })
}

pub(super) fn import_hmac(spec: KeySpec, material: &[u8]) -> Result<KeyPairMaterial, CryptoError> {
    let (_, max) = hmac_lengths(spec);
    if !(HMAC_MIN_KEY_LEN..=max).contains(&material.len()) {
        return Err(CryptoError::InvalidKeyMaterial(
            "an HMAC key must be between 16 bytes and the hash's block size",
        ));
    }
    Ok(KeyPairMaterial {
        private: Zeroizing::new(material.to_vec()),
        public: None,
    })
}

enum Cipher {
    Aes(Aes256GcmKey),
    Sm4(Box<Sm4Gcm>),
}

/// An AES-256 or SM4 key; both seal with GCM into `nonce(12) || ct || tag(16)`.
pub(super) struct CipherKey {
    spec: KeySpec,
    cipher: Cipher,
}

impl CipherKey {
    pub(super) fn load(spec: KeySpec, raw: &[u8]) -> Result<Self, CryptoError> {
        if raw.len() != cipher_key_len(spec) {
            return Err(CryptoError::InvalidKeyMaterial(
                "an AES-256 key is 32 bytes and an SM4 key 16 bytes",
            ));
        }
        let cipher = if spec == KeySpec::Sm4 {
            let key = Sm4Gcm::new_from_slice(raw)
                .map_err(|_| CryptoError::InvalidKeyMaterial("SM4 key length"))?;
            Cipher::Sm4(Box::new(key))
        } else {
            let key = Aes256GcmKey::from_bytes(raw)
                .map_err(|_| CryptoError::InvalidKeyMaterial("AES key length"))?;
            Cipher::Aes(key)
        };
        Ok(Self { spec, cipher })
    }

    fn sm4_seal_with_nonce(
        key: &Sm4Gcm,
        nonce: [u8; NONCE_SIZE],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(NONCE_SIZE + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = key
            .encrypt_inout_detached(&Nonce::from(nonce), aad, (&mut out[NONCE_SIZE..]).into())
            .map_err(|_| CryptoError::InvalidInput("message too long for GCM"))?;
        out.extend_from_slice(&tag);
        Ok(out)
    }
}

impl KeyHandle for CipherKey {
    fn spec(&self) -> KeySpec {
        self.spec
    }

    fn public_key(&self) -> Option<&[u8]> {
        None
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match &self.cipher {
            Cipher::Aes(key) => key
                .seal(aad, plaintext)
                .map_err(|e| CryptoError::Backend(e.to_string())),
            Cipher::Sm4(key) => {
                let mut nonce = [0u8; NONCE_SIZE];
                random::fill(&mut nonce).map_err(|_| backend("random source"))?;
                Self::sm4_seal_with_nonce(key, nonce, aad, plaintext)
            }
        }
    }

    fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match &self.cipher {
            Cipher::Aes(key) => key
                .open(aad, sealed)
                .map_err(|_| CryptoError::DecryptFailed),
            Cipher::Sm4(key) => {
                if sealed.len() < NONCE_SIZE + TAG_LEN {
                    return Err(CryptoError::DecryptFailed);
                }
                let (nonce, rest) = sealed.split_at(NONCE_SIZE);
                let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
                let nonce: [u8; NONCE_SIZE] =
                    nonce.try_into().map_err(|_| CryptoError::DecryptFailed)?;
                let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| CryptoError::DecryptFailed)?;
                let mut buf = Zeroizing::new(body.to_vec());
                key.decrypt_inout_detached(
                    &Nonce::from(nonce),
                    aad,
                    buf.as_mut_slice().into(),
                    &tag.into(),
                )
                .map_err(|_| CryptoError::DecryptFailed)?;
                Ok(buf)
            }
        }
    }
}

enum MacKey {
    Sha2(Box<lc_hmac::Key>),
    Sm3(Zeroizing<Vec<u8>>),
}

/// An HMAC key: SHA-256/384/512 through aws-lc-rs, SM3 through RustCrypto.
pub(super) struct HmacKey {
    spec: KeySpec,
    key: MacKey,
}

impl HmacKey {
    pub(super) fn load(spec: KeySpec, raw: &[u8]) -> Result<Self, CryptoError> {
        if raw.is_empty() {
            return Err(CryptoError::InvalidKeyMaterial("empty HMAC key"));
        }
        let key = match spec {
            KeySpec::Hmac256 => {
                MacKey::Sha2(Box::new(lc_hmac::Key::new(lc_hmac::HMAC_SHA256, raw)))
            }
            KeySpec::Hmac384 => {
                MacKey::Sha2(Box::new(lc_hmac::Key::new(lc_hmac::HMAC_SHA384, raw)))
            }
            KeySpec::Hmac512 => {
                MacKey::Sha2(Box::new(lc_hmac::Key::new(lc_hmac::HMAC_SHA512, raw)))
            }
            _ => MacKey::Sm3(Zeroizing::new(raw.to_vec())),
        };
        Ok(Self { spec, key })
    }
}

impl KeyHandle for HmacKey {
    fn spec(&self) -> KeySpec {
        self.spec
    }

    fn public_key(&self) -> Option<&[u8]> {
        None
    }

    fn mac(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(match &self.key {
            MacKey::Sha2(key) => lc_hmac::sign(key, message).as_ref().to_vec(),
            MacKey::Sm3(raw) => {
                let mut m =
                    Hmac::<sm3::Sm3>::new_from_slice(raw).map_err(|_| backend("HMAC-SM3 key"))?;
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
        })
    }

    fn verify_mac(&self, message: &[u8], mac: &[u8]) -> Result<bool, CryptoError> {
        let expected = self.mac(message)?;
        Ok(constant_time_eq(&expected, mac))
    }
}
