//! The action table: each action's name, its declared parameters and its handler.

use base64::Engine as _;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use kms_core::engine::NewKey;
use kms_core::{
    Caller, EncryptionContext, Engine, KeyListFilter, KeyState, KeyUsage, KmsError, Origin,
    SortOrder,
};
use kms_core::{WrappingAlgorithm, WrappingKeySpec};
use kms_crypto::public_key::{WrapAlgorithm, encrypt_to_public_key};

use crate::data_keys;
use crate::errors::*;
use crate::params::{Field, Kind, Params};
use crate::wire::{KeyMetadata, key_state, key_usage};

/// What a handler sees of the request.
pub struct Ctx<'a> {
    pub engine: &'a Engine,
    pub caller: Caller,
    pub request_id: &'a str,
    pub regions: &'a [String],
}

impl Ctx<'_> {
    pub(crate) fn kms(&self, e: KmsError) -> TcError {
        from_kms(e, self.request_id)
    }
}

type Handler = fn(&Ctx<'_>, &Params) -> Result<Value, TcError>;

pub struct Action {
    pub name: &'static str,
    pub fields: &'static [Field],
    pub handler: Handler,
    /// Whether the action may block for long: it commits to the store (an fsync), generates
    /// key pairs or scans a whole region's keys. Quick actions run inline on the server's
    /// async workers.
    pub pool: Pool,
}

/// Where an action runs.
#[derive(Clone, Copy)]
pub enum Pool {
    Inline,
    Blocking,
    /// Blocking when the parameters ask for a write (GenerateDataKey hosted by the KMS).
    BlockingWhen(fn(&Params) -> bool),
}

impl Pool {
    pub fn blocks(self, params: &Params) -> bool {
        match self {
            Pool::Inline => false,
            Pool::Blocking => true,
            Pool::BlockingWhen(writes) => writes(params),
        }
    }
}

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Encrypt takes at most 4 KiB of plaintext.
const MAX_PLAINTEXT: usize = 4096;
const DEFAULT_LIMIT: u64 = 10;
const DEFAULT_ROTATE_DAYS: u64 = 365;

const KEY_ID: Field =
    Field::req("KeyId", Kind::Str { min: 1, max: 128 }).code("InvalidParameterValue.InvalidKeyId");
const KEY_IDS: Field = Field::req("KeyIds", Kind::StrList { min: 1, max: 100 });
pub(crate) const MEMBER: Field = Field::opt("MemberAccount", Kind::Object);
const ALIAS: Field =
    Field::req("Alias", Kind::Str { min: 1, max: 60 }).code("InvalidParameterValue.InvalidAlias");
pub(crate) const HSM: Field = Field::opt("HsmClusterId", Kind::Str { min: 0, max: 128 })
    .code("InvalidParameterValue.InvalidHsmClusterId");
const DATA_KEY_ID: Field = Field::req("DataKeyId", Kind::Str { min: 1, max: 128 })
    .code("InvalidParameterValue.InvalidDataKeyId");
const DATA_KEY_IDS: Field = Field::req("DataKeyIds", Kind::StrList { min: 1, max: 100 });
const DATA_KEY_NAME: Field = Field::req("DataKeyName", Kind::Str { min: 1, max: 60 })
    .code("InvalidParameterValue.InvalidDataKeyName");
const DATA_KEY_DESCRIPTION: Field = Field::opt("Description", Kind::Str { min: 0, max: 100 });
pub(crate) const TAGS: Field = Field::opt("Tags", Kind::Tags { max: 50 });
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
pub(crate) const PUBLIC_KEY: Field =
    Field::opt("EncryptionPublicKey", Kind::Str { min: 0, max: 4096 });
pub(crate) const PUBLIC_KEY_ALG: Field =
    Field::opt("EncryptionAlgorithm", Kind::Str { min: 0, max: 64 });
pub(crate) const OFFSET: Field = Field::opt(
    "Offset",
    Kind::UInt {
        min: 0,
        max: u32::MAX as u64,
    },
);
pub(crate) const LIMIT: Field = Field::opt("Limit", Kind::UInt { min: 0, max: 200 });
pub(crate) const ROLE: Field = Field::opt("Role", Kind::UInt { min: 0, max: 1 });

macro_rules! action {
    (quick $name:literal, $handler:path, [$($field:expr),* $(,)?]) => {
        Action { name: $name, fields: &[$($field),*], handler: $handler, pool: Pool::Inline }
    };
    (blocking $name:literal, $handler:path, [$($field:expr),* $(,)?]) => {
        Action { name: $name, fields: &[$($field),*], handler: $handler, pool: Pool::Blocking }
    };
    (blocking_when $writes:path, $name:literal, $handler:path, [$($field:expr),* $(,)?]) => {
        Action {
            name: $name,
            fields: &[$($field),*],
            handler: $handler,
            pool: Pool::BlockingWhen($writes),
        }
    };
}

pub static ACTIONS: &[Action] = &[
    action!(blocking "CreateKey",
        create_key,
        [
            ALIAS,
            Field::opt("Description", Kind::Str { min: 0, max: 1024 }),
            Field::opt("KeyUsage", Kind::Str { min: 0, max: 64 })
                .code("InvalidParameterValue.InvalidKeyUsage"),
            Field::opt("Type", Kind::UInt { min: 1, max: 2 })
                .code("InvalidParameterValue.InvalidType"),
            TAGS,
            HSM,
        ]
    ),
    action!(quick "DescribeKey", describe_key, [KEY_ID, MEMBER]),
    action!(quick "DescribeKeys", describe_keys, [KEY_IDS, MEMBER]),
    action!(blocking "ListKeys", list_keys, [OFFSET, LIMIT, ROLE, HSM]),
    action!(blocking "ListKeyDetail",
        list_key_detail,
        [
            OFFSET,
            LIMIT,
            ROLE,
            Field::opt("OrderType", Kind::UInt { min: 0, max: 1 }),
            Field::opt("KeyState", Kind::UInt { min: 0, max: 5 }),
            Field::opt("SearchKeyAlias", Kind::Str { min: 0, max: 128 }),
            Field::opt("Origin", Kind::Str { min: 0, max: 32 }),
            Field::opt("KeyUsage", Kind::Str { min: 0, max: 64 })
                .code("InvalidParameterValue.InvalidKeyUsage"),
            Field::opt("TagFilters", Kind::TagFilters { max: 50 }),
            HSM,
            Field::opt("MemberAccounts", Kind::ObjectList),
        ]
    ),
    action!(blocking "EnableKey", enable_key, [KEY_ID, MEMBER]),
    action!(blocking "DisableKey", disable_key, [KEY_ID, MEMBER]),
    action!(blocking "EnableKeys", enable_keys, [KEY_IDS, MEMBER]),
    action!(blocking "DisableKeys", disable_keys, [KEY_IDS, MEMBER]),
    action!(blocking "UpdateAlias", update_alias, [ALIAS, KEY_ID, MEMBER]),
    action!(blocking "UpdateKeyDescription",
        update_key_description,
        [
            Field::req("Description", Kind::Str { min: 0, max: 1024 }),
            KEY_ID,
            MEMBER,
        ]
    ),
    action!(blocking "ScheduleKeyDeletion",
        schedule_key_deletion,
        [
            KEY_ID,
            Field::req("PendingWindowInDays", Kind::UInt { min: 7, max: 30 })
                .code("InvalidParameter.InvalidPendingWindowInDays"),
            MEMBER,
        ]
    ),
    action!(blocking "CancelKeyDeletion", cancel_key_deletion, [KEY_ID, MEMBER]),
    action!(blocking "ArchiveKey", archive_key, [KEY_ID, MEMBER]),
    action!(blocking "CancelKeyArchive", cancel_key_archive, [KEY_ID, MEMBER]),
    action!(quick "Encrypt",
        encrypt,
        [
            KEY_ID,
            Field::req("Plaintext", Kind::Str { min: 1, max: 8192 })
                .code("InvalidParameterValue.InvalidPlaintext"),
            context("EncryptionContext"),
        ]
    ),
    action!(quick "Decrypt",
        decrypt,
        [
            CIPHERTEXT,
            context("EncryptionContext"),
            PUBLIC_KEY,
            PUBLIC_KEY_ALG
        ]
    ),
    action!(quick "ReEncrypt",
        re_encrypt,
        [
            CIPHERTEXT,
            Field::opt("DestinationKeyId", Kind::Str { min: 0, max: 128 })
                .code("InvalidParameterValue.InvalidKeyId"),
            context("SourceEncryptionContext"),
            context("DestinationEncryptionContext"),
        ]
    ),
    action!(blocking_when hosts_data_key, "GenerateDataKey",
        generate_data_key,
        [
            KEY_ID,
            Field::opt("KeySpec", Kind::Str { min: 0, max: 16 }),
            Field::opt("NumberOfBytes", Kind::UInt { min: 1, max: 1024 }),
            context("EncryptionContext"),
            PUBLIC_KEY,
            PUBLIC_KEY_ALG,
            Field::opt("IsHostedByKms", Kind::UInt { min: 0, max: 1 }),
            Field::opt("DataKeyName", Kind::Str { min: 0, max: 60 })
                .code("InvalidParameterValue.InvalidDataKeyName"),
            Field::opt("Description", Kind::Str { min: 0, max: 100 }),
            HSM,
            TAGS,
        ]
    ),
    action!(quick "GenerateRandom",
        generate_random,
        [Field::req(
            "NumberOfBytes",
            Kind::UInt { min: 1, max: 1024 }
        )]
    ),
    action!(blocking "EnableKeyRotation",
        enable_key_rotation,
        [
            KEY_ID,
            Field::opt("RotateDays", Kind::UInt { min: 7, max: 365 }),
            MEMBER,
        ]
    ),
    action!(blocking "DisableKeyRotation", disable_key_rotation, [KEY_ID, MEMBER]),
    action!(quick "GetKeyRotationStatus",
        get_key_rotation_status,
        [KEY_ID, MEMBER]
    ),
    action!(blocking "RotateKey", rotate_key, [KEY_ID, MEMBER]),
    action!(blocking "GetParametersForImport", get_parameters_for_import, [
        KEY_ID,
        Field::req("WrappingAlgorithm", Kind::Str { min: 1, max: 32 }),
        Field::req("WrappingKeySpec", Kind::Str { min: 1, max: 32 }),
    ]),
    action!(blocking "ImportKeyMaterial", import_key_material, [
        Field::req("EncryptedKeyMaterial", Kind::Str { min: 1, max: 4096 }).code(INVALID_PARAMETER),
        Field::req("ImportToken", Kind::Str { min: 1, max: 4096 }),
        KEY_ID,
        Field::opt("ValidTo", Kind::UInt { min: 0, max: u64::MAX }),
    ]),
    action!(blocking "DeleteImportedKeyMaterial", delete_imported_key_material, [KEY_ID]),
    action!(blocking "ImportDataKey", data_keys::import_data_key, [
        DATA_KEY_NAME,
        Field::req("ImportKeyMaterial", Kind::Str { min: 1, max: 16_384 })
            .code("InvalidParameterValue.InvalidImportKeyMaterial"),
        Field::req("ImportType", Kind::UInt { min: 1, max: 2 })
            .code("InvalidParameterValue.InvalidType"),
        DATA_KEY_DESCRIPTION,
        Field::opt("KeyId", Kind::Str { min: 0, max: 128 }).code("InvalidParameterValue.InvalidKeyId"),
        HSM,
        TAGS,
    ]),
    action!(quick "DescribeDataKey", data_keys::describe_data_key, [DATA_KEY_ID, MEMBER]),
    action!(quick "DescribeDataKeys", data_keys::describe_data_keys, [DATA_KEY_IDS, MEMBER]),
    action!(blocking "ListDataKeys", data_keys::list_data_keys, [OFFSET, LIMIT, ROLE, HSM]),
    action!(blocking "ListDataKeyDetail", data_keys::list_data_key_detail, [
        OFFSET, LIMIT, ROLE,
        Field::opt("OrderType", Kind::UInt { min: 0, max: 1 }),
        Field::opt("KeyState", Kind::UInt { min: 0, max: 3 }),
        Field::opt("SearchKeyAlias", Kind::Str { min: 0, max: 128 }),
        Field::opt("Origin", Kind::Str { min: 0, max: 32 }),
        HSM,
        Field::opt("KeyId", Kind::Str { min: 0, max: 128 }).code("InvalidParameterValue.InvalidKeyId"),
        Field::opt("DataKeyLen", Kind::UInt { min: 0, max: 1024 }),
        Field::opt("TagFilters", Kind::TagFilters { max: 50 }),
        Field::opt("MemberAccounts", Kind::ObjectList),
    ]),
    action!(blocking "EnableDataKey", data_keys::enable_data_key, [DATA_KEY_ID, MEMBER]),
    action!(blocking "DisableDataKey", data_keys::disable_data_key, [DATA_KEY_ID, MEMBER]),
    action!(blocking "EnableDataKeys", data_keys::enable_data_keys, [DATA_KEY_IDS, MEMBER]),
    action!(blocking "DisableDataKeys", data_keys::disable_data_keys, [DATA_KEY_IDS, MEMBER]),
    action!(blocking "ScheduleDataKeyDeletion", data_keys::schedule_data_key_deletion, [
        DATA_KEY_ID,
        Field::req("PendingWindowInDays", Kind::UInt { min: 7, max: 30 })
            .code("InvalidParameter.InvalidPendingWindowInDays"),
        MEMBER,
    ]),
    action!(blocking "CancelDataKeyDeletion", data_keys::cancel_data_key_deletion, [DATA_KEY_ID, MEMBER]),
    action!(quick "GetDataKeyPlaintext", data_keys::get_data_key_plaintext, [
        DATA_KEY_ID, PUBLIC_KEY, PUBLIC_KEY_ALG,
    ]),
    action!(quick "GetDataKeyCiphertextBlob", data_keys::get_data_key_ciphertext_blob, [DATA_KEY_ID, MEMBER]),
    action!(blocking "UpdateDataKeyName", data_keys::update_data_key_name, [
        DATA_KEY_ID,
        Field::req("DataKeyName", Kind::Str { min: 1, max: 60 }).code("InvalidParameterValue.InvalidDataKeyName"),
        MEMBER,
    ]),
    action!(blocking "UpdateDataKeyDescription", data_keys::update_data_key_description, [
        DATA_KEY_ID,
        Field::req("Description", Kind::Str { min: 0, max: 100 }),
        MEMBER,
    ]),
    action!(quick "GetServiceStatus", get_service_status, []),
    action!(quick "GetRegions", get_regions, []),
    action!(quick "ListAlgorithms", list_algorithms, []),
];

/// Actions of the vendor's API (version 2019-01-18) that this server does not serve yet: they
/// answer UnsupportedOperation rather than InvalidAction, since they exist.
pub static NOT_YET_SERVED: &[&str] = &[
    "AsymmetricRsaDecrypt",
    "AsymmetricSm2Decrypt",
    "BindCloudResource",
    "CreateWhiteBoxKey",
    "DeleteWhiteBoxKey",
    "DescribeWhiteBoxDecryptKey",
    "DescribeWhiteBoxDeviceFingerprints",
    "DescribeWhiteBoxKey",
    "DescribeWhiteBoxKeyDetails",
    "DescribeWhiteBoxServiceStatus",
    "DisableWhiteBoxKey",
    "DisableWhiteBoxKeys",
    "EnableWhiteBoxKey",
    "EnableWhiteBoxKeys",
    "EncryptByWhiteBox",
    "GetPublicKey",
    "OverwriteWhiteBoxDeviceFingerprints",
    "PostQuantumCryptoDecrypt",
    "PostQuantumCryptoEncrypt",
    "PostQuantumCryptoSign",
    "PostQuantumCryptoVerify",
    "SignByAsymmetricKey",
    "UnbindCloudResource",
    "VerifyByAsymmetricKey",
];

pub fn find(name: &str) -> Option<&'static Action> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// `name` as a static string when it is one of the vendor's actions, else "unknown".
pub fn known_name(name: &str) -> &'static str {
    find(name)
        .map(|a| a.name)
        .or_else(|| NOT_YET_SERVED.iter().copied().find(|n| *n == name))
        .unwrap_or("unknown")
}

