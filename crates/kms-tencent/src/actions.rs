//! The action table: each action's name, its request type (see [`crate::requests`]), its
//! handler and the thread pool it runs on.

use serde_json::{Value, json};
use zeroize::Zeroizing;

use kms_core::engine::{HsmClusterFilter, NewKey, require_hsm_cluster};
use kms_core::{
    Caller, DeletableFrom, EncryptionContext, Engine, KeyListFilter, KeySpec, KeyState, KeyUsage,
    KmsError, Origin, SortOrder,
};
use kms_core::{WrappingAlgorithm, WrappingKeySpec};
use kms_crypto::public_key::{WrapAlgorithm, encrypt_to_public_key};

use crate::errors::*;
use crate::params::{Field, Params};
use crate::requests::*;
use crate::wire::{KEY_USAGES, KeyMetadata, key_state, key_usage};
use crate::{asymmetric, data_keys};

/// What a handler sees of the request.
pub struct Ctx<'a> {
    pub engine: &'a Engine,
    pub caller: Caller,
    pub request_id: &'a str,
    pub regions: &'a [String],
    /// The spec of the caller's region's ENCRYPT_DECRYPT keys: SM4 in a national-crypto region,
    /// AES-256 elsewhere.
    pub symmetric_spec: KeySpec,
}

impl Ctx<'_> {
    pub(crate) fn kms(&self, e: KmsError) -> TcError {
        from_kms(e, self.request_id)
    }
}

