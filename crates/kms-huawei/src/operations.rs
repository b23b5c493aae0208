//! The operations: each parses its SDK model, calls the engine and shapes the answer.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use kms_core::engine::{DeletableFrom, NewKey};
use kms_core::{
    Caller, EncryptionContext, Engine, KeyListFilter, KeyRecord, KeySpec, KeyState, KeyUsage,
    Origin, SortOrder,
};

use crate::errors::*;
use crate::routes::Op;
use crate::wire::*;

/// The encryption-context key under which `additional_authenticated_data` is bound into the
/// engine's ciphertext blob: the AAD is the context `{AAD_CONTEXT_KEY: aad}`.
pub const AAD_CONTEXT_KEY: &str = "huawei:additional_authenticated_data";
/// The vendor's bound on `additional_authenticated_data`.
const AAD_MAX_BYTES: usize = 128;
/// Most keys one list-keys page holds.
const LIST_LIMIT_MAX: usize = 1000;

pub fn run(engine: &Engine, caller: &Caller, op: Op, body: &Value) -> Result<Value, HwError> {
    let kms = |e: kms_core::KmsError| map_error(&e);
    match op {
        Op::CreateKey => {
            let b: CreateKeyRequestBody = parse(body)?;
            let spec = match b.key_spec.as_deref() {
                None | Some("") => KeySpec::Aes256,
                Some(s) => spec_from_name(s).ok_or_else(|| HwError::invalid("key_spec"))?,
            };
            let usage = match b.key_usage.as_deref() {
                None | Some("") => default_usage(spec),
                Some(u) => usage_from_name(u).ok_or_else(|| HwError::invalid("key_usage"))?,
            };
            let origin = match b.origin.as_deref() {
                None | Some("") | Some("kms") => Origin::Kms,
                Some("external") => Origin::External,
                Some(_) => return Err(HwError::invalid("origin")),
            };
            let alias = required(b.key_alias, "key_alias")?;
            let key = engine
                .create_key(
                    caller,
                    NewKey {
                        alias,
                        description: b.key_description.unwrap_or_default(),
                        usage,
                        spec,
                        origin,
                        tags: Vec::new(),
                    },
                )
                .map_err(kms)?;
            Ok(json!({ "key_info": {
                "key_id": key.key_id.to_string(),
                "domain_id": key.account.to_string(),
                "region_id": key.region,
            }}))
        }
        Op::DescribeKey => {
            let id = key_id(body)?;
            let key = engine.describe_key(caller, &id).map_err(kms)?;
            Ok(json!({ "key_info": key_details(&key) }))
        }
        Op::ListKeys => list_keys(engine, caller, parse(body)?),
        Op::EnableKey | Op::DisableKey => {
            let id = key_id(body)?;
            if op == Op::EnableKey {
                engine.enable_key(caller, &id).map_err(kms)?;
            } else {
                engine.disable_key(caller, &id).map_err(kms)?;
            }
            let key = engine.describe_key(caller, &id).map_err(kms)?;
            Ok(json!({ "key_info": { "key_id": id, "key_state": state_name(key.state) } }))
        }
        Op::ScheduleKeyDeletion => {
            let b: ScheduleKeyDeletionRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let days = required(b.pending_days, "pending_days")?;
            let days: u32 = days
                .parse()
                .ok()
                .filter(|d| (7..=1096).contains(d))
                .ok_or_else(|| {
                    HwError::bad(PENDING_DAYS, "pending_days must be from 7 to 1096.")
                })?;
            engine
                .schedule_deletion(caller, &id, days, DeletableFrom::EnabledOrDisabled)
                .map_err(kms)?;
            Ok(json!({ "key_id": id, "key_state": state_name(KeyState::PendingDelete) }))
        }
        Op::CancelKeyDeletion => {
            let id = key_id(body)?;
            engine.cancel_deletion(caller, &id).map_err(kms)?;
            let key = engine.describe_key(caller, &id).map_err(kms)?;
            Ok(json!({ "key_id": id, "key_state": state_name(key.state) }))
        }
        Op::UpdateKeyAlias => {
            let b: UpdateKeyAliasRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let alias = required(b.key_alias, "key_alias")?;
            engine
                .update_alias(caller, &id, alias.clone())
                .map_err(kms)?;
            Ok(json!({ "key_info": { "key_id": id, "key_alias": alias } }))
        }
        Op::UpdateKeyDescription => {
            let b: UpdateKeyDescriptionRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let description = required(b.key_description, "key_description")?;
            engine
                .update_description(caller, &id, description.clone())
                .map_err(kms)?;
            Ok(json!({ "key_info": { "key_id": id, "key_description": description } }))
        }
        Op::EncryptData => {
            let b: EncryptDataRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let plain = required(b.plain_text, "plain_text")?;
            let context = aad_context(b.additional_authenticated_data)?;
            let (key_id, blob) = engine
                .encrypt(caller, &id, plain.as_bytes(), &context)
                .map_err(kms)?;
            Ok(json!({ "key_id": key_id.to_string(), "cipher_text": B64.encode(blob) }))
        }
        Op::DecryptData => {
            let b: DecryptDataRequestBody = parse(body)?;
            let text = required(b.cipher_text, "cipher_text")?;
            let blob = B64
                .decode(text.trim())
                .map_err(|_| HwError::bad(INVALID_CIPHER_TEXT, "Invalid cipher_text."))?;
            let context = aad_context(b.additional_authenticated_data)?;
            let (key_id, plain) = engine.decrypt(caller, &blob, &context).map_err(kms)?;
            if b.key_id
                .as_deref()
                .is_some_and(|k| !k.is_empty() && k != key_id.to_string())
            {
                return Err(map_error(&kms_core::KmsError::KeyIdMismatch));
            }
            Ok(json!({
                "key_id": key_id.to_string(),
                "plain_text": std::str::from_utf8(&plain).unwrap_or_default(),
                "plain_text_base64": B64.encode(&*plain),
            }))
        }
        Op::GenRandom => {
            let b: GenRandomRequestBody = parse(body)?;
            let bits = required(b.random_data_length, "random_data_length")?;
            let bytes = bits_to_bytes(&bits, RANDOM_LENGTH, "random_data_length")?;
            let random = engine.generate_random(bytes).map_err(kms)?;
            Ok(json!({ "random_data": hex::encode_upper(&*random) }))
        }
        Op::CreateDatakey | Op::CreateDatakeyWithoutPlaintext => {
            let b: CreateDatakeyRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let bytes = match (b.datakey_length.as_deref(), b.key_spec.as_deref()) {
                (Some(bits), _) if !bits.is_empty() => {
                    bits_to_bytes(bits, DATAKEY_LENGTH, "datakey_length")?
                }
                (_, None | Some("") | Some("AES_256")) => 32,
                (_, Some("AES_128")) => 16,
                (_, Some(_)) => return Err(HwError::invalid("key_spec")),
            };
            let context = aad_context(b.additional_authenticated_data)?;
            let dk = engine
                .generate_data_key(caller, &id, bytes, &context)
                .map_err(kms)?;
            let mut answer = json!({
                "key_id": dk.key_id.to_string(),
                "cipher_text": hex::encode_upper(&dk.blob),
            });
            if op == Op::CreateDatakey {
                answer["plain_text"] = Value::String(hex::encode_upper(&*dk.plaintext));
            }
            Ok(answer)
        }
    }
}

