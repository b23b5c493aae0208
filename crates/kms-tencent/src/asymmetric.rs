//! Handlers of the asymmetric and post-quantum actions: public keys, signatures, asymmetric
//! decryption, ML-KEM encryption, ML-DSA signatures and cloud resource bindings.

use serde_json::{Value, json};

use kms_core::KmsError;
use kms_crypto::{AsymmetricAlgorithm, SignInput, SigningAlgorithm};

use crate::actions::{B64, Ctx, decode_base64, returned_plaintext};
use crate::errors::*;
use crate::requests::*;

/// The longest SM2 ciphertext AsymmetricSm2Decrypt takes, in its ASN.1 form (the vendor's
/// limit).
const MAX_SM2_CIPHERTEXT: usize = 256;

/// The signing algorithms by the vendor's names. The vendor documents SM2DSA, ECC_P256_R1,
/// RSA_PSS_SHA_256 and RSA_PKCS1_SHA_256 "and others"; the others follow the same pattern, and
/// P-384 keys also take the name ListAlgorithms shows for them.
const SIGNING_ALGORITHMS: &[(&str, SigningAlgorithm)] = &[
    ("SM2DSA", SigningAlgorithm::Sm2Sm3),
    ("ECC_P256_R1", SigningAlgorithm::EcdsaSha256),
    ("ECC_P384_R1", SigningAlgorithm::EcdsaSha384),
    ("ECDSA384_SHA384", SigningAlgorithm::EcdsaSha384),
    ("RSA_PSS_SHA_256", SigningAlgorithm::RsaPssSha256),
    ("RSA_PSS_SHA_384", SigningAlgorithm::RsaPssSha384),
    ("RSA_PSS_SHA_512", SigningAlgorithm::RsaPssSha512),
    ("RSA_PKCS1_SHA_256", SigningAlgorithm::RsaPkcs1Sha256),
    ("RSA_PKCS1_SHA_384", SigningAlgorithm::RsaPkcs1Sha384),
    ("RSA_PKCS1_SHA_512", SigningAlgorithm::RsaPkcs1Sha512),
];

fn signing_algorithm(name: &str) -> Result<SigningAlgorithm, TcError> {
    SIGNING_ALGORITHMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, alg)| *alg)
        .ok_or_else(|| {
            let names: Vec<&str> = SIGNING_ALGORITHMS.iter().map(|(n, _)| *n).collect();
            TcError::new(
                INVALID_PARAMETER_VALUE,
                format!("Algorithm must be one of {}.", names.join(", ")),
            )
        })
}

/// Whether `Message` is the message (RAW, the default) or its digest (DIGEST).
fn is_digest(message_type: Option<&str>) -> Result<bool, TcError> {
    match message_type.unwrap_or_default() {
        "" | "RAW" => Ok(false),
        "DIGEST" => Ok(true),
        _ => Err(TcError::new(
            INVALID_PARAMETER_VALUE,
            "MessageType must be RAW or DIGEST.",
        )),
    }
}

fn base64_parameter(value: &str, name: &str) -> Result<Vec<u8>, TcError> {
    decode_base64(value, INVALID_PARAMETER_VALUE, name).map(|b| b.to_vec())
}

/// `PublicKeyPem` as the vendor encodes it: the PEM armour around the base64 of the *base64
/// text* of the DER (its GetPublicKey example decodes twice to the key), in lines of 64.
pub(crate) fn vendor_public_key_pem(der: &[u8]) -> String {
    let inner = B64.encode(B64.encode(der));
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in inner.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

pub(crate) fn get_public_key(ctx: &Ctx<'_>, r: &GetPublicKeyRequest) -> Result<Value, TcError> {
    let (key, der) = ctx
        .engine
        .get_public_key(&ctx.caller, &r.key_id)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({
        "KeyId": key.key_id.to_string(),
        "PublicKey": B64.encode(&der),
        "PublicKeyPem": vendor_public_key_pem(&der),
    }))
}

pub(crate) fn sign_by_asymmetric_key(
    ctx: &Ctx<'_>,
    r: &SignByAsymmetricKeyRequest,
) -> Result<Value, TcError> {
    let algorithm = signing_algorithm(&r.algorithm)?;
    let digest = is_digest(r.message_type.as_deref())?;
    let message = base64_parameter(&r.message, "Message")?;
    signed(
        ctx,
        &r.key_id,
        algorithm,
        sign_input(&message, digest),
        |e| ctx.kms(e),
    )
}

pub(crate) fn verify_by_asymmetric_key(
    ctx: &Ctx<'_>,
    r: &VerifyByAsymmetricKeyRequest,
) -> Result<Value, TcError> {
    let algorithm = signing_algorithm(&r.algorithm)?;
    let digest = is_digest(r.message_type.as_deref())?;
    let message = base64_parameter(&r.message, "Message")?;
    let input = sign_input(&message, digest);
    verified(ctx, &r.key_id, algorithm, input, &r.signature_value, |e| {
        ctx.kms(e)
    })
}