/// What an action does with its request.
pub type Handler<R> = fn(&Ctx<'_>, &R) -> Result<Value, TcError>;

pub struct Action {
    pub name: &'static str,
    /// The request's declared parameters, which [`Params::validate`] checks.
    pub fields: &'static [Field],
    /// Turns validated parameters into the action's request, bound to its handler: the table's
    /// macro instantiates [`prepare`] for the action's request type.
    pub prepare: fn(Params) -> Result<Prepared, TcError>,
}

/// A request ready to run, and where it runs.
pub struct Prepared {
    pub request: Box<dyn Run>,
    /// Whether the action may block for long: it commits to the store (an fsync), generates
    /// key pairs or scans a whole region's keys. Quick actions run inline on the server's
    /// async workers.
    pub blocking: bool,
}

/// A typed request bound to its handler.
pub trait Run: Send {
    fn run(&self, ctx: &Ctx<'_>) -> Result<Value, TcError>;
}

struct Bound<R> {
    request: R,
    handler: Handler<R>,
}

impl<R: Request> Run for Bound<R> {
    fn run(&self, ctx: &Ctx<'_>) -> Result<Value, TcError> {
        (self.handler)(ctx, &self.request)
    }
}

/// Where an action runs.
pub enum Pool<R> {
    Inline,
    Blocking,
    /// Blocking when the request asks for a write (GenerateDataKey hosted by the KMS).
    BlockingWhen(fn(&R) -> bool),
}

impl<R> Pool<R> {
    pub fn blocks(&self, request: &R) -> bool {
        match self {
            Pool::Inline => false,
            Pool::Blocking => true,
            Pool::BlockingWhen(writes) => writes(request),
        }
    }
}

/// Deserializes validated parameters into `R` and binds it to its handler.
pub fn prepare<R: Request>(
    params: Params,
    handler: Handler<R>,
    pool: Pool<R>,
) -> Result<Prepared, TcError> {
    let request = params.into_request::<R>()?;
    Ok(Prepared {
        blocking: pool.blocks(&request),
        request: Box::new(Bound { request, handler }),
    })
}

pub(crate) use kms_core::base64_text::B64;

/// Encrypt takes at most 4 KiB of plaintext.
const MAX_PLAINTEXT: usize = 4096;
const DEFAULT_LIMIT: u64 = 10;
const DEFAULT_ROTATE_DAYS: u64 = 365;

/// A row of the table: the pool, the action's name, its request type and its handler.
macro_rules! action {
    (quick $name:literal, $request:ty, $handler:path) => {
        action!(@row $name, $request, $handler, Pool::Inline)
    };
    (blocking $name:literal, $request:ty, $handler:path) => {
        action!(@row $name, $request, $handler, Pool::Blocking)
    };
    (blocking_when $writes:path, $name:literal, $request:ty, $handler:path) => {
        action!(@row $name, $request, $handler, Pool::BlockingWhen($writes))
    };
    (@row $name:literal, $request:ty, $handler:path, $pool:expr) => {
        Action {
            name: $name,
            fields: <$request as Request>::FIELDS,
            prepare: |params| prepare::<$request>(params, $handler, $pool),
        }
    };
}

pub static ACTIONS: &[Action] = &[
    action!(blocking "CreateKey", CreateKeyRequest, create_key),
    action!(quick "DescribeKey", DescribeKeyRequest, describe_key),
    action!(quick "DescribeKeys", DescribeKeysRequest, describe_keys),
    action!(blocking "ListKeys", ListKeysRequest, list_keys),
    action!(blocking "ListKeyDetail", ListKeyDetailRequest, list_key_detail),
    action!(blocking "EnableKey", EnableKeyRequest, enable_key),
    action!(blocking "DisableKey", DisableKeyRequest, disable_key),
    action!(blocking "EnableKeys", EnableKeysRequest, enable_keys),
    action!(blocking "DisableKeys", DisableKeysRequest, disable_keys),
    action!(blocking "UpdateAlias", UpdateAliasRequest, update_alias),
    action!(blocking "UpdateKeyDescription", UpdateKeyDescriptionRequest, update_key_description),
    action!(blocking "ScheduleKeyDeletion", ScheduleKeyDeletionRequest, schedule_key_deletion),
    action!(blocking "CancelKeyDeletion", CancelKeyDeletionRequest, cancel_key_deletion),
    action!(blocking "ArchiveKey", ArchiveKeyRequest, archive_key),
    action!(blocking "CancelKeyArchive", CancelKeyArchiveRequest, cancel_key_archive),
    action!(quick "Encrypt", EncryptRequest, encrypt),
    action!(quick "Decrypt", DecryptRequest, decrypt),
    action!(quick "ReEncrypt", ReEncryptRequest, re_encrypt),
    action!(blocking_when hosts_data_key, "GenerateDataKey", GenerateDataKeyRequest, generate_data_key),
    action!(quick "GenerateRandom", GenerateRandomRequest, generate_random),
    action!(blocking "EnableKeyRotation", EnableKeyRotationRequest, enable_key_rotation),
    action!(blocking "DisableKeyRotation", DisableKeyRotationRequest, disable_key_rotation),
    action!(quick "GetKeyRotationStatus", GetKeyRotationStatusRequest, get_key_rotation_status),
    action!(blocking "RotateKey", RotateKeyRequest, rotate_key),
    action!(blocking "GetParametersForImport", GetParametersForImportRequest, get_parameters_for_import),
    action!(blocking "ImportKeyMaterial", ImportKeyMaterialRequest, import_key_material),
    action!(blocking "DeleteImportedKeyMaterial", DeleteImportedKeyMaterialRequest, delete_imported_key_material),
    action!(blocking "ImportDataKey", ImportDataKeyRequest, data_keys::import_data_key),
    action!(quick "DescribeDataKey", DescribeDataKeyRequest, data_keys::describe_data_key),
    action!(quick "DescribeDataKeys", DescribeDataKeysRequest, data_keys::describe_data_keys),
    action!(blocking "ListDataKeys", ListDataKeysRequest, data_keys::list_data_keys),
    action!(blocking "ListDataKeyDetail", ListDataKeyDetailRequest, data_keys::list_data_key_detail),
    action!(blocking "EnableDataKey", EnableDataKeyRequest, data_keys::enable_data_key),
    action!(blocking "DisableDataKey", DisableDataKeyRequest, data_keys::disable_data_key),
    action!(blocking "EnableDataKeys", EnableDataKeysRequest, data_keys::enable_data_keys),
    action!(blocking "DisableDataKeys", DisableDataKeysRequest, data_keys::disable_data_keys),
    action!(blocking "ScheduleDataKeyDeletion", ScheduleDataKeyDeletionRequest, data_keys::schedule_data_key_deletion),
    action!(blocking "CancelDataKeyDeletion", CancelDataKeyDeletionRequest, data_keys::cancel_data_key_deletion),
    action!(quick "GetDataKeyPlaintext", GetDataKeyPlaintextRequest, data_keys::get_data_key_plaintext),
    action!(quick "GetDataKeyCiphertextBlob", GetDataKeyCiphertextBlobRequest, data_keys::get_data_key_ciphertext_blob),
    action!(blocking "UpdateDataKeyName", UpdateDataKeyNameRequest, data_keys::update_data_key_name),
    action!(blocking "UpdateDataKeyDescription", UpdateDataKeyDescriptionRequest, data_keys::update_data_key_description),
    action!(quick "GetServiceStatus", GetServiceStatusRequest, get_service_status),
    action!(quick "GetRegions", GetRegionsRequest, get_regions),
    action!(quick "ListAlgorithms", ListAlgorithmsRequest, list_algorithms),
    action!(quick "GetPublicKey", GetPublicKeyRequest, asymmetric::get_public_key),
    action!(blocking "SignByAsymmetricKey", SignByAsymmetricKeyRequest, asymmetric::sign_by_asymmetric_key),
    action!(quick "VerifyByAsymmetricKey", VerifyByAsymmetricKeyRequest, asymmetric::verify_by_asymmetric_key),
    action!(blocking "AsymmetricRsaDecrypt", AsymmetricRsaDecryptRequest, asymmetric::asymmetric_rsa_decrypt),
    action!(blocking "AsymmetricSm2Decrypt", AsymmetricSm2DecryptRequest, asymmetric::asymmetric_sm2_decrypt),
    action!(quick "PostQuantumCryptoEncrypt", PostQuantumCryptoEncryptRequest, asymmetric::post_quantum_crypto_encrypt),
    action!(quick "PostQuantumCryptoDecrypt", PostQuantumCryptoDecryptRequest, asymmetric::post_quantum_crypto_decrypt),
    action!(blocking "PostQuantumCryptoSign", PostQuantumCryptoSignRequest, asymmetric::post_quantum_crypto_sign),
    action!(quick "PostQuantumCryptoVerify", PostQuantumCryptoVerifyRequest, asymmetric::post_quantum_crypto_verify),
    action!(blocking "BindCloudResource", BindCloudResourceRequest, asymmetric::bind_cloud_resource),
    action!(blocking "UnbindCloudResource", UnbindCloudResourceRequest, asymmetric::unbind_cloud_resource),
];

/// Actions of the vendor's API (version 2019-01-18) that this server does not serve: the
/// white-box actions, which need a white-box cryptography library. They answer
/// UnsupportedOperation rather than InvalidAction, since they exist.
pub static NOT_YET_SERVED: &[&str] = &[
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
    "OverwriteWhiteBoxDeviceFingerprints",
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

/// Member accounts (`MemberAccount`, or `MemberAccounts` in the detail listings) are refused.
pub(crate) fn refuse_member_account(given: bool) -> Result<(), TcError> {
    if given {
        return Err(TcError::new(
            UNSUPPORTED_OPERATION,
            "Member accounts are not supported by this server.",
        ));
    }
    Ok(())
}

/// An `HsmClusterId` naming a cluster: `None` when empty, the id when this server serves it.
pub(crate) fn served_hsm_cluster(
    ctx: &Ctx<'_>,
    id: Option<&str>,
) -> Result<Option<String>, TcError> {
    match id {
        None | Some("") => Ok(None),
        Some(id) if ctx.engine.has_hsm_cluster(id) => Ok(Some(id.to_owned())),
        Some(_) => Err(TcError::new(
            "InvalidParameterValue.InvalidHsmClusterId",
            "No HSM cluster with this id exists.",
        )),
    }
}

/// The listings' `HsmClusterId`: empty lists every key, `default` the keys outside every
/// cluster (the vendor's shared edition), a cluster's id the keys in it.
pub(crate) fn hsm_cluster_filter(
    ctx: &Ctx<'_>,
    id: Option<&str>,
) -> Result<Option<HsmClusterFilter>, TcError> {
    if id == Some("default") {
        return Ok(Some(HsmClusterFilter::Shared));
    }
    Ok(served_hsm_cluster(ctx, id)?.map(HsmClusterFilter::Cluster))
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
/// The length (1 to 60) is the request field's limit.
pub fn is_valid_alias(alias: &str) -> bool {
    is_valid_name(alias) && !alias.starts_with("kms-")
}

fn check_alias(alias: &str) -> Result<(), TcError> {
    if is_valid_alias(alias) {
        Ok(())
    } else {
        Err(TcError::new(
            "InvalidParameterValue.InvalidAlias",
            "Alias must be 1 to 60 letters, digits, '-' or '_', start with a letter or digit, and not start with 'kms-'.",
        ))
    }
}

/// The key a Tencent KeyUsage asks for: ENCRYPT_DECRYPT is the region's symmetric spec, every
/// other name fixes its spec. Empty is ENCRYPT_DECRYPT.
fn parse_usage(name: &str, symmetric_spec: KeySpec) -> Result<(KeyUsage, KeySpec), TcError> {
    match name {
        "" | "ENCRYPT_DECRYPT" => Ok((KeyUsage::EncryptDecrypt, symmetric_spec)),
        _ => KEY_USAGES
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, usage, spec)| (*usage, *spec))
            .ok_or_else(|| {
                TcError::new(
                    "InvalidParameterValue.InvalidKeyUsage",
                    "KeyUsage is not a known key usage.",
                )
            }),
    }
}

/// Parses the encryption context in parameter `name` by the engine's rules (a JSON object of
/// string values, no key twice, at most 1024 characters); absent is empty.
pub(crate) fn parse_context(text: Option<&str>, name: &str) -> Result<EncryptionContext, TcError> {
    EncryptionContext::from_json(text.unwrap_or_default())
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

fn ciphertext(blob: &str) -> Result<Vec<u8>, TcError> {
    let blob = decode_base64(
        blob,
        "InvalidParameterValue.InvalidCiphertext",
        "CiphertextBlob",
    )?;
    Ok(blob.to_vec())
}

/// Plaintext returned to the caller: base64, or, when they supplied `EncryptionPublicKey`,
/// encrypted to that key with `EncryptionAlgorithm` (SM2 when empty) and then base64.
pub(crate) fn returned_plaintext(
    public_key: Option<&str>,
    algorithm: Option<&str>,
    plaintext: &[u8],
) -> Result<String, TcError> {
    let pem = match public_key {
        None | Some("") => return Ok(B64.encode(plaintext)),
        Some(pem) => pem,
    };
    let algorithm = match algorithm.unwrap_or_default() {
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

/// The many actions that apply one engine operation to one id and answer only the request id.
pub(crate) fn on_id(
    ctx: &Ctx<'_>,
    member_account: Option<Unsupported>,
    id: &str,
    op: fn(&Engine, &Caller, &str) -> Result<(), KmsError>,
) -> Result<Value, TcError> {
    refuse_member_account(member_account.is_some())?;
    op(ctx.engine, &ctx.caller, id).map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

/// As [`on_id`], for the batch actions over a list of ids.
pub(crate) fn on_ids(
    ctx: &Ctx<'_>,
    member_account: Option<Unsupported>,
    ids: &[String],
    op: fn(&Engine, &Caller, &[String]) -> Result<(), KmsError>,
) -> Result<Value, TcError> {
    refuse_member_account(member_account.is_some())?;
    op(ctx.engine, &ctx.caller, ids).map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

fn create_key(ctx: &Ctx<'_>, r: &CreateKeyRequest) -> Result<Value, TcError> {
    check_alias(&r.alias)?;
    let (usage, spec) = parse_usage(
        r.key_usage.as_deref().unwrap_or_default(),
        ctx.symmetric_spec,
    )?;
    let origin = match r.r#type.unwrap_or(1) {
        2 => Origin::External,
        _ => Origin::Kms,
    };
    if origin == Origin::External && !spec.is_symmetric() {
        return Err(TcError::new(
            "InvalidParameterValue.InvalidKeyUsage",
            "Only ENCRYPT_DECRYPT keys can be created for imported material (Type 2).",
        ));
    }
    let hsm_cluster = served_hsm_cluster(ctx, r.hsm_cluster_id.as_deref())?;
    if hsm_cluster.is_some() && origin == Origin::External {
        return Err(TcError::new(
            UNSUPPORTED_OPERATION,
            "Keys for imported material (Type 2) cannot be created in an HSM cluster.",
        ));
    }
    let key = ctx
        .engine
        .create_key(
            &ctx.caller,
            NewKey {
                hsm_cluster,
                alias: r.alias.clone(),
                description: r.description.clone().unwrap_or_default(),
                usage,
                spec,
                origin,
                tags: engine_tags(&r.tags),
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
        "HsmClusterId": key.hsm_cluster.clone().unwrap_or_default(),
    }))
}

fn describe_key(ctx: &Ctx<'_>, r: &DescribeKeyRequest) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    let key = ctx
        .engine
        .describe_key(&ctx.caller, &r.key_id)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "KeyMetadata": KeyMetadata::from(&key) }))
}

fn describe_keys(ctx: &Ctx<'_>, r: &DescribeKeysRequest) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    let keys = ctx
        .engine
        .describe_keys(&ctx.caller, &r.key_ids)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "KeyMetadatas": metadata_list(&keys) }))
}

