//! The engine's one error type. Each dialect maps it to its vendor's codes in one function.

use crate::model::{KeySpec, KeyState, KeyUsage};

/// The operation that a key's state refused, so a dialect can pick the vendor's precise code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Encrypt,
    Decrypt,
    GenerateDataKey,
    Enable,
    Disable,
    ScheduleDeletion,
    CancelDeletion,
    Archive,
    CancelArchive,
    UpdateAlias,
    UpdateDescription,
    EnableRotation,
    DisableRotation,
    Rotate,
    GetImportParameters,
    ImportMaterial,
    DeleteMaterial,
    /// Reading a hosted data key's ciphertext blob.
    GetCiphertext,
    GetPublicKey,
    Sign,
    Verify,
    AsymmetricDecrypt,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
    BindCloudResource,
    CreateGrant,
}

/// A client-chosen quantity the engine bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounded {
    /// Days between automatic rotations.
    RotationPeriod,
    /// Days between scheduling a deletion and the purge.
    PendingWindow,
    /// Bytes of a generated or imported data key.
    DataKeyLength,
    /// Bytes of GenerateRandom.
    RandomLength,
    /// Bytes of plaintext to encrypt.
    PlaintextLength,
    /// Ids in one batch.
    IdCount,
    /// Tags on one resource.
    TagCount,
    /// Bytes of an alias or data key name.
    NameLength,
    /// Bytes of a description.
    DescriptionLength,
    /// Bytes of a message signed or MACed whole.
    MessageLength,
    /// Cloud resources bound to one key.
    BindingCount,
    /// Aliases of one key besides its own.
    AliasCount,
    /// Grants on one key.
    GrantCount,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KmsError {
    #[error("the key id is malformed")]
    InvalidKeyId,
    #[error("the key does not exist")]
    KeyNotFound,
    #[error("the key id does not name the key the ciphertext was made with")]
    KeyIdMismatch,
    #[error("the key is {state:?}, which does not allow {op:?}")]
    InvalidKeyState { state: KeyState, op: Operation },
    #[error("the alias is already in use")]
    AliasExists,
    #[error("no key has this alias")]
    AliasNotFound,
    #[error("invalid {field}: {reason}")]
    InvalidParameter { field: &'static str, reason: String },
    #[error("the ciphertext is malformed, was not made for this key and context, or was altered")]
    InvalidCiphertext,
    #[error("the account has reached its key limit")]
    KeyLimitExceeded,
    #[error("a key id is listed twice")]
    DuplicatedKeyId,
    #[error("a tag key is listed twice")]
    DuplicatedTagKey,
    #[error("the key has no tag with this tag key")]
    TagNotFound,
    #[error("keys with imported material cannot rotate")]
    ExternalKeyCannotRotate,
    #[error("only keys created for imported material (EXTERNAL) allow this")]
    NotExternalKey,
    #[error("the import token is not one issued for this key")]
    InvalidImportToken,
    #[error("the import token has expired; get new import parameters")]
    ImportTokenExpired,
    #[error("the encrypted key material could not be decrypted with the import parameters")]
    MaterialUnwrapFailed,
    #[error("the key material must be {expected} bytes")]
    InvalidMaterialLength { expected: usize },
    #[error("the key material differs from the material first imported into this key")]
    MaterialMismatch,
    #[error("the data key id is malformed")]
    InvalidDataKeyId,
    #[error("the data key does not exist")]
    DataKeyNotFound,
    #[error("the data key is {state:?}, which does not allow {op:?}")]
    InvalidDataKeyState {
        state: crate::model::DataKeyState,
        op: Operation,
    },
    #[error("the data key name is already in use")]
    DataKeyNameExists,
    #[error("the account has reached its data key limit")]
    DataKeyLimitExceeded,
    #[error("a data key id is listed twice")]
    DuplicatedDataKeyId,
    #[error("{what:?} must be from {min} to {max}")]
    OutOfRange { what: Bounded, min: u64, max: u64 },
    #[error("invalid encryption context: {0}")]
    InvalidEncryptionContext(&'static str),
    #[error("the resource is being changed concurrently; try again")]
    Contended,
    /// The store cannot be reached now (a lost connection, a database failover); nothing was
    /// changed that the caller was told of, and trying again later may succeed.
    #[error("the service is temporarily unavailable; try again")]
    Unavailable,
    #[error("a {spec:?} key cannot have the usage {usage:?}")]
    UsageNotAllowed { usage: KeyUsage, spec: KeySpec },
    #[error("a {spec:?} key for {usage:?} does not allow {op:?}")]
    UnsupportedByKey {
        op: Operation,
        usage: KeyUsage,
        spec: KeySpec,
    },
    #[error("the algorithm {algorithm} does not fit a {spec:?} key")]
    AlgorithmMismatch { algorithm: String, spec: KeySpec },
    #[error("the digest must be {expected} bytes, not {actual}")]
    InvalidDigestLength { expected: usize, actual: usize },
    #[error("the key material is not valid for the key's spec")]
    InvalidKeyMaterial,
    #[error("the public key is malformed or of another algorithm")]
    InvalidPublicKey,
    #[error("invalid input: {0}")]
    InvalidCryptoInput(&'static str),
    #[error("the ciphertext could not be decrypted with this key")]
    AsymmetricDecryptFailed,
    #[error("{0} is not supported")]
    UnsupportedAlgorithm(String),
    #[error("a {spec:?} key cannot rotate")]
    RotationNotSupported { spec: KeySpec },
    #[error("automatic rotation of the key is already enabled")]
    RotationAlreadyEnabled,
    #[error("automatic rotation of the key is not enabled")]
    RotationNotEnabled,
    #[error("the key is bound to a cloud resource")]
    KeyInUse,
    #[error("the key is not bound to that cloud resource")]
    BindingNotFound,
    #[error("the key store does not exist")]
    KeyStoreNotFound,
    #[error("the key store is disabled")]
    KeyStoreDisabled,
    #[error("the key store holds keys")]
    KeyStoreHoldsKeys,
    #[error("the account has reached its key store limit")]
    KeyStoreLimitExceeded,
    /// The CMK a data key action names is not in the HSM cluster the caller said it is in.
    #[error("the key is not in that HSM cluster")]
    HsmClusterMismatch,
    /// The caller's policies do not allow the call on a key it names or resolves to.
    #[error("the caller is not authorized to perform this operation on this key")]
    Unauthorized,
    #[error("internal error: {0}")]
    Internal(String),
}

impl KmsError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        KmsError::InvalidParameter {
            field,
            reason: reason.into(),
        }
    }
}

impl From<crate::store::StoreError> for KmsError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as S;
        match e {
            S::NameTaken => KmsError::AliasExists,
            S::LimitReached => KmsError::KeyLimitExceeded,
            // Writes retry conflicts; one that still escapes is contention, not a fault.
            S::Conflict => KmsError::Contended,
            S::Unavailable(_) => KmsError::Unavailable,
            other => KmsError::Internal(other.to_string()),
        }
    }
}

