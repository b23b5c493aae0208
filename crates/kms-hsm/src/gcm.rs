//! AES-GCM inside a token (CKM_AES_GCM) under a fresh random IV, in the software provider's
//! layout: `IV(12) || ciphertext || tag(16)`.

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use zeroize::Zeroizing;

use crate::{Token, TokenError, TokenObject};

pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// Why a GCM operation failed.
pub enum GcmError {
    /// The input is not a GCM blob of this key: too short, another key, changed bytes.
    Authentication,
    /// The OS random source failed.
    Random,
    /// The token failed, or cannot be reached.
    Token(TokenError),
}

fn run(
    token: &Token,
    key: &TokenObject,
    iv: &[u8; IV_LEN],
    aad: &[u8],
    input: &[u8],
    encrypt: bool,
) -> Result<Vec<u8>, TokenError> {
    token.with_object(key, |session, key| {
        let mut iv = *iv;
        let params = GcmParams::new(&mut iv, aad, (TAG_LEN as u64 * 8).into())?;
        let mechanism = Mechanism::AesGcm(params);
        if encrypt {
            session.encrypt(&mechanism, key, input)
        } else {
            session.decrypt(&mechanism, key, input)
        }
    })
}

pub fn seal(
    token: &Token,
    key: &TokenObject,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, GcmError> {
    let mut iv = [0u8; IV_LEN];
    getrandom::fill(&mut iv).map_err(|_| GcmError::Random)?;
    let sealed = run(token, key, &iv, aad, plaintext, true).map_err(GcmError::Token)?;
    let mut out = Vec::with_capacity(IV_LEN + sealed.len());
    out.extend_from_slice(&iv);
    out.extend_from_slice(&sealed);
    Ok(out)
}

pub fn open(
    token: &Token,
    key: &TokenObject,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, GcmError> {
    let (iv, body) = sealed
        .split_first_chunk::<IV_LEN>()
        .filter(|(_, body)| body.len() >= TAG_LEN)
        .ok_or(GcmError::Authentication)?;
    match run(token, key, iv, aad, body, false) {
        Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
        // A tag that does not verify: another key, or changed bytes. SoftHSM2 answers it with
        // CKR_GENERAL_ERROR where the standard names CKR_ENCRYPTED_DATA_INVALID.
        Err(TokenError::Call(CkError::Pkcs11(
            RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange | RvError::GeneralError,
            _,
        ))) => Err(GcmError::Authentication),
        Err(e) => Err(GcmError::Token(e)),
    }
}
