//! The request of each Tencent action: a serde struct whose fields are named as the vendor names
//! them (API version 2019-01-18), beside the declaration of those fields.
//!
//! The pattern, for every action:
//! - a struct `<Action>Request` deriving `Deserialize` with `rename_all = "PascalCase"` and
//!   `deny_unknown_fields`; a required parameter is a plain type (`String`, `u64`,
//!   `Vec<String>`), an optional one an `Option` (or a list with `#[serde(default)]`);
//!   actions whose parameters have the same names and rules share one struct under a type alias
//!   per action;
//! - an `impl Request` whose `FIELDS` declare each parameter once: its type, whether it is
//!   required, its limits and the vendor code for a value that breaks them. Parameters the vendor
//!   defines but this server does not act on (`MemberAccount`) are declared too, so requests
//!   carrying them are accepted as the vendor's are.
//!
//! [`Params::validate`](crate::params::Params::validate) checks a request against `FIELDS` (unknown
//! names refused, required ones present, types, limits) and normalizes it, so deserializing the
//! struct afterwards cannot fail: a failure is a bug, which the test over every action guards.

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use zeroize::Zeroizing;

use crate::errors::INVALID_PARAMETER;
use crate::params::{Field, Kind};

/// A request type: what deserializes from the parameters once they pass its `FIELDS`.
pub trait Request: DeserializeOwned + Send + 'static {
    /// Every parameter the vendor defines for the action, with its limits.
    const FIELDS: &'static [Field];
}

/// A structure the vendor defines that this server accepts but does not act on: only whether it
/// was given matters (member accounts are refused when they are).
pub type Unsupported = IgnoredAny;

/// `{TagKey, TagValue}`: a tag to set on a new key or data key.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    pub tag_key: String,
    pub tag_value: String,
}

impl From<&Tag> for kms_core::Tag {
    fn from(t: &Tag) -> Self {
        kms_core::Tag {
            key: t.tag_key.clone(),
            value: t.tag_value.clone(),
        }
    }
}

/// Tags as the engine takes them.
pub fn engine_tags(tags: &[Tag]) -> Vec<kms_core::Tag> {
    tags.iter().map(kms_core::Tag::from).collect()
}

/// `{TagKey, TagValue: [..]}`: a listing filter; no values matches any value of the key.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TagFilter {
    pub tag_key: String,
    pub tag_value: Vec<String>,
}

/// Tag filters as the engine takes them.
pub fn engine_tag_filters(filters: &[TagFilter]) -> Vec<(String, Vec<String>)> {
    filters
        .iter()
        .map(|f| (f.tag_key.clone(), f.tag_value.clone()))
        .collect()
}

/// A secret parameter (plaintext, key material), kept in memory that is wiped when dropped.
fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    String::deserialize(d).map(Zeroizing::new)
}

// ---- declarations shared by several actions ----

const KEY_ID: Field =
    Field::req("KeyId", Kind::Str { min: 1, max: 128 }).code("InvalidParameterValue.InvalidKeyId");
const OPTIONAL_KEY_ID: Field =
    Field::opt("KeyId", Kind::Str { min: 0, max: 128 }).code("InvalidParameterValue.InvalidKeyId");
const KEY_IDS: Field = Field::req("KeyIds", Kind::StrList { min: 1, max: 100 });
const MEMBER: Field = Field::opt("MemberAccount", Kind::Object);
const MEMBERS: Field = Field::opt("MemberAccounts", Kind::ObjectList);
const ALIAS: Field =
    Field::req("Alias", Kind::Str { min: 1, max: 60 }).code("InvalidParameterValue.InvalidAlias");
const HSM: Field = Field::opt("HsmClusterId", Kind::Str { min: 0, max: 128 })
    .code("InvalidParameterValue.InvalidHsmClusterId");
const DATA_KEY_ID: Field = Field::req("DataKeyId", Kind::Str { min: 1, max: 128 })
    .code("InvalidParameterValue.InvalidDataKeyId");
const DATA_KEY_IDS: Field = Field::req("DataKeyIds", Kind::StrList { min: 1, max: 100 });
const DATA_KEY_NAME: Field = Field::req("DataKeyName", Kind::Str { min: 1, max: 60 })
    .code("InvalidParameterValue.InvalidDataKeyName");