impl From<crate::seal::SealError> for KmsError {
    fn from(e: crate::seal::SealError) -> Self {
        match e {
            crate::seal::SealError::Sealed | crate::seal::SealError::Unreachable(_) => {
                KmsError::Unavailable
            }
            other => KmsError::Internal(format!("seal: {other}")),
        }
    }
}

impl From<kms_crypto::provider::CryptoError> for KmsError {
    fn from(e: kms_crypto::provider::CryptoError) -> Self {
        use kms_crypto::provider::CryptoError as C;
        match e {
            C::Unsupported { spec, operation } => {
                KmsError::UnsupportedAlgorithm(format!("{operation} with a {spec:?} key"))
            }
            C::AlgorithmMismatch { spec, algorithm } => {
                KmsError::AlgorithmMismatch { algorithm, spec }
            }
            C::InvalidDigestLength { expected, actual } => {
                KmsError::InvalidDigestLength { expected, actual }
            }
            C::InvalidKeyMaterial(_) => KmsError::InvalidKeyMaterial,
            C::InvalidInput(why) => KmsError::InvalidCryptoInput(why),
            C::DecryptFailed => KmsError::AsymmetricDecryptFailed,
            C::Backend(why) => KmsError::Internal(format!("crypto: {why}")),
            // The provider logs the outage as it begins, not once per refused call.
            C::Unavailable(_) => KmsError::Unavailable,
        }
    }
}
