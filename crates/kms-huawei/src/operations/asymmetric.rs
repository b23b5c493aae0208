//! The asymmetric and MAC operations: sign, verify, get-publickey, generate-mac, verify-mac and
//! derive-shared-secret.

use kms_core::base64_text::B64;
use serde::Deserialize;
use serde_json::{Value, json};

use kms_core::{KeySpec, KeyUsage};
use kms_crypto::{SignInput, SigningAlgorithm};

use super::{Context, OperateKeyRequestBody, Request, kms, parse, required};
use crate::errors::{HwError, INVALID_PARAMETER};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsymmetricOp {
    Sign,
    Verify,
    GetPublicKey,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
}

#[derive(Debug, Default, Deserialize)]
struct SignRequestBody {
    key_id: Option<String>,
    message: Option<String>,
    signing_algorithm: Option<String>,
    message_type: Option<String>,
    #[serde(rename = "sequence")]
    _sequence: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct VerifyRequestBody {
    key_id: Option<String>,
    message: Option<String>,
    signature: Option<String>,
    signing_algorithm: Option<String>,
    message_type: Option<String>,
    #[serde(rename = "sequence")]
    _sequence: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct GenerateMacRequestBody {
    key_id: Option<String>,
    mac_algorithm: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct VerifyMacRequestBody {
    key_id: Option<String>,
    mac_algorithm: Option<String>,
    message: Option<String>,
    mac: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DeriveSharedSecretRequestBody {
    key_id: Option<String>,
    key_agreement_algorithm: Option<String>,
    public_key: Option<String>,
    recipient: Option<Recipient>,
}

/// A QingTian enclave's attestation document, to which the vendor encrypts the shared secret.
#[derive(Debug, Default, Deserialize)]
struct Recipient {
    attestation_document: Option<String>,
    key_encryption_algorithm: Option<String>,
}

/// The engine's scheme for a signing algorithm the vendor names. ECDSA with SHA-512 and
/// pre-hashed Ed25519 (Ed25519ph), which the vendor lists, have no scheme here and are refused
/// as an algorithm the key cannot use would be.
fn signing_algorithm(name: &str) -> Result<SigningAlgorithm, HwError> {
    use SigningAlgorithm as A;
    Ok(match name {
        "RSASSA_PSS_SHA_256" => A::RsaPssSha256,
        "RSASSA_PSS_SHA_384" => A::RsaPssSha384,
        "RSASSA_PSS_SHA_512" => A::RsaPssSha512,
        "RSASSA_PKCS1_V1_5_SHA_256" => A::RsaPkcs1Sha256,
        "RSASSA_PKCS1_V1_5_SHA_384" => A::RsaPkcs1Sha384,
        "RSASSA_PKCS1_V1_5_SHA_512" => A::RsaPkcs1Sha512,
        "ECDSA_SHA_256" => A::EcdsaSha256,
        "ECDSA_SHA_384" => A::EcdsaSha384,
        "SM2DSA_SM3" => A::Sm2Sm3,
        "ED25519_SHA_512" => A::Ed25519,
        "ECDSA_SHA_512" | "ED25519_PH_SHA_512" => {
            return Err(HwError::bad(
                INVALID_PARAMETER,
                format!("Invalid signing_algorithm: {name} is not supported by this server."),
            ));
        }
        _ => return Err(HwError::invalid("signing_algorithm")),
    })
}

/// The engine's input for a `message` of `message_type` (DIGEST when absent, as the vendor
/// defaults). The vendor signs with SM2 only digests (SM3 of `Z || M`), and pure Ed25519 has
/// no digest form.
fn sign_input<'a>(
    algorithm: SigningAlgorithm,
    message_type: Option<&str>,
    message: &'a [u8],
) -> Result<SignInput<'a>, HwError> {
    let digest = match message_type {
        None | Some("") | Some("DIGEST") => true,
        Some("RAW") => false,
        Some(_) => return Err(HwError::invalid("message_type")),
    };
    match (algorithm, digest) {
        (SigningAlgorithm::Sm2Sm3, false) | (SigningAlgorithm::Ed25519, true) => {
            Err(HwError::invalid("message_type"))
        }
        (_, true) => Ok(SignInput::Digest(message)),
        (_, false) => Ok(SignInput::Message(message)),
    }
}

/// The HMAC spec a MAC algorithm the vendor names needs.
fn mac_spec(name: &str) -> Result<KeySpec, HwError> {
    Ok(match name {
        "HMAC_SHA_256" => KeySpec::Hmac256,
        "HMAC_SHA_384" => KeySpec::Hmac384,
        "HMAC_SHA_512" => KeySpec::Hmac512,
        "HMAC_SM3" => KeySpec::HmacSm3,
        _ => return Err(HwError::invalid("mac_algorithm")),
    })
}

fn base64_field(value: &str, field: &str) -> Result<Vec<u8>, HwError> {
    B64.decode(value).map_err(|_| HwError::invalid(field))
}

/// A SubjectPublicKeyInfo DER as PEM, in lines of 64 characters.
fn public_key_pem(der: &[u8]) -> String {
    let body = B64.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

pub fn run(ctx: &Context<'_>, op: AsymmetricOp, req: &Request<'_>) -> Result<Value, HwError> {
    let (engine, caller, body) = (ctx.engine, ctx.caller, req.body);
    match op {
        AsymmetricOp::Sign => {
            let b: SignRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let message = base64_field(&required(b.message, "message")?, "message")?;
            let name = required(b.signing_algorithm, "signing_algorithm")?;
            let algorithm = signing_algorithm(&name)?;
            let input = sign_input(algorithm, b.message_type.as_deref(), &message)?;
            let (key_id, signature) = engine.sign(caller, &id, algorithm, input).map_err(kms)?;
            Ok(json!({ "key_id": key_id.to_string(), "signature": B64.encode(signature) }))
        }
        AsymmetricOp::Verify => {
            let b: VerifyRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let message = base64_field(&required(b.message, "message")?, "message")?;
            let signature = base64_field(&required(b.signature, "signature")?, "signature")?;
            let name = required(b.signing_algorithm, "signing_algorithm")?;
            let algorithm = signing_algorithm(&name)?;
            let input = sign_input(algorithm, b.message_type.as_deref(), &message)?;
            let (key_id, valid) = engine
                .verify(caller, &id, algorithm, input, &signature)
                .map_err(kms)?;
            // The SDK's model types `signature_valid` as a string.
            Ok(json!({ "key_id": key_id.to_string(), "signature_valid": valid.to_string() }))
        }
        AsymmetricOp::GetPublicKey => {
            let b: OperateKeyRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let (key, der) = engine.get_public_key(caller, &id).map_err(kms)?;
            Ok(json!({ "key_id": key.key_id.to_string(), "public_key": public_key_pem(&der) }))
        }
        AsymmetricOp::GenerateMac => {
            let b: GenerateMacRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let name = required(b.mac_algorithm, "mac_algorithm")?;
            let message = base64_field(&required(b.message, "message")?, "message")?;
            check_mac_algorithm(ctx, &id, &name)?;
            let (key_id, mac) = engine.generate_mac(caller, &id, &message).map_err(kms)?;
            Ok(json!({
                "key_id": key_id.to_string(),
                "mac_algorithm": name,
                "mac": hex::encode(mac),
            }))
        }
        AsymmetricOp::VerifyMac => {
            let b: VerifyMacRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let name = required(b.mac_algorithm, "mac_algorithm")?;
            let message = base64_field(&required(b.message, "message")?, "message")?;
            let mac = hex::decode(required(b.mac, "mac")?).map_err(|_| HwError::invalid("mac"))?;
            check_mac_algorithm(ctx, &id, &name)?;
            // The engine compares in constant time.
            let (key_id, valid) = engine
                .verify_mac(caller, &id, &message, &mac)
                .map_err(kms)?;
            Ok(json!({ "key_id": key_id.to_string(), "mac_algorithm": name, "mac_valid": valid }))
        }
        AsymmetricOp::DeriveSharedSecret => {
            let b: DeriveSharedSecretRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let algorithm = required(b.key_agreement_algorithm, "key_agreement_algorithm")?;
            if algorithm != "ECDH" {
                return Err(HwError::invalid("key_agreement_algorithm"));
            }
            let peer = base64_field(&required(b.public_key, "public_key")?, "public_key")?;
            // This server has no QingTian enclaves to encrypt the secret to; answering in the
            // clear a caller who asked for it sealed would defeat the request's purpose.
            if b.recipient.is_some_and(|r| {
                r.attestation_document.is_some_and(|d| !d.is_empty())
                    || r.key_encryption_algorithm.is_some_and(|a| !a.is_empty())
            }) {
                return Err(HwError::invalid("recipient"));
            }
            let (key_id, secret) = engine
                .derive_shared_secret(caller, &id, &peer)
                .map_err(kms)?;
            Ok(json!({
                "key_id": key_id.to_string(),
                "key_agreement_algorithm": algorithm,
                "shared_secret": B64.encode(&*secret),
            }))
        }
    }
}

/// Refuses a MAC algorithm that is not the HMAC key's own. A key of another usage is left to
/// the engine, which refuses it for its usage.
fn check_mac_algorithm(ctx: &Context<'_>, key_id: &str, name: &str) -> Result<(), HwError> {
    let spec = mac_spec(name)?;
    let key = ctx.engine.describe_key(ctx.caller, key_id).map_err(kms)?;
    if key.usage == KeyUsage::GenerateVerifyMac && key.spec != spec {
        return Err(HwError::invalid("mac_algorithm"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_signing_algorithm_is_known() {
        for name in [
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512",
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
            "ECDSA_SHA_256",
            "ECDSA_SHA_384",
            "SM2DSA_SM3",
            "ED25519_SHA_512",
        ] {
            assert!(signing_algorithm(name).is_ok(), "{name}");
        }
        for name in ["ECDSA_SHA_512", "ED25519_PH_SHA_512"] {
            assert!(
                signing_algorithm(name)
                    .unwrap_err()
                    .message
                    .contains("not supported")
            );
        }
        for name in ["", "rsassa_pss_sha_256", "SM2DSA", "ECDSA_SHA_1"] {
            let e = signing_algorithm(name).unwrap_err();
            assert_eq!((e.status, e.code), (400, INVALID_PARAMETER), "{name}");
        }
    }

    #[test]
    fn message_type_defaults_to_digest_and_fits_the_scheme() {
        let m = b"m";
        let digest = |alg, t| matches!(sign_input(alg, t, m), Ok(SignInput::Digest(_)));
        let raw = |alg, t| matches!(sign_input(alg, t, m), Ok(SignInput::Message(_)));
        assert!(digest(SigningAlgorithm::EcdsaSha256, None));
        assert!(digest(SigningAlgorithm::EcdsaSha256, Some("")));
        assert!(digest(SigningAlgorithm::RsaPssSha256, Some("DIGEST")));
        assert!(raw(SigningAlgorithm::RsaPssSha256, Some("RAW")));
        assert!(digest(SigningAlgorithm::Sm2Sm3, None));
        assert!(raw(SigningAlgorithm::Ed25519, Some("RAW")));
        for (alg, t) in [
            (SigningAlgorithm::Sm2Sm3, Some("RAW")),
            (SigningAlgorithm::Ed25519, None),
            (SigningAlgorithm::Ed25519, Some("DIGEST")),
            (SigningAlgorithm::EcdsaSha256, Some("raw")),
        ] {
            assert!(sign_input(alg, t, m).is_err(), "{alg:?} {t:?}");
        }
    }

    #[test]
    fn mac_algorithms_name_their_specs() {
        assert_eq!(mac_spec("HMAC_SHA_256").unwrap(), KeySpec::Hmac256);
        assert_eq!(mac_spec("HMAC_SHA_384").unwrap(), KeySpec::Hmac384);
        assert_eq!(mac_spec("HMAC_SHA_512").unwrap(), KeySpec::Hmac512);
        assert_eq!(mac_spec("HMAC_SM3").unwrap(), KeySpec::HmacSm3);
        assert!(mac_spec("HMAC_SHA_1").is_err());
    }

    #[test]
    fn pem_wraps_at_64_characters() {
        let pem = public_key_pem(&[7u8; 91]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN PUBLIC KEY-----"));
        assert_eq!(lines.last(), Some(&"-----END PUBLIC KEY-----"));
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[1..lines.len() - 1].concat(), B64.encode([7u8; 91]));
        assert!(pem.ends_with('\n'));
    }
}