// ---- shared parsing ----

pub(crate) fn refuse_member_account(p: &Params) -> Result<(), TcError> {
    if p.has("MemberAccount") || p.has("MemberAccounts") {
        return Err(TcError::new(
            UNSUPPORTED_OPERATION,
            "Member accounts are not supported by this server.",
        ));
    }
    Ok(())
}

pub(crate) fn refuse_hsm_cluster(p: &Params) -> Result<(), TcError> {
    match p.str("HsmClusterId") {
        None | Some("") => Ok(()),
        Some(_) => Err(TcError::new(
            "InvalidParameterValue.InvalidHsmClusterId",
            "No HSM cluster with this id exists.",
        )),
    }
}

/// Names (aliases, data key names): letters, digits, `-` and `_`, starting with a letter or
/// digit. Lengths are declared per field.
pub(crate) fn is_valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Alias rules: a valid name; the `kms-` prefix is reserved for keys that cloud products create.
fn check_alias(alias: &str) -> Result<(), TcError> {
    if is_valid_name(alias) && !alias.starts_with("kms-") {
        Ok(())
    } else {
        Err(TcError::new(
            "InvalidParameterValue.InvalidAlias",
            "Alias must be 1 to 60 letters, digits, '-' or '_', start with a letter or digit, and not start with 'kms-'.",
        ))
    }
}

