//! Request signature verification: TC3-HMAC-SHA256 and the legacy HmacSHA1/HmacSHA256.
//!
//! Signatures are recomputed over the request exactly as it arrived (headers, query, body) and
//! compared in constant time. `tccli --endpoint http://host:port` signs a Host header that
//! includes the scheme; since it also sends that header, verifying what arrives just works.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use base64::Engine as _;
use kms_core::accounts::{Directory, Principal};
use kms_crypto::constant_time_eq;
use kms_crypto::digest::{hmac_sha1, hmac_sha256, sha256};
use zeroize::Zeroizing;

use crate::errors::*;

/// How far a request's timestamp may be from the server's clock, either way.
pub const TIMESTAMP_WINDOW_SECS: u64 = 300;
const TC3_ALGORITHM: &str = "TC3-HMAC-SHA256";
const SERVICE: &str = "kms";

/// The parts of an HTTP request that signatures cover.
pub struct SignedParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// A parsed `Authorization: TC3-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, PartialEq, Eq)]
pub struct Tc3Authorization<'a> {
    pub secret_id: &'a str,
    pub date: &'a str,
    pub service: &'a str,
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

pub fn parse_tc3_authorization(value: &str) -> Result<Tc3Authorization<'_>, TcError> {
    let bad = || {
        TcError::new(
            AUTH_INVALID_AUTHORIZATION,
            "The Authorization header is malformed.",
        )
    };
    let rest = value
        .strip_prefix(TC3_ALGORITHM)
        .ok_or_else(bad)?
        .trim_start();
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(bad)?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(bad()),
        }
    }
    let mut scope = credential.ok_or_else(bad)?.split('/');
    let (secret_id, date, service, terminator) = (
        scope.next().ok_or_else(bad)?,
        scope.next().ok_or_else(bad)?,
        scope.next().ok_or_else(bad)?,
        scope.next().ok_or_else(bad)?,
    );
    if terminator != "tc3_request" || scope.next().is_some() || secret_id.is_empty() {
        return Err(bad());
    }
    Ok(Tc3Authorization {
        secret_id,
        date,
        service,
        signed_headers: signed_headers.ok_or_else(bad)?,
        signature: signature.ok_or_else(bad)?,
    })
}

/// Lowercase hex of a 32-byte digest, without the per-character iterator of `hex::encode`.
fn hex32(digest: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    // Cannot fail: the output is exactly twice the input's length.
    hex::encode_to_slice(digest, &mut out).expect("64-byte buffer");
    out.iter().map(|&b| b as char).collect()
}

/// The TC3 signing key of a secret for one day and service.
pub fn tc3_signing_key(secret_key: &[u8], date: &str, service: &str) -> Zeroizing<[u8; 32]> {
    let k_date = Zeroizing::new(hmac_sha256(
        &Zeroizing::new([b"TC3", secret_key].concat()),
        date.as_bytes(),
    ));
    let k_service = Zeroizing::new(hmac_sha256(&k_date[..], service.as_bytes()));
    Zeroizing::new(hmac_sha256(&k_service[..], b"tc3_request"))
}

