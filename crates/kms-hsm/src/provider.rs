//! A [`CryptoProvider`] whose keys are generated and used inside a PKCS#11 token and never
//! leave it (CKA_SENSITIVE true, CKA_EXTRACTABLE false). The "private material" it hands the
//! engine to store is only a reference to the token's objects: [`REFERENCE_MAGIC`] followed by
//! their random CKA_ID, which is also in their label (`kmsd-` and the ID in hex).
//!
//! AES-256 keys seal and open with CKM_AES_GCM in the software provider's layout; P-256 and
//! P-384 keys sign with CKM_ECDSA (DER signatures, as the software provider's); RSA keys sign
//! (PKCS #1 v1.5 over a DigestInfo, or PSS with the digest's length of salt) and decrypt (OAEP,
//! PKCS #1 v1.5) where the token offers the mechanism. Messages are hashed in the token. Public
//! keys verify in software. Every other spec is refused as unsupported, as is importing
//! material.

mod der;

use std::sync::Arc;

use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use zeroize::Zeroizing;

use kms_crypto::provider::check_signing;
use kms_crypto::{
    AsymmetricAlgorithm, CryptoError, CryptoProvider, KeyHandle, KeyPairMaterial, KeySpec,
    SignInput, SigningAlgorithm, Software,
};

use crate::gcm::{self, GcmError};
use crate::token::{private_attributes, require_login, Token, TokenError, TokenObject};

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

/// The modulus length of an RSA spec.
fn rsa_bits(spec: KeySpec) -> Option<u64> {
    match spec {
        KeySpec::Rsa2048 => Some(2048),
        KeySpec::Rsa3072 => Some(3072),
        KeySpec::Rsa4096 => Some(4096),
        _ => None,
    }
}

/// The PKCS#11 key type of a pair of `spec`: RSA, or else EC.
fn pair_type(spec: KeySpec) -> KeyType {
    if rsa_bits(spec).is_some() {
        KeyType::RSA
    } else {
        KeyType::EC
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

    fn backend(&self, operation: &str, error: TokenError) -> CryptoError {
        token_error(&self.token, operation, error)
    }

    /// The one object of `class` and `key_type` with `id`.
    fn find(
        &self,
        class: ObjectClass,
        key_type: KeyType,
        id: &[u8; ID_LEN],
    ) -> Result<TokenObject, CryptoError> {
        let template = vec![
            Attribute::Class(class),
            Attribute::KeyType(key_type),
            Attribute::Id(id.to_vec()),
        ];
        self.token.find_object(template).map_err(|e| match e {
            TokenError::NotOne(found) => CryptoError::Backend(format!(
                "PKCS#11 token {:?} holds {found} {class} objects with the stored ID",
                self.token.label()
            )),
            other => self.backend("looking for a key", other),
        })
    }

    /// The SubjectPublicKeyInfo DER of the public key `object` on `spec`'s curve, read in
    /// `session`.
    fn ec_public_key(
        &self,
        spec: KeySpec,
        session: &Session,
        object: ObjectHandle,
    ) -> cryptoki::error::Result<Result<Vec<u8>, CryptoError>> {
        let Some((oid, point_len)) = curve(spec) else {
            return Ok(Err(unsupported(spec, "be used in an HSM")));
        };
        let attributes = session.get_attributes(object, &[AttributeType::EcPoint])?;
        let point = match attributes.first() {
            Some(Attribute::EcPoint(point)) => der::ec_point(point, point_len),
            _ => None,
        };
        Ok(point
            .and_then(|point| der::ec_spki(oid, point))
            .ok_or_else(|| {
                backend_text(&self.token, "the token's EC point is not one of the curve")
            }))
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
        self.token
            .generating(|session| {
                session.generate_key_pair(
                    &Mechanism::EccKeyPairGen,
                    &public_template,
                    &private_template,
                )
            })
            .map_err(|e| self.backend("generating an EC key pair", e))?;
        self.public_key(spec, id)
    }

    /// The SubjectPublicKeyInfo DER of the public half of the pair with `id`, found by it so
    /// that a token logged in to again meanwhile still answers.
    fn public_key(&self, spec: KeySpec, id: &[u8; ID_LEN]) -> Result<Vec<u8>, CryptoError> {
        let object = self.find(ObjectClass::PUBLIC_KEY, pair_type(spec), id)?;
        self.token
            .with_object(&object, |session, public| {
                if rsa_bits(spec).is_some() {
                    self.rsa_public_key(session, public)
                } else {
                    self.ec_public_key(spec, session, public)
                }
            })
            .map_err(|e| self.backend("reading a public key", e))?
    }
}

impl HsmProvider {
    fn generate_rsa(&self, spec: KeySpec, id: &[u8; ID_LEN]) -> Result<Vec<u8>, CryptoError> {
        let bits = rsa_bits(spec).ok_or(unsupported(spec, "be generated in an HSM"))?;
        let label = label(id);
        let public_template = [
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Encrypt(true),
            Attribute::ModulusBits(bits.into()),
            Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.clone()),
        ];
        let mut private_template = private_attributes(&label, id);
        private_template.extend([Attribute::Sign(true), Attribute::Decrypt(true)]);
        self.token
            .generating(|session| {
                session.generate_key_pair(
                    &Mechanism::RsaPkcsKeyPairGen,
                    &public_template,
                    &private_template,
                )
            })
            .map_err(|e| self.backend("generating an RSA key pair", e))?;
        self.public_key(spec, id)
    }

    /// The SubjectPublicKeyInfo DER of the RSA public key `object`, read in `session`.
    fn rsa_public_key(
        &self,
        session: &Session,
        object: ObjectHandle,
    ) -> cryptoki::error::Result<Result<Vec<u8>, CryptoError>> {
        let attributes = session.get_attributes(
            object,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )?;
        Ok(match &attributes[..] {
            [Attribute::Modulus(modulus), Attribute::PublicExponent(exponent)] => {
                der::rsa_spki(modulus, exponent)
            }
            _ => None,
        }
        .ok_or_else(|| backend_text(&self.token, "the token's RSA public key is malformed")))
    }
}

