//! SM2 wrapping keys (`SM2_ENCRYPT`): the customer encrypts the material to an SM2 public key
//! (GB/T 32918.4) in C1C3C2 order, as the GM/T 0009 ASN.1 structure or the raw concatenation.

use sm2::elliptic_curve::Generate;
use sm2::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use sm2::pke::{DecryptingKey, Mode};
use zeroize::Zeroizing;

use super::{WrappingError, WrappingKeyPair};

/// The DER tag that opens the GM/T 0009 structure; a raw C1C3C2 ciphertext opens with the
/// uncompressed point's 0x04.
const DER_SEQUENCE: u8 = 0x30;

pub(super) fn generate() -> Result<WrappingKeyPair, WrappingError> {
    let secret = sm2::SecretKey::try_generate_from_rng(&mut getrandom::SysRng)
        .map_err(|_| WrappingError::KeyGeneration)?;
    let private = secret
        .to_pkcs8_der()
        .map_err(|_| WrappingError::KeyGeneration)?;
    let public = secret
        .public_key()
        .to_public_key_der()
        .map_err(|_| WrappingError::KeyGeneration)?;
    Ok(WrappingKeyPair {
        private_pkcs8: Zeroizing::new(private.as_bytes().to_vec()),
        public_spki: public.as_bytes().to_vec(),
    })
}

pub(super) fn unwrap(
    private_pkcs8: &[u8],
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, WrappingError> {
    let secret =
        sm2::SecretKey::from_pkcs8_der(private_pkcs8).map_err(|_| WrappingError::Unwrap)?;
    let key = DecryptingKey::new_with_mode(secret.to_nonzero_scalar(), Mode::C1C3C2);
    let plain = if wrapped.first() == Some(&DER_SEQUENCE) {
        key.decrypt_der(wrapped)
    } else {
        key.decrypt(wrapped)
    }
    .map_err(|_| WrappingError::Unwrap)?;
    Ok(Zeroizing::new(plain))
}

#[cfg(test)]
mod tests {
    use sm2::pkcs8::DecodePublicKey;
    use sm2::pke::EncryptingKey;

    use super::*;

    #[test]
    fn both_encodings_unwrap_and_other_keys_fail() {
        let pair = generate().unwrap();
        let public = sm2::PublicKey::from_public_key_der(&pair.public_spki).unwrap();
        let enc = EncryptingKey::new_with_mode(public, Mode::C1C3C2);
        let material = [0x42u8; 32];
        let der = enc.encrypt_der(&mut getrandom::SysRng, &material).unwrap();
        let raw = enc.encrypt(&mut getrandom::SysRng, &material).unwrap();
        assert_eq!(&unwrap(&pair.private_pkcs8, &der).unwrap()[..], &material);
        assert_eq!(&unwrap(&pair.private_pkcs8, &raw).unwrap()[..], &material);
        let other = generate().unwrap();
        assert_eq!(
            unwrap(&other.private_pkcs8, &der).map(|_| ()),
            Err(WrappingError::Unwrap)
        );
        assert_eq!(
            unwrap(&pair.private_pkcs8, b"\x30garbage").map(|_| ()),
            Err(WrappingError::Unwrap)
        );
    }
}
