//! PKCS#11 hardware security modules. [`Pkcs11Root`] is the PKCS#11 seal's root of trust: an
//! AES key that an operator made inside a token wraps the root keyring with AES-GCM, so the
//! keyring's plaintext exists only in this process's memory and the key never leaves the HSM.

mod token;

use std::path::PathBuf;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{KeyType, ObjectHandle};
use zeroize::Zeroizing;

use kms_core::SealError;
use kms_seal::RootOfTrust;

pub use token::Token;

/// A token's user PIN; zeroized on drop and never shown.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    pub fn new(pin: Zeroizing<String>) -> Self {
        Self(pin)
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// Where the PKCS#11 seal's key is: the module, the token's label and the key's label, with the
/// PIN that logs in.
#[derive(Debug, Clone)]
pub struct Pkcs11Settings {
    pub module: PathBuf,
    pub token_label: String,
    pub key_label: String,
    pub pin: Pin,
}

/// Why a token or its key could not be used. Each says what is wrong in one line; none carries
/// the PIN.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    #[error("cannot load the PKCS#11 module {path}: {reason}")]
    Module { path: String, reason: String },
    #[error("no PKCS#11 token is labelled {label:?} in the module {module} ({others})")]
    NoToken {
        label: String,
        module: String,
        others: String,
    },
    #[error("PKCS#11 token {label:?}: {reason}")]
    Token { label: String, reason: String },
    #[error("cannot log in to the PKCS#11 token {label:?}: {reason}")]
    Login { label: String, reason: String },
    #[error("no AES key is labelled {key:?} in the PKCS#11 token {token:?}; the seal's key must exist there")]
    NoKey { key: String, token: String },
}

/// Starts a wrapped keyring, naming its format (AES-GCM in a PKCS#11 token, 12-byte IV).
const FORMAT: &[u8; 4] = b"KP11";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The PKCS#11 seal's root of trust: the token's AES key wraps the keyring with CKM_AES_GCM
/// under a fresh random IV, kept in front of the ciphertext:
/// `FORMAT || IV || ciphertext || tag`.
pub struct Pkcs11Root {
    token: Token,
    key: ObjectHandle,
}

impl Pkcs11Root {
    /// Logs in to the token and finds the key, so an unreachable HSM, a wrong PIN or a missing
    /// key is refused here, at start, rather than at first use.
    pub fn connect(settings: &Pkcs11Settings) -> Result<Self, HsmError> {
        let token = Token::open(&settings.module, &settings.token_label, &settings.pin)?;
        let key = token.find_secret_key(&settings.key_label, KeyType::AES)?;
        Ok(Self { token, key })
    }

    fn gcm(
        &self,
        iv: &[u8; IV_LEN],
        input: &[u8],
        encrypt: bool,
    ) -> cryptoki::error::Result<Vec<u8>> {
        self.token.with_session(|session| {
            let mut iv = *iv;
            let params =
                GcmParams::new(&mut iv, kms_seal::KEYRING_AAD, (TAG_LEN as u64 * 8).into())?;
            let mechanism = Mechanism::AesGcm(params);
            if encrypt {
                session.encrypt(&mechanism, self.key, input)
            } else {
                session.decrypt(&mechanism, self.key, input)
            }
        })
    }

    fn failure(&self, operation: &str, error: &CkError) -> SealError {
        SealError::Backend(format!(
            "PKCS#11 token {:?}, {operation}: {}",
            self.token.label(),
            token::describe(error)
        ))
    }
}

impl RootOfTrust for Pkcs11Root {
    fn wrap(&self, keyring: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv)
            .map_err(|e| SealError::Backend(format!("OS random source: {e}")))?;
        let sealed = self
            .gcm(&iv, keyring, true)
            .map_err(|e| self.failure("wrapping the root keyring", &e))?;
        let mut out = Vec::with_capacity(FORMAT.len() + IV_LEN + sealed.len());
        out.extend_from_slice(FORMAT);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (iv, sealed) = wrapped
            .strip_prefix(FORMAT.as_slice())
            .and_then(|rest| rest.split_first_chunk::<IV_LEN>())
            .filter(|(_, sealed)| sealed.len() >= TAG_LEN)
            .ok_or(SealError::Authentication)?;
        match self.gcm(iv, sealed, false) {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            // A tag that does not verify: another key, or changed bytes. SoftHSM2 answers it
            // with CKR_GENERAL_ERROR where the standard names CKR_ENCRYPTED_DATA_INVALID.
            Err(CkError::Pkcs11(
                RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::GeneralError,
                _,
            )) => Err(SealError::Authentication),
            Err(e) => Err(self.failure("unwrapping the root keyring", &e)),
        }
    }
}
