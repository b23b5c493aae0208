//! Elliptic curves through aws-lc-rs: ECDSA on P-256, P-384 and secp256k1 (ASN.1 DER
//! signatures, message or digest input), ECDH on P-256 and P-384, and Ed25519. Stored as
//! PKCS#8 DER.

use aws_lc_rs::agreement;
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, Ed25519KeyPair, KeyPair,
};
use zeroize::Zeroizing;

use super::{CryptoError, KeyHandle, KeyPairMaterial, backend, check_signing};
use crate::spec::{KeySpec, SignInput, SigningAlgorithm};

struct Curve {
    signing: &'static EcdsaSigningAlgorithm,
    verification: &'static EcdsaVerificationAlgorithm,
    digest: &'static digest::Algorithm,
    ecdh: Option<&'static agreement::Algorithm>,
}

fn curve(spec: KeySpec) -> Curve {
    match spec {
        KeySpec::EccP384 => Curve {
            signing: &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            verification: &signature::ECDSA_P384_SHA384_ASN1,
            digest: &digest::SHA384,
            ecdh: Some(&agreement::ECDH_P384),
        },
        KeySpec::EccSecp256k1 => Curve {
            signing: &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            verification: &signature::ECDSA_P256K1_SHA256_ASN1,
            digest: &digest::SHA256,
            ecdh: None,
        },
        _ => Curve {
            signing: &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            verification: &signature::ECDSA_P256_SHA256_ASN1,
            digest: &digest::SHA256,
            ecdh: Some(&agreement::ECDH_P256),
        },
    }
}

fn ec_material(pair: &EcdsaKeyPair) -> Result<KeyPairMaterial, CryptoError> {
    let pkcs8 = pair
        .to_pkcs8v1()
        .map_err(|_| backend("EC PKCS#8 encoding"))?;
    let public = pair
        .public_key()
        .as_der()
        .map_err(|_| backend("EC public key encoding"))?;
    Ok(KeyPairMaterial {
        private: Zeroizing::new(pkcs8.as_ref().to_vec()),
        public: Some(public.as_ref().to_vec()),
    })
}

pub(super) fn generate(spec: KeySpec) -> Result<KeyPairMaterial, CryptoError> {
    let pair =
        EcdsaKeyPair::generate(curve(spec).signing).map_err(|_| backend("EC key generation"))?;
    ec_material(&pair)
}

pub(super) fn import(spec: KeySpec, pkcs8: &[u8]) -> Result<KeyPairMaterial, CryptoError> {
    let pair = EcdsaKeyPair::from_pkcs8(curve(spec).signing, pkcs8).map_err(|_| {
        CryptoError::InvalidKeyMaterial("not a PKCS#8 private key on the spec's curve")
    })?;
    ec_material(&pair)
}

fn ed25519_material(pair: &Ed25519KeyPair) -> Result<KeyPairMaterial, CryptoError> {
    let pkcs8 = pair
        .to_pkcs8v1()
        .map_err(|_| backend("Ed25519 PKCS#8 encoding"))?;
    let public = pair
        .public_key()
        .as_der()
        .map_err(|_| backend("Ed25519 public key encoding"))?;
    Ok(KeyPairMaterial {
        private: Zeroizing::new(pkcs8.as_ref().to_vec()),
        public: Some(public.as_ref().to_vec()),
    })
}

pub(super) fn generate_ed25519() -> Result<KeyPairMaterial, CryptoError> {
    let pair = Ed25519KeyPair::generate().map_err(|_| backend("Ed25519 key generation"))?;
    ed25519_material(&pair)
}

pub(super) fn import_ed25519(pkcs8: &[u8]) -> Result<KeyPairMaterial, CryptoError> {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|_| CryptoError::InvalidKeyMaterial("not an Ed25519 PKCS#8 private key"))?;
    ed25519_material(&pair)
}

