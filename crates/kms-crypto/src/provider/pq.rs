//! Post-quantum keys through aws-lc-rs: ML-KEM-768 (FIPS 203) and ML-DSA-65 (FIPS 204, pure
//! mode with an empty context).
//!
//! ML-DSA is stored as its 32-byte seed ξ and re-derived on load. ML-KEM is stored as the
//! 2400-byte expanded decapsulation key `dk = dk_PKE || ek || H(ek) || z`: aws-lc-rs offers no
//! derivation from the seed `d || z`, and `ek` is read back out of `dk`.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_768};
use aws_lc_rs::signature::{self, KeyPair, ML_DSA_65_SIGNING, PqdsaKeyPair};
use zeroize::Zeroizing;

use super::{CryptoError, KeyHandle, KeyPairMaterial, backend, check_signing};
use crate::constant_time_eq;
use crate::random;
use crate::spec::{KeySpec, SignInput, SigningAlgorithm};

const ML_DSA_SEED_LEN: usize = 32;
const ML_DSA_65_SIGNATURE_LEN: usize = 3309;
const ML_DSA_65_PUBLIC_LEN: usize = 1952;

const ML_KEM_768_DK_LEN: usize = 2400;
const ML_KEM_768_EK_LEN: usize = 1184;
const ML_KEM_768_CT_LEN: usize = 1088;
/// Offset of `ek` inside `dk` (after `dk_PKE`, 384·k bytes with k = 3), FIPS 203 Algorithm 16.
const ML_KEM_768_EK_OFFSET: usize = 1152;

/// SubjectPublicKeyInfo header for ML-KEM-768: AlgorithmIdentifier id-alg-ml-kem-768
/// (2.16.840.1.101.3.4.4.2, NIST's object identifier, no parameters) and a 1185-byte BIT
/// STRING, as the IETF LAMPS ML-KEM certificate profile (draft-ietf-lamps-kyber-certificates)
/// lays it out.
const ML_KEM_768_SPKI_PREFIX: [u8; 22] = [
    0x30, 0x82, 0x04, 0xb2, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04,
    0x02, 0x03, 0x82, 0x04, 0xa1, 0x00,
];

fn ml_kem_spki(ek: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ML_KEM_768_SPKI_PREFIX.len() + ek.len());
    out.extend_from_slice(&ML_KEM_768_SPKI_PREFIX);
    out.extend_from_slice(ek);
    out
}

/// Splits `ek` out of `dk` and checks the embedded `H(ek)` (FIPS 203 §7.3, hash check).
fn ml_kem_ek(dk: &[u8]) -> Result<&[u8], CryptoError> {
    if dk.len() != ML_KEM_768_DK_LEN {
        return Err(CryptoError::InvalidKeyMaterial(
            "an ML-KEM-768 decapsulation key is 2400 bytes",
        ));
    }
    let ek_end = ML_KEM_768_EK_OFFSET + ML_KEM_768_EK_LEN;
    let ek = &dk[ML_KEM_768_EK_OFFSET..ek_end];
    let h = digest::digest(&digest::SHA3_256, ek);
    if !constant_time_eq(h.as_ref(), &dk[ek_end..ek_end + 32]) {
        return Err(CryptoError::InvalidKeyMaterial(
            "the ML-KEM-768 decapsulation key fails its hash check",
        ));
    }
    Ok(ek)
}

pub(super) fn generate_ml_kem() -> Result<KeyPairMaterial, CryptoError> {
    let dk = DecapsulationKey::generate(&ML_KEM_768).map_err(|_| backend("ML-KEM generation"))?;
    let bytes = dk.key_bytes().map_err(|_| backend("ML-KEM key bytes"))?;
    import_ml_kem(bytes.as_ref())
}

/// Checks customer material as FIPS 203 §7.3 does (`H(ek)`), and then pairwise: a shared secret
/// encapsulated to `ek` must come back out of `dk`. The hash check alone covers `ek` only; a `dk`
/// whose secret part is damaged would import and then decapsulate every ciphertext to its
/// implicit-rejection secret, silently (found by the `key_material` fuzz target).
pub(super) fn import_ml_kem(dk: &[u8]) -> Result<KeyPairMaterial, CryptoError> {
    let key = MlKemKey::load(dk)?;
    let (ciphertext, sent) = key.encapsulate()?;
    let received = key.decapsulate(&ciphertext)?;
    if !constant_time_eq(&sent, &received) {
        return Err(CryptoError::InvalidKeyMaterial(
            "the ML-KEM-768 decapsulation key does not match its encapsulation key",
        ));
    }
    Ok(KeyPairMaterial {
        private: Zeroizing::new(dk.to_vec()),
        public: Some(key.public),
    })
}

fn ml_dsa_material(seed: Zeroizing<Vec<u8>>) -> Result<KeyPairMaterial, CryptoError> {
    let key = MlDsaKey::load(&seed)?;
    Ok(KeyPairMaterial {
        private: seed,
        public: Some(key.public),
    })
}

pub(super) fn generate_ml_dsa() -> Result<KeyPairMaterial, CryptoError> {
    let seed = random::secret_bytes(ML_DSA_SEED_LEN).map_err(|_| backend("random source"))?;
    ml_dsa_material(seed)
}