const DATA_KEY_DESCRIPTION: Field = Field::opt("Description", Kind::Str { min: 0, max: 100 });
const KEY_DESCRIPTION: Field = Field::opt("Description", Kind::Str { min: 0, max: 1024 });
const KEY_USAGE: Field = Field::opt("KeyUsage", Kind::Str { min: 0, max: 64 })
    .code("InvalidParameterValue.InvalidKeyUsage");
const TAGS: Field = Field::opt("Tags", Kind::Tags { max: 50 });
const TAG_FILTERS: Field = Field::opt("TagFilters", Kind::TagFilters { max: 50 });
/// Contexts are limited to 1024 characters (checked when parsed); the byte bound here only
/// caps the work, at four bytes per character.
const fn context(name: &'static str) -> Field {
    Field::opt(
        name,
        Kind::Str {
            min: 0,
            max: 4 * kms_core::context::MAX_CONTEXT_CHARS,
        },
    )
}
const CIPHERTEXT: Field = Field::req(
    "CiphertextBlob",
    Kind::Str {
        min: 1,
        max: 16_384,
    },
)
.code("InvalidParameterValue.InvalidCiphertext");
const PUBLIC_KEY: Field = Field::opt("EncryptionPublicKey", Kind::Str { min: 0, max: 4096 });
const PUBLIC_KEY_ALG: Field = Field::opt("EncryptionAlgorithm", Kind::Str { min: 0, max: 64 });
const OFFSET: Field = Field::opt(
    "Offset",
    Kind::UInt {
        min: 0,
        max: u32::MAX as u64,
    },
);
const LIMIT: Field = Field::opt("Limit", Kind::UInt { min: 0, max: 200 });
const ROLE: Field = Field::opt("Role", Kind::UInt { min: 0, max: 1 });
const ORDER_TYPE: Field = Field::opt("OrderType", Kind::UInt { min: 0, max: 1 });
const SEARCH_KEY_ALIAS: Field = Field::opt("SearchKeyAlias", Kind::Str { min: 0, max: 128 });
const ORIGIN: Field = Field::opt("Origin", Kind::Str { min: 0, max: 32 });
const PENDING_WINDOW: Field = Field::req("PendingWindowInDays", Kind::UInt { min: 7, max: 30 })
    .code("InvalidParameter.InvalidPendingWindowInDays");

// ---- requests shared by several actions ----

/// Actions without parameters of their own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParameters {}

impl Request for NoParameters {
    const FIELDS: &'static [Field] = &[];
}

pub type GetServiceStatusRequest = NoParameters;
pub type GetRegionsRequest = NoParameters;
pub type ListAlgorithmsRequest = NoParameters;

/// Actions on one key.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyIdRequest {
    pub key_id: String,
    pub member_account: Option<Unsupported>,
}

impl Request for KeyIdRequest {
    const FIELDS: &'static [Field] = &[KEY_ID, MEMBER];
}

pub type DescribeKeyRequest = KeyIdRequest;
pub type EnableKeyRequest = KeyIdRequest;
pub type DisableKeyRequest = KeyIdRequest;
pub type CancelKeyDeletionRequest = KeyIdRequest;
pub type ArchiveKeyRequest = KeyIdRequest;
pub type CancelKeyArchiveRequest = KeyIdRequest;
pub type DisableKeyRotationRequest = KeyIdRequest;
pub type GetKeyRotationStatusRequest = KeyIdRequest;
pub type RotateKeyRequest = KeyIdRequest;

/// Actions on a list of keys.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyIdsRequest {
    pub key_ids: Vec<String>,
    pub member_account: Option<Unsupported>,
}

impl Request for KeyIdsRequest {
    const FIELDS: &'static [Field] = &[KEY_IDS, MEMBER];
}

pub type DescribeKeysRequest = KeyIdsRequest;
pub type EnableKeysRequest = KeyIdsRequest;
pub type DisableKeysRequest = KeyIdsRequest;