const ASYMMETRIC_USAGES: &[&str] = &[
    "ASYMMETRIC_DECRYPT_RSA_2048",
    "ASYMMETRIC_DECRYPT_SM2",
    "ASYMMETRIC_SIGN_VERIFY_SM2",
    "ASYMMETRIC_SIGN_VERIFY_ECC",
    "ASYMMETRIC_SIGN_VERIFY_RSA_2048",
    "ASYMMETRIC_SIGN_VERIFY_ECDSA384",
];

fn parse_usage(s: &str) -> Result<KeyUsage, TcError> {
    match s {
        "" | "ENCRYPT_DECRYPT" => Ok(KeyUsage::EncryptDecrypt),
        s if ASYMMETRIC_USAGES.contains(&s) => Err(TcError::new(
            UNSUPPORTED_KEY_USAGE_IN_REGION,
            format!("KeyUsage {s} is not supported in this region yet."),
        )),
        _ => Err(TcError::new(
            "InvalidParameterValue.InvalidKeyUsage",
            "KeyUsage is not a known key usage.",
        )),
    }
}

/// Parses an encryption context by the engine's rules (a JSON object of string values, no key
/// twice, at most 1024 characters).
pub(crate) fn parse_context(p: &Params, name: &str) -> Result<EncryptionContext, TcError> {
    EncryptionContext::from_json(p.str(name).unwrap_or_default())
        .map_err(|e| TcError::new(INVALID_PARAMETER_VALUE, format!("`{name}`: {e}")))
}

