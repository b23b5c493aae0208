//! The cryptographic operations on symmetric keys and data keys: encrypt, decrypt, re-encrypt,
//! random bytes, data keys and data-key pairs, data-key capsules.

use std::collections::BTreeMap;

use kms_core::base64_text::B64;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use kms_core::engine::parse_key_id;
use kms_core::{EncryptionContext, KeySpec, KeyState, KeyUsage, KmsError};
use kms_crypto::digest::{sha256, sm3};
use kms_crypto::public_key::{PublicKeyError, WrapAlgorithm, encrypt_to_public_key};
use kms_crypto::spec::AsymmetricAlgorithm;

use super::{Context, Request, bits_to_bytes, kms, parse, required};
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
/// The encryption-context key that marks a data-key capsule's blob, so that neither a capsule
/// nor any other ciphertext can be opened as the other (no AAD can produce this context).
const CAPSULE_CONTEXT_KEY: &str = "huawei:datakey_capsule";
/// Bytes of a data key that encrypt-datakey and decrypt-datakey take (the vendor: 1 to 1024).
const DATAKEY_BYTES: std::ops::RangeInclusive<usize> = 1..=1024;
/// The digest encrypt-datakey's `plain_text` carries after the data key.
const DIGEST_BYTES: usize = 32;

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

#[derive(Debug, Default, Deserialize)]
struct ReEncryptRequestBody {
    source_key_id: Option<String>,
    source_additional_authenticated_data: Option<String>,
    source_encryption_algorithm: Option<String>,
    destination_key_id: Option<String>,
    destination_additional_authenticated_data: Option<String>,
    destination_encryption_algorithm: Option<String>,
    datakey_cipher_length: Option<String>,
    cipher_text: Option<String>,
}