/// The TC3 signature (lowercase hex) of a canonical request under a signing key.
pub fn tc3_sign(
    signing_key: &[u8; 32],
    date: &str,
    service: &str,
    timestamp: &str,
    canonical_request: &str,
) -> String {
    let string_to_sign = format!(
        "{TC3_ALGORITHM}\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        hex32(&sha256(canonical_request.as_bytes()))
    );
    hex32(&hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// Derived signing keys, one per credential for the day it is valid on: deriving one is three
/// HMACs that every request of that day would otherwise repeat. Zeroized when replaced. An entry
/// serves only the principal it was derived for (the directory makes a new one whenever a
/// credential changes, a rotated secret key included), and the weak reference keeps that
/// principal's allocation from being reused for another.
#[derive(Default)]
pub struct SigningKeys(Mutex<HashMap<String, DatedKey>>);

/// The principal a signing key was derived for, the date (YYYY-MM-DD) it signs for, the key.
type DatedKey = (Weak<Principal>, String, Zeroizing<[u8; 32]>);

impl SigningKeys {
    fn get(&self, secret_id: &str, principal: &Arc<Principal>, date: &str) -> Zeroizing<[u8; 32]> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((derived_for, cached_date, key)) = map.get(secret_id)
            && cached_date == date
            && Weak::ptr_eq(derived_for, &Arc::downgrade(principal))
        {
            return key.clone();
        }
        let key = tc3_signing_key(principal.secret_key(), date, SERVICE);
        // Keys of principals the directory no longer holds (deleted, rotated) go now.
        map.retain(|_, (derived_for, _, _)| derived_for.strong_count() > 0);
        map.insert(
            secret_id.to_owned(),
            (Arc::downgrade(principal), date.to_owned(), key.clone()),
        );
        key
    }
}

/// Builds the canonical request over the signed headers; `lowercase_values` selects the
/// documented form (values lowercased) over the SDK's (values as sent). `None` when a signed
/// header is missing.
fn tc3_canonical_request(
    req: &SignedParts<'_>,
    signed_headers: &str,
    lowercase_values: bool,
) -> Option<String> {
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let value = req.headers.get(name)?.to_str().ok()?.trim();
        canonical_headers.push_str(&name.to_ascii_lowercase());
        canonical_headers.push(':');
        if lowercase_values {
            canonical_headers.push_str(&value.to_ascii_lowercase());
        } else {
            canonical_headers.push_str(value);
        }
        canonical_headers.push('\n');
    }
    let unsigned = req
        .headers
        .get("x-tc-content-sha256")
        .is_some_and(|v| v.as_bytes() == b"UNSIGNED-PAYLOAD");
    let payload_hash = if unsigned {
        hex32(&sha256(b"UNSIGNED-PAYLOAD"))
    } else {
        hex32(&sha256(req.body))
    };
    Some(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method, req.path, req.query, canonical_headers, signed_headers, payload_hash
    ))
}

/// UTC calendar date (YYYY-MM-DD) of a Unix timestamp.
pub fn utc_date(ts: u64) -> String {
    let (y, m, d) = kms_core::utc_civil_date(ts);
    format!("{y:04}-{m:02}-{d:02}")
}

fn check_timestamp(timestamp: u64, now: u64) -> Result<(), TcError> {
    if timestamp.abs_diff(now) > TIMESTAMP_WINDOW_SECS {
        return Err(TcError::new(
            AUTH_SIGNATURE_EXPIRE,
            "Signature expired: the request timestamp is more than 5 minutes from server time.",
        ));
    }
    Ok(())
}

fn lookup(directory: &Directory, secret_id: &str) -> Result<Arc<Principal>, TcError> {
    directory.by_secret_id(secret_id).ok_or_else(|| {
        TcError::new(
            AUTH_SECRET_ID_NOT_FOUND,
            "The SecretId is not found, please ensure that your SecretId is correct.",
        )
    })
}

fn signature_failure() -> TcError {
    TcError::new(
        AUTH_SIGNATURE_FAILURE,
        "The provided credentials could not be validated. Please check your signature is correct.",
    )
}

/// Who signed a request, and when it says it was signed.
#[derive(Debug)]
pub struct Verified {
    pub principal: Arc<Principal>,
    pub timestamp: u64,
}

