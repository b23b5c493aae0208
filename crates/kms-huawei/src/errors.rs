//! The vendor's error codes and the one mapping from [`KmsError`] to (HTTP status, code).
//!
//! Codes are those of Huawei Cloud KMS's error-code appendix (API reference, "Error Code",
//! kms_02_0302); the API gateway's `APIG.0301` (401) answers a signature, date, token or
//! credential it refuses, with the gateway's messages.
//! The appendix gives no per-code status: client errors answer 400 (the status the vendor's
//! service answers `KMS.0205` with, as openstacksdk's Huawei resource code expects), service
//! faults 500.

use kms_core::{Bounded, KeySpec, KeyState, KmsError, Operation};

pub const SIGNATURE_FAILED: &str = "APIG.0301";
/// The gateway's throttling (429).
pub const THROTTLED: &str = "APIG.0308";
pub const KMS_ERROR: &str = "KMS.0101";
pub const INVALID_URL: &str = "KMS.0201";
pub const INVALID_JSON: &str = "KMS.0202";
pub const TOO_LONG: &str = "KMS.0203";
pub const MISSING_PARAMETER: &str = "KMS.0204";
pub const INVALID_KEY_ID: &str = "KMS.0205";
pub const INVALID_SEQUENCE: &str = "KMS.0206";
pub const KEY_NOT_FOUND: &str = "KMS.0207";
pub const INVALID_CONTEXT: &str = "KMS.0208";
pub const KEY_DISABLED: &str = "KMS.0209";
pub const KEY_PENDING_DELETION: &str = "KMS.0210";
pub const NO_PERMISSION: &str = "KMS.0306";
pub const INVALID_PARAMETER: &str = "KMS.0308";
pub const NOT_EXTERNAL: &str = "KMS.0309";
pub const NOT_PENDING_IMPORT: &str = "KMS.0310";
pub const DECRYPTION_FAILED: &str = "KMS.0311";
pub const TAG_LIST_EMPTY: &str = "KMS.0401";
pub const INVALID_MATCH_VALUE: &str = "KMS.0402";
pub const INVALID_MATCH_KEY: &str = "KMS.0403";
pub const INVALID_ACTION: &str = "KMS.0404";
pub const INVALID_TAG_VALUE: &str = "KMS.0405";
pub const INVALID_TAG_KEY: &str = "KMS.0406";
pub const INVALID_TAG_LIST_SIZE: &str = "KMS.0407";
pub const TOO_MANY_TAGS: &str = "KMS.0409";
pub const INVALID_TAG_VALUE_LENGTH: &str = "KMS.0410";
pub const INVALID_TAG_KEY_LENGTH: &str = "KMS.0411";
pub const INVALID_TAG_LIST: &str = "KMS.0412";
pub const TOO_MANY_TAG_VALUES: &str = "KMS.0413";
pub const INVALID_MATCHES: &str = "KMS.0415";
/// Answered with 404 (the appendix's status): the key carries no tag with the key named.
pub const TAG_NOT_FOUND: &str = "KMS.0416";
pub const INVALID_OFFSET: &str = "KMS.0417";
pub const OFFSET_NOT_REQUIRED: &str = "KMS.0418";
pub const EXTERNAL_CANNOT_ROTATE: &str = "KMS.0312";
pub const ROTATION_NOT_ENABLED: &str = "KMS.0313";
pub const RSA_CANNOT_ROTATE: &str = "KMS.0324";
pub const INVALID_ALIAS: &str = "KMS.1101";
pub const INVALID_DESCRIPTION: &str = "KMS.1103";
pub const ALIAS_EXISTS: &str = "KMS.1104";
pub const KEY_LIMIT: &str = "KMS.1105";
pub const NOT_DISABLED: &str = "KMS.1201";
pub const NOT_ENABLED: &str = "KMS.1301";
pub const PENDING_DAYS: &str = "KMS.1401";
pub const ALREADY_PENDING_DELETION: &str = "KMS.1402";
pub const NOT_PENDING_DELETION: &str = "KMS.1501";
pub const INVALID_LIMIT: &str = "KMS.1601";
pub const INVALID_MARKER: &str = "KMS.1602";
pub const RANDOM_LENGTH: &str = "KMS.1801";
pub const DATAKEY_LENGTH: &str = "KMS.1901";
pub const INVALID_CIPHER_TEXT: &str = "KMS.2201";
// Key import (the appendix's KMS.26xx rows, in its order).
pub const TOKEN_EXPIRED: &str = "KMS.2601";
pub const MATERIAL_EXPIRY_PAST: &str = "KMS.2602";
pub const MATERIAL_LENGTH: &str = "KMS.2604";
pub const TOKEN_INVALID: &str = "KMS.2605";
pub const MATERIAL_MISMATCH: &str = "KMS.2606";
pub const DELETE_MATERIAL_STATE: &str = "KMS.2607";
pub const TEMPORARY_KEY_LENGTH: &str = "KMS.2610";
// Crypto and data keys.
pub const ASYMMETRIC_UNSUPPORTED: &str = "KMS.0325";
pub const SIGN_VERIFY_KEY: &str = "KMS.0335";
pub const HMAC_KEY_UNSUPPORTED: &str = "KMS.0341";
pub const EC_NO_ENCRYPTION: &str = "KMS.1114";
pub const INVALID_PLAIN_TEXT: &str = "KMS.2101";
pub const DATAKEY_PLAIN_LENGTH: &str = "KMS.2102";
pub const DEK_HASH_MISMATCH: &str = "KMS.2103";
pub const PLAIN_TEXT_LENGTH_MISMATCH: &str = "KMS.2104";
pub const SYMMETRIC_ALGORITHM: &str = "KMS.2105";
pub const RSA_ALGORITHM: &str = "KMS.2106";
pub const RSA_PLAIN_TEXT_TOO_LONG: &str = "KMS.2108";
pub const DATAKEY_CIPHER_LENGTH: &str = "KMS.2202";
pub const CIPHER_TEXT_LENGTH_MISMATCH: &str = "KMS.2204";
pub const ROTATION_NOT_DISABLED: &str = "KMS.2901";
pub const INVALID_ROTATION_INTERVAL: &str = "KMS.3001";