/// `pin`, `pin_type` and `key_spec` act only in the vendor's level-4 cryptography scenario
/// (their docs), which this server is not: they are read for their type and otherwise ignored.
/// No Debug: it holds a data key.
#[derive(Default, Deserialize)]
struct EncryptDatakeyRequestBody {
    key_id: Option<String>,
    plain_text: Option<String>,
    datakey_plain_length: Option<String>,
    additional_authenticated_data: Option<String>,
    #[serde(rename = "pin")]
    _pin: Option<String>,
    #[serde(rename = "pin_type")]
    _pin_type: Option<String>,
    #[serde(rename = "key_spec")]
    _key_spec: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DecryptDatakeyRequestBody {
    key_id: Option<String>,
    cipher_text: Option<String>,
    datakey_cipher_length: Option<String>,
    additional_authenticated_data: Option<String>,
}

/// The body of both create-rsa-datakey-pair and create-ec-datakey-pair (the EC one adds `pin`
/// and `pin_type`, level-4 only like encrypt-datakey's).
#[derive(Debug, Default, Deserialize)]
struct CreateDatakeyPairRequestBody {
    key_id: Option<String>,
    key_spec: Option<String>,
    with_plain_text: Option<bool>,
    additional_authenticated_data: Option<String>,
    #[serde(rename = "pin")]
    _pin: Option<String>,
    #[serde(rename = "pin_type")]
    _pin_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CreateDatakeyCapsuleRequestBody {
    key_id: Option<String>,
    datakey_length: Option<String>,
    public_key: Option<String>,
    policy_id: Option<String>,
    key_policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DecryptDatakeyCapsuleRequestBody {
    key_id: Option<String>,
    public_key: Option<String>,
    datakey_capsule: Option<String>,
    /// `DecryptDatakeyCapsuleRequestBodyAttestationDocument` (all string fields): read for its
    /// shape only, since no capsule here is bound to a policy an attestation must satisfy.
    #[serde(rename = "attestation_document")]
    _attestation_document: Option<BTreeMap<String, Option<String>>>,
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
        CryptoOp::ReEncrypt => re_encrypt(ctx, parse(body)?),
        CryptoOp::EncryptDatakey => encrypt_datakey(ctx, parse(body)?),
        CryptoOp::DecryptDatakey => decrypt_datakey(ctx, parse(body)?),
        CryptoOp::CreateRsaDatakeyPair => create_datakey_pair(ctx, parse(body)?, rsa_pair_spec),
        CryptoOp::CreateEcDatakeyPair => create_datakey_pair(ctx, parse(body)?, ec_pair_spec),
        CryptoOp::CreateDatakeyCapsule => create_capsule(ctx, parse(body)?),
        CryptoOp::DecryptDatakeyCapsule => decrypt_capsule(ctx, parse(body)?),
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

/// The engine's refusals that have a code of their own in these operations; the rest map as
/// everywhere.
fn engine_error(e: KmsError) -> HwError {
    let code = match &e {
        KmsError::UnsupportedByKey { usage, spec, .. } => match usage {
            KeyUsage::GenerateVerifyMac => HMAC_KEY_UNSUPPORTED,
            _ if spec.is_symmetric() => SYMMETRIC_ALGORITHM,
            KeyUsage::SignVerify if !is_rsa(*spec) && *spec != KeySpec::Sm2 => EC_NO_ENCRYPTION,
            KeyUsage::SignVerify => SIGN_VERIFY_KEY,
            _ if is_rsa(*spec) => RSA_ALGORITHM,
            _ => ASYMMETRIC_UNSUPPORTED,
        },
        KmsError::AlgorithmMismatch { spec, .. } if is_rsa(*spec) => RSA_ALGORITHM,
        KmsError::AlgorithmMismatch { spec, .. } if spec.is_symmetric() => SYMMETRIC_ALGORITHM,
        KmsError::AsymmetricDecryptFailed => DECRYPTION_FAILED,
        _ => return kms(e),
    };
    HwError::bad(code, e.to_string())
}

fn is_rsa(spec: KeySpec) -> bool {
    matches!(spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096)
}

/// Re-encrypt's encryption algorithms by name; `None` is the symmetric default.
const ENCRYPTION_ALGORITHMS: &[(&str, Option<AsymmetricAlgorithm>)] = &[
    ("SYMMETRIC_DEFAULT", None),
    ("RSAES_OAEP_SHA_1", Some(AsymmetricAlgorithm::RsaOaepSha1)),
    (
        "RSAES_OAEP_SHA_256",
        Some(AsymmetricAlgorithm::RsaOaepSha256),
    ),
    ("SM2_ENCRYPT", Some(AsymmetricAlgorithm::Sm2C1C3C2Asn1)),
];

/// An encryption algorithm of re-encrypt, by name; absent is `SYMMETRIC_DEFAULT`.
fn encryption_algorithm(
    name: Option<&str>,
    field: &str,
) -> Result<(&'static str, Option<AsymmetricAlgorithm>), HwError> {
    let name = name
        .filter(|n| !n.is_empty())
        .unwrap_or("SYMMETRIC_DEFAULT");
    ENCRYPTION_ALGORITHMS
        .iter()
        .find(|(n, _)| *n == name)
        .copied()
        .ok_or_else(|| HwError::invalid(field))
}

/// How a symmetric ciphertext travels: data-key ciphertexts (create-datakey, encrypt-datakey)
/// as hex, encrypt-data's as base64. Both hold the same blob of the engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Hex,
    Base64,
}

impl Form {
    fn encode(self, blob: &[u8]) -> String {
        match self {
            Form::Hex => hex::encode_upper(blob),
            Form::Base64 => B64.encode(blob),
        }
    }
}

/// A symmetric ciphertext in either form. Hex is taken only when it decodes to a blob of ours,
/// so a base64 text that happens to be all hex digits is still read as base64.
fn symmetric_blob(text: &str) -> Result<(Vec<u8>, Form), HwError> {
    if let Ok(blob) = hex::decode(text)
        && kms_core::ciphertext::decode(&blob).is_some()
    {
        return Ok((blob, Form::Hex));
    }
    B64.decode(text.trim())
        .map(|blob| (blob, Form::Base64))
        .map_err(|_| HwError::bad(INVALID_CIPHER_TEXT, "Invalid cipher_text."))
}

/// A data key's length in bytes as the SDK sends it (a string of 1 to 1024).
fn datakey_bytes(text: &str, code: &'static str, field: &str) -> Result<usize, HwError> {
    text.parse::<usize>()
        .ok()
        .filter(|n| DATAKEY_BYTES.contains(n))
        .ok_or_else(|| HwError::bad(code, format!("{field} must be from 1 to 1024 bytes.")))
}

/// Refuses a key id that does not name the key a blob was made with.
fn check_blob_key<K: PartialEq>(
    named: Option<&str>,
    actual: K,
    parse: fn(&str) -> Result<K, KmsError>,
) -> Result<(), HwError> {
    match named.filter(|k| !k.is_empty()) {
        Some(k) if parse(k).map_err(kms)? != actual => Err(kms(KmsError::KeyIdMismatch)),
        _ => Ok(()),
    }
}

/// AAD has no place in public-key encryption: refused rather than silently dropped, so no
/// caller believes it bound a ciphertext it did not.
fn no_aad(aad: Option<&str>, field: &str) -> Result<(), HwError> {
    match aad {
        Some(a) if !a.is_empty() => Err(HwError::bad(
            INVALID_PARAMETER,
            format!("{field} cannot be used with an asymmetric encryption algorithm."),
        )),
        _ => Ok(()),
    }
}

fn re_encrypt(ctx: &Context<'_>, b: ReEncryptRequestBody) -> Result<Value, HwError> {
    let (engine, caller) = (ctx.engine, ctx.caller);
    let text = required(b.cipher_text, "cipher_text")?;
    let destination = required(b.destination_key_id, "destination_key_id")?;
    let (source_name, source_alg) = encryption_algorithm(
        b.source_encryption_algorithm.as_deref(),
        "source_encryption_algorithm",
    )?;
    let (destination_name, destination_alg) = encryption_algorithm(
        b.destination_encryption_algorithm.as_deref(),
        "destination_encryption_algorithm",
    )?;
    let expected_len = match b.datakey_cipher_length.as_deref() {
        None | Some("") => None,
        Some(n) => Some(datakey_bytes(
            n,
            DATAKEY_CIPHER_LENGTH,
            "datakey_cipher_length",
        )?),
    };
    let (source_key_id, plaintext, form) = match source_alg {
        None => {
            let (blob, form) = symmetric_blob(&text)?;
            let context = aad_context(b.source_additional_authenticated_data)?;
            let (key_id, plaintext) = engine
                .decrypt(caller, &blob, &context)
                .map_err(engine_error)?;
            check_blob_key(b.source_key_id.as_deref(), key_id, parse_key_id)?;
            (key_id, plaintext, form)
        }
        Some(alg) => {
            no_aad(
                b.source_additional_authenticated_data.as_deref(),
                "source_additional_authenticated_data",
            )?;
            let source = required(b.source_key_id, "source_key_id")?;
            let ciphertext = B64
                .decode(text.trim())
                .map_err(|_| HwError::bad(INVALID_CIPHER_TEXT, "Invalid cipher_text."))?;
            let (key_id, plaintext) = engine
                .asymmetric_decrypt(caller, &source, alg, &ciphertext)
                .map_err(engine_error)?;
            (key_id, plaintext, Form::Base64)
        }
    };
    if expected_len.is_some_and(|n| n != plaintext.len()) {
        return Err(HwError::bad(
            CIPHER_TEXT_LENGTH_MISMATCH,
            "The length of cipher_text does not match datakey_cipher_length.",
        ));
    }
    let (key_id, cipher_text) = match destination_alg {
        None => {
            let context = aad_context(b.destination_additional_authenticated_data)?;
            let (key_id, blob) = engine
                .encrypt(caller, &destination, &plaintext, &context)
                .map_err(engine_error)?;
            (key_id.to_string(), form.encode(&blob))
        }
        Some(alg) => {
            if form == Form::Hex {
                // The vendor: a data key can only be re-encrypted into a data key.
                return Err(HwError::bad(
                    INVALID_PARAMETER,
                    "A data key can only be re-encrypted into a data key.",
                ));
            }
            no_aad(
                b.destination_additional_authenticated_data.as_deref(),
                "destination_additional_authenticated_data",
            )?;
            let (key_id, ciphertext) =
                encrypt_to_key(ctx, &destination, (destination_name, alg), &plaintext)?;
            (key_id, B64.encode(ciphertext))
        }
    };
    Ok(json!({
        "key_id": key_id,
        "source_key_id": source_key_id.to_string(),
        "source_encryption_algorithm": source_name,
        "destination_encryption_algorithm": destination_name,
        "cipher_text": cipher_text,
    }))
}

/// Encrypts to the public half of an enabled asymmetric ENCRYPT_DECRYPT key.
fn encrypt_to_key(
    ctx: &Context<'_>,
    key_id: &str,
    (name, alg): (&str, AsymmetricAlgorithm),
    plaintext: &[u8],
) -> Result<(String, Vec<u8>), HwError> {
    let (key, public) = ctx
        .engine
        .get_public_key(ctx.caller, key_id)
        .map_err(engine_error)?;
    if key.state != KeyState::Enabled {
        return Err(kms(KmsError::InvalidKeyState {
            state: key.state,
            op: kms_core::Operation::Encrypt,
        }));
    }
    if key.usage != KeyUsage::EncryptDecrypt {
        return Err(engine_error(KmsError::UnsupportedByKey {
            op: kms_core::Operation::Encrypt,
            usage: key.usage,
            spec: key.spec,
        }));
    }
    let wrap = match alg {
        AsymmetricAlgorithm::RsaOaepSha1 if is_rsa(key.spec) => WrapAlgorithm::RsaOaepSha1,
        AsymmetricAlgorithm::RsaOaepSha256 if is_rsa(key.spec) => WrapAlgorithm::RsaOaepSha256,
        AsymmetricAlgorithm::Sm2C1C3C2Asn1 if key.spec == KeySpec::Sm2 => {
            WrapAlgorithm::Sm2C1C3C2Asn1
        }
        _ => {
            return Err(engine_error(KmsError::AlgorithmMismatch {
                algorithm: name.to_owned(),
                spec: key.spec,
            }));
        }
    };
    let ciphertext =
        encrypt_to_public_key(&pem(&public), wrap, plaintext).map_err(|e| match e {
            PublicKeyError::PlaintextTooLong => HwError::bad(
                RSA_PLAIN_TEXT_TOO_LONG,
                "The plaintext is too long for this key and algorithm.",
            ),
            _ => HwError::new(500, KMS_ERROR, "KMS error."),
        })?;
    Ok((key.key_id.to_string(), ciphertext))
}

/// A SubjectPublicKeyInfo DER as a PEM block.
fn pem(spki: &[u8]) -> String {
    let b64 = B64.encode(spki);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// The digest encrypt-datakey's `plain_text` carries: SHA-256 under an AES CMK, SM3 under an
/// SM4 one (the vendor's docs).
fn datakey_digest(cmk: KeySpec, data_key: &[u8]) -> [u8; DIGEST_BYTES] {
    if cmk == KeySpec::Sm4 {
        sm3(data_key)
    } else {
        sha256(data_key)
    }
}

fn encrypt_datakey(ctx: &Context<'_>, b: EncryptDatakeyRequestBody) -> Result<Value, HwError> {
    let (engine, caller) = (ctx.engine, ctx.caller);
    let id = required(b.key_id, "key_id")?;
    let text = Zeroizing::new(required(b.plain_text, "plain_text")?);
    let length = required(b.datakey_plain_length, "datakey_plain_length")?;
    let length = datakey_bytes(&length, DATAKEY_PLAIN_LENGTH, "datakey_plain_length")?;
    let plain = Zeroizing::new(
        hex::decode(text.as_str())
            .map_err(|_| HwError::bad(INVALID_PLAIN_TEXT, "Invalid plain_text."))?,
    );
    if plain.len() != length + DIGEST_BYTES {
        return Err(HwError::bad(
            PLAIN_TEXT_LENGTH_MISMATCH,
            "The length of plain_text does not match datakey_plain_length.",
        ));
    }
    let context = aad_context(b.additional_authenticated_data)?;
    let (data_key, digest) = plain.split_at(length);
    let cmk = engine.describe_key(caller, &id).map_err(engine_error)?;
    if !kms_crypto::constant_time_eq(&datakey_digest(cmk.spec, data_key), digest) {
        return Err(HwError::bad(
            DEK_HASH_MISMATCH,
            "Failed to verify the DEK hash.",
        ));
    }
    let (key_id, blob) = engine
        .encrypt(caller, &id, data_key, &context)
        .map_err(engine_error)?;
    Ok(json!({
        "key_id": key_id.to_string(),
        "cipher_text": hex::encode_upper(&blob),
        "datakey_length": length.to_string(),
    }))
}

fn decrypt_datakey(ctx: &Context<'_>, b: DecryptDatakeyRequestBody) -> Result<Value, HwError> {
    let id = required(b.key_id, "key_id")?;
    let text = required(b.cipher_text, "cipher_text")?;
    let length = required(b.datakey_cipher_length, "datakey_cipher_length")?;
    let length = datakey_bytes(&length, DATAKEY_CIPHER_LENGTH, "datakey_cipher_length")?;
    parse_key_id(&id).map_err(kms)?;
    let blob = hex::decode(&text)
        .map_err(|_| HwError::bad(INVALID_CIPHER_TEXT, "Invalid cipher_text."))?;
    let context = aad_context(b.additional_authenticated_data)?;
    let (key_id, data_key) = ctx
        .engine
        .decrypt(ctx.caller, &blob, &context)
        .map_err(engine_error)?;
    check_blob_key(Some(&id), key_id, parse_key_id)?;
    if data_key.len() != length {
        return Err(HwError::bad(
            CIPHER_TEXT_LENGTH_MISMATCH,
            "The length of cipher_text does not match datakey_cipher_length.",
        ));
    }
    // The vendor documents `datakey_dgst` as SHA-256 of the data key, whatever the CMK.
    Ok(json!({
        "data_key": hex::encode_upper(&*data_key),
        "datakey_length": length.to_string(),
        "datakey_dgst": hex::encode_upper(sha256(&data_key)),
    }))
}

/// create-rsa-datakey-pair's specs.
fn rsa_pair_spec(name: &str) -> Option<KeySpec> {
    Some(match name {
        "RSA_2048" => KeySpec::Rsa2048,
        "RSA_3072" => KeySpec::Rsa3072,
        "RSA_4096" => KeySpec::Rsa4096,
        _ => return None,
    })
}

/// create-ec-datakey-pair's specs. The vendor also names ECC_NIST_P521, which the crypto
/// provider does not generate: refused as an invalid key_spec.
fn ec_pair_spec(name: &str) -> Option<KeySpec> {
    Some(match name {
        "ECC_NIST_P256" => KeySpec::EccP256,
        "ECC_NIST_P384" => KeySpec::EccP384,
        "ECC_SECG_P256K1" => KeySpec::EccSecp256k1,
        "SM2" => KeySpec::Sm2,
        _ => return None,
    })
}

/// The vendor leaves the encodings open; this server answers `public_key` as base64 of the
/// SubjectPublicKeyInfo DER, `private_key_plain_text` as base64 of the PKCS #8 DER, and
/// `private_key_cipher_text` as base64 of the sealed blob, which decrypt-data (and Tencent's
/// Decrypt) open with the same additional authenticated data.
fn create_datakey_pair(
    ctx: &Context<'_>,
    b: CreateDatakeyPairRequestBody,
    spec_of: fn(&str) -> Option<KeySpec>,
) -> Result<Value, HwError> {
    let id = required(b.key_id, "key_id")?;
    let name = required(b.key_spec, "key_spec")?;
    let spec = spec_of(&name).ok_or_else(|| HwError::invalid("key_spec"))?;
    let context = aad_context(b.additional_authenticated_data)?;
    let pair = ctx
        .engine
        .generate_data_key_pair(ctx.caller, &id, spec, &context)
        .map_err(engine_error)?;
    let mut answer = json!({
        "key_id": pair.key_id.to_string(),
        "key_spec": name,
        "public_key": B64.encode(&pair.public_key),
        "private_key_cipher_text": B64.encode(&pair.private_key_blob),
    });
    if b.with_plain_text.unwrap_or(true) {
        answer["private_key_plain_text"] = Value::String(B64.encode(&*pair.private_key));
    }
    Ok(answer)
}

/// A capsule-bound context: nothing a request's AAD or a Tencent context of other keys
/// produces.
fn capsule_context() -> EncryptionContext {
    EncryptionContext::new(BTreeMap::from([(
        CAPSULE_CONTEXT_KEY.to_owned(),
        "1".to_owned(),
    )]))
}

/// A caller's RSA public key, PEM or base64 of the SubjectPublicKeyInfo DER, as PEM.
fn caller_public_key(text: &str) -> Result<String, HwError> {
    let invalid = || HwError::invalid("public_key");
    if text.trim_start().starts_with("-----BEGIN") {
        return Ok(text.to_owned());
    }
    let der = B64.decode(text.trim()).map_err(|_| invalid())?;
    Ok(pem(&der))
}

/// The data key for the caller: hex as create-datakey's, or, with `public_key`, encrypted to
/// it with RSAES_OAEP_SHA_256 (the SDK's model) and base64.
fn deliver_datakey(
    answer: &mut Value,
    public_key: Option<String>,
    data_key: &[u8],
) -> Result<(), HwError> {
    match public_key.filter(|k| !k.is_empty()) {
        None => answer["datakey"] = Value::String(hex::encode_upper(data_key)),
        Some(key) => {
            let wrapped = encrypt_to_public_key(
                &caller_public_key(&key)?,
                WrapAlgorithm::RsaOaepSha256,
                data_key,
            )
            .map_err(|_| HwError::invalid("public_key"))?;
            answer["datakey_cipher"] = Value::String(B64.encode(wrapped));
        }
    }
    Ok(())
}

/// The capsule is base64 of a blob of the engine's under the CMK, bound to the capsule context
/// (a format of this server's: the vendor does not document its own). A capsule bound to a key
/// policy would need an attestation this server cannot verify, so none is made.
fn create_capsule(ctx: &Context<'_>, b: CreateDatakeyCapsuleRequestBody) -> Result<Value, HwError> {
    let id = required(b.key_id, "key_id")?;
    let bits = required(b.datakey_length, "datakey_length")?;
    let bytes = match bits.as_str() {
        "128" => 16,
        "256" => 32,
        _ => {
            return Err(HwError::bad(
                DATAKEY_LENGTH,
                "datakey_length must be 128 or 256.",
            ));
        }
    };
    if [&b.policy_id, &b.key_policy]
        .iter()
        .any(|p| p.as_deref().is_some_and(|p| !p.is_empty()))
    {
        return Err(HwError::bad(
            INVALID_PARAMETER,
            "Capsules bound to a key policy are not supported by this server.",
        ));
    }
    let dk = ctx
        .engine
        .generate_data_key(ctx.caller, &id, bytes, &capsule_context())
        .map_err(engine_error)?;
    let mut answer = json!({
        "key_id": dk.key_id.to_string(),
        "datakey_capsule": B64.encode(&dk.blob),
    });
    deliver_datakey(&mut answer, b.public_key, &dk.plaintext)?;
    Ok(answer)
}

fn decrypt_capsule(
    ctx: &Context<'_>,
    b: DecryptDatakeyCapsuleRequestBody,
) -> Result<Value, HwError> {
    let id = required(b.key_id, "key_id")?;
    let capsule = required(b.datakey_capsule, "datakey_capsule")?;
    parse_key_id(&id).map_err(kms)?;
    let blob = B64
        .decode(capsule.trim())
        .map_err(|_| HwError::invalid("datakey_capsule"))?;
    let (key_id, data_key) = ctx
        .engine
        .decrypt(ctx.caller, &blob, &capsule_context())
        .map_err(|e| match e {
            KmsError::InvalidCiphertext => HwError::invalid("datakey_capsule"),
            e => engine_error(e),
        })?;
    check_blob_key(Some(&id), key_id, parse_key_id)?;
    let mut answer = json!({ "key_id": key_id.to_string() });
    deliver_datakey(&mut answer, b.public_key, &data_key)?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_by_name() {
        assert_eq!(
            encryption_algorithm(None, "f").unwrap(),
            ("SYMMETRIC_DEFAULT", None)
        );
        assert_eq!(encryption_algorithm(Some(""), "f").unwrap().1, None);
        assert_eq!(
            encryption_algorithm(Some("SM2_ENCRYPT"), "f").unwrap().1,
            Some(AsymmetricAlgorithm::Sm2C1C3C2Asn1)
        );
        let refused = encryption_algorithm(Some("RSAES_PKCS1_V1_5"), "f").unwrap_err();
        assert_eq!(refused.code, INVALID_PARAMETER);
    }

    #[test]
    fn hex_is_taken_only_for_a_blob_of_ours() {
        // All hex digits, but no blob: read as base64.
        let (bytes, form) = symmetric_blob("00ff").unwrap();
        assert_eq!((bytes, form), (B64.decode("00ff").unwrap(), Form::Base64));
        assert_eq!(symmetric_blob("***").unwrap_err().code, INVALID_CIPHER_TEXT);
    }

    #[test]
    fn datakey_lengths() {
        assert_eq!(datakey_bytes("1", DATAKEY_CIPHER_LENGTH, "f").unwrap(), 1);
        assert_eq!(
            datakey_bytes("1024", DATAKEY_CIPHER_LENGTH, "f").unwrap(),
            1024
        );
        for bad in ["0", "1025", "-1", " 8", "8.0", ""] {
            assert_eq!(
                datakey_bytes(bad, DATAKEY_PLAIN_LENGTH, "f")
                    .unwrap_err()
                    .code,
                DATAKEY_PLAIN_LENGTH
            );
        }
    }

    #[test]
    fn the_digest_follows_the_cmk() {
        assert_eq!(datakey_digest(KeySpec::Aes256, b"k"), sha256(b"k"));
        assert_eq!(datakey_digest(KeySpec::Sm4, b"k"), sm3(b"k"));
    }

    #[test]
    fn public_keys_as_pem() {
        let text = pem(&[7u8; 100]);
        assert!(text.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(text.lines().all(|l| l.len() <= 64));
        assert_eq!(
            kms_crypto::public_key::pem_public_key_der(&text).unwrap(),
            vec![7u8; 100]
        );
        assert_eq!(caller_public_key(&text).unwrap(), text);
        assert_eq!(caller_public_key(&B64.encode([7u8; 100])).unwrap(), text);
        assert_eq!(
            caller_public_key("not base64!").unwrap_err().code,
            INVALID_PARAMETER
        );
    }

    #[test]
    fn asymmetric_refusals_have_their_own_codes() {
        let unsupported = |usage, spec| KmsError::UnsupportedByKey {
            op: kms_core::Operation::Encrypt,
            usage,
            spec,
        };
        let cases = [
            (
                unsupported(KeyUsage::EncryptDecrypt, KeySpec::Aes256),
                SYMMETRIC_ALGORITHM,
            ),
            (
                unsupported(KeyUsage::EncryptDecrypt, KeySpec::Rsa2048),
                RSA_ALGORITHM,
            ),
            (
                unsupported(KeyUsage::EncryptDecrypt, KeySpec::Sm2),
                ASYMMETRIC_UNSUPPORTED,
            ),
            (
                unsupported(KeyUsage::SignVerify, KeySpec::EccP256),
                EC_NO_ENCRYPTION,
            ),
            (
                unsupported(KeyUsage::SignVerify, KeySpec::Rsa2048),
                SIGN_VERIFY_KEY,
            ),
            (
                unsupported(KeyUsage::GenerateVerifyMac, KeySpec::Hmac256),
                HMAC_KEY_UNSUPPORTED,
            ),
            (KmsError::AsymmetricDecryptFailed, DECRYPTION_FAILED),
            (KmsError::InvalidCiphertext, INVALID_CIPHER_TEXT),
        ];
        for (e, code) in cases {
            let mapped = engine_error(e);
            assert_eq!((mapped.status, mapped.code), (400, code));
        }
    }
}