/// Paging shared by the list actions: Limit 0 or absent means the default of 10.
pub(crate) fn page(offset: Option<u64>, limit: Option<u64>) -> (usize, usize) {
    let limit = match limit {
        None | Some(0) => DEFAULT_LIMIT,
        Some(n) => n,
    };
    (offset.unwrap_or(0) as usize, limit as usize)
}

/// Runs a listing of the caller's own keys; keys that cloud products created for the caller
/// (Role 1) list empty, as this server has none.
pub(crate) fn own_keys_only<T>(
    role: Option<u64>,
    list: impl FnOnce() -> Result<(usize, Vec<T>), TcError>,
) -> Result<(usize, Vec<T>), TcError> {
    if role == Some(1) {
        Ok((0, Vec::new()))
    } else {
        list()
    }
}

fn list_keys(ctx: &Ctx<'_>, r: &ListKeysRequest) -> Result<Value, TcError> {
    let hsm_cluster = hsm_cluster_filter(ctx, r.hsm_cluster_id.as_deref())?;
    let (offset, limit) = page(r.offset, r.limit);
    let filter = KeyListFilter {
        states: Some(vec![
            KeyState::Enabled,
            KeyState::Disabled,
            KeyState::PendingImport,
        ]),
        hsm_cluster,
        order: SortOrder::OldestFirst,
        offset,
        limit,
        ..Default::default()
    };
    let (total, keys) = own_keys_only(r.role, || {
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

/// The detail listings' `Origin` filter: TENCENT_KMS, EXTERNAL, or ALL (or empty) for both.
pub(crate) fn origin_filter(origin: Option<&str>) -> Result<Option<Origin>, TcError> {
    match origin.unwrap_or_default() {
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
pub(crate) fn sort_order(order_type: Option<u64>) -> SortOrder {
    if order_type == Some(1) {
        SortOrder::OldestFirst
    } else {
        SortOrder::NewestFirst
    }
}

/// The detail listings' `SearchKeyAlias`: empty searches nothing.
pub(crate) fn search(text: &Option<String>) -> Option<String> {
    text.clone().filter(|s| !s.is_empty())
}

fn list_key_detail(ctx: &Ctx<'_>, r: &ListKeyDetailRequest) -> Result<Value, TcError> {
    refuse_member_account(r.member_accounts.is_some())?;
    let hsm_cluster = hsm_cluster_filter(ctx, r.hsm_cluster_id.as_deref())?;
    let (offset, limit) = page(r.offset, r.limit);
    let states = match r.key_state.unwrap_or(0) {
        1 => Some(vec![KeyState::Enabled]),
        2 => Some(vec![KeyState::Disabled]),
        3 => Some(vec![KeyState::PendingDelete]),
        4 => Some(vec![KeyState::PendingImport]),
        5 => Some(vec![KeyState::Archived]),
        _ => None,
    };
    let origin = origin_filter(r.origin.as_deref())?;
    // A KeyUsage names a usage and its specs; ENCRYPT_DECRYPT covers AES-256 and SM4 keys alike.
    let (usages, specs) = match r.key_usage.as_deref().unwrap_or_default() {
        "ALL" => (None, None),
        name => {
            let (usage, spec) = parse_usage(name, ctx.symmetric_spec)?;
            let specs = if usage == KeyUsage::EncryptDecrypt && spec.is_symmetric() {
                vec![KeySpec::Aes256, KeySpec::Sm4]
            } else {
                vec![spec]
            };
            (Some(vec![usage]), Some(specs))
        }
    };
    let filter = KeyListFilter {
        states,
        origin,
        usages,
        specs,
        search: search(&r.search_key_alias),
        tags: engine_tag_filters(&r.tag_filters),
        hsm_cluster,
        order: sort_order(r.order_type),
        offset,
        limit,
    };
    let (total, keys) = own_keys_only(r.role, || {
        ctx.engine
            .list_keys(&ctx.caller, &filter)
            .map_err(|e| ctx.kms(e))
    })?;
    Ok(json!({ "TotalCount": total, "KeyMetadatas": metadata_list(&keys) }))
}

fn enable_key(ctx: &Ctx<'_>, r: &EnableKeyRequest) -> Result<Value, TcError> {
    on_id(ctx, r.member_account, &r.key_id, Engine::enable_key)
}

fn disable_key(ctx: &Ctx<'_>, r: &DisableKeyRequest) -> Result<Value, TcError> {
    on_id(ctx, r.member_account, &r.key_id, Engine::disable_key)
}

fn enable_keys(ctx: &Ctx<'_>, r: &EnableKeysRequest) -> Result<Value, TcError> {
    on_ids(ctx, r.member_account, &r.key_ids, Engine::enable_keys)
}

fn disable_keys(ctx: &Ctx<'_>, r: &DisableKeysRequest) -> Result<Value, TcError> {
    on_ids(ctx, r.member_account, &r.key_ids, Engine::disable_keys)
}

fn update_alias(ctx: &Ctx<'_>, r: &UpdateAliasRequest) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    check_alias(&r.alias)?;
    ctx.engine
        .update_alias(&ctx.caller, &r.key_id, r.alias.clone())
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

fn update_key_description(
    ctx: &Ctx<'_>,
    r: &UpdateKeyDescriptionRequest,
) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    ctx.engine
        .update_description(&ctx.caller, &r.key_id, r.description.clone())
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

fn schedule_key_deletion(ctx: &Ctx<'_>, r: &ScheduleKeyDeletionRequest) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    let date = ctx
        .engine
        .schedule_deletion(
            &ctx.caller,
            &r.key_id,
            r.pending_window_in_days as u32,
            DeletableFrom::Disabled,
        )
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "DeletionDate": date, "KeyId": r.key_id }))
}

fn cancel_key_deletion(ctx: &Ctx<'_>, r: &CancelKeyDeletionRequest) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    ctx.engine
        .cancel_deletion(&ctx.caller, &r.key_id)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "KeyId": r.key_id }))
}