/// Verifies a TC3-HMAC-SHA256 request.
pub fn verify_tc3(
    req: &SignedParts<'_>,
    authorization: &str,
    timestamp: &str,
    directory: &Directory,
    signing_keys: &SigningKeys,
    now: u64,
) -> Result<Verified, TcError> {
    let auth = parse_tc3_authorization(authorization)?;
    let principal = lookup(directory, auth.secret_id)?;
    let ts: u64 = timestamp.parse().map_err(|_| {
        TcError::new(
            INVALID_PARAMETER,
            "The parameter `X-TC-Timestamp` must be an integer.",
        )
    })?;
    check_timestamp(ts, now)?;
    if auth.service != SERVICE {
        return Err(TcError::new(
            AUTH_INVALID_AUTHORIZATION,
            format!(
                "The credential scope names service `{}`; this endpoint serves `{SERVICE}`.",
                auth.service
            ),
        ));
    }
    if auth.date != utc_date(ts) {
        return Err(signature_failure());
    }
    if !auth.signed_headers.split(';').any(|h| h == "host") {
        return Err(signature_failure());
    }
    let signing_key = signing_keys.get(auth.secret_id, &principal, auth.date);
    for lowercase_values in [false, true] {
        let Some(canonical) = tc3_canonical_request(req, auth.signed_headers, lowercase_values)
        else {
            return Err(signature_failure());
        };
        let expected = tc3_sign(&signing_key, auth.date, auth.service, timestamp, &canonical);
        if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
            return Ok(Verified {
                principal,
                timestamp: ts,
            });
        }
    }
    Err(signature_failure())
}

/// The legacy signature method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyMethod {
    HmacSha1,
    HmacSha256,
}

impl LegacyMethod {
    pub fn parse(s: Option<&str>) -> Result<Self, TcError> {
        match s {
            None | Some("HmacSHA1") => Ok(Self::HmacSha1),
            Some("HmacSHA256") => Ok(Self::HmacSha256),
            Some(_) => Err(TcError::new(
                INVALID_PARAMETER_VALUE,
                "SignatureMethod must be HmacSHA1 or HmacSHA256.",
            )),
        }
    }
}

/// The string a legacy signature covers: `METHOD host path ? k=v&...` over every parameter but
/// `Signature`, sorted by name, values as sent (not URL-encoded).
pub fn legacy_string_to_sign(
    method: &str,
    host: &str,
    path: &str,
    params: &[(String, String)],
) -> String {
    let mut sorted: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.replace('_', "."), v.as_str()))
        .collect();
    sorted.sort();
    let joined: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{method}{host}{path}?{}", joined.join("&"))
}

pub fn legacy_signature(secret_key: &[u8], method: LegacyMethod, string_to_sign: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    match method {
        LegacyMethod::HmacSha1 => b64.encode(hmac_sha1(secret_key, string_to_sign.as_bytes())),
        LegacyMethod::HmacSha256 => b64.encode(hmac_sha256(secret_key, string_to_sign.as_bytes())),
    }
}

/// Verifies a legacy-signed request whose parameters (query or form body) are `params`.
pub fn verify_legacy(
    req: &SignedParts<'_>,
    params: &[(String, String)],
    directory: &Directory,
    now: u64,
) -> Result<Verified, TcError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let secret_id = get("SecretId")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("SecretId"))?;
    let signature = get("Signature").ok_or_else(|| missing("Signature"))?;
    let timestamp = get("Timestamp").ok_or_else(|| missing("Timestamp"))?;
    if get("Nonce").is_none() {
        return Err(missing("Nonce"));
    }
    let method = LegacyMethod::parse(get("SignatureMethod"))?;
    let principal = lookup(directory, secret_id)?;
    let ts: u64 = timestamp.parse().map_err(|_| {
        TcError::new(
            INVALID_PARAMETER,
            "The parameter `Timestamp` must be an integer.",
        )
    })?;
    check_timestamp(ts, now)?;
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let expected = legacy_signature(
        principal.secret_key(),
        method,
        &legacy_string_to_sign(req.method, host, req.path, params),
    );
    if constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        Ok(Verified {
            principal,
            timestamp: ts,
        })
    } else {
        Err(signature_failure())
    }
}

#[cfg(test)]
mod tests;