pub(crate) fn decode_base64(
    s: &str,
    code: &'static str,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, TcError> {
    B64.decode(s)
        .map(Zeroizing::new)
        .map_err(|_| TcError::new(code, format!("{what} is not valid base64.")))
}

fn ciphertext(p: &Params) -> Result<Vec<u8>, TcError> {
    let blob = decode_base64(
        p.req_str("CiphertextBlob"),
        "InvalidParameterValue.InvalidCiphertext",
        "CiphertextBlob",
    )?;
    Ok(blob.to_vec())
}

/// Plaintext returned to the caller: base64, or, when they supplied `EncryptionPublicKey`,
/// encrypted to that key with `EncryptionAlgorithm` (SM2 when empty) and then base64.
pub(crate) fn returned_plaintext(p: &Params, plaintext: &[u8]) -> Result<String, TcError> {
    let pem = match p.str("EncryptionPublicKey") {
        None | Some("") => return Ok(B64.encode(plaintext)),
        Some(pem) => pem,
    };
    let algorithm = match p.str("EncryptionAlgorithm").unwrap_or_default() {
        "" | "SM2" => WrapAlgorithm::Sm2C1C3C2,
        "SM2_C1C3C2_ASN1" => WrapAlgorithm::Sm2C1C3C2Asn1,
        "RSAES_PKCS1_V1_5" => WrapAlgorithm::RsaPkcs1V15,
        "RSAES_OAEP_SHA_1" => WrapAlgorithm::RsaOaepSha1,
        "RSAES_OAEP_SHA_256" => WrapAlgorithm::RsaOaepSha256,
        other => {
            return Err(TcError::new(
                INVALID_PARAMETER_VALUE,
                format!(
                    "EncryptionAlgorithm `{other}` is not one of SM2, SM2_C1C3C2_ASN1, RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256."
                ),
            ));
        }
    };
    let wrapped = encrypt_to_public_key(pem, algorithm, plaintext).map_err(|e| {
        TcError::new(
            INVALID_PARAMETER_VALUE,
            format!("EncryptionPublicKey: {e}."),
        )
    })?;
    Ok(B64.encode(wrapped))
}

