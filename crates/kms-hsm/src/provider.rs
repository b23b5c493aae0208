//! A [`CryptoProvider`] whose keys are generated and used inside a PKCS#11 token and never
//! leave it (CKA_SENSITIVE true, CKA_EXTRACTABLE false). The "private material" it hands the
//! engine to store is only a reference to the token's objects: [`REFERENCE_MAGIC`] followed by
//! their random CKA_ID, which is also in their label (`kmsd-` and the ID in hex).
//!
//! AES-256 keys seal and open with CKM_AES_GCM in the software provider's layout; P-256 and
//! P-384 keys sign with CKM_ECDSA (DER signatures, as the software provider's) and verify with
//! their public key. Every other spec is refused as unsupported, as is importing material.

mod der;

use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use zeroize::Zeroizing;

use kms_crypto::provider::check_signing;
use kms_crypto::{
    CryptoError, CryptoProvider, KeyHandle, KeyPairMaterial, KeySpec, SignInput, SigningAlgorithm,
    Software,
};

use crate::gcm::{self, GcmError};
use crate::token::{private_attributes, Token};

/// Starts a stored reference to a token's key, naming its format.
pub const REFERENCE_MAGIC: &[u8; 8] = b"KP11REF1";
const ID_LEN: usize = 16;

/// Keys in one PKCS#11 token.
pub struct HsmProvider {
    token: Arc<Token>,
}

/// The curve of an EC spec the token makes keys on: its OID and its uncompressed point's length.
fn curve(spec: KeySpec) -> Option<(&'static [u8], usize)> {
    match spec {
        KeySpec::EccP256 => Some((der::P256, 65)),
        KeySpec::EccP384 => Some((der::P384, 97)),
        _ => None,
    }
}

fn unsupported(spec: KeySpec, operation: &'static str) -> CryptoError {
    CryptoError::Unsupported { spec, operation }
}

/// The stored reference of the objects with `id`.
fn reference(id: &[u8; ID_LEN]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(REFERENCE_MAGIC.len() + ID_LEN));
    out.extend_from_slice(REFERENCE_MAGIC);
    out.extend_from_slice(id);
    out
}

fn parse_reference(stored: &[u8]) -> Result<[u8; ID_LEN], CryptoError> {
    stored
        .strip_prefix(REFERENCE_MAGIC.as_slice())
        .and_then(|id| <[u8; ID_LEN]>::try_from(id).ok())
        .ok_or(CryptoError::InvalidKeyMaterial(
            "not a reference to a key in a PKCS#11 token",
        ))
}

fn label(id: &[u8; ID_LEN]) -> Vec<u8> {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!("kmsd-{hex}").into_bytes()
}

impl HsmProvider {
    pub fn new(token: Token) -> Self {
        Self {
            token: Arc::new(token),
        }
    }

    fn backend(&self, operation: &str, error: &cryptoki::error::Error) -> CryptoError {
        CryptoError::Backend(self.token.failure(operation, error))
    }

    /// The one object of `class` and `key_type` with `id`.
    fn find(
        &self,
        class: ObjectClass,
        key_type: KeyType,
        id: &[u8; ID_LEN],
    ) -> Result<ObjectHandle, CryptoError> {
        let template = [
            Attribute::Class(class),
            Attribute::KeyType(key_type),
            Attribute::Id(id.to_vec()),
        ];
        let found = self
            .token
            .with_session(|session| session.find_objects(&template))
            .map_err(|e| self.backend("looking for a key", &e))?;
        match found[..] {
            [object] => Ok(object),
            _ => Err(CryptoError::Backend(format!(
                "PKCS#11 token {:?} holds {} {class} objects with the stored ID",
                self.token.label(),
                found.len()
            ))),
        }
    }

    /// The SubjectPublicKeyInfo DER of the public key `object` on `spec`'s curve.
    fn ec_public_key(&self, spec: KeySpec, object: ObjectHandle) -> Result<Vec<u8>, CryptoError> {
        let (oid, point_len) = curve(spec).ok_or(unsupported(spec, "be used in an HSM"))?;
        let attributes = self
            .token
            .with_session(|session| session.get_attributes(object, &[AttributeType::EcPoint]))
            .map_err(|e| self.backend("reading a public key", &e))?;
        let point = match attributes.first() {
            Some(Attribute::EcPoint(point)) => der::ec_point(point, point_len),
            _ => None,
        };
        point
            .and_then(|point| der::ec_spki(oid, point))
            .ok_or_else(|| {
                backend_text(&self.token, "the token's EC point is not one of the curve")
            })
    }

    fn generate_ec(&self, spec: KeySpec, id: &[u8; ID_LEN]) -> Result<Vec<u8>, CryptoError> {
        let (oid, _) = curve(spec).ok_or(unsupported(spec, "be generated in an HSM"))?;
        let label = label(id);
        let public_template = [
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::EcParams(oid.to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.clone()),
        ];
        let mut private_template = private_attributes(&label, id);
        private_template.push(Attribute::Sign(true));
        let (public, _) = self
            .token
            .generating(|session| {
                session.generate_key_pair(
                    &Mechanism::EccKeyPairGen,
                    &public_template,
                    &private_template,
                )
            })
            .map_err(|e| self.backend("generating an EC key pair", &e))?;
        self.ec_public_key(spec, public)
    }
}