fn archive_key(ctx: &Ctx<'_>, r: &ArchiveKeyRequest) -> Result<Value, TcError> {
    on_id(ctx, r.member_account, &r.key_id, Engine::archive_key)
}

fn cancel_key_archive(ctx: &Ctx<'_>, r: &CancelKeyArchiveRequest) -> Result<Value, TcError> {
    on_id(ctx, r.member_account, &r.key_id, Engine::cancel_archive)
}

fn encrypt(ctx: &Ctx<'_>, r: &EncryptRequest) -> Result<Value, TcError> {
    let plaintext = decode_base64(
        &r.plaintext,
        "InvalidParameterValue.InvalidPlaintext",
        "Plaintext",
    )?;
    if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
        return Err(TcError::new(
            "InvalidParameterValue.InvalidPlaintext",
            format!("Plaintext must be 1 to {MAX_PLAINTEXT} bytes once decoded."),
        ));
    }
    let context = parse_context(r.encryption_context.as_deref(), "EncryptionContext")?;
    let (key_id, blob) = ctx
        .engine
        .encrypt(&ctx.caller, &r.key_id, &plaintext, &context)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "CiphertextBlob": B64.encode(blob), "KeyId": key_id.to_string() }))
}

fn decrypt(ctx: &Ctx<'_>, r: &DecryptRequest) -> Result<Value, TcError> {
    let blob = ciphertext(&r.ciphertext_blob)?;
    let context = parse_context(r.encryption_context.as_deref(), "EncryptionContext")?;
    let (key_id, plaintext) = ctx
        .engine
        .decrypt(&ctx.caller, &blob, &context)
        .map_err(|e| ctx.kms(e))?;
    let plaintext = returned_plaintext(
        r.encryption_public_key.as_deref(),
        r.encryption_algorithm.as_deref(),
        &plaintext,
    )?;
    Ok(json!({ "KeyId": key_id.to_string(), "Plaintext": plaintext }))
}

