//! IAM tokens (`X-Auth-Token`): what `POST /v3/auth/tokens` issues and the KMS routes accept.
//!
//! A token is self-contained and authenticated: `kmsd1.` then base64url of its claims (JSON),
//! `.`, then base64url of HMAC-SHA256 over a label and the encoded claims under the server's
//! token key. Nothing is stored per token; a token names its user, and the user's state is
//! checked on every request, so disabling or deleting the user, or changing their password,
//! ends their tokens at once. A
//! presented token is bounded in length and its MAC checked (in constant time) before its
//! claims are parsed, so an unauthenticated caller pays linear time at most.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use kms_core::AccountId;
use kms_crypto::constant_time_eq;
use kms_crypto::digest::hmac_sha256;

/// How long a token lives: the vendor's 24 hours.
pub const TOKEN_LIFETIME_SECS: u64 = 24 * 60 * 60;
/// The longest token accepted; ours are a few hundred bytes.
const TOKEN_MAX_BYTES: usize = 2048;
const PREFIX: &str = "kmsd1.";
const MAC_LABEL: &[u8] = b"kmsd/huawei-token/v1\0";
const PASSWORD_LABEL: &[u8] = b"kmsd/huawei-token-password/v1\0";

/// Who a token speaks for and where: a user of an account, scoped to one project (region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    #[serde(rename = "a")]
    pub account: AccountId,
    /// The user's id; `None` is the account's root.
    #[serde(rename = "u")]
    pub user: Option<String>,
    #[serde(rename = "p")]
    pub project_id: String,
    #[serde(rename = "i")]
    pub issued_at: u64,
    #[serde(rename = "e")]
    pub expires_at: u64,
    /// [`password_fingerprint`] of the user's password hash at issue.
    #[serde(rename = "k")]
    pub password: String,
}

/// Names a password hash without revealing it: a token names the password it was issued
/// under, so a changed or removed password ends the tokens issued before.
pub fn password_fingerprint(hash: &str) -> String {
    let digest = kms_crypto::digest::sha256(&[PASSWORD_LABEL, hash.as_bytes()].concat());
    B64URL.encode(&digest[..12])
}

/// Why a presented token is refused. Callers answer every one the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadMac,
    Expired,
}

/// Issues and verifies tokens under one key.
pub struct TokenKey {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Self { key }
    }

    fn mac(&self, encoded_claims: &str) -> [u8; 32] {
        hmac_sha256(
            self.key.as_slice(),
            &[MAC_LABEL, encoded_claims.as_bytes()].concat(),
        )
    }

    /// A token for `claims`.
    pub fn issue(&self, claims: &TokenClaims) -> String {
        let encoded = B64URL.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mac = B64URL.encode(self.mac(&encoded));
        format!("{PREFIX}{encoded}.{mac}")
    }

    /// The claims of a token this key issued that has not expired at `now`.
    pub fn verify(&self, token: &str, now: u64) -> Result<TokenClaims, TokenError> {
        if token.len() > TOKEN_MAX_BYTES {
            return Err(TokenError::Malformed);
        }
        let (encoded, mac) = token
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or(TokenError::Malformed)?;
        let mac = B64URL.decode(mac).map_err(|_| TokenError::Malformed)?;
        if !constant_time_eq(&self.mac(encoded), &mac) {
            return Err(TokenError::BadMac);
        }
        let claims: TokenClaims = B64URL
            .decode(encoded)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(TokenError::Malformed)?;
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> TokenKey {
        TokenKey::new(Zeroizing::new([byte; 32]))
    }

    fn claims() -> TokenClaims {
        TokenClaims {
            account: 100_000_000_001,
            user: Some("u-1".into()),
            project_id: "0123456789abcdef0123456789abcdef".into(),
            issued_at: 1_000,
            expires_at: 1_000 + TOKEN_LIFETIME_SECS,
            password: password_fingerprint("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let token = key(1).issue(&claims());
        assert!(token.starts_with(PREFIX) && token.len() < 400);
        assert_eq!(key(1).verify(&token, 1_000), Ok(claims()));
        assert_eq!(
            key(1).verify(&token, 1_000 + TOKEN_LIFETIME_SECS - 1),
            Ok(claims())
        );
        assert_eq!(
            key(1).verify(&token, 1_000 + TOKEN_LIFETIME_SECS),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn another_key_or_an_altered_token_is_refused() {
        let token = key(1).issue(&claims());
        assert_eq!(key(2).verify(&token, 1_000), Err(TokenError::BadMac));
        let mut forged = claims();
        forged.account = 7;
        let encoded = B64URL.encode(serde_json::to_vec(&forged).unwrap());
        let mac = token.rsplit_once('.').unwrap().1;
        assert_eq!(
            key(1).verify(&format!("{PREFIX}{encoded}.{mac}"), 1_000),
            Err(TokenError::BadMac)
        );
        for bad in [
            "",
            "kmsd1.",
            "kmsd1.abc",
            "MIIE.abc.def",
            "kmsd1.a.!!",
            &"x".repeat(3000),
        ] {
            assert_eq!(
                key(1).verify(bad, 1_000),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
        let padded = format!("{token}=");
        assert!(key(1).verify(&padded, 1_000).is_err());
    }

    #[test]
    fn the_key_is_not_in_debug_output() {
        assert_eq!(format!("{:?}", key(0xab)), "TokenKey(..)");
    }
}