/// A failed token operation as the engine sees it: a token that cannot be reached is the
/// transient [`CryptoError::Unavailable`].
fn token_error(token: &Token, operation: &str, error: TokenError) -> CryptoError {
    let text = token.failure(operation, &error);
    match error {
        TokenError::Unreachable(_) => CryptoError::Unavailable(text),
        TokenError::Call(_) | TokenError::NotOne(_) => CryptoError::Backend(text),
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
                    .map_err(|e| self.backend("generating an AES key", e))?;
                None
            }
            _ if rsa_bits(spec).is_some() => Some(self.generate_rsa(spec, &id)?),
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
        if spec != KeySpec::Aes256 && curve(spec).is_none() && rsa_bits(spec).is_none() {
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
        let object = self.find(ObjectClass::PRIVATE_KEY, pair_type(spec), &id)?;
        let public = self.public_key(spec, &id)?;
        Ok(Arc::new(HsmPrivateKey {
            token: self.token.clone(),
            object,
            spec,
            public,
        }))
    }

    /// Destroys every object of the token with the reference's ID: the key, or both halves of
    /// a pair.
    fn destroy(&self, _spec: KeySpec, private: &[u8]) -> Result<(), CryptoError> {
        let id = parse_reference(private)?;
        self.token
            .with_session(|session| {
                let objects = session.find_objects(&[Attribute::Id(id.to_vec())])?;
                if objects.is_empty() {
                    // Nothing found in a session logged out meanwhile is not nothing there.
                    require_login(session)?;
                }
                for object in objects {
                    session.destroy_object(object)?;
                }
                Ok(())
            })
            .map_err(|e| self.backend("destroying a purged key", e))
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
    object: TokenObject,
}

impl HsmAesKey {
    fn failure(&self, operation: &str, error: GcmError) -> CryptoError {
        match error {
            GcmError::Authentication => CryptoError::DecryptFailed,
            GcmError::Random => CryptoError::Backend("random source".into()),
            GcmError::Token(e) => token_error(&self.token, operation, e),
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
        gcm::seal(&self.token, &self.object, aad, plaintext).map_err(|e| self.failure("sealing", e))
    }

    fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        gcm::open(&self.token, &self.object, aad, sealed).map_err(|e| self.failure("opening", e))
    }
}

/// An EC or RSA private key inside the token, with its public key.
struct HsmPrivateKey {
    token: Arc<Token>,
    object: TokenObject,
    spec: KeySpec,
    public: Vec<u8>,
}

/// How the token signs the digest of `alg`: the digest's mechanism, and the signing mechanism
/// that takes that digest.
fn signing_mechanisms(alg: SigningAlgorithm) -> Option<(Mechanism<'static>, Mechanism<'static>)> {
    use SigningAlgorithm as A;
    let pss = |hash_alg, mgf, salt: u64| {
        Mechanism::RsaPkcsPss(PkcsPssParams {
            hash_alg,
            mgf,
            s_len: salt.into(),
        })
    };
    Some(match alg {
        A::EcdsaSha256 => (Mechanism::Sha256, Mechanism::Ecdsa),
        A::EcdsaSha384 => (Mechanism::Sha384, Mechanism::Ecdsa),
        A::RsaPkcs1Sha256 => (Mechanism::Sha256, Mechanism::RsaPkcs),
        A::RsaPkcs1Sha384 => (Mechanism::Sha384, Mechanism::RsaPkcs),
        A::RsaPkcs1Sha512 => (Mechanism::Sha512, Mechanism::RsaPkcs),
        A::RsaPssSha256 => (
            Mechanism::Sha256,
            pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32),
        ),
        A::RsaPssSha384 => (
            Mechanism::Sha384,
            pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48),
        ),
        A::RsaPssSha512 => (
            Mechanism::Sha512,
            pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64),
        ),
        A::Sm2Sm3 | A::Ed25519 | A::MlDsa => return None,
    })
}

