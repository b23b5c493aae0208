//! A [`CryptoProvider`] whose keys are generated and used inside a PKCS#11 token and never
//! leave it (CKA_SENSITIVE true, CKA_EXTRACTABLE false). The "private material" it hands the
//! engine to store is only a reference to the token's object: [`REFERENCE_MAGIC`] followed by
//! the object's random CKA_ID, which is also its label (`kmsd-` and the ID in hex).
//!
//! AES-256 keys seal and open with CKM_AES_GCM in the software provider's layout; every other
//! spec is refused (unsupported) for now, as is importing material.

use std::sync::Arc;

use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use zeroize::Zeroizing;

use kms_crypto::{
    CryptoError, CryptoProvider, KeyHandle, KeyPairMaterial, KeySpec, SignInput, SigningAlgorithm,
    Software,
};

use crate::gcm::{self, GcmError};
use crate::token::Token;

/// Starts a stored reference to a token object, naming its format.
pub const REFERENCE_MAGIC: &[u8; 8] = b"KP11REF1";
const ID_LEN: usize = 16;

/// Keys in one PKCS#11 token.
pub struct HsmProvider {
    token: Arc<Token>,
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
}

/// The stored reference of the object with `id`.
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

impl CryptoProvider for HsmProvider {
    fn generate(&self, spec: KeySpec) -> Result<KeyPairMaterial, CryptoError> {
        if spec != KeySpec::Aes256 {
            return Err(CryptoError::Unsupported {
                spec,
                operation: "be generated in an HSM",
            });
        }
        let mut id = [0u8; ID_LEN];
        getrandom::fill(&mut id).map_err(|_| CryptoError::Backend("random source".into()))?;
        self.token
            .generate_aes256(&label(&id), &id)
            .map_err(|e| self.backend("generating an AES key", &e))?;
        Ok(KeyPairMaterial {
            private: reference(&id),
            public: None,
        })
    }

    fn import(&self, spec: KeySpec, _material: &[u8]) -> Result<KeyPairMaterial, CryptoError> {
        Err(CryptoError::Unsupported {
            spec,
            operation: "be imported into an HSM",
        })
    }

    fn load(&self, spec: KeySpec, private: &[u8]) -> Result<Arc<dyn KeyHandle>, CryptoError> {
        if spec != KeySpec::Aes256 {
            return Err(CryptoError::Unsupported {
                spec,
                operation: "be used in an HSM",
            });
        }
        let id = parse_reference(private)?;
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Id(id.to_vec()),
        ];
        let found = self
            .token
            .with_session(|session| session.find_objects(&template))
            .map_err(|e| self.backend("looking for a key", &e))?;
        let [object] = found[..] else {
            return Err(CryptoError::Backend(format!(
                "PKCS#11 token {:?} holds {} keys with the stored ID",
                self.token.label(),
                found.len()
            )));
        };
        Ok(Arc::new(HsmAesKey {
            token: self.token.clone(),
            object,
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