fn parse<T: DeserializeOwned>(body: &Value) -> Result<T, HwError> {
    T::deserialize(body).map_err(|e| {
        HwError::bad(
            INVALID_PARAMETER,
            format!("A parameter has the wrong type: {e}."),
        )
    })
}

fn required(v: Option<String>, field: &str) -> Result<String, HwError> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| HwError::missing(field))
}

fn key_id(body: &Value) -> Result<String, HwError> {
    let b: OperateKeyRequestBody = parse(body)?;
    required(b.key_id, "key_id")
}

/// A length in bits, a positive multiple of 8, as bytes.
fn bits_to_bytes(bits: &str, code: &'static str, field: &str) -> Result<usize, HwError> {
    bits.parse::<usize>()
        .ok()
        .filter(|b| *b > 0 && b % 8 == 0)
        .map(|b| b / 8)
        .ok_or_else(|| HwError::bad(code, format!("Invalid {field}.")))
}

/// The engine's encryption context for a request's `additional_authenticated_data`.
fn aad_context(aad: Option<String>) -> Result<EncryptionContext, HwError> {
    match aad.filter(|a| !a.is_empty()) {
        None => Ok(EncryptionContext::default()),
        Some(a) if a.len() > AAD_MAX_BYTES => {
            Err(HwError::invalid("additional_authenticated_data"))
        }
        Some(a) => Ok(EncryptionContext::new(BTreeMap::from([(
            AAD_CONTEXT_KEY.to_owned(),
            a,
        )]))),
    }
}

fn list_keys(engine: &Engine, caller: &Caller, b: ListKeysRequestBody) -> Result<Value, HwError> {
    let limit = match b.limit.as_deref() {
        None | Some("") => LIST_LIMIT_MAX,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=LIST_LIMIT_MAX).contains(l))
            .ok_or_else(|| {
                HwError::bad(INVALID_LIMIT, "The value of limit falls beyond the range.")
            })?,
    };
    let offset = match b.marker.as_deref() {
        None | Some("") => 0,
        Some(m) => m.parse::<usize>().map_err(|_| {
            HwError::bad(
                INVALID_MARKER,
                "The value of marker must be greater than or equal to 0.",
            )
        })?,
    };
    let specs = match b.key_spec.as_deref() {
        None | Some("") => Some(vec![KeySpec::Aes256]),
        Some("ALL") => None,
        Some(s) => Some(vec![
            spec_from_name(s).ok_or_else(|| HwError::invalid("key_spec"))?,
        ]),
    };
    let states = match b.key_state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(state_from_name(s).ok_or_else(|| HwError::invalid("key_state"))?),
    };
    let filter = KeyListFilter {
        states,
        specs,
        order: SortOrder::OldestFirst,
        offset,
        limit,
        ..KeyListFilter::default()
    };
    let (total, page) = engine
        .list_keys(caller, &filter)
        .map_err(|e| map_error(&e))?;
    let next = offset + page.len();
    let truncated = next < total;
    Ok(json!({
        "keys": page.iter().map(|k| k.key_id.to_string()).collect::<Vec<_>>(),
        "key_details": page.iter().map(key_details).collect::<Vec<_>>(),
        "next_marker": if truncated { next.to_string() } else { String::new() },
        "truncated": truncated.to_string(),
        "total": total,
    }))
}