/// A signature by the key, answered as the vendor does; `error` maps the engine's refusals.
fn signed(
    ctx: &Ctx<'_>,
    key_id: &str,
    algorithm: SigningAlgorithm,
    input: SignInput<'_>,
    error: impl Fn(KmsError) -> TcError,
) -> Result<Value, TcError> {
    let (_, signature) = ctx
        .engine
        .sign(&ctx.caller, key_id, algorithm, input)
        .map_err(error)?;
    Ok(json!({ "Signature": B64.encode(signature) }))
}

/// Whether the base64 `signature` is the key's over `input`, answered as the vendor does.
fn verified(
    ctx: &Ctx<'_>,
    key_id: &str,
    algorithm: SigningAlgorithm,
    input: SignInput<'_>,
    signature: &str,
    error: impl Fn(KmsError) -> TcError,
) -> Result<Value, TcError> {
    let signature = base64_parameter(signature, "SignatureValue")?;
    let (_, valid) = ctx
        .engine
        .verify(&ctx.caller, key_id, algorithm, input, &signature)
        .map_err(error)?;
    Ok(json!({ "SignatureValid": valid }))
}

fn sign_input(message: &[u8], digest: bool) -> SignInput<'_> {
    if digest {
        SignInput::Digest(message)
    } else {
        SignInput::Message(message)
    }
}

pub(crate) fn asymmetric_rsa_decrypt(
    ctx: &Ctx<'_>,
    r: &AsymmetricRsaDecryptRequest,
) -> Result<Value, TcError> {
    let algorithm = match r.algorithm.as_str() {
        "RSAES_PKCS1_V1_5" => AsymmetricAlgorithm::RsaPkcs1v15,
        "RSAES_OAEP_SHA_1" => AsymmetricAlgorithm::RsaOaepSha1,
        "RSAES_OAEP_SHA_256" => AsymmetricAlgorithm::RsaOaepSha256,
        _ => {
            return Err(TcError::new(
                INVALID_PARAMETER_VALUE,
                "Algorithm must be RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.",
            ));
        }
    };
    let ciphertext = base64_parameter(&r.ciphertext, "Ciphertext")?;
    decrypted(ctx, &r.key_id, algorithm, &ciphertext)
}

pub(crate) fn asymmetric_sm2_decrypt(
    ctx: &Ctx<'_>,
    r: &AsymmetricSm2DecryptRequest,
) -> Result<Value, TcError> {
    let ciphertext = base64_parameter(&r.ciphertext, "Ciphertext")?;
    if ciphertext.len() > MAX_SM2_CIPHERTEXT {
        return Err(TcError::new(
            INVALID_PARAMETER_VALUE,
            format!("Ciphertext must be at most {MAX_SM2_CIPHERTEXT} bytes before base64."),
        ));
    }
    decrypted(
        ctx,
        &r.key_id,
        AsymmetricAlgorithm::Sm2C1C3C2Asn1,
        &ciphertext,
    )
}

fn decrypted(
    ctx: &Ctx<'_>,
    key_id: &str,
    algorithm: AsymmetricAlgorithm,
    ciphertext: &[u8],
) -> Result<Value, TcError> {
    let (key_id, plaintext) = ctx
        .engine
        .asymmetric_decrypt(&ctx.caller, key_id, algorithm, ciphertext)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({
        "KeyId": key_id.to_string(),
        "Plaintext": B64.encode(&plaintext[..]),
    }))
}

/// A post-quantum action names its algorithm by itself, so a key of another kind is a key of the
/// wrong usage (InvalidKeyUsage), not a wrong algorithm or parameter.
fn post_quantum_error(ctx: &Ctx<'_>, e: KmsError) -> TcError {
    match e {
        KmsError::UnsupportedByKey { .. } | KmsError::AlgorithmMismatch { .. } => TcError::new(
            "InvalidParameterValue.InvalidKeyUsage",
            format!("The key cannot be used by this post-quantum action: {e}."),
        ),
        other => ctx.kms(other),
    }
}

pub(crate) fn post_quantum_crypto_encrypt(
    ctx: &Ctx<'_>,
    r: &PostQuantumCryptoEncryptRequest,
) -> Result<Value, TcError> {
    let plaintext = decode_base64(
        &r.plain_text,
        "InvalidParameterValue.InvalidPlaintext",
        "PlainText",
    )?;
    let (key_id, blob) = ctx
        .engine
        .encrypt_post_quantum(&ctx.caller, &r.key_id, &plaintext)
        .map_err(|e| post_quantum_error(ctx, e))?;
    Ok(json!({
        "CiphertextBlob": B64.encode(blob),
        "KeyId": key_id.to_string(),
    }))
}

