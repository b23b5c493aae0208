//! Tencent error codes, and the one mapping from engine errors to them.

use kms_core::{Bounded, DataKeyState, KeyState, KmsError, Operation};

/// An error answered in Tencent's envelope: `Response.Error.{Code, Message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcError {
    pub code: &'static str,
    pub message: String,
}

impl TcError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

pub const AUTH_SIGNATURE_FAILURE: &str = "AuthFailure.SignatureFailure";
pub const AUTH_SECRET_ID_NOT_FOUND: &str = "AuthFailure.SecretIdNotFound";
pub const AUTH_SIGNATURE_EXPIRE: &str = "AuthFailure.SignatureExpire";
pub const AUTH_INVALID_AUTHORIZATION: &str = "AuthFailure.InvalidAuthorization";
pub const AUTH_INVALID_SECRET_ID: &str = "AuthFailure.InvalidSecretId";
pub const AUTH_TOKEN_FAILURE: &str = "AuthFailure.TokenFailure";
pub const INTERNAL_ERROR: &str = "InternalError";
pub const INVALID_ACTION: &str = "InvalidAction";
pub const INVALID_PARAMETER: &str = "InvalidParameter";
pub const INVALID_PARAMETER_VALUE: &str = "InvalidParameterValue";
pub const MISSING_PARAMETER: &str = "MissingParameter";
pub const NO_SUCH_VERSION: &str = "NoSuchVersion";
pub const REQUEST_LIMIT_EXCEEDED: &str = "RequestLimitExceeded";
pub const REQUEST_SIZE_LIMIT_EXCEEDED: &str = "RequestSizeLimitExceeded";
pub const UNAUTHORIZED_OPERATION: &str = "UnauthorizedOperation";
pub const UNKNOWN_PARAMETER: &str = "UnknownParameter";
pub const UNSUPPORTED_OPERATION: &str = "UnsupportedOperation";
pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
pub const UNSUPPORTED_REGION: &str = "UnsupportedRegion";
pub const UNSUPPORTED_KEY_USAGE_IN_REGION: &str =
    "UnsupportedOperation.UnsupportedKeyUsageInCurrentRegion";

/// MissingParameter, in the vendor's words.
pub fn missing(name: &str) -> TcError {
    TcError::new(
        MISSING_PARAMETER,
        format!("The request is missing a required parameter `{name}`."),
    )
}