fn re_encrypt(ctx: &Ctx<'_>, r: &ReEncryptRequest) -> Result<Value, TcError> {
    let blob = ciphertext(&r.ciphertext_blob)?;
    let source = parse_context(
        r.source_encryption_context.as_deref(),
        "SourceEncryptionContext",
    )?;
    let destination = parse_context(
        r.destination_encryption_context.as_deref(),
        "DestinationEncryptionContext",
    )?;
    let destination_key = r.destination_key_id.as_deref().filter(|s| !s.is_empty());
    let result = ctx
        .engine
        .re_encrypt(&ctx.caller, &blob, &source, destination_key, &destination)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({
        "CiphertextBlob": B64.encode(&result.blob),
        "KeyId": result.key_id.to_string(),
        "SourceKeyId": result.source_key_id.to_string(),
        "ReEncrypted": result.re_encrypted,
    }))
}

/// Whether GenerateDataKey keeps the data key (a commit) rather than only returning it.
fn hosts_data_key(r: &GenerateDataKeyRequest) -> bool {
    r.is_hosted_by_kms == Some(1)
}

fn generate_data_key(ctx: &Ctx<'_>, r: &GenerateDataKeyRequest) -> Result<Value, TcError> {
    let expected_hsm_cluster = served_hsm_cluster(ctx, r.hsm_cluster_id.as_deref())?;
    let len = match (r.number_of_bytes, r.key_spec.as_deref()) {
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
    let context = parse_context(r.encryption_context.as_deref(), "EncryptionContext")?;
    let (data_key, data_key_id) = if hosts_data_key(r) {
        let new = crate::data_keys::new_data_key(
            r.data_key_name.as_deref(),
            r.description.as_deref(),
            &r.tags,
            expected_hsm_cluster,
        )?;
        let (dk, id) = ctx
            .engine
            .generate_hosted_data_key(&ctx.caller, &r.key_id, len, &context, new)
            .map_err(|e| ctx.kms(e))?;
        (dk, id.to_string())
    } else {
        let dk = ctx
            .engine
            .generate_data_key(&ctx.caller, &r.key_id, len, &context)
            .and_then(|dk| {
                require_hsm_cluster(expected_hsm_cluster.as_deref(), dk.hsm_cluster.as_deref())?;
                Ok(dk)
            })
            .map_err(|e| ctx.kms(e))?;
        (dk, String::new())
    };
    let plaintext = returned_plaintext(
        r.encryption_public_key.as_deref(),
        r.encryption_algorithm.as_deref(),
        &data_key.plaintext,
    )?;
    Ok(json!({
        "KeyId": data_key.key_id.to_string(),
        "Plaintext": plaintext,
        "CiphertextBlob": B64.encode(&data_key.blob),
        "DataKeyId": data_key_id,
        "TagCode": 0,
        "TagMsg": "Success",
    }))
}

fn generate_random(ctx: &Ctx<'_>, r: &GenerateRandomRequest) -> Result<Value, TcError> {
    let bytes = ctx
        .engine
        .generate_random(r.number_of_bytes as usize)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "Plaintext": B64.encode(&*bytes) }))
}