/// Verifies an ECDSA or Ed25519 signature with an SPKI DER public key. The caller has checked
/// the algorithm and the digest length.
pub(super) fn verify(
    spec: KeySpec,
    public: &[u8],
    input: SignInput<'_>,
    sig: &[u8],
) -> Result<bool, CryptoError> {
    let (verification, digest): (&'static dyn signature::VerificationAlgorithm, _) =
        if spec == KeySpec::Ed25519 {
            if public.len() == signature::ED25519_PUBLIC_KEY_LEN {
                return Err(CryptoError::InvalidKeyMaterial(
                    "the public key must be SubjectPublicKeyInfo DER",
                ));
            }
            (&signature::ED25519, None)
        } else {
            let c = curve(spec);
            (c.verification, Some(c.digest))
        };
    let key = signature::UnparsedPublicKey::new(verification, public)
        .parse()
        .map_err(|_| CryptoError::InvalidKeyMaterial("not a public key of the spec's type"))?;
    let ok = match (input, digest) {
        (SignInput::Message(m), _) => key.verify_sig(m, sig).is_ok(),
        (SignInput::Digest(d), Some(alg)) => {
            let digest = Digest::import_less_safe(d, alg)
                .map_err(|_| CryptoError::InvalidInput("digest"))?;
            key.verify_digest_sig(&digest, sig).is_ok()
        }
        (SignInput::Digest(_), None) => {
            return Err(super::unsupported(
                spec,
                "sign or verify a precomputed digest",
            ));
        }
    };
    Ok(ok)
}

/// A loaded ECDSA key, with its ECDH twin on the NIST curves.
pub(super) struct EcKey {
    spec: KeySpec,
    pair: EcdsaKeyPair,
    ecdh: Option<agreement::PrivateKey>,
    public: Vec<u8>,
}

impl EcKey {
    pub(super) fn load(spec: KeySpec, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let c = curve(spec);
        let pair = EcdsaKeyPair::from_pkcs8(c.signing, pkcs8).map_err(|_| {
            CryptoError::InvalidKeyMaterial("not a PKCS#8 private key on the spec's curve")
        })?;
        let ecdh = match c.ecdh {
            Some(alg) => Some(
                agreement::PrivateKey::from_private_key_der(alg, pkcs8).map_err(|_| {
                    CryptoError::InvalidKeyMaterial("not a PKCS#8 private key on the spec's curve")
                })?,
            ),
            None => None,
        };
        let public = pair
            .public_key()
            .as_der()
            .map_err(|_| backend("EC public key encoding"))?
            .as_ref()
            .to_vec();
        Ok(Self {
            spec,
            pair,
            ecdh,
            public,
        })
    }
}

impl KeyHandle for EcKey {
    fn spec(&self) -> KeySpec {
        self.spec
    }

    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn sign(&self, alg: SigningAlgorithm, input: SignInput<'_>) -> Result<Vec<u8>, CryptoError> {
        check_signing(self.spec, alg, &input)?;
        let sig = match input {
            SignInput::Message(m) => self.pair.sign(&SystemRandom::new(), m),
            SignInput::Digest(d) => {
                let digest = Digest::import_less_safe(d, curve(self.spec).digest)
                    .map_err(|_| CryptoError::InvalidInput("digest"))?;
                self.pair.sign_digest(&digest)
            }
        }
        .map_err(|_| backend("ECDSA signing"))?;
        Ok(sig.as_ref().to_vec())
    }

    fn verify(
        &self,
        alg: SigningAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        check_signing(self.spec, alg, &input)?;
        verify(self.spec, &self.public, input, signature)
    }

    fn derive_shared_secret(&self, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let Some(private) = &self.ecdh else {
            return Err(super::unsupported(self.spec, "derive a shared secret"));
        };
        let peer = agreement::UnparsedPublicKey::new(private.algorithm(), peer_public);
        let peer = agreement::ParsedPublicKey::try_from(&peer).map_err(|_| {
            CryptoError::InvalidKeyMaterial("the peer key is not a public key on this curve")
        })?;
        agreement::agree(
            private,
            peer,
            CryptoError::InvalidKeyMaterial("the peer key is not a public key on this curve"),
            |secret| Ok(Zeroizing::new(secret.to_vec())),
        )
    }
}

/// A loaded Ed25519 key (pure Ed25519, RFC 8032).
pub(super) struct Ed25519Key {
    pair: Ed25519KeyPair,
    public: Vec<u8>,
}

impl Ed25519Key {
    pub(super) fn load(pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| CryptoError::InvalidKeyMaterial("not an Ed25519 PKCS#8 private key"))?;
        let public = pair
            .public_key()
            .as_der()
            .map_err(|_| backend("Ed25519 public key encoding"))?
            .as_ref()
            .to_vec();
        Ok(Self { pair, public })
    }
}

impl KeyHandle for Ed25519Key {
    fn spec(&self) -> KeySpec {
        KeySpec::Ed25519
    }

    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn sign(&self, alg: SigningAlgorithm, input: SignInput<'_>) -> Result<Vec<u8>, CryptoError> {
        check_signing(KeySpec::Ed25519, alg, &input)?;
        let SignInput::Message(m) = input else {
            return Err(super::unsupported(
                KeySpec::Ed25519,
                "sign or verify a precomputed digest",
            ));
        };
        Ok(self.pair.sign(m).as_ref().to_vec())
    }

    fn verify(
        &self,
        alg: SigningAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        check_signing(KeySpec::Ed25519, alg, &input)?;
        verify(KeySpec::Ed25519, &self.public, input, signature)
    }
}