fn metadata_list(keys: &[kms_core::KeyRecord]) -> Vec<KeyMetadata> {
    keys.iter().map(KeyMetadata::from).collect()
}

// ---- handlers ----

/// The many actions that apply one engine operation to the id in `field` and answer only the
/// request id.
pub(crate) fn on_id(
    ctx: &Ctx<'_>,
    p: &Params,
    field: &str,
    op: fn(&Engine, &Caller, &str) -> Result<(), KmsError>,
) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    op(ctx.engine, &ctx.caller, p.req_str(field)).map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

/// As [`on_id`], for the batch actions over a list of ids.
pub(crate) fn on_ids(
    ctx: &Ctx<'_>,
    p: &Params,
    field: &str,
    op: fn(&Engine, &Caller, &[String]) -> Result<(), KmsError>,
) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    op(ctx.engine, &ctx.caller, &p.str_list(field)).map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

fn create_key(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let alias = p.req_str("Alias");
    check_alias(alias)?;
    let usage = parse_usage(p.str("KeyUsage").unwrap_or_default())?;
    let origin = match p.uint("Type").unwrap_or(1) {
        2 => Origin::External,
        _ => Origin::Kms,
    };
    refuse_hsm_cluster(p)?;
    let key = ctx
        .engine
        .create_key(
            &ctx.caller,
            NewKey {
                alias: alias.to_owned(),
                description: p.str("Description").unwrap_or_default().to_owned(),
                usage,
                origin,
                tags: p.tags("Tags"),
            },
        )
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({
        "KeyId": key.key_id.to_string(),
        "Alias": key.alias,
        "CreateTime": key.created_at,
        "Description": key.description,
        "KeyState": key_state(key.state),
        "KeyUsage": key_usage(key.usage, key.spec),
        "TagCode": 0,
        "TagMsg": "Success",
        "HsmClusterId": "",
    }))
}

fn describe_key(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    let key = ctx
        .engine
        .describe_key(&ctx.caller, p.req_str("KeyId"))
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "KeyMetadata": KeyMetadata::from(&key) }))
}

fn describe_keys(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    let keys = ctx
        .engine
        .describe_keys(&ctx.caller, &p.str_list("KeyIds"))
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "KeyMetadatas": metadata_list(&keys) }))
}

/// Paging shared by the list actions: Limit 0 or absent means the default of 10.
pub(crate) fn page(p: &Params) -> (usize, usize) {
    let limit = match p.uint("Limit") {
        None | Some(0) => DEFAULT_LIMIT,
        Some(n) => n,
    };
    (p.uint("Offset").unwrap_or(0) as usize, limit as usize)
}

/// Runs a listing of the caller's own keys; keys that cloud products created for the caller
/// (Role 1) list empty, as this server has none.
pub(crate) fn own_keys_only<T>(
    p: &Params,
    list: impl FnOnce() -> Result<(usize, Vec<T>), TcError>,
) -> Result<(usize, Vec<T>), TcError> {
    if p.uint("Role") == Some(1) {
        Ok((0, Vec::new()))
    } else {
        list()
    }
}