fn millis(secs: u64) -> String {
    if secs == 0 {
        String::new()
    } else {
        (secs * 1000).to_string()
    }
}

/// The SDK's `KeyDetails`.
fn key_details(k: &KeyRecord) -> Value {
    json!({
        "key_id": k.key_id.to_string(),
        "domain_id": k.account.to_string(),
        "key_alias": k.alias,
        "realm": k.region,
        "key_spec": spec_name(k.spec),
        "key_usage": usage_name(k.usage),
        "key_description": k.description,
        "creation_date": millis(k.created_at),
        "scheduled_deletion_date": millis(k.deletion_date),
        "key_state": state_name(k.state),
        "default_key_flag": "0",
        "key_type": "1",
        "expiration_time": millis(k.valid_to),
        "origin": match k.origin { Origin::Kms => "kms", Origin::External => "external" },
        "key_rotation_enabled": k.rotation.enabled.to_string(),
        "sys_enterprise_project_id": "0",
        "keystore_id": "0",
    })
}

/// The vendor's key states: 1 pending activation, 2 enabled, 3 disabled, 4 pending deletion,
/// 5 pending import. An archived key (Tencent's) cannot encrypt, so it shows as disabled.
pub fn state_name(s: KeyState) -> &'static str {
    match s {
        KeyState::Enabled => "2",
        KeyState::Disabled | KeyState::Archived => "3",
        KeyState::PendingDelete => "4",
        KeyState::PendingImport => "5",
    }
}

fn state_from_name(s: &str) -> Option<Vec<KeyState>> {
    Some(match s {
        "1" => Vec::new(),
        "2" => vec![KeyState::Enabled],
        "3" => vec![KeyState::Disabled, KeyState::Archived],
        "4" => vec![KeyState::PendingDelete],
        "5" => vec![KeyState::PendingImport],
        _ => return None,
    })
}

const SPECS: &[(KeySpec, &str)] = &[
    (KeySpec::Aes256, "AES_256"),
    (KeySpec::Sm4, "SM4"),
    (KeySpec::Rsa2048, "RSA_2048"),
    (KeySpec::Rsa3072, "RSA_3072"),
    (KeySpec::Rsa4096, "RSA_4096"),
    (KeySpec::EccP256, "EC_P256"),
    (KeySpec::EccP384, "EC_P384"),
    (KeySpec::EccSecp256k1, "SECP256K1"),
    (KeySpec::Sm2, "SM2"),
    (KeySpec::Ed25519, "ED25519"),
    (KeySpec::Hmac256, "HMAC_256"),
    (KeySpec::Hmac384, "HMAC_384"),
    (KeySpec::Hmac512, "HMAC_512"),
    (KeySpec::HmacSm3, "HMAC_SM3"),
    (KeySpec::MlKem768, "ML_KEM_768"),
    (KeySpec::MlDsa65, "ML_DSA_65"),
];

/// The vendor's names; the post-quantum specs (which the vendor lacks) show under our names
/// for keys made through the Tencent dialect, and cannot be created here.
pub fn spec_name(spec: KeySpec) -> &'static str {
    SPECS
        .iter()
        .find(|(s, _)| *s == spec)
        .map_or("", |(_, n)| n)
}

fn spec_from_name(name: &str) -> Option<KeySpec> {
    SPECS[..14]
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(s, _)| *s)
}

fn usage_name(u: KeyUsage) -> &'static str {
    match u {
        KeyUsage::EncryptDecrypt => "ENCRYPT_DECRYPT",
        KeyUsage::SignVerify => "SIGN_VERIFY",
        KeyUsage::GenerateVerifyMac => "GENERATE_VERIFY_MAC",
        KeyUsage::KeyAgreement => "KEY_AGREEMENT",
    }
}

fn usage_from_name(name: &str) -> Option<KeyUsage> {
    Some(match name {
        "ENCRYPT_DECRYPT" => KeyUsage::EncryptDecrypt,
        "SIGN_VERIFY" => KeyUsage::SignVerify,
        "GENERATE_VERIFY_MAC" => KeyUsage::GenerateVerifyMac,
        _ => return None,
    })
}

fn default_usage(spec: KeySpec) -> KeyUsage {
    match spec {
        KeySpec::Aes256 | KeySpec::Sm4 => KeyUsage::EncryptDecrypt,
        KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 | KeySpec::HmacSm3 => {
            KeyUsage::GenerateVerifyMac
        }
        _ => KeyUsage::SignVerify,
    }
}
