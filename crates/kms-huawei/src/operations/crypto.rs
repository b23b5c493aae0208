//! The cryptographic operations on symmetric keys and data keys: encrypt, decrypt, re-encrypt,
//! random bytes, data keys and data-key pairs, data-key capsules.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use kms_core::EncryptionContext;

use super::{Context, Request, bits_to_bytes, kms, parse, required, unsupported};
use crate::errors::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoOp {
    EncryptData,
    DecryptData,
    ReEncrypt,
    GenRandom,
    CreateDatakey,
    CreateDatakeyWithoutPlaintext,
    EncryptDatakey,
    DecryptDatakey,
    CreateRsaDatakeyPair,
    CreateEcDatakeyPair,
    CreateDatakeyCapsule,
    DecryptDatakeyCapsule,
}

/// The encryption-context key under which `additional_authenticated_data` is bound into the
/// engine's ciphertext blob: the AAD is the context `{AAD_CONTEXT_KEY: aad}`.
pub const AAD_CONTEXT_KEY: &str = "huawei:additional_authenticated_data";
/// The vendor's bound on `additional_authenticated_data`.
const AAD_MAX_BYTES: usize = 128;

#[derive(Debug, Default, Deserialize)]
struct EncryptDataRequestBody {
    key_id: Option<String>,
    plain_text: Option<String>,
    additional_authenticated_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DecryptDataRequestBody {
    cipher_text: Option<String>,
    key_id: Option<String>,
    additional_authenticated_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct GenRandomRequestBody {
    random_data_length: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CreateDatakeyRequestBody {
    key_id: Option<String>,
    key_spec: Option<String>,
    datakey_length: Option<String>,
    additional_authenticated_data: Option<String>,
}

pub fn run(ctx: &Context<'_>, op: CryptoOp, req: &Request<'_>) -> Result<Value, HwError> {
    let (engine, caller, body) = (ctx.engine, ctx.caller, req.body);
    match op {
        CryptoOp::EncryptData => {
            let b: EncryptDataRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let plain = required(b.plain_text, "plain_text")?;
            let context = aad_context(b.additional_authenticated_data)?;
            let (key_id, blob) = engine
                .encrypt(caller, &id, plain.as_bytes(), &context)
                .map_err(kms)?;
            Ok(json!({ "key_id": key_id.to_string(), "cipher_text": B64.encode(blob) }))
        }
        CryptoOp::DecryptData => {
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
                return Err(kms(kms_core::KmsError::KeyIdMismatch));
            }
            Ok(json!({
                "key_id": key_id.to_string(),
                "plain_text": std::str::from_utf8(&plain).unwrap_or_default(),
                "plain_text_base64": B64.encode(&*plain),
            }))
        }
        CryptoOp::GenRandom => {
            let b: GenRandomRequestBody = parse(body)?;
            let bits = required(b.random_data_length, "random_data_length")?;
            let bytes = bits_to_bytes(&bits, RANDOM_LENGTH, "random_data_length")?;
            let random = engine.generate_random(bytes).map_err(kms)?;
            Ok(json!({ "random_data": hex::encode_upper(&*random) }))
        }
        CryptoOp::CreateDatakey | CryptoOp::CreateDatakeyWithoutPlaintext => {
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
            if op == CryptoOp::CreateDatakey {
                answer["plain_text"] = Value::String(hex::encode_upper(&*dk.plaintext));
            }
            Ok(answer)
        }
        CryptoOp::ReEncrypt
        | CryptoOp::EncryptDatakey
        | CryptoOp::DecryptDatakey
        | CryptoOp::CreateRsaDatakeyPair
        | CryptoOp::CreateEcDatakeyPair
        | CryptoOp::CreateDatakeyCapsule
        | CryptoOp::DecryptDatakeyCapsule => Err(unsupported()),
    }
}

/// The engine's encryption context for a request's `additional_authenticated_data`.
pub fn aad_context(aad: Option<String>) -> Result<EncryptionContext, HwError> {
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
