//! The crypto provider: key generation, import and every private-key operation behind one trait,
//! so a hardware provider can replace the software one without touching the engine.
//!
//! Storage forms of the private material ([`KeyPairMaterial::private`]):
//!
//! | spec | form |
//! |---|---|
//! | `Aes256` | the 32 raw key bytes |
//! | `Sm4` | the 16 raw key bytes |
//! | `Hmac256` / `Hmac384` / `Hmac512` / `HmacSm3` | the raw key (generated at the hash's output length) |
//! | `Rsa*`, `EccP256`, `EccP384`, `EccSecp256k1`, `Sm2`, `Ed25519` | PKCS#8 v1 DER |
//! | `MlDsa65` | the 32-byte FIPS 204 seed ξ (the key pair is re-derived on load) |
//! | `MlKem768` | the 2400-byte FIPS 203 expanded decapsulation key `dk` (aws-lc-rs cannot derive a key from the 64-byte seed `d || z`) |
//!
//! Public keys are always SubjectPublicKeyInfo DER.

mod ec;
mod pq;
mod rsa;
mod sm2;
mod symmetric;

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::spec::{AsymmetricAlgorithm, KeySpec, SignInput, SigningAlgorithm};

/// Key material as the engine stores it.
pub struct KeyPairMaterial {
    /// The private or secret half, in the storage form listed in the module docs.
    pub private: Zeroizing<Vec<u8>>,
    /// SubjectPublicKeyInfo DER; `None` for symmetric specs.
    pub public: Option<Vec<u8>>,
}

impl std::fmt::Debug for KeyPairMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPairMaterial")
            .field("private", &"..")
            .field("public_len", &self.public.as_ref().map(Vec::len))
            .finish()
    }
}

/// Why a provider operation failed. No variant ever carries secret bytes.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("a {spec:?} key cannot {operation}")]
    Unsupported {
        spec: KeySpec,
        operation: &'static str,
    },
    #[error("algorithm {algorithm} does not fit a {spec:?} key")]
    AlgorithmMismatch { spec: KeySpec, algorithm: String },
    #[error("the digest must be {expected} bytes, got {actual}")]
    InvalidDigestLength { expected: usize, actual: usize },
    #[error("invalid key material: {0}")]
    InvalidKeyMaterial(&'static str),
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    #[error("decryption failed")]
    DecryptFailed,
    #[error("crypto backend failure: {0}")]
    Backend(String),
    /// The backend holding the key (an HSM) cannot be reached now; trying again later may
    /// succeed.
    #[error("the crypto backend cannot be reached now: {0}")]
    Unavailable(String),
}

/// Generates, imports and loads keys, and verifies with public keys alone.
pub trait CryptoProvider: Send + Sync {
    /// Fresh material for `spec` (private half in this provider's storage form, public SPKI DER).
    fn generate(&self, spec: KeySpec) -> Result<KeyPairMaterial, CryptoError>;
    /// Checks customer-supplied material and returns it in storage form with its public key.
    ///
    /// Accepted input: 32 raw bytes for `Aes256`, 16 for `Sm4`; for HMAC specs a raw key of at
    /// least 16 bytes and at most the hash's block size (64 bytes for SHA-256 and SM3, 128 for
    /// SHA-384 and SHA-512), since longer keys are hashed down by HMAC anyway; PKCS#8 DER for
    /// RSA, EC, SM2, Ed25519 and ML-DSA-65 (ML-DSA only with the seed present); for ML-KEM-768
    /// the raw 2400-byte FIPS 203 decapsulation key, whose embedded `H(ek)` is checked.
    fn import(&self, spec: KeySpec, material: &[u8]) -> Result<KeyPairMaterial, CryptoError>;
    /// Parses stored material once into a ready-to-use handle.
    fn load(&self, spec: KeySpec, private: &[u8]) -> Result<Arc<dyn KeyHandle>, CryptoError>;
    /// Destroys what stored material refers to outside the store, once its key is purged: the
    /// objects of an HSM. Material held in the store itself has nothing to destroy.
    fn destroy(&self, _spec: KeySpec, _private: &[u8]) -> Result<(), CryptoError> {
        Ok(())
    }
    /// Verification with a public key alone (SPKI DER). A signature that does not verify, or
    /// does not even parse, is `Ok(false)`.
    fn verify_with_public_key(
        &self,
        spec: KeySpec,
        public: &[u8],
        alg: SigningAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, CryptoError>;
}

/// A loaded key. Each family implements the operations it supports; the rest answer
/// [`CryptoError::Unsupported`].
pub trait KeyHandle: Send + Sync {
    fn spec(&self) -> KeySpec;
    /// SubjectPublicKeyInfo DER, for asymmetric specs.
    fn public_key(&self) -> Option<&[u8]>;