/// Imports PKCS#8 DER that carries the seed (the `seed` or `both` private key forms).
pub(super) fn import_ml_dsa(pkcs8: &[u8]) -> Result<KeyPairMaterial, CryptoError> {
    let pair = PqdsaKeyPair::from_pkcs8(&ML_DSA_65_SIGNING, pkcs8)
        .map_err(|_| CryptoError::InvalidKeyMaterial("not an ML-DSA-65 PKCS#8 private key"))?;
    // The seed-only PKCS#8 form ends with the 32-byte seed; re-deriving and comparing public
    // keys confirms it.
    let seed_form = pair.to_pkcs8v1().map_err(|_| {
        CryptoError::InvalidKeyMaterial("ML-DSA-65 import needs the private key's seed")
    })?;
    let doc = seed_form.as_ref();
    let seed = Zeroizing::new(doc[doc.len().saturating_sub(ML_DSA_SEED_LEN)..].to_vec());
    let material = ml_dsa_material(seed)?;
    if material.public.as_deref() != Some(public_spki(&pair)?.as_slice()) {
        return Err(CryptoError::InvalidKeyMaterial(
            "ML-DSA-65 import needs the private key's seed",
        ));
    }
    Ok(material)
}

fn public_spki(pair: &PqdsaKeyPair) -> Result<Vec<u8>, CryptoError> {
    Ok(pair
        .public_key()
        .as_der()
        .map_err(|_| backend("ML-DSA public key encoding"))?
        .as_ref()
        .to_vec())
}

/// Verifies an ML-DSA-65 signature with an SPKI DER public key (the caller has checked the
/// algorithm and refused digest input).
pub(super) fn verify_ml_dsa(
    public: &[u8],
    input: SignInput<'_>,
    sig: &[u8],
) -> Result<bool, CryptoError> {
    let SignInput::Message(m) = input else {
        return Err(super::unsupported(
            KeySpec::MlDsa65,
            "sign or verify a precomputed digest",
        ));
    };
    if public.len() == ML_DSA_65_PUBLIC_LEN {
        return Err(CryptoError::InvalidKeyMaterial(
            "the public key must be SubjectPublicKeyInfo DER",
        ));
    }
    let key = signature::UnparsedPublicKey::new(&signature::ML_DSA_65, public)
        .parse()
        .map_err(|_| CryptoError::InvalidKeyMaterial("not an ML-DSA-65 public key"))?;
    Ok(key.verify_sig(m, sig).is_ok())
}

/// A loaded ML-DSA-65 key.
pub(super) struct MlDsaKey {
    pair: PqdsaKeyPair,
    public: Vec<u8>,
}

impl MlDsaKey {
    pub(super) fn load(seed: &[u8]) -> Result<Self, CryptoError> {
        if seed.len() != ML_DSA_SEED_LEN {
            return Err(CryptoError::InvalidKeyMaterial(
                "an ML-DSA-65 key is stored as its 32-byte seed",
            ));
        }
        let pair = PqdsaKeyPair::from_seed(&ML_DSA_65_SIGNING, seed)
            .map_err(|_| CryptoError::InvalidKeyMaterial("ML-DSA-65 seed"))?;
        let public = public_spki(&pair)?;
        Ok(Self { pair, public })
    }
}

impl KeyHandle for MlDsaKey {
    fn spec(&self) -> KeySpec {
        KeySpec::MlDsa65
    }

    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn sign(&self, alg: SigningAlgorithm, input: SignInput<'_>) -> Result<Vec<u8>, CryptoError> {
        check_signing(KeySpec::MlDsa65, alg, &input)?;
        let SignInput::Message(m) = input else {
            return Err(super::unsupported(
                KeySpec::MlDsa65,
                "sign or verify a precomputed digest",
            ));
        };
        let mut out = vec![0u8; ML_DSA_65_SIGNATURE_LEN];
        let len = self
            .pair
            .sign(m, &mut out)
            .map_err(|_| backend("ML-DSA signing"))?;
        out.truncate(len);
        Ok(out)
    }

    fn verify(
        &self,
        alg: SigningAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        check_signing(KeySpec::MlDsa65, alg, &input)?;
        verify_ml_dsa(&self.public, input, signature)
    }
}

/// A loaded ML-KEM-768 key: the decapsulation key and its encapsulation key.
pub(super) struct MlKemKey {
    dk: DecapsulationKey,
    ek: EncapsulationKey,
    public: Vec<u8>,
}

impl MlKemKey {
    pub(super) fn load(dk_bytes: &[u8]) -> Result<Self, CryptoError> {
        let ek_bytes = ml_kem_ek(dk_bytes)?;
        let dk = DecapsulationKey::new(&ML_KEM_768, dk_bytes)
            .map_err(|_| CryptoError::InvalidKeyMaterial("ML-KEM-768 decapsulation key"))?;
        let ek = EncapsulationKey::new(&ML_KEM_768, ek_bytes)
            .map_err(|_| CryptoError::InvalidKeyMaterial("ML-KEM-768 encapsulation key"))?;
        Ok(Self {
            dk,
            ek,
            public: ml_kem_spki(ek_bytes),
        })
    }
}

impl KeyHandle for MlKemKey {
    fn spec(&self) -> KeySpec {
        KeySpec::MlKem768
    }

    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn encapsulate(&self) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), CryptoError> {
        let (ct, ss) = self
            .ek
            .encapsulate()
            .map_err(|_| backend("ML-KEM encapsulation"))?;
        Ok((ct.as_ref().to_vec(), Zeroizing::new(ss.as_ref().to_vec())))
    }

    fn decapsulate(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if ciphertext.len() != ML_KEM_768_CT_LEN {
            return Err(CryptoError::InvalidInput(
                "an ML-KEM-768 ciphertext is 1088 bytes",
            ));
        }
        let ss = self
            .dk
            .decapsulate(Ciphertext::from(ciphertext))
            .map_err(|_| CryptoError::DecryptFailed)?;
        Ok(Zeroizing::new(ss.as_ref().to_vec()))
    }
}