pub(crate) fn post_quantum_crypto_decrypt(
    ctx: &Ctx<'_>,
    r: &PostQuantumCryptoDecryptRequest,
) -> Result<Value, TcError> {
    let blob = decode_base64(
        &r.ciphertext_blob,
        "InvalidParameterValue.InvalidCiphertext",
        "CiphertextBlob",
    )?;
    let (key_id, plaintext) = ctx
        .engine
        .decrypt_post_quantum(&ctx.caller, &blob)
        .map_err(|e| post_quantum_error(ctx, e))?;
    Ok(json!({
        "KeyId": key_id.to_string(),
        "PlainText": returned_plaintext(
            r.encryption_public_key.as_deref(),
            r.encryption_algorithm.as_deref(),
            &plaintext,
        )?,
    }))
}

pub(crate) fn post_quantum_crypto_sign(
    ctx: &Ctx<'_>,
    r: &PostQuantumCryptoSignRequest,
) -> Result<Value, TcError> {
    let message = base64_parameter(&r.message, "Message")?;
    let input = SignInput::Message(&message);
    signed(ctx, &r.key_id, SigningAlgorithm::MlDsa, input, |e| {
        post_quantum_error(ctx, e)
    })
}

pub(crate) fn post_quantum_crypto_verify(
    ctx: &Ctx<'_>,
    r: &PostQuantumCryptoVerifyRequest,
) -> Result<Value, TcError> {
    let message = base64_parameter(&r.message, "Message")?;
    let input = SignInput::Message(&message);
    verified(
        ctx,
        &r.key_id,
        SigningAlgorithm::MlDsa,
        input,
        &r.signature_value,
        |e| post_quantum_error(ctx, e),
    )
}

pub(crate) fn bind_cloud_resource(
    ctx: &Ctx<'_>,
    r: &BindCloudResourceRequest,
) -> Result<Value, TcError> {
    ctx.engine
        .bind_cloud_resource(&ctx.caller, &r.key_id, &r.product_id, &r.resource_id)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

pub(crate) fn unbind_cloud_resource(
    ctx: &Ctx<'_>,
    r: &UnbindCloudResourceRequest,
) -> Result<Value, TcError> {
    ctx.engine
        .unbind_cloud_resource(&ctx.caller, &r.key_id, &r.product_id, &r.resource_id)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendor's GetPublicKey example (tccli's examples.json): its PublicKeyPem decodes, lines
    /// joined, to the base64 text of its PublicKey.
    #[test]
    fn public_key_pem_is_encoded_as_the_vendor_does() {
        let der = B64
            .decode("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAz0OTVMh28VCjOE5DMlBM8a2qIjgipYByb7WE/GyTRLUiIGDUq44VIM5fNI9nVeIf2D+4pIiU0s4LUYnLxkGcFKUVWkz3nubUzbNdSHRbNjKhbFyyRGT6YYxqMfvCmNXMA3OE56EmvsWU9VwVXqRPOFTaODCx8bRd+R6O+Aho9GaRfwLKHtlX7dochdDs9SWC6iybRISgpLEh4tvzcSlBemEuyx5U/X/BoL+sVnSsC/XT8J9w0EvJVHZaBW7OhIbBOolhzWTF8TpL/7ncZZUbtfP4SrAkvKgoEIEfRhv5vh5LfSxiS2zQzIShrT6JYqh5IgDIHTdCcPiYmTsk/lmM2wIDAQAB")
            .unwrap();
        let pem = vendor_public_key_pem(&der);
        assert!(pem.starts_with(
            "-----BEGIN PUBLIC KEY-----\nTUlJQklqQU5CZ2txaGtpRzl3MEJBUUVGQUFPQ0FROEFNSUlCQ2dLQ0FRRUF6ME9U\nVk1oMjhWQ2pPRTVETWxCTThhMnFJamdpcFlCeWI3V0UvR3lUUkxVaUlHRFVxNDRW\n"
        ));
        assert!(pem.ends_with(
            "Umh2NXZoNUxmU3hpUzJ6UXpJU2hyVDZKWXFoNUlnRElIVGRDY1BpWW1Uc2svbG1N\nMndJREFRQUI=\n-----END PUBLIC KEY-----\n"
        ));
    }

    #[test]
    fn every_signing_algorithm_name_parses_and_others_are_refused() {
        for (name, alg) in SIGNING_ALGORITHMS {
            assert_eq!(signing_algorithm(name).unwrap(), *alg);
        }
        assert_eq!(
            signing_algorithm("rsa_pss_sha_256").unwrap_err().code,
            INVALID_PARAMETER_VALUE
        );
        assert!(is_digest(Some("DIGEST")).unwrap());
        assert!(!is_digest(None).unwrap());
        assert!(is_digest(Some("digest")).is_err());
    }
}