fn list_keys(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_hsm_cluster_unless_default(p)?;
    let (offset, limit) = page(p);
    let filter = KeyListFilter {
        states: Some(vec![
            KeyState::Enabled,
            KeyState::Disabled,
            KeyState::PendingImport,
        ]),
        order: SortOrder::OldestFirst,
        offset,
        limit,
        ..Default::default()
    };
    let (total, keys) = own_keys_only(p, || {
        ctx.engine
            .list_keys(&ctx.caller, &filter)
            .map_err(|e| ctx.kms(e))
    })?;
    let ids: Vec<Value> = keys
        .iter()
        .map(|k| json!({ "KeyId": k.key_id.to_string() }))
        .collect();
    Ok(json!({ "Keys": ids, "TotalCount": total }))
}

/// ListKeys and ListKeyDetail accept `default` for the shared (non-HSM) keys.
pub(crate) fn refuse_hsm_cluster_unless_default(p: &Params) -> Result<(), TcError> {
    if p.str("HsmClusterId") == Some("default") {
        return Ok(());
    }
    refuse_hsm_cluster(p)
}

/// The detail listings' `Origin` filter: TENCENT_KMS, EXTERNAL, or ALL (or empty) for both.
pub(crate) fn origin_filter(p: &Params) -> Result<Option<Origin>, TcError> {
    match p.str("Origin").unwrap_or_default() {
        "" | "ALL" => Ok(None),
        "TENCENT_KMS" => Ok(Some(Origin::Kms)),
        "EXTERNAL" => Ok(Some(Origin::External)),
        _ => Err(TcError::new(
            INVALID_PARAMETER_VALUE,
            "Origin must be TENCENT_KMS, EXTERNAL or ALL.",
        )),
    }
}

/// The detail listings' `OrderType`: 0 (default) newest first, 1 oldest first.
pub(crate) fn sort_order(p: &Params) -> SortOrder {
    if p.uint("OrderType") == Some(1) {
        SortOrder::OldestFirst
    } else {
        SortOrder::NewestFirst
    }
}

fn list_key_detail(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    refuse_hsm_cluster_unless_default(p)?;
    let (offset, limit) = page(p);
    let states = match p.uint("KeyState").unwrap_or(0) {
        1 => Some(vec![KeyState::Enabled]),
        2 => Some(vec![KeyState::Disabled]),
        3 => Some(vec![KeyState::PendingDelete]),
        4 => Some(vec![KeyState::PendingImport]),
        5 => Some(vec![KeyState::Archived]),
        _ => None,
    };
    let origin = origin_filter(p)?;
    let usages = match p.str("KeyUsage").unwrap_or_default() {
        "ALL" => None,
        "" => Some(vec![KeyUsage::EncryptDecrypt]),
        s if ASYMMETRIC_USAGES.contains(&s) => Some(Vec::new()),
        s => Some(vec![parse_usage(s)?]),
    };
    let filter = KeyListFilter {
        states,
        origin,
        usages,
        search: p
            .str("SearchKeyAlias")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        specs: None,
        tags: p.tag_filters("TagFilters"),
        order: sort_order(p),
        offset,
        limit,
    };
    let (total, keys) = own_keys_only(p, || {
        ctx.engine
            .list_keys(&ctx.caller, &filter)
            .map_err(|e| ctx.kms(e))
    })?;
    Ok(json!({ "TotalCount": total, "KeyMetadatas": metadata_list(&keys) }))
}

fn enable_key(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    on_id(ctx, p, "KeyId", Engine::enable_key)
}

fn disable_key(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    on_id(ctx, p, "KeyId", Engine::disable_key)
}

fn enable_keys(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    on_ids(ctx, p, "KeyIds", Engine::enable_keys)
}

fn disable_keys(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    on_ids(ctx, p, "KeyIds", Engine::disable_keys)
}

fn update_alias(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    let alias = p.req_str("Alias");
    check_alias(alias)?;
    ctx.engine
        .update_alias(&ctx.caller, p.req_str("KeyId"), alias.to_owned())
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

fn update_key_description(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    ctx.engine
        .update_description(
            &ctx.caller,
            p.req_str("KeyId"),
            p.req_str("Description").to_owned(),
        )
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

fn schedule_key_deletion(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    let days = p.uint("PendingWindowInDays").unwrap_or_default() as u32;
    let key_id = p.req_str("KeyId");
    let date = ctx
        .engine
        .schedule_deletion(&ctx.caller, key_id, days)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "DeletionDate": date, "KeyId": key_id }))
}

fn cancel_key_deletion(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    let key_id = p.req_str("KeyId");
    ctx.engine
        .cancel_deletion(&ctx.caller, key_id)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "KeyId": key_id }))
}