/// Actions on one hosted data key.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DataKeyIdRequest {
    pub data_key_id: String,
    pub member_account: Option<Unsupported>,
}

impl Request for DataKeyIdRequest {
    const FIELDS: &'static [Field] = &[DATA_KEY_ID, MEMBER];
}

pub type DescribeDataKeyRequest = DataKeyIdRequest;
pub type EnableDataKeyRequest = DataKeyIdRequest;
pub type DisableDataKeyRequest = DataKeyIdRequest;
pub type CancelDataKeyDeletionRequest = DataKeyIdRequest;
pub type GetDataKeyCiphertextBlobRequest = DataKeyIdRequest;

/// Actions on a list of hosted data keys.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DataKeyIdsRequest {
    pub data_key_ids: Vec<String>,
    pub member_account: Option<Unsupported>,
}

impl Request for DataKeyIdsRequest {
    const FIELDS: &'static [Field] = &[DATA_KEY_IDS, MEMBER];
}

pub type DescribeDataKeysRequest = DataKeyIdsRequest;
pub type EnableDataKeysRequest = DataKeyIdsRequest;
pub type DisableDataKeysRequest = DataKeyIdsRequest;

/// The short listings of keys and of data keys: ids only, one page.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListIdsRequest {
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    pub role: Option<u64>,
    pub hsm_cluster_id: Option<String>,
}

impl Request for ListIdsRequest {
    const FIELDS: &'static [Field] = &[OFFSET, LIMIT, ROLE, HSM];
}

pub type ListKeysRequest = ListIdsRequest;
pub type ListDataKeysRequest = ListIdsRequest;

// ---- keys ----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateKeyRequest {
    pub alias: String,
    pub description: Option<String>,
    pub key_usage: Option<String>,
    pub r#type: Option<u64>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub hsm_cluster_id: Option<String>,
}