/// A refusal in the vendor's terms. The message never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl HwError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// The gateway's answer to a signature, date or credential it does not accept.
    pub fn signature() -> Self {
        Self::new(
            401,
            SIGNATURE_FAILED,
            "Incorrect IAM authentication information: verify aksk signature fail",
        )
    }

    /// The gateway's answer to a signature it verified but has seen before (with the replay
    /// memory on).
    pub fn replayed() -> Self {
        Self::new(
            401,
            SIGNATURE_FAILED,
            "Incorrect IAM authentication information: the aksk signature was already used; \
             sign every request anew",
        )
    }

    /// The gateway's answer to a credential that signed more requests within the signature
    /// window than its replay memory has room for.
    pub fn replay_memory_full() -> Self {
        Self::new(
            429,
            THROTTLED,
            "The throttling threshold has been reached: too many signed requests of this \
             credential within the signature window",
        )
    }

    /// The gateway's answer to an `X-Auth-Token` it cannot accept.
    pub fn token() -> Self {
        Self::new(
            401,
            SIGNATURE_FAILED,
            "Incorrect IAM authentication information: decrypt token fail",
        )
    }

    /// The gateway's answer to a request with neither a signature nor a token.
    pub fn no_credentials() -> Self {
        Self::new(
            401,
            SIGNATURE_FAILED,
            "Incorrect IAM authentication information: x-auth-token not found",
        )
    }

    pub fn missing(field: &str) -> Self {
        Self::bad(
            MISSING_PARAMETER,
            format!("The request lacks the required parameter {field}."),
        )
    }

    pub fn invalid(field: &str) -> Self {
        Self::bad(INVALID_PARAMETER, format!("Invalid {field}."))
    }
}

