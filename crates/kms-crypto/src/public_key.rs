//! Encryption to a caller's public key, for APIs that return key material wrapped instead of in
//! plaintext (Tencent's `EncryptionPublicKey`). RSA goes through aws-lc-rs; SM2 through the
//! RustCrypto `sm2` crate.

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey,
    PublicEncryptingKey,
};
use base64::Engine as _;
use sm2::pkcs8::DecodePublicKey;
use sm2::pke::{EncryptingKey, Mode};

/// How plaintext is encrypted to the caller's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapAlgorithm {
    /// SM2 public-key encryption, output `C1 || C3 || C2` (C1 an uncompressed point).
    Sm2C1C3C2,
    /// SM2 public-key encryption, output the GM/T 0009 ASN.1 structure in C1C3C2 order.
    Sm2C1C3C2Asn1,
    RsaPkcs1V15,
    RsaOaepSha1,
    RsaOaepSha256,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublicKeyError {
    #[error("the public key is not a PEM SubjectPublicKeyInfo of the algorithm's type")]
    InvalidKey,
    #[error("the plaintext is too long for this key and algorithm")]
    PlaintextTooLong,
    #[error("encryption failed")]
    Encryption,
}

/// The DER inside a `-----BEGIN PUBLIC KEY-----` PEM block.
pub fn pem_public_key_der(pem: &str) -> Result<Vec<u8>, PublicKeyError> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PUBLIC KEY-----")
        .and_then(|rest| rest.trim_end().strip_suffix("-----END PUBLIC KEY-----"))
        .ok_or(PublicKeyError::InvalidKey)?;
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| PublicKeyError::InvalidKey)
}

/// Encrypts `plaintext` to the PEM public key with `algorithm`.
pub fn encrypt_to_public_key(
    pem: &str,
    algorithm: WrapAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>, PublicKeyError> {
    encrypt_to_public_key_der(&pem_public_key_der(pem)?, algorithm, plaintext)
}

/// Encrypts `plaintext` to the public key (SubjectPublicKeyInfo DER) with `algorithm`.
pub fn encrypt_to_public_key_der(
    der: &[u8],
    algorithm: WrapAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>, PublicKeyError> {
    match algorithm {
        WrapAlgorithm::Sm2C1C3C2 | WrapAlgorithm::Sm2C1C3C2Asn1 => {
            let key =
                sm2::PublicKey::from_public_key_der(der).map_err(|_| PublicKeyError::InvalidKey)?;
            let enc = EncryptingKey::new_with_mode(key, Mode::C1C3C2);
            let mut rng = getrandom::SysRng;
            let out = if algorithm == WrapAlgorithm::Sm2C1C3C2 {
                enc.encrypt(&mut rng, plaintext)
            } else {
                enc.encrypt_der(&mut rng, plaintext)
            };
            out.map_err(|_| PublicKeyError::Encryption)
        }
        WrapAlgorithm::RsaPkcs1V15 | WrapAlgorithm::RsaOaepSha1 | WrapAlgorithm::RsaOaepSha256 => {
            let key = PublicEncryptingKey::from_der(der).map_err(|_| PublicKeyError::InvalidKey)?;
            if algorithm == WrapAlgorithm::RsaPkcs1V15 {
                let key =
                    Pkcs1PublicEncryptingKey::new(key).map_err(|_| PublicKeyError::InvalidKey)?;
                if plaintext.len() > key.max_plaintext_size() {
                    return Err(PublicKeyError::PlaintextTooLong);
                }
                let mut out = vec![0u8; key.ciphertext_size()];
                let len = key
                    .encrypt(plaintext, &mut out)
                    .map_err(|_| PublicKeyError::Encryption)?
                    .len();
                out.truncate(len);
                Ok(out)
            } else {
                let oaep = if algorithm == WrapAlgorithm::RsaOaepSha1 {
                    &OAEP_SHA1_MGF1SHA1
                } else {
                    &OAEP_SHA256_MGF1SHA256
                };
                let key =
                    OaepPublicEncryptingKey::new(key).map_err(|_| PublicKeyError::InvalidKey)?;
                if plaintext.len() > key.max_plaintext_size(oaep) {
                    return Err(PublicKeyError::PlaintextTooLong);
                }
                let mut out = vec![0u8; key.ciphertext_size()];
                let len = key
                    .encrypt(oaep, plaintext, &mut out, None)
                    .map_err(|_| PublicKeyError::Encryption)?
                    .len();
                out.truncate(len);
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{
        KeySize, OaepPrivateDecryptingKey, Pkcs1PrivateDecryptingKey, PrivateDecryptingKey,
    };
    use sm2::elliptic_curve::Generate;
    use sm2::pke::DecryptingKey;

    use super::*;

    fn pem(der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn rsa_round_trips() {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let public = pem(private.public_key().as_der().unwrap().as_ref());
        let msg = b"data key bytes";
        let mut buf = vec![0u8; 256];

        let ct = encrypt_to_public_key(&public, WrapAlgorithm::RsaPkcs1V15, msg).unwrap();
        let dec = Pkcs1PrivateDecryptingKey::new(private.clone()).unwrap();
        assert_eq!(dec.decrypt(&ct, &mut buf).unwrap(), msg);

        for (alg, oaep) in [
            (WrapAlgorithm::RsaOaepSha1, &OAEP_SHA1_MGF1SHA1),
            (WrapAlgorithm::RsaOaepSha256, &OAEP_SHA256_MGF1SHA256),
        ] {
            let ct = encrypt_to_public_key(&public, alg, msg).unwrap();
            let dec = OaepPrivateDecryptingKey::new(private.clone()).unwrap();
            assert_eq!(dec.decrypt(oaep, &ct, &mut buf, None).unwrap(), msg);
        }
        assert_eq!(
            encrypt_to_public_key(&public, WrapAlgorithm::RsaOaepSha256, &[0u8; 200]),
            Err(PublicKeyError::PlaintextTooLong)
        );
        assert_eq!(
            encrypt_to_public_key(&public, WrapAlgorithm::Sm2C1C3C2, msg),
            Err(PublicKeyError::InvalidKey),
            "an RSA key is not an SM2 key"
        );
    }

    #[test]
    fn sm2_round_trips() {
        let secret = sm2::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
        let public = secret.public_key();
        let der = sm2::pkcs8::EncodePublicKey::to_public_key_der(&public).unwrap();
        let public = pem(der.as_bytes());
        let dec = DecryptingKey::new_with_mode(secret.to_nonzero_scalar(), Mode::C1C3C2);
        let ct = encrypt_to_public_key(&public, WrapAlgorithm::Sm2C1C3C2, b"hi").unwrap();
        assert_eq!(ct.len(), 65 + 32 + 2);
        assert_eq!(dec.decrypt(&ct).unwrap(), b"hi");
        let ct = encrypt_to_public_key(&public, WrapAlgorithm::Sm2C1C3C2Asn1, b"hi").unwrap();
        assert_eq!(dec.decrypt_der(&ct).unwrap(), b"hi");
    }

    #[test]
    fn garbage_keys_are_refused() {
        for bad in [
            "",
            "not pem",
            "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----",
        ] {
            assert_eq!(
                encrypt_to_public_key(bad, WrapAlgorithm::RsaPkcs1V15, b"x"),
                Err(PublicKeyError::InvalidKey)
            );
        }
    }
}