fn backend_text(token: &Token, what: &str) -> CryptoError {
    CryptoError::Backend(format!("PKCS#11 token {:?}: {what}", token.label()))
}

impl CryptoProvider for HsmProvider {
    fn generate(&self, spec: KeySpec) -> Result<KeyPairMaterial, CryptoError> {
        let mut id = [0u8; ID_LEN];
        getrandom::fill(&mut id).map_err(|_| CryptoError::Backend("random source".into()))?;
        let public = match spec {
            KeySpec::Aes256 => {
                self.token
                    .generate_aes256(&label(&id), &id)
                    .map_err(|e| self.backend("generating an AES key", &e))?;
                None
            }
            _ => Some(self.generate_ec(spec, &id)?),
        };
        Ok(KeyPairMaterial {
            private: reference(&id),
            public,
        })
    }

    fn import(&self, spec: KeySpec, _material: &[u8]) -> Result<KeyPairMaterial, CryptoError> {
        Err(unsupported(spec, "be imported into an HSM"))
    }

    fn load(&self, spec: KeySpec, private: &[u8]) -> Result<Arc<dyn KeyHandle>, CryptoError> {
        if spec != KeySpec::Aes256 && curve(spec).is_none() {
            return Err(unsupported(spec, "be used in an HSM"));
        }
        let id = parse_reference(private)?;
        if spec == KeySpec::Aes256 {
            let object = self.find(ObjectClass::SECRET_KEY, KeyType::AES, &id)?;
            return Ok(Arc::new(HsmAesKey {
                token: self.token.clone(),
                object,
            }));
        }
        let object = self.find(ObjectClass::PRIVATE_KEY, KeyType::EC, &id)?;
        let public_object = self.find(ObjectClass::PUBLIC_KEY, KeyType::EC, &id)?;
        Ok(Arc::new(HsmEcKey {
            token: self.token.clone(),
            object,
            spec,
            public: self.ec_public_key(spec, public_object)?,
        }))
    }

    /// Needs no private key, so the software provider answers.
    fn verify_with_public_key(
        &self,
        spec: KeySpec,
        public: &[u8],
        alg: SigningAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        Software.verify_with_public_key(spec, public, alg, input, signature)
    }
}

/// An AES-256 key inside the token.
struct HsmAesKey {
    token: Arc<Token>,
    object: ObjectHandle,
}

impl HsmAesKey {
    fn failure(&self, operation: &str, error: GcmError) -> CryptoError {
        match error {
            GcmError::Authentication => CryptoError::DecryptFailed,
            GcmError::Random => CryptoError::Backend("random source".into()),
            GcmError::Token(e) => CryptoError::Backend(self.token.failure(operation, &e)),
        }
    }
}

impl KeyHandle for HsmAesKey {
    fn spec(&self) -> KeySpec {
        KeySpec::Aes256
    }

    fn public_key(&self) -> Option<&[u8]> {
        None
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        gcm::seal(&self.token, self.object, aad, plaintext).map_err(|e| self.failure("sealing", e))
    }

    fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        gcm::open(&self.token, self.object, aad, sealed).map_err(|e| self.failure("opening", e))
    }
}

/// An EC private key inside the token, with its public key.
struct HsmEcKey {
    token: Arc<Token>,
    object: ObjectHandle,
    spec: KeySpec,
    public: Vec<u8>,
}

impl KeyHandle for HsmEcKey {
    fn spec(&self) -> KeySpec {
        self.spec
    }

    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    /// The message is hashed in the token too (CKM_SHA256, CKM_SHA384), then signed with
    /// CKM_ECDSA, which every EC token offers.
    fn sign(&self, alg: SigningAlgorithm, input: SignInput<'_>) -> Result<Vec<u8>, CryptoError> {
        check_signing(self.spec, alg, &input)?;
        let hash = match alg {
            SigningAlgorithm::EcdsaSha384 => Mechanism::Sha384,
            _ => Mechanism::Sha256,
        };
        let raw = self
            .token
            .with_session(|session| {
                let computed;
                let digest = match input {
                    SignInput::Digest(digest) => digest,
                    SignInput::Message(message) => {
                        computed = session.digest(&hash, message)?;
                        &computed[..]
                    }
                };
                session.sign(&Mechanism::Ecdsa, self.object, digest)
            })
            .map_err(|e| CryptoError::Backend(self.token.failure("signing", &e)))?;
        der::ecdsa_signature(&raw)
            .ok_or_else(|| backend_text(&self.token, "the ECDSA signature is malformed"))
    }

    fn verify(
        &self,
        alg: SigningAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        Software.verify_with_public_key(self.spec, &self.public, alg, input, signature)
    }
}