/// Whether the token refused a mechanism or its parameters, rather than the input.
fn mechanism_refused(error: &cryptoki::error::Error) -> bool {
    matches!(
        error,
        cryptoki::error::Error::Pkcs11(
            RvError::MechanismInvalid | RvError::MechanismParamInvalid | RvError::ArgumentsBad,
            _
        )
    )
}

impl KeyHandle for HsmPrivateKey {
    fn spec(&self) -> KeySpec {
        self.spec
    }

    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn sign(&self, alg: SigningAlgorithm, input: SignInput<'_>) -> Result<Vec<u8>, CryptoError> {
        check_signing(self.spec, alg, &input)?;
        let (hash, signing) =
            signing_mechanisms(alg).ok_or(unsupported(self.spec, "sign in an HSM"))?;
        let raw = self
            .token
            .with_object(&self.object, |session, object| {
                let digest = match input {
                    SignInput::Digest(digest) => digest.to_vec(),
                    SignInput::Message(message) => session.digest(&hash, message)?,
                };
                // PKCS #1 v1.5 signs the DigestInfo, which CKM_RSA_PKCS leaves to the caller.
                let signed = match signing {
                    Mechanism::RsaPkcs => {
                        der::digest_info(&digest).ok_or(cryptoki::error::Error::InvalidValue)?
                    }
                    _ => digest,
                };
                session.sign(&signing, object, &signed)
            })
            .map_err(|e| match e {
                TokenError::Call(e) if mechanism_refused(&e) => {
                    unsupported(self.spec, "sign with this algorithm in this HSM")
                }
                e => token_error(&self.token, "signing", e),
            })?;
        if rsa_bits(self.spec).is_some() {
            return Ok(raw);
        }
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

    fn decrypt(
        &self,
        alg: AsymmetricAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let oaep = |hash_alg, mgf| {
            Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash_alg, mgf, PkcsOaepSource::empty()))
        };
        let mechanism = match alg {
            _ if rsa_bits(self.spec).is_none() => {
                return Err(unsupported(self.spec, "decrypt"));
            }
            AsymmetricAlgorithm::RsaOaepSha1 => oaep(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
            AsymmetricAlgorithm::RsaOaepSha256 => {
                oaep(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256)
            }
            AsymmetricAlgorithm::RsaPkcs1v15 => Mechanism::RsaPkcs,
            other => {
                return Err(CryptoError::AlgorithmMismatch {
                    spec: self.spec,
                    algorithm: format!("{other:?}"),
                });
            }
        };
        match self.token.with_object(&self.object, |session, object| {
            session.decrypt(&mechanism, object, ciphertext)
        }) {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            Err(TokenError::Call(e)) if mechanism_refused(&e) => Err(unsupported(
                self.spec,
                "decrypt with this algorithm in this HSM",
            )),
            Err(TokenError::Call(cryptoki::error::Error::Pkcs11(
                RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::GeneralError,
                _,
            ))) => Err(CryptoError::DecryptFailed),
            Err(e) => Err(token_error(&self.token, "decrypting", e)),
        }
    }
}