/// Maps an engine error to the code Tencent answers for it.
pub fn from_kms(e: KmsError, request_id: &str) -> TcError {
    use KmsError as E;
    let code = match &e {
        E::InvalidKeyId => "InvalidParameterValue.InvalidKeyId",
        E::KeyNotFound => "ResourceUnavailable.CmkNotFound",
        E::KeyIdMismatch => "InvalidParameterValue.InvalidKeyId",
        E::InvalidKeyState { state, op } => state_code(*state, *op),
        E::AliasExists => "InvalidParameterValue.AliasAlreadyExists",
        E::AliasNotFound => "ResourceUnavailable.CmkNotFound",
        E::InvalidParameter { .. } => INVALID_PARAMETER_VALUE,
        E::InvalidCiphertext => "InvalidParameterValue.InvalidCiphertext",
        E::KeyLimitExceeded => "LimitExceeded.CmkLimitExceeded",
        E::DuplicatedKeyId => "InvalidParameterValue.DuplicatedKeyId",
        E::DuplicatedTagKey => "InvalidParameterValue.TagKeysDuplicated",
        // No Tencent action removes one tag; should one, the tag key is the refused value.
        E::TagNotFound => INVALID_PARAMETER_VALUE,
        E::ExternalKeyCannotRotate => "UnsupportedOperation.ExternalCmkCanNotRotate",
        E::NotExternalKey => "UnsupportedOperation.NotExternalCmk",
        E::InvalidImportToken => INVALID_PARAMETER,
        E::ImportTokenExpired => "ResourceUnavailable.TokenExpired",
        E::MaterialUnwrapFailed => "InvalidParameter.DecryptMaterialError",
        E::InvalidMaterialLength { .. } => "InvalidParameter.DecryptMaterialError",
        E::MaterialMismatch => "InvalidParameterValue.MaterialNotMatch",
        E::InvalidDataKeyId => "InvalidParameterValue.InvalidDataKeyId",
        E::DataKeyNotFound => "ResourceUnavailable.DataKeyNotFound",
        E::InvalidDataKeyState { state, op } => data_key_state_code(*state, *op),
        E::DataKeyNameExists => "InvalidParameterValue.DataKeyNameAlreadyExists",
        E::DataKeyLimitExceeded => "LimitExceeded.DataKeyLimitExceeded",
        E::DuplicatedDataKeyId => "InvalidParameterValue.DuplicatedDataKeyId",
        E::OutOfRange { what, .. } => match what {
            Bounded::PendingWindow => "InvalidParameter.InvalidPendingWindowInDays",
            Bounded::PlaintextLength => "InvalidParameterValue.InvalidPlaintext",
            Bounded::RotationPeriod
            | Bounded::DataKeyLength
            | Bounded::RandomLength
            | Bounded::IdCount
            | Bounded::TagCount
            | Bounded::NameLength
            | Bounded::DescriptionLength
            | Bounded::MessageLength
            | Bounded::BindingCount
            | Bounded::AliasCount
            | Bounded::GrantCount => INVALID_PARAMETER_VALUE,
        },
        E::UsageNotAllowed { .. } => "InvalidParameterValue.InvalidKeyUsage",
        // The vendor's per-action lists: only the asymmetric decryptions name InvalidKeyUsage;
        // the other actions answer a key of the wrong kind with InvalidParameter.
        E::UnsupportedByKey {
            op: Operation::AsymmetricDecrypt,
            ..
        } => "InvalidParameterValue.InvalidKeyUsage",
        E::UnsupportedByKey { .. } => INVALID_PARAMETER,
        E::AlgorithmMismatch { .. }
        | E::InvalidDigestLength { .. }
        | E::InvalidPublicKey
        | E::InvalidCryptoInput(_) => INVALID_PARAMETER_VALUE,
        E::InvalidKeyMaterial => "InvalidParameterValue.InvalidImportKeyMaterial",
        E::AsymmetricDecryptFailed => "FailedOperation.DecryptError",
        E::UnsupportedAlgorithm(_) => UNSUPPORTED_OPERATION,
        // EnableKeyRotation's list has no code for a key that cannot rotate; the key id is the
        // parameter whose value is refused.
        E::RotationNotSupported { .. } => INVALID_PARAMETER_VALUE,
        // Only the Huawei dialect asks for these preconditions; Tencent's rotation actions are
        // idempotent and never meet them.
        E::RotationAlreadyEnabled | E::RotationNotEnabled => UNSUPPORTED_OPERATION,
        E::KeyInUse => "FailedOperation.CmkUsedByCloudProduct",
        E::BindingNotFound => "ResourceUnavailable.CloudResourceBindingNotFound",
        E::InvalidEncryptionContext(_) => INVALID_PARAMETER_VALUE,
        E::HsmClusterMismatch => "InvalidParameterValue.InvalidHsmClusterId",
        // Key stores are Huawei's: no Tencent action reaches them.
        E::KeyStoreNotFound
        | E::KeyStoreDisabled
        | E::KeyStoreHoldsKeys
        | E::KeyStoreLimitExceeded => INVALID_PARAMETER_VALUE,
        // The vendor's "service temporarily unavailable": the caller may retry.
        E::Contended | E::Unavailable => "UnsupportedOperation.ServiceTemporaryUnavailable",
        // The dialect names the refused action in the message (see `permissions::refusal`).
        E::Unauthorized => UNAUTHORIZED_OPERATION,
        E::Internal(detail) => {
            tracing::error!(request_id, error = %detail, "internal error");
            return TcError::new(
                INTERNAL_ERROR,
                format!("An internal error occurred; quote request id {request_id}."),
            );
        }
    };
    TcError::new(code, e.to_string())
}

