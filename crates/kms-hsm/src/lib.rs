//! PKCS#11 hardware security modules. [`Pkcs11Root`] is the PKCS#11 seal's root of trust: an
//! AES key that an operator made inside a token wraps the root keyring with AES-GCM, so the
//! keyring's plaintext exists only in this process's memory and the key never leaves the HSM.

mod gcm;
pub mod provider;
mod token;

use std::path::PathBuf;

use cryptoki::object::KeyType;
use zeroize::Zeroizing;

use kms_core::SealError;
use kms_seal::RootOfTrust;

use gcm::GcmError;
pub use token::{Token, TokenError, TokenObject, RECONNECT_INTERVAL};

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
    /// The token refused the PIN (incorrect or locked): not tried again without an operator.
    #[error("cannot log in to the PKCS#11 token {label:?}: {reason}")]
    PinRefused { label: String, reason: String },
    #[error("no AES key is labelled {key:?} in the PKCS#11 token {token:?}; the seal's key must exist there")]
    NoKey { key: String, token: String },
}

/// Starts a wrapped keyring, naming its format (AES-GCM in a PKCS#11 token, 12-byte IV).
const FORMAT: &[u8; 4] = b"KP11";

/// The PKCS#11 seal's root of trust: the token's AES key wraps the keyring with CKM_AES_GCM
/// under a fresh random IV, kept in front of the ciphertext:
/// `FORMAT || IV || ciphertext || tag`.
pub struct Pkcs11Root {
    token: Token,
    key: TokenObject,
}

impl Pkcs11Root {
    /// Logs in to the token and finds the key, so an unreachable HSM, a wrong PIN or a missing
    /// key is refused here, at start, rather than at first use.
    pub fn connect(settings: &Pkcs11Settings) -> Result<Self, HsmError> {
        let token = Token::open(&settings.module, &settings.token_label, &settings.pin)?;
        let key = token.find_secret_key(&settings.key_label, KeyType::AES)?;
        Ok(Self { token, key })
    }

    fn failure(&self, operation: &str, error: GcmError) -> SealError {
        match error {
            GcmError::Authentication => SealError::Authentication,
            GcmError::Random => SealError::Backend("the OS random source failed".into()),
            GcmError::Token(e @ TokenError::Unreachable(_)) => {
                SealError::Unreachable(self.token.failure(operation, &e))
            }
            GcmError::Token(e) => SealError::Backend(self.token.failure(operation, &e)),
        }
    }
}

impl RootOfTrust for Pkcs11Root {
    fn wrap(&self, keyring: &[u8]) -> Result<Vec<u8>, SealError> {
        let sealed = gcm::seal(&self.token, &self.key, kms_seal::KEYRING_AAD, keyring)
            .map_err(|e| self.failure("wrapping the root keyring", e))?;
        let mut out = Vec::with_capacity(FORMAT.len() + sealed.len());
        out.extend_from_slice(FORMAT);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let sealed = wrapped
            .strip_prefix(FORMAT.as_slice())
            .ok_or(SealError::Authentication)?;
        gcm::open(&self.token, &self.key, kms_seal::KEYRING_AAD, sealed)
            .map_err(|e| self.failure("unwrapping the root keyring", e))
    }
}
