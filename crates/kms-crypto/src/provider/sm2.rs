//! SM2 through RustCrypto `sm2`: signatures with SM3 over `Z || M` (GB/T 32918.2, Z with the
//! GM/T 0009 default user id), DER-encoded; decryption of the GM/T 0009 ASN.1 ciphertext in
//! C1C3C2 order. Stored as PKCS#8 DER.

use sm2::dsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use sm2::dsa::signature::{RandomizedSigner, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::elliptic_curve::Generate;
use sm2::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sm2::pke::{DecryptingKey, Mode};
use zeroize::Zeroizing;

use super::{CryptoError, KeyHandle, KeyPairMaterial, backend, check_signing};
use crate::spec::{AsymmetricAlgorithm, KeySpec, SignInput, SigningAlgorithm};

/// The default user id of GM/T 0009-2012 §10, used for Z when the caller names none.
pub(super) const DEFAULT_USER_ID: &str = "1234567812345678";

fn material(secret: &sm2::SecretKey) -> Result<KeyPairMaterial, CryptoError> {
    let pkcs8 = secret
        .to_pkcs8_der()
        .map_err(|_| backend("SM2 PKCS#8 encoding"))?;
    let public = secret
        .public_key()
        .to_public_key_der()
        .map_err(|_| backend("SM2 public key encoding"))?;
    Ok(KeyPairMaterial {
        private: Zeroizing::new(pkcs8.as_bytes().to_vec()),
        public: Some(public.as_bytes().to_vec()),
    })
}

fn parse_private(pkcs8: &[u8]) -> Result<sm2::SecretKey, CryptoError> {
    sm2::SecretKey::from_pkcs8_der(pkcs8)
        .map_err(|_| CryptoError::InvalidKeyMaterial("not an SM2 PKCS#8 private key"))
}

pub(super) fn generate() -> Result<KeyPairMaterial, CryptoError> {
    let secret = sm2::SecretKey::try_generate_from_rng(&mut getrandom::SysRng)
        .map_err(|_| backend("SM2 key generation"))?;
    material(&secret)
}

pub(super) fn import(pkcs8: &[u8]) -> Result<KeyPairMaterial, CryptoError> {
    material(&parse_private(pkcs8)?)
}

/// Verifies with an SPKI DER public key and the default user id.
pub(super) fn verify(
    public: &[u8],
    input: SignInput<'_>,
    signature: &[u8],
) -> Result<bool, CryptoError> {
    verify_with_id(DEFAULT_USER_ID, public, input, signature)
}

pub(super) fn verify_with_id(
    user_id: &str,
    public: &[u8],
    input: SignInput<'_>,
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let key = sm2::PublicKey::from_public_key_der(public)
        .map_err(|_| CryptoError::InvalidKeyMaterial("not an SM2 public key"))?;
    let key = VerifyingKey::new(user_id, key)
        .map_err(|_| CryptoError::InvalidKeyMaterial("not an SM2 public key"))?;
    verify_parsed(&key, input, signature)
}

fn verify_parsed(
    key: &VerifyingKey,
    input: SignInput<'_>,
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let Ok(sig) = Signature::from_der(signature) else {
        return Ok(false);
    };
    Ok(match input {
        SignInput::Message(m) => key.verify(m, &sig).is_ok(),
        SignInput::Digest(d) => key.verify_prehash(d, &sig).is_ok(),
    })
}

/// A loaded SM2 key: the signing key (Z fixed to the default user id) and the decrypting key.
pub(super) struct Sm2Key {
    signing: SigningKey,
    decrypting: DecryptingKey,
    public: Vec<u8>,
}

impl Sm2Key {
    pub(super) fn load(pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let secret = parse_private(pkcs8)?;
        let signing = SigningKey::new(DEFAULT_USER_ID, &secret)
            .map_err(|_| CryptoError::InvalidKeyMaterial("not an SM2 PKCS#8 private key"))?;
        let decrypting = DecryptingKey::new_with_mode(secret.to_nonzero_scalar(), Mode::C1C3C2);
        let public = secret
            .public_key()
            .to_public_key_der()
            .map_err(|_| backend("SM2 public key encoding"))?
            .as_bytes()
            .to_vec();
        Ok(Self {
            signing,
            decrypting,
            public,
        })
    }
}

impl KeyHandle for Sm2Key {
    fn spec(&self) -> KeySpec {
        KeySpec::Sm2
    }

    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn sign(&self, alg: SigningAlgorithm, input: SignInput<'_>) -> Result<Vec<u8>, CryptoError> {
        check_signing(KeySpec::Sm2, alg, &input)?;
        let mut rng = getrandom::SysRng;
        let sig: Signature = match input {
            SignInput::Message(m) => self.signing.try_sign_with_rng(&mut rng, m),
            SignInput::Digest(d) => self.signing.sign_prehash_with_rng(&mut rng, d),
        }
        .map_err(|_| backend("SM2 signing"))?;
        Ok(sig.to_der().to_vec())
    }

    fn verify(
        &self,
        alg: SigningAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        check_signing(KeySpec::Sm2, alg, &input)?;
        verify_parsed(self.signing.verifying_key(), input, signature)
    }

    fn decrypt(
        &self,
        alg: AsymmetricAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if alg != AsymmetricAlgorithm::Sm2C1C3C2Asn1 {
            return Err(CryptoError::AlgorithmMismatch {
                spec: KeySpec::Sm2,
                algorithm: format!("{alg:?}"),
            });
        }
        self.decrypting
            .decrypt_der(ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::DecryptFailed)
    }
}
