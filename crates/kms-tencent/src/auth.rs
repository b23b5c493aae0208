//! Request signature verification: TC3-HMAC-SHA256 and the legacy HmacSHA1/HmacSHA256.
//!
//! Signatures are recomputed over the request exactly as it arrived (headers, query, body) and
//! compared in constant time. `tccli --endpoint http://host:port` signs a Host header that
//! includes the scheme; since it also sends that header, verifying what arrives just works.
//!
//! The vendor's SDKs disagree on two parts of TC3 that this verifier therefore takes as the
//! client signed them. The credential scope's service is `kms` in the Go and Python SDKs, but
//! the endpoint's first label in the Java, Node.js, PHP and .NET ones (`127` for
//! `127.0.0.1:8740`, `localhost:8740` for `localhost:8740`); the scope is bound into the signing
//! key, so any service proves the same secret. The Node.js SDK signs `host` without the port it
//! sends in `Host`; the signed host is whatever the client chose to send, never checked against
//! this server's own name, so accepting it without the port binds nothing less.

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
/// The most headers a TC3 signature may cover. The SDKs sign two (`content-type;host`); the
/// server accepts at most 64 header fields, so no honest request signs more.
pub const MAX_SIGNED_HEADERS: usize = 64;
/// The most bytes the signed headers may add to the canonical request: the server's limit on
/// a request's whole head, which no honest request's signed headers exceed.
pub const MAX_CANONICAL_HEADERS_BYTES: usize = 64 * 1024;

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
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(bad()),
        };
        if slot.replace(v).is_some() {
            return Err(bad());
        }
    }
    let mut scope = credential.ok_or_else(bad)?.split('/');
    let (secret_id, date, service, terminator) = (
        scope.next().ok_or_else(bad)?,
        scope.next().ok_or_else(bad)?,
        scope.next().ok_or_else(bad)?,
        scope.next().ok_or_else(bad)?,
    );
    if terminator != "tc3_request"
        || scope.next().is_some()
        || secret_id.is_empty()
        || service.is_empty()
    {
        return Err(bad());
    }
    let signed_headers = signed_headers.ok_or_else(bad)?;
    check_signed_headers(signed_headers)?;
    Ok(Tc3Authorization {
        secret_id,
        date,
        service,
        signed_headers,
        signature: signature.ok_or_else(bad)?,
    })
}

/// Each signed header is named once, and there are at most [`MAX_SIGNED_HEADERS`]: a name
/// repeated thousands of times would copy its header's value into the canonical request as
/// often, before the signature is checked. The count is checked before the names are compared,
/// so the comparison stays within a fixed number of steps.
fn check_signed_headers(signed_headers: &str) -> Result<(), TcError> {
    let invalid = |message: &str| TcError::new(AUTH_INVALID_AUTHORIZATION, message);
    let mut names: Vec<&str> = Vec::with_capacity(2);
    for name in signed_headers.split(';') {
        if name.is_empty() {
            return Err(invalid("SignedHeaders names an empty header."));
        }
        if names.len() == MAX_SIGNED_HEADERS {
            return Err(invalid(&format!(
                "SignedHeaders names more than {MAX_SIGNED_HEADERS} headers."
            )));
        }
        if names.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
            return Err(invalid("SignedHeaders names a header more than once."));
        }
        names.push(name);
    }
    Ok(())
}