/// The one mapping from the engine's errors to the vendor's.
pub fn map_error(e: &KmsError) -> HwError {
    let message = e.to_string();
    let code = match e {
        KmsError::InvalidKeyId => INVALID_KEY_ID,
        KmsError::KeyNotFound => return HwError::new(404, KEY_NOT_FOUND, message),
        // The dialect names the refused action in the message (see `permissions::refusal`).
        KmsError::Unauthorized => return HwError::new(403, NO_PERMISSION, message),
        KmsError::KeyIdMismatch | KmsError::InvalidCiphertext => INVALID_CIPHER_TEXT,
        KmsError::InvalidKeyState { state, op } => state_code(*state, *op),
        KmsError::AliasExists => ALIAS_EXISTS,
        // The vendor has no code for an alias that names nothing: the alias is the invalid part.
        KmsError::AliasNotFound => INVALID_ALIAS,
        KmsError::ExternalKeyCannotRotate => EXTERNAL_CANNOT_ROTATE,
        KmsError::RotationNotSupported { spec } => rotation_refusal(*spec),
        KmsError::RotationAlreadyEnabled => ROTATION_NOT_DISABLED,
        KmsError::RotationNotEnabled => ROTATION_NOT_ENABLED,
        KmsError::InvalidParameter { field, .. } if field.contains("alias") => INVALID_ALIAS,
        KmsError::InvalidParameter { field, .. } if field.contains("description") => {
            INVALID_DESCRIPTION
        }
        KmsError::KeyLimitExceeded => KEY_LIMIT,
        // Tencent's HsmClusterId on data key actions; no Huawei operation names a cluster so.
        KmsError::HsmClusterMismatch => INVALID_PARAMETER,
        // The vendor documents no key store codes but 404 for a key store that does not exist;
        // the rest are refusals of a parameter (the store named, its cluster, its alias).
        KmsError::KeyStoreNotFound => return HwError::new(404, INVALID_PARAMETER, message),
        KmsError::KeyStoreDisabled
        | KmsError::KeyStoreHoldsKeys
        | KmsError::KeyStoreLimitExceeded => INVALID_PARAMETER,
        KmsError::DuplicatedTagKey => INVALID_TAG_LIST,
        KmsError::TagNotFound => return HwError::new(404, TAG_NOT_FOUND, message),
        KmsError::OutOfRange { what, .. } => match what {
            Bounded::PendingWindow => PENDING_DAYS,
            Bounded::RotationPeriod => INVALID_ROTATION_INTERVAL,
            Bounded::RandomLength => RANDOM_LENGTH,
            Bounded::DataKeyLength => DATAKEY_LENGTH,
            Bounded::NameLength => INVALID_ALIAS,
            Bounded::DescriptionLength => INVALID_DESCRIPTION,
            Bounded::TagCount => TOO_MANY_TAGS,
            _ => INVALID_PARAMETER,
        },
        KmsError::InvalidEncryptionContext(_) => INVALID_CONTEXT,
        KmsError::NotExternalKey => NOT_EXTERNAL,
        KmsError::InvalidImportToken => TOKEN_INVALID,
        KmsError::ImportTokenExpired => TOKEN_EXPIRED,
        KmsError::MaterialUnwrapFailed => DECRYPTION_FAILED,
        KmsError::InvalidMaterialLength { .. } => MATERIAL_LENGTH,
        KmsError::MaterialMismatch => MATERIAL_MISMATCH,
        KmsError::Contended | KmsError::Internal(_) => {
            return HwError::new(500, KMS_ERROR, "KMS error.");
        }
        // The store cannot be reached now: a 503, which tells clients to try again.
        KmsError::Unavailable => {
            return HwError::new(503, KMS_ERROR, "The service is temporarily unavailable.");
        }
        _ => INVALID_PARAMETER,
    };
    HwError::bad(code, message)
}

/// The vendor's code for a key whose spec does not rotate.
fn rotation_refusal(spec: KeySpec) -> &'static str {
    match spec {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => RSA_CANNOT_ROTATE,
        KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 | KeySpec::HmacSm3 => {
            HMAC_KEY_UNSUPPORTED
        }
        _ => ASYMMETRIC_UNSUPPORTED,
    }
}

fn state_code(state: KeyState, op: Operation) -> &'static str {
    match (op, state) {
        (Operation::Enable, _) => NOT_DISABLED,
        (Operation::Disable, _) => NOT_ENABLED,
        (Operation::CancelDeletion, _) => NOT_PENDING_DELETION,
        (Operation::ImportMaterial, _) => NOT_PENDING_IMPORT,
        (Operation::DeleteMaterial, _) => DELETE_MATERIAL_STATE,
        (_, KeyState::PendingDelete) if op == Operation::ScheduleDeletion => {
            ALREADY_PENDING_DELETION
        }
        (_, KeyState::PendingDelete) => KEY_PENDING_DELETION,
        (_, KeyState::Disabled) => KEY_DISABLED,
        _ => INVALID_PARAMETER,
    }
}