fn archive_key(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    on_id(ctx, p, "KeyId", Engine::archive_key)
}

fn cancel_key_archive(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    on_id(ctx, p, "KeyId", Engine::cancel_archive)
}

fn encrypt(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let plaintext = decode_base64(
        p.req_str("Plaintext"),
        "InvalidParameterValue.InvalidPlaintext",
        "Plaintext",
    )?;
    if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
        return Err(TcError::new(
            "InvalidParameterValue.InvalidPlaintext",
            format!("Plaintext must be 1 to {MAX_PLAINTEXT} bytes once decoded."),
        ));
    }
    let context = parse_context(p, "EncryptionContext")?;
    let (key_id, blob) = ctx
        .engine
        .encrypt(&ctx.caller, p.req_str("KeyId"), &plaintext, &context)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "CiphertextBlob": B64.encode(blob), "KeyId": key_id.to_string() }))
}

fn decrypt(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let blob = ciphertext(p)?;
    let context = parse_context(p, "EncryptionContext")?;
    let (key_id, plaintext) = ctx
        .engine
        .decrypt(&ctx.caller, &blob, &context)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "KeyId": key_id.to_string(), "Plaintext": returned_plaintext(p, &plaintext)? }))
}

fn re_encrypt(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let blob = ciphertext(p)?;
    let source = parse_context(p, "SourceEncryptionContext")?;
    let destination = parse_context(p, "DestinationEncryptionContext")?;
    let destination_key = p.str("DestinationKeyId").filter(|s| !s.is_empty());
    let r = ctx
        .engine
        .re_encrypt(&ctx.caller, &blob, &source, destination_key, &destination)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({
        "CiphertextBlob": B64.encode(&r.blob),
        "KeyId": r.key_id.to_string(),
        "SourceKeyId": r.source_key_id.to_string(),
        "ReEncrypted": r.re_encrypted,
    }))
}

/// Whether GenerateDataKey keeps the data key (a commit) rather than only returning it.
fn hosts_data_key(p: &Params) -> bool {
    p.uint("IsHostedByKms") == Some(1)
}

fn generate_data_key(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_hsm_cluster(p)?;
    let len = match (p.uint("NumberOfBytes"), p.str("KeySpec")) {
        (Some(n), _) => n as usize,
        (None, Some("AES_256")) => 32,
        (None, Some("AES_128")) => 16,
        (None, None | Some("")) => {
            return Err(TcError::new(
                MISSING_PARAMETER,
                "One of KeySpec and NumberOfBytes is required.",
            ));
        }
        (None, Some(_)) => {
            return Err(TcError::new(
                INVALID_PARAMETER_VALUE,
                "KeySpec must be AES_128 or AES_256.",
            ));
        }
    };
    let context = parse_context(p, "EncryptionContext")?;
    let key_id = p.req_str("KeyId");
    let (data_key, data_key_id) = if hosts_data_key(p) {
        let new = crate::data_keys::new_data_key(p)?;
        let (dk, id) = ctx
            .engine
            .generate_hosted_data_key(&ctx.caller, key_id, len, &context, new)
            .map_err(|e| ctx.kms(e))?;
        (dk, id.to_string())
    } else {
        let dk = ctx
            .engine
            .generate_data_key(&ctx.caller, key_id, len, &context)
            .map_err(|e| ctx.kms(e))?;
        (dk, String::new())
    };
    Ok(json!({
        "KeyId": data_key.key_id.to_string(),
        "Plaintext": returned_plaintext(p, &data_key.plaintext)?,
        "CiphertextBlob": B64.encode(&data_key.blob),
        "DataKeyId": data_key_id,
        "TagCode": 0,
        "TagMsg": "Success",
    }))
}

fn generate_random(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let n = p.uint("NumberOfBytes").unwrap_or_default() as usize;
    let bytes = ctx.engine.generate_random(n).map_err(|e| ctx.kms(e))?;
    Ok(json!({ "Plaintext": B64.encode(&*bytes) }))
}