/// Lowercase hex of a 32-byte digest, without the per-character iterator of `hex::encode`.
fn hex32(digest: &[u8; 32]) -> String {
    let mut out = vec![0u8; 64];
    // Cannot fail: the output is exactly twice the input's length, and hex digits are ASCII.
    hex::encode_to_slice(digest, &mut out).expect("64-byte buffer");
    String::from_utf8(out).expect("hex digits")
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

/// The `Authorization` header of a TC3 request as the SDKs send it (`POST /`, JSON body,
/// `content-type;host` signed, service `kms`): what a client of kmsd, such as the Kubernetes
/// KMS plugin, signs with.
pub fn tc3_authorization(
    secret_id: &str,
    secret_key: &[u8],
    host: &str,
    timestamp: u64,
    body: &[u8],
) -> String {
    const SERVICE: &str = "kms";
    let date = utc_date(timestamp);
    let canonical = format!(
        "POST\n/\n\ncontent-type:application/json\nhost:{host}\n\ncontent-type;host\n{}",
        hex32(&sha256(body))
    );
    let key = tc3_signing_key(secret_key, &date, SERVICE);
    let signature = tc3_sign(&key, &date, SERVICE, &timestamp.to_string(), &canonical);
    format!(
        "{TC3_ALGORITHM} Credential={secret_id}/{date}/{SERVICE}/tc3_request, SignedHeaders=content-type;host, Signature={signature}"
    )
}

/// Derived signing keys, one per credential for the day and service it last verified with:
/// deriving one is three HMACs that every request of that day would otherwise repeat. A key is
/// kept only once a signature made with it verified, so a stranger who knows a SecretId cannot
/// evict its owner's key by signing for other days or services. Zeroized when replaced. An
/// entry serves only the principal it was derived for (the directory makes a new one whenever a
/// credential changes, a rotated secret key included), and the weak reference keeps that
/// principal's allocation from being reused for another.
#[derive(Default)]
pub struct SigningKeys(Mutex<HashMap<String, ScopedKey>>);

/// A signing key with the principal it was derived for and its scope.
struct ScopedKey {
    derived_for: Weak<Principal>,
    /// The credential scope's date (YYYY-MM-DD).
    date: String,
    service: String,
    key: Zeroizing<[u8; 32]>,
}

impl SigningKeys {
    /// The signing key of `principal` for `date` and `service`: the kept one, or a new one.
    fn get(
        &self,
        secret_id: &str,
        principal: &Arc<Principal>,
        date: &str,
        service: &str,
    ) -> Zeroizing<[u8; 32]> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kept) = map.get(secret_id)
            && kept.date == date
            && kept.service == service
            && Weak::ptr_eq(&kept.derived_for, &Arc::downgrade(principal))
        {
            return kept.key.clone();
        }
        drop(map);
        tc3_signing_key(principal.secret_key(), date, service)
    }

    /// Keeps a key that has just verified a signature.
    fn keep(
        &self,
        secret_id: &str,
        principal: &Arc<Principal>,
        date: &str,
        service: &str,
        key: Zeroizing<[u8; 32]>,
    ) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(secret_id).is_some_and(|kept| {
            kept.date == date
                && kept.service == service
                && Weak::ptr_eq(&kept.derived_for, &Arc::downgrade(principal))
        }) {
            return;
        }
        // Keys of principals the directory no longer holds (deleted, rotated) go now.
        map.retain(|_, kept| kept.derived_for.strong_count() > 0);
        map.insert(
            secret_id.to_owned(),
            ScopedKey {
                derived_for: Arc::downgrade(principal),
                date: date.to_owned(),
                service: service.to_owned(),
                key,
            },
        );
    }
}

/// How one candidate canonical request writes the signed headers' values.
#[derive(Clone, Copy)]
struct HeaderForm {
    /// Values lowercased (the documented form) rather than as sent (the SDKs').
    lowercase_values: bool,
    /// `host` without the port it was sent with (the Node.js SDK's form).
    host_without_port: bool,
}

/// The host part of a `Host` value that carries a port (`name:8740`, `[::1]:8740`), else `None`.
fn host_without_port(host: &str) -> Option<&str> {
    let (name, port) = host.rsplit_once(':')?;
    let bracketed_or_plain = name.ends_with(']') || !name.contains(':');
    (!name.is_empty()
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && bracketed_or_plain)
        .then_some(name)
}

/// The signed headers' values, looked up once.
struct SignedHeaderValues<'a> {
    /// Each signed header's name, as the client wrote it, and its value as sent (trimmed).
    values: Vec<(&'a str, &'a str)>,
}

