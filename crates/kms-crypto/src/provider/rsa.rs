//! RSA through aws-lc-rs: PSS and PKCS#1 v1.5 signatures (message or digest input), OAEP and
//! PKCS#1 v1.5 decryption. Stored as PKCS#8 DER.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey,
    Pkcs1PrivateDecryptingKey, PrivateDecryptingKey,
};
use aws_lc_rs::signature::{
    self, KeyPair, RsaEncoding, RsaKeyPair, RsaParameters, RsaSubjectPublicKey,
};
use zeroize::Zeroizing;

use super::{CryptoError, KeyHandle, KeyPairMaterial, backend, check_signing};
use crate::spec::{AsymmetricAlgorithm, KeySpec, SignInput, SigningAlgorithm};

fn modulus_len(spec: KeySpec) -> usize {
    match spec {
        KeySpec::Rsa3072 => 384,
        KeySpec::Rsa4096 => 512,
        _ => 256,
    }
}

struct Scheme {
    encoding: &'static dyn RsaEncoding,
    verification: &'static RsaParameters,
    digest: &'static digest::Algorithm,
}

fn scheme(alg: SigningAlgorithm) -> Scheme {
    use SigningAlgorithm as A;
    let (encoding, verification, digest): (&'static dyn RsaEncoding, _, _) = match alg {
        A::RsaPssSha384 => (
            &signature::RSA_PSS_SHA384,
            &signature::RSA_PSS_2048_8192_SHA384,
            &digest::SHA384,
        ),
        A::RsaPssSha512 => (
            &signature::RSA_PSS_SHA512,
            &signature::RSA_PSS_2048_8192_SHA512,
            &digest::SHA512,
        ),
        A::RsaPkcs1Sha256 => (
            &signature::RSA_PKCS1_SHA256,
            &signature::RSA_PKCS1_2048_8192_SHA256,
            &digest::SHA256,
        ),
        A::RsaPkcs1Sha384 => (
            &signature::RSA_PKCS1_SHA384,
            &signature::RSA_PKCS1_2048_8192_SHA384,
            &digest::SHA384,
        ),
        A::RsaPkcs1Sha512 => (
            &signature::RSA_PKCS1_SHA512,
            &signature::RSA_PKCS1_2048_8192_SHA512,
            &digest::SHA512,
        ),
        _ => (
            &signature::RSA_PSS_SHA256,
            &signature::RSA_PSS_2048_8192_SHA256,
            &digest::SHA256,
        ),
    };
    Scheme {
        encoding,
        verification,
        digest,
    }
}

fn material(spec: KeySpec, pair: &RsaKeyPair) -> Result<KeyPairMaterial, CryptoError> {
    if pair.public_modulus_len() != modulus_len(spec) {
        return Err(CryptoError::InvalidKeyMaterial(
            "the RSA modulus does not have the spec's size",
        ));
    }
    let pkcs8 = pair.as_der().map_err(|_| backend("RSA PKCS#8 encoding"))?;
    let public = pair
        .public_key()
        .as_der()
        .map_err(|_| backend("RSA public key encoding"))?;
    Ok(KeyPairMaterial {
        private: Zeroizing::new(pkcs8.as_ref().to_vec()),
        public: Some(public.as_ref().to_vec()),
    })
}

pub(super) fn generate(spec: KeySpec) -> Result<KeyPairMaterial, CryptoError> {
    let size = match spec {
        KeySpec::Rsa3072 => KeySize::Rsa3072,
        KeySpec::Rsa4096 => KeySize::Rsa4096,
        _ => KeySize::Rsa2048,
    };
    let pair = RsaKeyPair::generate(size).map_err(|_| backend("RSA key generation"))?;
    material(spec, &pair)
}

pub(super) fn import(spec: KeySpec, pkcs8: &[u8]) -> Result<KeyPairMaterial, CryptoError> {
    let pair = RsaKeyPair::from_pkcs8(pkcs8)
        .map_err(|_| CryptoError::InvalidKeyMaterial("not an RSA PKCS#8 private key"))?;
    material(spec, &pair)
}

