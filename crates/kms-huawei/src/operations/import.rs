//! The import operations: import parameters, key material import (symmetric material, or an
//! asymmetric private key in an envelope) and deletion of imported material.

use kms_core::base64_text::B64;
use serde::Deserialize;
use serde_json::{Value, json};

use kms_core::{KeyState, KmsError, Operation, Origin, WrappingAlgorithm, WrappingKeySpec};

use super::{Context, OperateKeyRequestBody, Request, kms, parse, required};
use crate::errors::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOp {
    GetParameters,
    ImportMaterial,
    DeleteMaterial,
}

/// The vendor's `sequence`: "a 36-byte serial number".
const SEQUENCE_MAX: usize = 36;

#[derive(Debug, Default, Deserialize)]
struct GetParametersForImportRequestBody {
    key_id: Option<String>,
    wrapping_algorithm: Option<String>,
    sequence: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ImportKeyMaterialRequestBody {
    key_id: Option<String>,
    import_token: Option<String>,
    encrypted_key_material: Option<String>,
    encrypted_privatekey: Option<String>,
    /// Epoch seconds; the SDK sends a JSON integer (absent: the material never expires).
    expiration_time: Option<i64>,
    sequence: Option<String>,
}

pub fn run(ctx: &Context<'_>, op: ImportOp, req: &Request<'_>) -> Result<Value, HwError> {
    match op {
        ImportOp::GetParameters => get_parameters(ctx, parse(req.body)?),
        ImportOp::ImportMaterial => import_material(ctx, parse(req.body)?),
        ImportOp::DeleteMaterial => {
            let b: OperateKeyRequestBody = parse(req.body)?;
            check_sequence(b.sequence.as_deref())?;
            let id = required(b.key_id, "key_id")?;
            // The vendor deletes material only from an enabled or disabled key (KMS.2607);
            // the engine also accepts a key that has none, as Tencent does.
            let key = ctx.engine.describe_key(ctx.caller, &id).map_err(kms)?;
            if key.state == KeyState::PendingImport {
                return Err(kms(KmsError::InvalidKeyState {
                    state: key.state,
                    op: Operation::DeleteMaterial,
                }));
            }
            ctx.engine
                .delete_imported_material(ctx.caller, &id)
                .map_err(kms)?;
            Ok(json!({}))
        }
    }
}

/// The wrapping algorithms: the SDK's two, and the RSA paddings of the vendor's older pages.
/// Each names its wrapping key: RSA_2048 (the vendor's default) for RSA, an SM2 key for SM2.
fn wrapping(name: &str) -> Option<(WrappingAlgorithm, WrappingKeySpec)> {
    Some(match name {
        "RSAES_OAEP_SHA_256" => (WrappingAlgorithm::RsaesOaepSha256, WrappingKeySpec::Rsa2048),
        "RSAES_OAEP_SHA_1" => (WrappingAlgorithm::RsaesOaepSha1, WrappingKeySpec::Rsa2048),
        "RSAES_PKCS1_V1_5" => (WrappingAlgorithm::RsaesPkcs1V15, WrappingKeySpec::Rsa2048),
        "SM2_ENCRYPT" => (WrappingAlgorithm::Sm2Encrypt, WrappingKeySpec::Sm2),
        _ => return None,
    })
}

fn get_parameters(
    ctx: &Context<'_>,
    b: GetParametersForImportRequestBody,
) -> Result<Value, HwError> {
    check_sequence(b.sequence.as_deref())?;
    let id = required(b.key_id, "key_id")?;
    let algorithm = required(b.wrapping_algorithm, "wrapping_algorithm")?;
    let (algorithm, spec) = wrapping(&algorithm).ok_or_else(|| {
        HwError::bad(
            INVALID_PARAMETER,
            "wrapping_algorithm must be RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1, RSAES_PKCS1_V1_5 or SM2_ENCRYPT.",
        )
    })?;
    let issued = ctx
        .engine
        .get_parameters_for_import(ctx.caller, &id, algorithm, spec)
        .map_err(kms)?;
    Ok(json!({
        "key_id": issued.key_id.to_string(),
        "import_token": B64.encode(&issued.token),
        "expiration_time": issued.expires_at,
        "public_key": B64.encode(&issued.public_key),
    }))
}

fn import_material(ctx: &Context<'_>, b: ImportKeyMaterialRequestBody) -> Result<Value, HwError> {
    check_sequence(b.sequence.as_deref())?;
    let id = required(b.key_id, "key_id")?;
    let token = required(b.import_token, "import_token")?;
    let material = b
        .encrypted_key_material
        .filter(|m| !m.is_empty())
        .ok_or_else(|| HwError::missing("encrypted_key_material"))?;
    let valid_to = match b.expiration_time {
        None => 0,
        Some(t) if t <= 0 || t.unsigned_abs() <= ctx.engine.now() => {
            return Err(HwError::bad(
                MATERIAL_EXPIRY_PAST,
                "Key expiration time must be later than the current time.",
            ));
        }
        Some(t) => t.unsigned_abs(),
    };
    let token = B64
        .decode(token.trim())
        .map_err(|_| HwError::bad(TOKEN_INVALID, "Token verification failed."))?;
    let wrapped = decode(&material, "encrypted_key_material")?;
    let key = ctx.engine.describe_key(ctx.caller, &id).map_err(kms)?;
    if key.origin != Origin::External {
        return Err(kms(KmsError::NotExternalKey));
    }
    if key.state != KeyState::PendingImport {
        return Err(kms(KmsError::InvalidKeyState {
            state: key.state,
            op: Operation::ImportMaterial,
        }));
    }
    let private = b.encrypted_privatekey.filter(|p| !p.is_empty());
    match (key.spec.has_public_key(), private) {
        (true, None) => Err(HwError::missing("encrypted_privatekey")),
        (false, Some(_)) => Err(HwError::invalid("encrypted_privatekey")),
        (false, None) => ctx
            .engine
            .import_key_material(ctx.caller, &id, &wrapped, &token, valid_to)
            .map_err(kms),
        (true, Some(private)) => {
            let private = decode(&private, "encrypted_privatekey")?;
            ctx.engine
                .import_enveloped_key_material(
                    ctx.caller, &id, &wrapped, &private, &token, valid_to,
                )
                .map_err(|e| match e {
                    KmsError::InvalidMaterialLength { .. } => HwError::bad(
                        TEMPORARY_KEY_LENGTH,
                        "The temporary key in encrypted_key_material must be 16 or 32 bytes.",
                    ),
                    e => kms(e),
                })
        }
    }?;
    Ok(json!({}))
}

/// Decodes a wrapped (ciphertext) field; its plaintext only ever exists inside the engine.
fn decode(text: &str, field: &str) -> Result<Vec<u8>, HwError> {
    B64.decode(text.trim()).map_err(|_| HwError::invalid(field))
}

fn check_sequence(sequence: Option<&str>) -> Result<(), HwError> {
    if sequence.is_some_and(|s| s.len() > SEQUENCE_MAX) {
        return Err(HwError::bad(INVALID_SEQUENCE, "Invalid sequence number."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_algorithms_name_their_keys() {
        assert_eq!(
            wrapping("RSAES_OAEP_SHA_256"),
            Some((WrappingAlgorithm::RsaesOaepSha256, WrappingKeySpec::Rsa2048))
        );
        assert_eq!(
            wrapping("SM2_ENCRYPT"),
            Some((WrappingAlgorithm::Sm2Encrypt, WrappingKeySpec::Sm2))
        );
        assert_eq!(wrapping("rsaes_oaep_sha_256"), None);
        assert_eq!(wrapping(""), None);
    }

    #[test]
    fn expiration_time_is_a_json_integer() {
        let ok: ImportKeyMaterialRequestBody =
            parse(&json!({"key_id": "k", "expiration_time": 1_900_000_000})).unwrap();
        assert_eq!(ok.expiration_time, Some(1_900_000_000));
        assert!(
            parse::<ImportKeyMaterialRequestBody>(&json!({"expiration_time": "1900000000"}))
                .is_err()
        );
        assert!(check_sequence(Some(&"a".repeat(37))).is_err());
        assert!(check_sequence(Some("919c82d4-8046-4722-9094-35c3c6524cff")).is_ok());
    }
}