fn enable_key_rotation(ctx: &Ctx<'_>, r: &EnableKeyRotationRequest) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    let days = r.rotate_days.unwrap_or(DEFAULT_ROTATE_DAYS) as u32;
    ctx.engine
        .enable_rotation(&ctx.caller, &r.key_id, days)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

fn disable_key_rotation(ctx: &Ctx<'_>, r: &DisableKeyRotationRequest) -> Result<Value, TcError> {
    on_id(ctx, r.member_account, &r.key_id, Engine::disable_rotation)
}

fn get_key_rotation_status(
    ctx: &Ctx<'_>,
    r: &GetKeyRotationStatusRequest,
) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    let key = ctx
        .engine
        .describe_key(&ctx.caller, &r.key_id)
        .map_err(|e| ctx.kms(e))?;
    let m = KeyMetadata::from(&key);
    Ok(json!({
        "KeyRotationEnabled": m.key_rotation_enabled,
        "RotateDays": m.rotate_days,
        "NextRotateTime": m.next_rotate_time,
        "LastRotateTime": m.last_rotate_time,
    }))
}

fn rotate_key(ctx: &Ctx<'_>, r: &RotateKeyRequest) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    ctx.engine
        .rotate_key(&ctx.caller, &r.key_id)
        .map_err(|e| ctx.kms(e))?;
    // Rotation completes before the answer, so the task id only identifies the request.
    Ok(json!({ "TaskId": ctx.request_id }))
}

fn get_parameters_for_import(
    ctx: &Ctx<'_>,
    r: &GetParametersForImportRequest,
) -> Result<Value, TcError> {
    let algorithm = match r.wrapping_algorithm.as_str() {
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
    if r.wrapping_key_spec != "RSA_2048" {
        return Err(TcError::new(
            INVALID_PARAMETER_VALUE,
            "WrappingKeySpec must be RSA_2048.",
        ));
    }
    let issued = ctx
        .engine
        .get_parameters_for_import(&ctx.caller, &r.key_id, algorithm, WrappingKeySpec::Rsa2048)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({
        "KeyId": issued.key_id.to_string(),
        "ImportToken": B64.encode(&issued.token),
        "PublicKey": B64.encode(&issued.public_key),
        "ParametersValidTo": issued.expires_at,
    }))
}