/// The vendor's error body.
pub fn error_body(e: &HwError) -> Vec<u8> {
    let body = serde_json::json!({ "error": { "error_code": e.code, "error_msg": e.message } });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_vendor_codes() {
        let cases = [
            (KmsError::InvalidKeyId, 400, INVALID_KEY_ID),
            (KmsError::KeyNotFound, 404, KEY_NOT_FOUND),
            (KmsError::InvalidCiphertext, 400, INVALID_CIPHER_TEXT),
            (KmsError::AliasExists, 400, ALIAS_EXISTS),
            (KmsError::KeyLimitExceeded, 400, KEY_LIMIT),
            (KmsError::NotExternalKey, 400, NOT_EXTERNAL),
            (KmsError::InvalidImportToken, 400, TOKEN_INVALID),
            (KmsError::ImportTokenExpired, 400, TOKEN_EXPIRED),
            (KmsError::MaterialUnwrapFailed, 400, DECRYPTION_FAILED),
            (KmsError::MaterialMismatch, 400, MATERIAL_MISMATCH),
            (
                KmsError::InvalidKeyState {
                    state: KeyState::Enabled,
                    op: Operation::ImportMaterial,
                },
                400,
                NOT_PENDING_IMPORT,
            ),
            (
                KmsError::InvalidKeyState {
                    state: KeyState::PendingDelete,
                    op: Operation::DeleteMaterial,
                },
                400,
                DELETE_MATERIAL_STATE,
            ),
            (KmsError::DuplicatedTagKey, 400, INVALID_TAG_LIST),
            (KmsError::TagNotFound, 404, TAG_NOT_FOUND),
            (KmsError::KeyStoreNotFound, 404, INVALID_PARAMETER),
            (KmsError::KeyStoreDisabled, 400, INVALID_PARAMETER),
            (KmsError::KeyStoreHoldsKeys, 400, INVALID_PARAMETER),
            (KmsError::KeyStoreLimitExceeded, 400, INVALID_PARAMETER),
            (
                KmsError::OutOfRange {
                    what: Bounded::TagCount,
                    min: 0,
                    max: 10,
                },
                400,
                TOO_MANY_TAGS,
            ),
            (KmsError::AliasNotFound, 400, INVALID_ALIAS),
            (
                KmsError::ExternalKeyCannotRotate,
                400,
                EXTERNAL_CANNOT_ROTATE,
            ),
            (
                KmsError::RotationNotSupported {
                    spec: KeySpec::Rsa3072,
                },
                400,
                RSA_CANNOT_ROTATE,
            ),
            (
                KmsError::RotationNotSupported {
                    spec: KeySpec::HmacSm3,
                },
                400,
                HMAC_KEY_UNSUPPORTED,
            ),
            (
                KmsError::RotationNotSupported { spec: KeySpec::Sm2 },
                400,
                ASYMMETRIC_UNSUPPORTED,
            ),
            (KmsError::RotationAlreadyEnabled, 400, ROTATION_NOT_DISABLED),
            (KmsError::RotationNotEnabled, 400, ROTATION_NOT_ENABLED),
            (
                KmsError::OutOfRange {
                    what: Bounded::RotationPeriod,
                    min: 30,
                    max: 365,
                },
                400,
                INVALID_ROTATION_INTERVAL,
            ),
            (KmsError::Internal("disk".into()), 500, KMS_ERROR),
            (KmsError::Contended, 500, KMS_ERROR),
            (KmsError::Unavailable, 503, KMS_ERROR),
            (
                KmsError::OutOfRange {
                    what: Bounded::PendingWindow,
                    min: 7,
                    max: 30,
                },
                400,
                PENDING_DAYS,
            ),
            (
                KmsError::InvalidKeyState {
                    state: KeyState::Enabled,
                    op: Operation::Enable,
                },
                400,
                NOT_DISABLED,
            ),
            (
                KmsError::InvalidKeyState {
                    state: KeyState::Disabled,
                    op: Operation::Disable,
                },
                400,
                NOT_ENABLED,
            ),
            (
                KmsError::InvalidKeyState {
                    state: KeyState::Disabled,
                    op: Operation::Encrypt,
                },
                400,
                KEY_DISABLED,
            ),
            (
                KmsError::InvalidKeyState {
                    state: KeyState::PendingDelete,
                    op: Operation::Encrypt,
                },
                400,
                KEY_PENDING_DELETION,
            ),
            (
                KmsError::InvalidKeyState {
                    state: KeyState::PendingDelete,
                    op: Operation::ScheduleDeletion,
                },
                400,
                ALREADY_PENDING_DELETION,
            ),
            (
                KmsError::InvalidKeyState {
                    state: KeyState::Enabled,
                    op: Operation::CancelDeletion,
                },
                400,
                NOT_PENDING_DELETION,
            ),
        ];
        for (e, status, code) in cases {
            let mapped = map_error(&e);
            assert_eq!((mapped.status, mapped.code), (status, code), "{e:?}");
        }
        assert!(
            !map_error(&KmsError::Internal("secret path".into()))
                .message
                .contains("secret")
        );
    }

    #[test]
    fn body_is_the_vendors_envelope() {
        let body: serde_json::Value =
            serde_json::from_slice(&error_body(&HwError::signature())).unwrap();
        assert_eq!(body["error"]["error_code"], SIGNATURE_FAILED);
        assert!(body["error"]["error_msg"].is_string());
    }
}