pub(super) fn verify(
    spec: KeySpec,
    public: &[u8],
    alg: SigningAlgorithm,
    input: SignInput<'_>,
    sig: &[u8],
) -> Result<bool, CryptoError> {
    let parsed = RsaSubjectPublicKey::from_der(public)
        .map_err(|_| CryptoError::InvalidKeyMaterial("not an RSA public key"))?;
    if parsed.modulus_len() != modulus_len(spec) {
        return Err(CryptoError::InvalidKeyMaterial(
            "the RSA modulus does not have the spec's size",
        ));
    }
    let s = scheme(alg);
    let key = signature::UnparsedPublicKey::new(s.verification, public)
        .parse()
        .map_err(|_| CryptoError::InvalidKeyMaterial("not an RSA public key"))?;
    let ok = match input {
        SignInput::Message(m) => key.verify_sig(m, sig).is_ok(),
        SignInput::Digest(d) => {
            let digest = Digest::import_less_safe(d, s.digest)
                .map_err(|_| CryptoError::InvalidInput("digest"))?;
            key.verify_digest_sig(&digest, sig).is_ok()
        }
    };
    Ok(ok)
}

/// A loaded RSA key: the signing pair and the decrypting key from one PKCS#8 document.
pub(super) struct RsaKey {
    spec: KeySpec,
    pair: RsaKeyPair,
    decrypting: PrivateDecryptingKey,
    public: Vec<u8>,
}

impl RsaKey {
    pub(super) fn load(spec: KeySpec, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8)
            .map_err(|_| CryptoError::InvalidKeyMaterial("not an RSA PKCS#8 private key"))?;
        if pair.public_modulus_len() != modulus_len(spec) {
            return Err(CryptoError::InvalidKeyMaterial(
                "the RSA modulus does not have the spec's size",
            ));
        }
        let decrypting = PrivateDecryptingKey::from_pkcs8(pkcs8)
            .map_err(|_| CryptoError::InvalidKeyMaterial("not an RSA PKCS#8 private key"))?;
        let public = pair
            .public_key()
            .as_der()
            .map_err(|_| backend("RSA public key encoding"))?
            .as_ref()
            .to_vec();
        Ok(Self {
            spec,
            pair,
            decrypting,
            public,
        })
    }
}

impl KeyHandle for RsaKey {
    fn spec(&self) -> KeySpec {
        self.spec
    }

    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn sign(&self, alg: SigningAlgorithm, input: SignInput<'_>) -> Result<Vec<u8>, CryptoError> {
        check_signing(self.spec, alg, &input)?;
        let s = scheme(alg);
        let mut out = vec![0u8; self.pair.public_modulus_len()];
        match input {
            SignInput::Message(m) => self
                .pair
                .sign(s.encoding, &SystemRandom::new(), m, &mut out)
                .map_err(|_| backend("RSA signing"))?,
            SignInput::Digest(d) => {
                let digest = Digest::import_less_safe(d, s.digest)
                    .map_err(|_| CryptoError::InvalidInput("digest"))?;
                self.pair
                    .sign_digest(s.encoding, &digest, &mut out)
                    .map_err(|_| backend("RSA signing"))?
            }
        }
        Ok(out)
    }

    fn verify(
        &self,
        alg: SigningAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        check_signing(self.spec, alg, &input)?;
        verify(self.spec, &self.public, alg, input, signature)
    }

    fn decrypt(
        &self,
        alg: AsymmetricAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let size = self.decrypting.key_size_bytes();
        if ciphertext.len() != size {
            return Err(CryptoError::InvalidInput(
                "an RSA ciphertext is as long as the modulus",
            ));
        }
        let mut out = Zeroizing::new(vec![0u8; size]);
        let len = match alg {
            AsymmetricAlgorithm::RsaPkcs1v15 => {
                Pkcs1PrivateDecryptingKey::new(self.decrypting.clone())
                    .map_err(|_| backend("RSA key"))?
                    .decrypt(ciphertext, &mut out)
                    .map_err(|_| CryptoError::DecryptFailed)?
                    .len()
            }
            AsymmetricAlgorithm::RsaOaepSha1 | AsymmetricAlgorithm::RsaOaepSha256 => {
                let oaep = if alg == AsymmetricAlgorithm::RsaOaepSha1 {
                    &OAEP_SHA1_MGF1SHA1
                } else {
                    &OAEP_SHA256_MGF1SHA256
                };
                OaepPrivateDecryptingKey::new(self.decrypting.clone())
                    .map_err(|_| backend("RSA key"))?
                    .decrypt(oaep, ciphertext, &mut out, None)
                    .map_err(|_| CryptoError::DecryptFailed)?
                    .len()
            }
            AsymmetricAlgorithm::Sm2C1C3C2Asn1 => {
                return Err(CryptoError::AlgorithmMismatch {
                    spec: self.spec,
                    algorithm: format!("{alg:?}"),
                });
            }
        };
        out.truncate(len);
        Ok(out)
    }
}