    /// AES-256-GCM (`Aes256`) or SM4-GCM (`Sm4`) with a random nonce: `nonce(12) || ct || tag(16)`.
    fn seal(&self, _aad: &[u8], _plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Err(unsupported(self.spec(), "seal"))
    }
    fn open(&self, _aad: &[u8], _sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Err(unsupported(self.spec(), "open"))
    }
    fn sign(&self, _alg: SigningAlgorithm, _input: SignInput<'_>) -> Result<Vec<u8>, CryptoError> {
        Err(unsupported(self.spec(), "sign"))
    }
    fn verify(
        &self,
        _alg: SigningAlgorithm,
        _input: SignInput<'_>,
        _signature: &[u8],
    ) -> Result<bool, CryptoError> {
        Err(unsupported(self.spec(), "verify"))
    }
    fn decrypt(
        &self,
        _alg: AsymmetricAlgorithm,
        _ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Err(unsupported(self.spec(), "decrypt"))
    }
    /// HMAC of `message` with the spec's hash.
    fn mac(&self, _message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Err(unsupported(self.spec(), "compute a MAC"))
    }
    /// Compares in constant time; a MAC of the wrong length is `Ok(false)`.
    fn verify_mac(&self, _message: &[u8], _mac: &[u8]) -> Result<bool, CryptoError> {
        Err(unsupported(self.spec(), "verify a MAC"))
    }
    /// ECDH (P-256, P-384) with a peer's SPKI DER public key: the raw x coordinate.
    fn derive_shared_secret(&self, _peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Err(unsupported(self.spec(), "derive a shared secret"))
    }
    /// ML-KEM-768 to the key's own public half: `(ciphertext, shared secret)`.
    fn encapsulate(&self) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), CryptoError> {
        Err(unsupported(self.spec(), "encapsulate"))
    }
    fn decapsulate(&self, _ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Err(unsupported(self.spec(), "decapsulate"))
    }
}

fn unsupported(spec: KeySpec, operation: &'static str) -> CryptoError {
    CryptoError::Unsupported { spec, operation }
}