fn enable_key_rotation(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    let days = p.uint("RotateDays").unwrap_or(DEFAULT_ROTATE_DAYS) as u32;
    ctx.engine
        .enable_rotation(&ctx.caller, p.req_str("KeyId"), days)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

fn disable_key_rotation(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    on_id(ctx, p, "KeyId", Engine::disable_rotation)
}

fn get_key_rotation_status(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    let key = ctx
        .engine
        .describe_key(&ctx.caller, p.req_str("KeyId"))
        .map_err(|e| ctx.kms(e))?;
    let m = KeyMetadata::from(&key);
    Ok(json!({
        "KeyRotationEnabled": m.key_rotation_enabled,
        "RotateDays": m.rotate_days,
        "NextRotateTime": m.next_rotate_time,
        "LastRotateTime": m.last_rotate_time,
    }))
}

fn rotate_key(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    refuse_member_account(p)?;
    ctx.engine
        .rotate_key(&ctx.caller, p.req_str("KeyId"))
        .map_err(|e| ctx.kms(e))?;
    // Rotation completes before the answer, so the task id only identifies the request.
    Ok(json!({ "TaskId": ctx.request_id }))
}

fn get_parameters_for_import(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let algorithm = match p.req_str("WrappingAlgorithm") {
        "RSAES_PKCS1_V1_5" => WrappingAlgorithm::RsaesPkcs1V15,
        "RSAES_OAEP_SHA_1" => WrappingAlgorithm::RsaesOaepSha1,
        "RSAES_OAEP_SHA_256" => WrappingAlgorithm::RsaesOaepSha256,
        _ => {
            return Err(TcError::new(
                INVALID_PARAMETER_VALUE,
                "WrappingAlgorithm must be RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.",
            ));
        }
    };
    if p.req_str("WrappingKeySpec") != "RSA_2048" {
        return Err(TcError::new(
            INVALID_PARAMETER_VALUE,
            "WrappingKeySpec must be RSA_2048.",
        ));
    }
    let issued = ctx
        .engine
        .get_parameters_for_import(
            &ctx.caller,
            p.req_str("KeyId"),
            algorithm,
            WrappingKeySpec::Rsa2048,
        )
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({
        "KeyId": issued.key_id.to_string(),
        "ImportToken": B64.encode(&issued.token),
        "PublicKey": B64.encode(&issued.public_key),
        "ParametersValidTo": issued.expires_at,
    }))
}

fn import_key_material(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let wrapped = decode_base64(
        p.req_str("EncryptedKeyMaterial"),
        INVALID_PARAMETER,
        "EncryptedKeyMaterial",
    )?;
    let token = decode_base64(p.req_str("ImportToken"), INVALID_PARAMETER, "ImportToken")?;
    ctx.engine
        .import_key_material(
            &ctx.caller,
            p.req_str("KeyId"),
            &wrapped,
            &token,
            p.uint("ValidTo").unwrap_or(0),
        )
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

fn delete_imported_key_material(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    on_id(ctx, p, "KeyId", Engine::delete_imported_material)
}

fn get_service_status(ctx: &Ctx<'_>, _: &Params) -> Result<Value, TcError> {
    let used = ctx.engine.count_keys(&ctx.caller).map_err(|e| ctx.kms(e))?;
    Ok(json!({
        "ServiceEnabled": true,
        "InvalidType": 1,
        "UserLevel": 0,
        "ProExpireTime": 0,
        "ProRenewFlag": 0,
        "ProResourceId": "",
        "ExclusiveVSMEnabled": false,
        "ExclusiveHSMEnabled": false,
        "SubscriptionInfo": "",
        "CmkUserCount": used,
        "CmkLimit": ctx.engine.config().max_keys_per_region,
        "ExclusiveHSMList": [],
        "IsAllowedDataKeyHosted": true,
        "DataKeyLimit": ctx.engine.config().max_data_keys_per_region,
        "FreeDataKeyLimit": ctx.engine.config().max_data_keys_per_region,
        "DataKeyUsedCount": ctx.engine.count_data_keys(&ctx.caller).map_err(|e| ctx.kms(e))?,
        "SyncTaskList": [],
        "IsAllowedSync": false,
        "QpsLimit": 0,
        "QpsTotalLimit": 0,
        "RegionsQps": [],
        "ResourceZone": 0,
        "ResourceRegion": 0,
        "MultiAccountLimit": 0,
        "MultiAccountUsedCount": 0,
    }))
}

fn get_regions(ctx: &Ctx<'_>, _: &Params) -> Result<Value, TcError> {
    Ok(json!({ "Regions": ctx.regions }))
}

fn list_algorithms(_: &Ctx<'_>, _: &Params) -> Result<Value, TcError> {
    Ok(json!({
        "SymmetricAlgorithms": [{ "KeyUsage": "ENCRYPT_DECRYPT", "Algorithm": "AES_256" }],
        "AsymmetricAlgorithms": [],
        "AsymmetricSignVerifyAlgorithms": [],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_listed_once() {
        let mut names: Vec<&str> = ACTIONS
            .iter()
            .map(|a| a.name)
            .chain(NOT_YET_SERVED.iter().copied())
            .collect();
        let before = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), before);
        assert_eq!(
            names.len(),
            69,
            "the vendor's 2019-01-18 API has 69 actions"
        );
    }

    #[test]
    fn alias_rules() {
        for ok in ["a", "A-1_b", "9lives", &"x".repeat(60)] {
            check_alias(ok).unwrap();
        }
        for bad in ["-a", "_a", "a b", "a/b", "kms-x", "ключ"] {
            assert_eq!(
                check_alias(bad).unwrap_err().code,
                "InvalidParameterValue.InvalidAlias",
                "{bad}"
            );
        }
    }
}