impl Request for CreateKeyRequest {
    const FIELDS: &'static [Field] = &[
        ALIAS,
        KEY_DESCRIPTION,
        KEY_USAGE,
        Field::opt("Type", Kind::UInt { min: 1, max: 2 }).code("InvalidParameterValue.InvalidType"),
        TAGS,
        HSM,
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListKeyDetailRequest {
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    pub role: Option<u64>,
    pub order_type: Option<u64>,
    pub key_state: Option<u64>,
    pub search_key_alias: Option<String>,
    pub origin: Option<String>,
    pub key_usage: Option<String>,
    #[serde(default)]
    pub tag_filters: Vec<TagFilter>,
    pub hsm_cluster_id: Option<String>,
    pub member_accounts: Option<Vec<Unsupported>>,
}

impl Request for ListKeyDetailRequest {
    const FIELDS: &'static [Field] = &[
        OFFSET,
        LIMIT,
        ROLE,
        ORDER_TYPE,
        Field::opt("KeyState", Kind::UInt { min: 0, max: 5 }),
        SEARCH_KEY_ALIAS,
        ORIGIN,
        KEY_USAGE,
        TAG_FILTERS,
        HSM,
        MEMBERS,
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateAliasRequest {
    pub alias: String,
    pub key_id: String,
    pub member_account: Option<Unsupported>,
}

impl Request for UpdateAliasRequest {
    const FIELDS: &'static [Field] = &[ALIAS, KEY_ID, MEMBER];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateKeyDescriptionRequest {
    pub description: String,
    pub key_id: String,
    pub member_account: Option<Unsupported>,
}

impl Request for UpdateKeyDescriptionRequest {
    const FIELDS: &'static [Field] = &[
        Field::req("Description", Kind::Str { min: 0, max: 1024 }),
        KEY_ID,
        MEMBER,
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ScheduleKeyDeletionRequest {
    pub key_id: String,
    pub pending_window_in_days: u64,
    pub member_account: Option<Unsupported>,
}

impl Request for ScheduleKeyDeletionRequest {
    const FIELDS: &'static [Field] = &[KEY_ID, PENDING_WINDOW, MEMBER];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EnableKeyRotationRequest {
    pub key_id: String,
    pub rotate_days: Option<u64>,
    pub member_account: Option<Unsupported>,
}

impl Request for EnableKeyRotationRequest {
    const FIELDS: &'static [Field] = &[
        KEY_ID,
        Field::opt("RotateDays", Kind::UInt { min: 7, max: 365 }),
        MEMBER,
    ];
}

// ---- cryptographic operations ----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EncryptRequest {
    pub key_id: String,
    #[serde(deserialize_with = "secret")]
    pub plaintext: Zeroizing<String>,
    pub encryption_context: Option<String>,
}

impl Request for EncryptRequest {
    const FIELDS: &'static [Field] = &[
        KEY_ID,
        Field::req("Plaintext", Kind::Str { min: 1, max: 8192 })
            .code("InvalidParameterValue.InvalidPlaintext"),
        context("EncryptionContext"),
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DecryptRequest {
    pub ciphertext_blob: String,
    pub encryption_context: Option<String>,
    pub encryption_public_key: Option<String>,
    pub encryption_algorithm: Option<String>,
}

impl Request for DecryptRequest {
    const FIELDS: &'static [Field] = &[
        CIPHERTEXT,
        context("EncryptionContext"),
        PUBLIC_KEY,
        PUBLIC_KEY_ALG,
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ReEncryptRequest {
    pub ciphertext_blob: String,
    pub destination_key_id: Option<String>,
    pub source_encryption_context: Option<String>,
    pub destination_encryption_context: Option<String>,
}

impl Request for ReEncryptRequest {
    const FIELDS: &'static [Field] = &[
        CIPHERTEXT,
        Field::opt("DestinationKeyId", Kind::Str { min: 0, max: 128 })
            .code("InvalidParameterValue.InvalidKeyId"),
        context("SourceEncryptionContext"),
        context("DestinationEncryptionContext"),
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GenerateDataKeyRequest {
    pub key_id: String,
    pub key_spec: Option<String>,
    pub number_of_bytes: Option<u64>,
    pub encryption_context: Option<String>,
    pub encryption_public_key: Option<String>,
    pub encryption_algorithm: Option<String>,
    pub is_hosted_by_kms: Option<u64>,
    pub data_key_name: Option<String>,
    pub description: Option<String>,
    pub hsm_cluster_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl Request for GenerateDataKeyRequest {
    const FIELDS: &'static [Field] = &[
        KEY_ID,
        Field::opt("KeySpec", Kind::Str { min: 0, max: 16 }),
        Field::opt("NumberOfBytes", Kind::UInt { min: 1, max: 1024 }),
        context("EncryptionContext"),
        PUBLIC_KEY,
        PUBLIC_KEY_ALG,
        Field::opt("IsHostedByKms", Kind::UInt { min: 0, max: 1 }),
        Field::opt("DataKeyName", Kind::Str { min: 0, max: 60 })
            .code("InvalidParameterValue.InvalidDataKeyName"),
        DATA_KEY_DESCRIPTION,
        HSM,
        TAGS,
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GenerateRandomRequest {
    pub number_of_bytes: u64,
}

impl Request for GenerateRandomRequest {
    const FIELDS: &'static [Field] = &[Field::req(
        "NumberOfBytes",
        Kind::UInt { min: 1, max: 1024 },
    )];
}

// ---- imported key material ----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetParametersForImportRequest {
    pub key_id: String,
    pub wrapping_algorithm: String,
    pub wrapping_key_spec: String,
}

impl Request for GetParametersForImportRequest {
    const FIELDS: &'static [Field] = &[
        KEY_ID,
        Field::req("WrappingAlgorithm", Kind::Str { min: 1, max: 32 }),
        Field::req("WrappingKeySpec", Kind::Str { min: 1, max: 32 }),
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ImportKeyMaterialRequest {
    pub encrypted_key_material: String,
    pub import_token: String,
    pub key_id: String,
    pub valid_to: Option<u64>,
}

impl Request for ImportKeyMaterialRequest {
    const FIELDS: &'static [Field] = &[
        Field::req("EncryptedKeyMaterial", Kind::Str { min: 1, max: 4096 }).code(INVALID_PARAMETER),
        Field::req("ImportToken", Kind::Str { min: 1, max: 4096 }),
        KEY_ID,
        Field::opt(
            "ValidTo",
            Kind::UInt {
                min: 0,
                max: u64::MAX,
            },
        ),
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteImportedKeyMaterialRequest {
    pub key_id: String,
}

impl Request for DeleteImportedKeyMaterialRequest {
    const FIELDS: &'static [Field] = &[KEY_ID];
}

// ---- hosted data keys ----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ImportDataKeyRequest {
    pub data_key_name: String,
    /// A data key ciphertext (ImportType 1) or the plaintext data key itself (ImportType 2).
    #[serde(deserialize_with = "secret")]
    pub import_key_material: Zeroizing<String>,
    pub import_type: u64,
    pub description: Option<String>,
    pub key_id: Option<String>,
    pub hsm_cluster_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl Request for ImportDataKeyRequest {
    const FIELDS: &'static [Field] = &[
        DATA_KEY_NAME,
        Field::req(
            "ImportKeyMaterial",
            Kind::Str {
                min: 1,
                max: 16_384,
            },
        )
        .code("InvalidParameterValue.InvalidImportKeyMaterial"),
        Field::req("ImportType", Kind::UInt { min: 1, max: 2 })
            .code("InvalidParameterValue.InvalidType"),
        DATA_KEY_DESCRIPTION,
        OPTIONAL_KEY_ID,
        HSM,
        TAGS,
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListDataKeyDetailRequest {
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    pub role: Option<u64>,
    pub order_type: Option<u64>,
    pub key_state: Option<u64>,
    pub search_key_alias: Option<String>,
    pub origin: Option<String>,
    pub hsm_cluster_id: Option<String>,
    pub key_id: Option<String>,
    pub data_key_len: Option<u64>,
    #[serde(default)]
    pub tag_filters: Vec<TagFilter>,
    pub member_accounts: Option<Vec<Unsupported>>,
}

impl Request for ListDataKeyDetailRequest {
    const FIELDS: &'static [Field] = &[
        OFFSET,
        LIMIT,
        ROLE,
        ORDER_TYPE,
        Field::opt("KeyState", Kind::UInt { min: 0, max: 3 }),
        SEARCH_KEY_ALIAS,
        ORIGIN,
        HSM,
        OPTIONAL_KEY_ID,
        Field::opt("DataKeyLen", Kind::UInt { min: 0, max: 1024 }),
        TAG_FILTERS,
        MEMBERS,
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ScheduleDataKeyDeletionRequest {
    pub data_key_id: String,
    pub pending_window_in_days: u64,
    pub member_account: Option<Unsupported>,
}

impl Request for ScheduleDataKeyDeletionRequest {
    const FIELDS: &'static [Field] = &[DATA_KEY_ID, PENDING_WINDOW, MEMBER];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetDataKeyPlaintextRequest {
    pub data_key_id: String,
    pub encryption_public_key: Option<String>,
    pub encryption_algorithm: Option<String>,
}

impl Request for GetDataKeyPlaintextRequest {
    const FIELDS: &'static [Field] = &[DATA_KEY_ID, PUBLIC_KEY, PUBLIC_KEY_ALG];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateDataKeyNameRequest {
    pub data_key_id: String,
    pub data_key_name: String,
    pub member_account: Option<Unsupported>,
}

impl Request for UpdateDataKeyNameRequest {
    const FIELDS: &'static [Field] = &[DATA_KEY_ID, DATA_KEY_NAME, MEMBER];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateDataKeyDescriptionRequest {
    pub data_key_id: String,
    pub description: String,
    pub member_account: Option<Unsupported>,
}

impl Request for UpdateDataKeyDescriptionRequest {
    const FIELDS: &'static [Field] = &[
        DATA_KEY_ID,
        Field::req("Description", Kind::Str { min: 0, max: 100 }),
        MEMBER,
    ];
}

// ---- asymmetric and post-quantum keys ----

/// Base64 of at most 4096 bytes of message (or a digest), at four characters per three bytes.
const MESSAGE: Field = Field::req("Message", Kind::Str { min: 1, max: 5464 });
const SIGNING_ALGORITHM: Field = Field::req("Algorithm", Kind::Str { min: 1, max: 64 });
const MESSAGE_TYPE: Field = Field::opt("MessageType", Kind::Str { min: 0, max: 16 });
/// Base64 of a signature: ML-DSA-65's 3309 bytes are the longest.
const SIGNATURE: Field = Field::req("SignatureValue", Kind::Str { min: 1, max: 8192 });

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetPublicKeyRequest {
    pub key_id: String,
}

impl Request for GetPublicKeyRequest {
    const FIELDS: &'static [Field] = &[KEY_ID];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SignByAsymmetricKeyRequest {
    pub algorithm: String,
    pub message: String,
    pub key_id: String,
    pub message_type: Option<String>,
}

impl Request for SignByAsymmetricKeyRequest {
    const FIELDS: &'static [Field] = &[SIGNING_ALGORITHM, MESSAGE, KEY_ID, MESSAGE_TYPE];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VerifyByAsymmetricKeyRequest {
    pub key_id: String,
    pub signature_value: String,
    pub message: String,
    pub algorithm: String,
    pub message_type: Option<String>,
}

impl Request for VerifyByAsymmetricKeyRequest {
    const FIELDS: &'static [Field] = &[KEY_ID, SIGNATURE, MESSAGE, SIGNING_ALGORITHM, MESSAGE_TYPE];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AsymmetricRsaDecryptRequest {
    pub key_id: String,
    pub ciphertext: String,
    pub algorithm: String,
}

impl Request for AsymmetricRsaDecryptRequest {
    const FIELDS: &'static [Field] = &[
        KEY_ID,
        // Base64 of one RSA-4096 block at most.
        Field::req("Ciphertext", Kind::Str { min: 1, max: 1024 }),
        Field::req("Algorithm", Kind::Str { min: 1, max: 32 }),
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AsymmetricSm2DecryptRequest {
    pub key_id: String,
    pub ciphertext: String,
}

impl Request for AsymmetricSm2DecryptRequest {
    const FIELDS: &'static [Field] = &[
        KEY_ID,
        // Base64 of the ASN.1 form around at most 256 bytes of ciphertext.
        Field::req("Ciphertext", Kind::Str { min: 1, max: 1024 }),
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PostQuantumCryptoEncryptRequest {
    pub key_id: String,
    #[serde(deserialize_with = "secret")]
    pub plain_text: Zeroizing<String>,
}

impl Request for PostQuantumCryptoEncryptRequest {
    const FIELDS: &'static [Field] = &[
        KEY_ID,
        Field::req("PlainText", Kind::Str { min: 1, max: 8192 })
            .code("InvalidParameterValue.InvalidPlaintext"),
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PostQuantumCryptoDecryptRequest {
    pub ciphertext_blob: String,
    pub encryption_public_key: Option<String>,
    pub encryption_algorithm: Option<String>,
}

impl Request for PostQuantumCryptoDecryptRequest {
    const FIELDS: &'static [Field] = &[CIPHERTEXT, PUBLIC_KEY, PUBLIC_KEY_ALG];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PostQuantumCryptoSignRequest {
    pub message: String,
    pub key_id: String,
}

impl Request for PostQuantumCryptoSignRequest {
    const FIELDS: &'static [Field] = &[MESSAGE, KEY_ID];
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PostQuantumCryptoVerifyRequest {
    pub key_id: String,
    pub signature_value: String,
    pub message: String,
}

impl Request for PostQuantumCryptoVerifyRequest {
    const FIELDS: &'static [Field] = &[KEY_ID, SIGNATURE, MESSAGE];
}

/// BindCloudResource and UnbindCloudResource.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CloudResourceRequest {
    pub key_id: String,
    pub product_id: String,
    pub resource_id: String,
}

impl Request for CloudResourceRequest {
    const FIELDS: &'static [Field] = &[
        KEY_ID,
        Field::req("ProductId", Kind::Str { min: 1, max: 1024 }),
        Field::req("ResourceId", Kind::Str { min: 1, max: 1024 }),
    ];
}

pub type BindCloudResourceRequest = CloudResourceRequest;
pub type UnbindCloudResourceRequest = CloudResourceRequest;