/// Checks that `alg` fits `spec` and that a digest input has the algorithm's digest length;
/// every provider's signing keys check this first.
pub fn check_signing(
    spec: KeySpec,
    alg: SigningAlgorithm,
    input: &SignInput<'_>,
) -> Result<(), CryptoError> {
    if !alg.allowed_for(spec) {
        return Err(CryptoError::AlgorithmMismatch {
            spec,
            algorithm: format!("{alg:?}"),
        });
    }
    if let SignInput::Digest(d) = input {
        match alg.digest_len() {
            None => return Err(unsupported(spec, "sign or verify a precomputed digest")),
            Some(expected) if expected != d.len() => {
                return Err(CryptoError::InvalidDigestLength {
                    expected,
                    actual: d.len(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn backend(what: &str) -> CryptoError {
    CryptoError::Backend(what.to_owned())
}

/// The software provider: aws-lc-rs for AES, RSA, NIST curves, Ed25519, HMAC-SHA2, ML-KEM and
/// ML-DSA; RustCrypto for SM2, SM3 and SM4.
#[derive(Debug, Default, Clone, Copy)]
pub struct Software;

impl CryptoProvider for Software {
    fn generate(&self, spec: KeySpec) -> Result<KeyPairMaterial, CryptoError> {
        match spec {
            KeySpec::Aes256 | KeySpec::Sm4 => symmetric::generate_cipher(spec),
            KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 | KeySpec::HmacSm3 => {
                symmetric::generate_hmac(spec)
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => rsa::generate(spec),
            KeySpec::EccP256 | KeySpec::EccP384 | KeySpec::EccSecp256k1 => ec::generate(spec),
            KeySpec::Ed25519 => ec::generate_ed25519(),
            KeySpec::Sm2 => sm2::generate(),
            KeySpec::MlKem768 => pq::generate_ml_kem(),
            KeySpec::MlDsa65 => pq::generate_ml_dsa(),
        }
    }

    fn import(&self, spec: KeySpec, material: &[u8]) -> Result<KeyPairMaterial, CryptoError> {
        match spec {
            KeySpec::Aes256 | KeySpec::Sm4 => symmetric::import_cipher(spec, material),
            KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 | KeySpec::HmacSm3 => {
                symmetric::import_hmac(spec, material)
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => rsa::import(spec, material),
            KeySpec::EccP256 | KeySpec::EccP384 | KeySpec::EccSecp256k1 => {
                ec::import(spec, material)
            }
            KeySpec::Ed25519 => ec::import_ed25519(material),
            KeySpec::Sm2 => sm2::import(material),
            KeySpec::MlKem768 => pq::import_ml_kem(material),
            KeySpec::MlDsa65 => pq::import_ml_dsa(material),
        }
    }

    fn load(&self, spec: KeySpec, private: &[u8]) -> Result<Arc<dyn KeyHandle>, CryptoError> {
        Ok(match spec {
            KeySpec::Aes256 | KeySpec::Sm4 => Arc::new(symmetric::CipherKey::load(spec, private)?),
            KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 | KeySpec::HmacSm3 => {
                Arc::new(symmetric::HmacKey::load(spec, private)?)
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                Arc::new(rsa::RsaKey::load(spec, private)?)
            }
            KeySpec::EccP256 | KeySpec::EccP384 | KeySpec::EccSecp256k1 => {
                Arc::new(ec::EcKey::load(spec, private)?)
            }
            KeySpec::Ed25519 => Arc::new(ec::Ed25519Key::load(private)?),
            KeySpec::Sm2 => Arc::new(sm2::Sm2Key::load(private)?),
            KeySpec::MlKem768 => Arc::new(pq::MlKemKey::load(private)?),
            KeySpec::MlDsa65 => Arc::new(pq::MlDsaKey::load(private)?),
        })
    }

    fn verify_with_public_key(
        &self,
        spec: KeySpec,
        public: &[u8],
        alg: SigningAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        if spec.is_symmetric() || spec == KeySpec::MlKem768 {
            return Err(unsupported(spec, "verify"));
        }
        check_signing(spec, alg, &input)?;
        match spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                rsa::verify(spec, public, alg, input, signature)
            }
            KeySpec::EccP256 | KeySpec::EccP384 | KeySpec::EccSecp256k1 | KeySpec::Ed25519 => {
                ec::verify(spec, public, input, signature)
            }
            KeySpec::Sm2 => sm2::verify(public, input, signature),
            KeySpec::MlDsa65 => pq::verify_ml_dsa(public, input, signature),
            KeySpec::Aes256
            | KeySpec::Sm4
            | KeySpec::Hmac256
            | KeySpec::Hmac384
            | KeySpec::Hmac512
            | KeySpec::HmacSm3
            | KeySpec::MlKem768 => Err(unsupported(spec, "verify")),
        }
    }
}

#[cfg(test)]
mod tests;