impl<'a> SignedHeaderValues<'a> {
    /// `None` when a signed header is missing or not text. The list passed
    /// [`check_signed_headers`], so every name is there once.
    fn collect(req: &'a SignedParts<'_>, signed_headers: &'a str) -> Option<Self> {
        let values = signed_headers
            .split(';')
            .map(|name| Some((name, req.headers.get(name)?.to_str().ok()?.trim())))
            .collect::<Option<Vec<_>>>()?;
        Some(Self { values })
    }

    /// The bytes they add to the canonical request, in any form.
    fn canonical_len(&self) -> usize {
        self.values
            .iter()
            .map(|(name, value)| name.len() + value.len() + 2)
            .sum()
    }

    /// The forms worth trying: only those that differ from one another, so no canonical request
    /// is built twice.
    fn forms(&self) -> impl Iterator<Item = HeaderForm> + '_ {
        let any_uppercase = self
            .values
            .iter()
            .any(|(_, v)| v.bytes().any(|b| b.is_ascii_uppercase()));
        let host_has_port = self
            .values
            .iter()
            .any(|(name, v)| name.eq_ignore_ascii_case("host") && host_without_port(v).is_some());
        [false, true]
            .into_iter()
            .flat_map(move |host_without_port| {
                [false, true]
                    .into_iter()
                    .filter(move |&lowercase| !lowercase || any_uppercase)
                    .filter(move |_| !host_without_port || host_has_port)
                    .map(move |lowercase_values| HeaderForm {
                        lowercase_values,
                        host_without_port,
                    })
            })
    }
}

/// Builds the canonical request over the signed headers in one form.
fn tc3_canonical_request(
    req: &SignedParts<'_>,
    signed_headers: &str,
    values: &SignedHeaderValues<'_>,
    form: HeaderForm,
    payload_hash: &str,
) -> String {
    let mut canonical_headers = String::with_capacity(values.canonical_len());
    for &(name, value) in &values.values {
        let is_host = name.eq_ignore_ascii_case("host");
        let value = match host_without_port(value) {
            Some(host) if is_host && form.host_without_port => host,
            _ => value,
        };
        canonical_headers.push_str(&name.to_ascii_lowercase());
        canonical_headers.push(':');
        if form.lowercase_values {
            canonical_headers.push_str(&value.to_ascii_lowercase());
        } else {
            canonical_headers.push_str(value);
        }
        canonical_headers.push('\n');
    }
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method, req.path, req.query, canonical_headers, signed_headers, payload_hash
    )
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
    if auth.date != utc_date(ts) {
        return Err(signature_failure());
    }
    if !auth
        .signed_headers
        .split(';')
        .any(|h| h.eq_ignore_ascii_case("host"))
    {
        return Err(signature_failure());
    }
    let values =
        SignedHeaderValues::collect(req, auth.signed_headers).ok_or_else(signature_failure)?;
    if values.canonical_len() > MAX_CANONICAL_HEADERS_BYTES {
        return Err(TcError::new(
            AUTH_INVALID_AUTHORIZATION,
            format!("The signed headers exceed {MAX_CANONICAL_HEADERS_BYTES} bytes."),
        ));
    }
    let unsigned_payload = req
        .headers
        .get("x-tc-content-sha256")
        .is_some_and(|v| v.as_bytes() == b"UNSIGNED-PAYLOAD");
    let payload_hash = if unsigned_payload {
        hex32(&sha256(b"UNSIGNED-PAYLOAD"))
    } else {
        hex32(&sha256(req.body))
    };
    let signing_key = signing_keys.get(auth.secret_id, &principal, auth.date, auth.service);
    for form in values.forms() {
        let canonical =
            tc3_canonical_request(req, auth.signed_headers, &values, form, &payload_hash);
        let expected = tc3_sign(&signing_key, auth.date, auth.service, timestamp, &canonical);
        if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
            signing_keys.keep(
                auth.secret_id,
                &principal,
                auth.date,
                auth.service,
                signing_key,
            );
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