fn state_code(state: KeyState, op: Operation) -> &'static str {
    use KeyState as S;
    use Operation as O;
    match (op, state) {
        (O::CancelDeletion, _) => "ResourceUnavailable.CmkNotPendingDelete",
        (O::ScheduleDeletion, S::Enabled | S::Archived) => {
            "ResourceUnavailable.CmkShouldBeDisabled"
        }
        // The asymmetric actions' lists name CmkStateNotSupport, not CmkDisabled.
        (O::Encrypt | O::Decrypt | O::GenerateDataKey, S::Disabled) => {
            "ResourceUnavailable.CmkDisabled"
        }
        (O::Encrypt | O::GenerateDataKey, S::Archived) => "ResourceUnavailable.CmkArchived",
        (O::GenerateDataKey, S::PendingDelete) => "ResourceUnavailable.KeyPendingDelete",
        _ => "ResourceUnavailable.CmkStateNotSupport",
    }
}

fn data_key_state_code(state: DataKeyState, op: Operation) -> &'static str {
    use DataKeyState as S;
    use Operation as O;
    match (op, state) {
        (O::CancelDeletion, _) => "ResourceUnavailable.DataKeyNotPendingDelete",
        (O::Decrypt, S::Disabled) => "ResourceUnavailable.DataKeyDisabled",
        (O::Decrypt | O::UpdateAlias | O::UpdateDescription, S::PendingDelete) => {
            "ResourceUnavailable.DataKeyPendingDelete"
        }
        _ => "ResourceUnavailable.DataKeyStateNotSupport",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_errors_pick_precise_codes() {
        let code = |state, op| from_kms(KmsError::InvalidKeyState { state, op }, "r").code;
        assert_eq!(
            code(KeyState::Disabled, Operation::Encrypt),
            "ResourceUnavailable.CmkDisabled"
        );
        assert_eq!(
            code(KeyState::Archived, Operation::Encrypt),
            "ResourceUnavailable.CmkArchived"
        );
        assert_eq!(
            code(KeyState::Enabled, Operation::ScheduleDeletion),
            "ResourceUnavailable.CmkShouldBeDisabled"
        );
        assert_eq!(
            code(KeyState::Enabled, Operation::CancelDeletion),
            "ResourceUnavailable.CmkNotPendingDelete"
        );
        assert_eq!(
            code(KeyState::PendingDelete, Operation::Enable),
            "ResourceUnavailable.CmkStateNotSupport"
        );
    }

    #[test]
    fn bounds_contention_and_contexts_have_vendor_codes() {
        let code = |e| from_kms(e, "r").code;
        let out_of_range = |what| KmsError::OutOfRange {
            what,
            min: 1,
            max: 2,
        };
        assert_eq!(
            code(out_of_range(Bounded::PendingWindow)),
            "InvalidParameter.InvalidPendingWindowInDays"
        );
        assert_eq!(
            code(out_of_range(Bounded::PlaintextLength)),
            "InvalidParameterValue.InvalidPlaintext"
        );
        assert_eq!(
            code(out_of_range(Bounded::RotationPeriod)),
            INVALID_PARAMETER_VALUE
        );
        assert_eq!(
            code(KmsError::InvalidEncryptionContext("x")),
            INVALID_PARAMETER_VALUE
        );
        assert_eq!(
            code(KmsError::Contended),
            "UnsupportedOperation.ServiceTemporaryUnavailable"
        );
        assert_eq!(
            code(KmsError::Unavailable),
            "UnsupportedOperation.ServiceTemporaryUnavailable"
        );
    }

    #[test]
    fn internal_errors_hide_details() {
        let e = from_kms(
            KmsError::Internal("disk on fire at /secret/path".into()),
            "req-1",
        );
        assert_eq!(e.code, INTERNAL_ERROR);
        assert!(!e.message.contains("/secret/path"));
        assert!(e.message.contains("req-1"));
    }
}