fn import_key_material(ctx: &Ctx<'_>, r: &ImportKeyMaterialRequest) -> Result<Value, TcError> {
    let wrapped = decode_base64(
        &r.encrypted_key_material,
        INVALID_PARAMETER,
        "EncryptedKeyMaterial",
    )?;
    let token = decode_base64(&r.import_token, INVALID_PARAMETER, "ImportToken")?;
    ctx.engine
        .import_key_material(
            &ctx.caller,
            &r.key_id,
            &wrapped,
            &token,
            r.valid_to.unwrap_or(0),
        )
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

fn delete_imported_key_material(
    ctx: &Ctx<'_>,
    r: &DeleteImportedKeyMaterialRequest,
) -> Result<Value, TcError> {
    on_id(ctx, None, &r.key_id, Engine::delete_imported_material)
}

fn get_service_status(ctx: &Ctx<'_>, _: &GetServiceStatusRequest) -> Result<Value, TcError> {
    let used = ctx.engine.count_keys(&ctx.caller).map_err(|e| ctx.kms(e))?;
    // The served clusters (`--hsm-cluster`) are named by their ids; they have no other name.
    let clusters: Vec<Value> = ctx
        .engine
        .hsm_cluster_ids()
        .into_iter()
        .map(|id| json!({ "HsmClusterId": id, "HsmClusterName": id }))
        .collect();
    Ok(json!({
        "ServiceEnabled": true,
        "InvalidType": 1,
        "UserLevel": 0,
        "ProExpireTime": 0,
        "ProRenewFlag": 0,
        "ProResourceId": "",
        "ExclusiveVSMEnabled": false,
        "ExclusiveHSMEnabled": !clusters.is_empty(),
        "SubscriptionInfo": "",
        "CmkUserCount": used,
        "CmkLimit": ctx.engine.config().max_keys_per_region,
        "ExclusiveHSMList": clusters,
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

fn get_regions(ctx: &Ctx<'_>, _: &GetRegionsRequest) -> Result<Value, TcError> {
    Ok(json!({ "Regions": ctx.regions }))
}

/// What this server serves in the caller's region, in the vendor's names and order.
fn list_algorithms(ctx: &Ctx<'_>, _: &ListAlgorithmsRequest) -> Result<Value, TcError> {
    let symmetric = if ctx.symmetric_spec == KeySpec::Sm4 {
        "SM4"
    } else {
        "AES_256"
    };
    let infos = |pairs: &[(&str, &str)]| -> Vec<Value> {
        pairs
            .iter()
            .map(|(usage, algorithm)| json!({ "KeyUsage": usage, "Algorithm": algorithm }))
            .collect()
    };
    Ok(json!({
        "SymmetricAlgorithms": infos(&[("ENCRYPT_DECRYPT", symmetric)]),
        "AsymmetricAlgorithms": infos(&[
            ("ASYMMETRIC_DECRYPT_RSA_2048", "RSA_2048"),
            ("ASYMMETRIC_DECRYPT_SM2", "SM2"),
            ("ASYMMETRIC_Encrypt_Decrypt_Kyber_AES", "Kyber_AES"),
        ]),
        "AsymmetricSignVerifyAlgorithms": infos(&[
            ("ASYMMETRIC_SIGN_VERIFY_SM2", "SM2"),
            ("ASYMMETRIC_SIGN_VERIFY_RSA_2048", "RSA_2048"),
            ("ASYMMETRIC_SIGN_VERIFY_ECC", "ECC"),
            ("ASYMMETRIC_SIGN_VERIFY_ECDSA384", "ECDSA384_SHA384"),
            ("ASYMMETRIC_SIGN_VERIFY_RSA_3072", "RSA_3072"),
            ("ASYMMETRIC_SIGN_VERIFY_DILITHIUM", "Dilithium"),
        ]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Kind, unflatten};
    use serde_json::Map;

    /// A valid value of each declared kind, at its lower bound (but never empty).
    fn valid(kind: Kind) -> Value {
        match kind {
            Kind::Str { min, max } => Value::from("a".repeat(min.clamp(1, max))),
            Kind::UInt { min, .. } => Value::from(min),
            Kind::StrList { min, .. } => Value::from(vec!["a"; min.max(1)]),
            Kind::Tags { .. } => json!([{ "TagKey": "k", "TagValue": "v" }]),
            Kind::TagFilters { .. } => json!([{ "TagKey": "k", "TagValue": ["v"] }]),
            Kind::Object => json!({ "Uin": "1" }),
            Kind::ObjectList => json!([{ "Uin": "1" }]),
        }
    }

    /// The legacy and GET form of a JSON parameter: `A.0.B=v` pairs, every leaf a string.
    fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => map
                .iter()
                .for_each(|(k, v)| flatten(&format!("{prefix}.{k}"), v, out)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| flatten(&format!("{prefix}.{i}"), v, out)),
            Value::String(s) => out.push((prefix.to_owned(), s.clone())),
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }

    fn prepared(action: &Action, map: Map<String, Value>, from_query: bool) -> Prepared {
        let params = Params::validate(map, action.fields, from_query)
            .unwrap_or_else(|e| panic!("{}: {}", action.name, e.message));
        (action.prepare)(params).unwrap_or_else(|e| panic!("{}: {}", action.name, e.message))
    }

    /// Every action's request type deserializes from any request its declaration accepts: with
    /// only the required parameters or with all of them, as JSON or flattened.
    #[test]
    fn every_action_deserializes_what_its_fields_accept() {
        for action in ACTIONS {
            for all in [false, true] {
                let map: Map<String, Value> = action
                    .fields
                    .iter()
                    .filter(|f| all || f.required)
                    .map(|f| (f.name.to_owned(), valid(f.kind)))
                    .collect();
                let mut pairs = Vec::new();
                map.iter()
                    .for_each(|(name, v)| flatten(name, v, &mut pairs));
                prepared(action, map, false);
                prepared(action, unflatten(&pairs).unwrap(), true);
            }
        }
    }

    /// Each served action's parameters as the vendor defines them, in the vendor's order, `?`
    /// marking the optional ones. Source: the request objects of tccli's
    /// `services/kms/v20190118/api.json` (tccli 3.1.189.1, API version 2019-01-18).
    #[rustfmt::skip]
    const VENDOR_PARAMETERS: &[(&str, &str)] = &[
        ("CreateKey", "Alias Description? KeyUsage? Type? Tags? HsmClusterId?"),
        ("DescribeKey", "KeyId MemberAccount?"),
        ("DescribeKeys", "KeyIds MemberAccount?"),
        ("ListKeys", "Offset? Limit? Role? HsmClusterId?"),
        ("ListKeyDetail", "Offset? Limit? Role? OrderType? KeyState? SearchKeyAlias? Origin? KeyUsage? TagFilters? HsmClusterId? MemberAccounts?"),
        ("EnableKey", "KeyId MemberAccount?"),
        ("DisableKey", "KeyId MemberAccount?"),
        ("EnableKeys", "KeyIds MemberAccount?"),
        ("DisableKeys", "KeyIds MemberAccount?"),
        ("UpdateAlias", "Alias KeyId MemberAccount?"),
        ("UpdateKeyDescription", "Description KeyId MemberAccount?"),
        ("ScheduleKeyDeletion", "KeyId PendingWindowInDays MemberAccount?"),
        ("CancelKeyDeletion", "KeyId MemberAccount?"),
        ("ArchiveKey", "KeyId MemberAccount?"),
        ("CancelKeyArchive", "KeyId MemberAccount?"),
        ("Encrypt", "KeyId Plaintext EncryptionContext?"),
        ("Decrypt", "CiphertextBlob EncryptionContext? EncryptionPublicKey? EncryptionAlgorithm?"),
        ("ReEncrypt", "CiphertextBlob DestinationKeyId? SourceEncryptionContext? DestinationEncryptionContext?"),
        ("GenerateDataKey", "KeyId KeySpec? NumberOfBytes? EncryptionContext? EncryptionPublicKey? EncryptionAlgorithm? IsHostedByKms? DataKeyName? Description? HsmClusterId? Tags?"),
        ("GenerateRandom", "NumberOfBytes"),
        ("EnableKeyRotation", "KeyId RotateDays? MemberAccount?"),
        ("DisableKeyRotation", "KeyId MemberAccount?"),
        ("GetKeyRotationStatus", "KeyId MemberAccount?"),
        ("RotateKey", "KeyId MemberAccount?"),
        ("GetParametersForImport", "KeyId WrappingAlgorithm WrappingKeySpec"),
        ("ImportKeyMaterial", "EncryptedKeyMaterial ImportToken KeyId ValidTo?"),
        ("DeleteImportedKeyMaterial", "KeyId"),
        ("ImportDataKey", "DataKeyName ImportKeyMaterial ImportType Description? KeyId? HsmClusterId? Tags?"),
        ("DescribeDataKey", "DataKeyId MemberAccount?"),
        ("DescribeDataKeys", "DataKeyIds MemberAccount?"),
        ("ListDataKeys", "Offset? Limit? Role? HsmClusterId?"),
        ("ListDataKeyDetail", "Offset? Limit? Role? OrderType? KeyState? SearchKeyAlias? Origin? HsmClusterId? KeyId? DataKeyLen? TagFilters? MemberAccounts?"),
        ("EnableDataKey", "DataKeyId MemberAccount?"),
        ("DisableDataKey", "DataKeyId MemberAccount?"),
        ("EnableDataKeys", "DataKeyIds MemberAccount?"),
        ("DisableDataKeys", "DataKeyIds MemberAccount?"),
        ("ScheduleDataKeyDeletion", "DataKeyId PendingWindowInDays MemberAccount?"),
        ("CancelDataKeyDeletion", "DataKeyId MemberAccount?"),
        ("GetDataKeyPlaintext", "DataKeyId EncryptionPublicKey? EncryptionAlgorithm?"),
        ("GetDataKeyCiphertextBlob", "DataKeyId MemberAccount?"),
        ("UpdateDataKeyName", "DataKeyId DataKeyName MemberAccount?"),
        ("UpdateDataKeyDescription", "DataKeyId Description MemberAccount?"),
        ("GetServiceStatus", ""),
        ("GetRegions", ""),
        ("ListAlgorithms", ""),
        ("GetPublicKey", "KeyId"),
        ("SignByAsymmetricKey", "Algorithm Message KeyId MessageType?"),
        ("VerifyByAsymmetricKey", "KeyId SignatureValue Message Algorithm MessageType?"),
        ("AsymmetricRsaDecrypt", "KeyId Ciphertext Algorithm"),
        ("AsymmetricSm2Decrypt", "KeyId Ciphertext"),
        ("PostQuantumCryptoEncrypt", "KeyId PlainText"),
        ("PostQuantumCryptoDecrypt", "CiphertextBlob EncryptionPublicKey? EncryptionAlgorithm?"),
        ("PostQuantumCryptoSign", "Message KeyId"),
        ("PostQuantumCryptoVerify", "KeyId SignatureValue Message"),
        ("BindCloudResource", "KeyId ProductId ResourceId"),
        ("UnbindCloudResource", "KeyId ProductId ResourceId"),
    ];

    #[test]
    fn declarations_follow_the_vendor() {
        assert_eq!(ACTIONS.len(), VENDOR_PARAMETERS.len());
        for (name, vendor) in VENDOR_PARAMETERS {
            let action = find(name).unwrap_or_else(|| panic!("{name} is not served"));
            let declared: Vec<String> = action
                .fields
                .iter()
                .map(|f| format!("{}{}", f.name, if f.required { "" } else { "?" }))
                .collect();
            assert_eq!(declared.join(" "), *vendor, "{name}");
        }
    }

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
