//! SDK-HMAC-SHA256 and SDK-HMAC-SM3 request signatures, as `huaweicloudsdkcore`'s signers
//! compute them (the SM3 one is the same scheme with SM3 for SHA-256).
//!
//! The signature is recomputed over the request exactly as it arrived and compared in constant
//! time. The key is the SK's bytes as they are: no derivation, no credential scope.

use std::sync::Arc;

use kms_core::accounts::{Directory, Principal};
use kms_crypto::constant_time_eq;
use kms_crypto::digest::{hmac_sha256, hmac_sm3, sha256, sm3};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::errors::HwError;

/// How far `X-Sdk-Date` may be from the server's clock, either way (the vendor's gateway).
pub const DATE_WINDOW_SECS: u64 = 15 * 60;

/// The signature algorithms of the SDK's AK/SK signers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha256,
    HmacSm3,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "SDK-HMAC-SHA256",
            Algorithm::HmacSm3 => "SDK-HMAC-SM3",
        }
    }

    fn hash(self, data: &[u8]) -> [u8; 32] {
        match self {
            Algorithm::HmacSha256 => sha256(data),
            Algorithm::HmacSm3 => sm3(data),
        }
    }

    fn mac(self, key: &[u8], data: &[u8]) -> [u8; 32] {
        match self {
            Algorithm::HmacSha256 => hmac_sha256(key, data),
            Algorithm::HmacSm3 => hmac_sm3(key, data),
        }
    }

    /// The header in which the SDK may name the payload hash it signed.
    fn content_header(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "x-sdk-content-sha256",
            Algorithm::HmacSm3 => "x-sdk-content-sm3",
        }
    }
}

/// Everything but `A-Za-z0-9-._~` is percent-encoded (uppercase hex).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The parts of an HTTP request that the signature covers.
pub struct SignedParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// A parsed `Authorization: SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub algorithm: Algorithm,
    pub access: &'a str,
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

pub fn parse_authorization(value: &str) -> Result<Authorization<'_>, HwError> {
    let (name, rest) = value.split_once(' ').ok_or_else(HwError::signature)?;
    let algorithm = [Algorithm::HmacSha256, Algorithm::HmacSm3]
        .into_iter()
        .find(|a| a.name() == name)
        .ok_or_else(HwError::signature)?;
    let (mut access, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(HwError::signature)?;
        let slot = match k {
            "Access" => &mut access,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(HwError::signature()),
        };
        if slot.replace(v).is_some() {
            return Err(HwError::signature());
        }
    }
    match (access, signed_headers, signature) {
        (Some(access), Some(signed_headers), Some(signature)) if !access.is_empty() => {
            Ok(Authorization {
                algorithm,
                access,
                signed_headers,
                signature,
            })
        }
        _ => Err(HwError::signature()),
    }
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODE).to_string()
}

/// The path decoded, each segment re-encoded, with a trailing `/`.
pub fn canonical_uri(path: &str) -> String {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let mut out = decoded.split('/').map(encode).collect::<Vec<_>>().join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Pairs sorted by decoded key then value, each re-encoded, joined with `&`.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (dec(k), dec(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Seconds since the epoch of a `YYYYMMDDTHHMMSSZ` date, if it is one.
pub fn parse_sdk_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hh, mm, ss) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (proleptic Gregorian), H. Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn header<'a>(req: &SignedParts<'a>, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The canonical request the SDK signs, or why it cannot be built.
pub fn canonical_request(
    req: &SignedParts<'_>,
    algorithm: Algorithm,
    signed_headers: &str,
) -> Result<String, HwError> {
    let mut headers = String::new();
    let mut previous = "";
    for name in signed_headers.split(';') {
        // The SDK lists each header once, sorted. Holding every client to that keeps the
        // canonical request no larger than the headers themselves: a name repeated thousands of
        // times over a long value would otherwise cost memory before the signature is checked.
        if name <= previous || name.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(HwError::signature());
        }
        previous = name;
        let value = header(req, name).ok_or_else(HwError::signature)?;
        headers.push_str(name);
        headers.push(':');
        headers.push_str(value.trim());
        headers.push('\n');
    }
    let payload = payload_hash(req, algorithm)?;
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query(req.query),
        headers,
        signed_headers,
        payload
    ))
}

/// The payload hash of the canonical request: always the hash of the body as it arrived, so the
/// signature binds the body. The SDK names the hash in `X-Sdk-Content-Sha256` (or `-Sm3`) only
/// when the body is not JSON, as `UNSIGNED-PAYLOAD` for an upload, and ignores the header for an
/// empty body; every KMS operation takes JSON, so with a body the header, when sent, must be the
/// body's hash, and `UNSIGNED-PAYLOAD` is refused like any other value.
fn payload_hash(req: &SignedParts<'_>, algorithm: Algorithm) -> Result<String, HwError> {
    let hash = hex::encode(algorithm.hash(req.body));
    match req.headers.get(algorithm.content_header()) {
        Some(claimed) if !req.body.is_empty() && claimed.as_bytes() != hash.as_bytes() => {
            Err(HwError::signature())
        }
        _ => Ok(hash),
    }
}

/// The hex signature of a canonical request at `date` under `secret`.
pub fn sign(algorithm: Algorithm, secret: &[u8], date: &str, canonical: &str) -> String {
    let to_sign = format!(
        "{}\n{date}\n{}",
        algorithm.name(),
        hex::encode(algorithm.hash(canonical.as_bytes()))
    );
    hex::encode(algorithm.mac(secret, to_sign.as_bytes()))
}

/// A request whose signature verified: who signed it, with what, and when it says it was signed
/// (what a replay memory needs to remember the signature for as long as it is accepted).
#[derive(Debug)]
pub struct Verified<'a> {
    pub principal: Arc<Principal>,
    pub authorization: Authorization<'a>,
    /// `X-Sdk-Date`, in seconds since the epoch.
    pub signed_at: u64,
}

/// Verifies the request's signature and date; answers who signed it.
pub fn verify<'a>(
    req: &SignedParts<'a>,
    directory: &Directory,
    now: u64,
) -> Result<Verified<'a>, HwError> {
    let Some(authorization) = header(req, "authorization") else {
        // Tokens are checked by the dialect before it asks for a signature; none reaches here.
        return Err(if req.headers.contains_key("x-auth-token") {
            HwError::token()
        } else {
            HwError::no_credentials()
        });
    };
    let auth = parse_authorization(authorization)?;
    let names: Vec<&str> = auth.signed_headers.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-sdk-date") {
        return Err(HwError::signature());
    }
    let date = header(req, "x-sdk-date").ok_or_else(HwError::signature)?;
    let at = parse_sdk_date(date).ok_or_else(HwError::signature)?;
    if at.abs_diff(now) > DATE_WINDOW_SECS {
        return Err(HwError::signature());
    }
    let principal = directory
        .by_secret_id(auth.access)
        .ok_or_else(HwError::signature)?;
    let canonical = canonical_request(req, auth.algorithm, auth.signed_headers)?;
    let expected = sign(auth.algorithm, principal.secret_key(), date, &canonical);
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(HwError::signature());
    }
    Ok(Verified {
        principal,
        authorization: auth,
        signed_at: at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use kms_core::accounts::{NewAccount, create_account};
    use kms_core::testing::{MemorySeal, MemoryStore};
    use zeroize::Zeroizing;

    // The worked example of the project's wire notes, read off huaweicloudsdkcore 3.1.219.
    const AK: &str = "AKIDbarsRootSecretId0000000000000000";
    const SK: &str = "barsRootSecretKey00000000000000000";
    const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
    const BODY: &str = r#"{"key_id": "0d0466b0-e727-4d9c-b35d-f84bb474a37f"}"#;
    const SIGNATURE: &str = "d04491b664377f0468d320144d191d6ff5a7ea9a75d9444cccb82ba3fc761ac4";
    const SIGNED: &str = "content-type;host;x-project-id;x-sdk-date";
    const DATE: &str = "20250101T000000Z";
    const ALG: Algorithm = Algorithm::HmacSha256;
    const PATH: &str = "/v1.0/0a1b2c3d4e5f60718293a4b5c6d7e8f9/kms/describe-key";

    fn headers(signed: &str, signature: &str) -> HeaderMap {
        headers_with(ALG, signed, signature)
    }

    fn headers_with(alg: Algorithm, signed: &str, signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("host", "127.0.0.1:8740".parse().unwrap());
        h.insert("x-project-id", PROJECT.parse().unwrap());
        h.insert("x-sdk-date", DATE.parse().unwrap());
        let auth = format!(
            "{} Access={AK}, SignedHeaders={signed}, Signature={signature}",
            alg.name()
        );
        h.insert("authorization", auth.parse().unwrap());
        h
    }

    fn directory() -> Directory {
        let store = MemoryStore::default();
        let seal = MemorySeal::generate();
        let new = NewAccount {
            uin: 1,
            app_id: 1,
            secret_id: AK.into(),
            secret_key: Zeroizing::new(SK.into()),
            project_id: PROJECT.into(),
        };
        create_account(&store, &seal, &new, 0).unwrap();
        Directory::load(&store, &seal).unwrap()
    }

    fn parts<'a>(h: &'a HeaderMap, body: &'a [u8]) -> SignedParts<'a> {
        SignedParts {
            method: "POST",
            path: PATH,
            query: "",
            headers: h,
            body,
        }
    }

    fn at() -> u64 {
        parse_sdk_date(DATE).unwrap()
    }

    #[test]
    fn worked_example_signature() {
        assert_eq!(
            hex::encode(sha256(BODY.as_bytes())),
            "a53cf1735740c07f57f84ca42c122ec503677b4ddde8d1726011b2edb25af8a1"
        );
        let h = headers(SIGNED, SIGNATURE);
        let canonical = canonical_request(&parts(&h, BODY.as_bytes()), ALG, SIGNED).unwrap();
        assert_eq!(sign(ALG, SK.as_bytes(), DATE, &canonical), SIGNATURE);
        let verified = verify(&parts(&h, BODY.as_bytes()), &directory(), at()).unwrap();
        assert_eq!(verified.principal.account, 1);
        assert_eq!(verified.authorization.signature, SIGNATURE);
        assert_eq!(verified.signed_at, at());
    }

    /// A header listed twice, or out of order, is refused before the canonical request is built:
    /// otherwise one long header named thousands of times would cost memory before the
    /// signature is checked.
    #[test]
    fn signed_headers_are_each_named_once_in_order() {
        let body = BODY.as_bytes();
        for signed in [
            "content-type;host;host;x-project-id;x-sdk-date",
            "host;content-type;x-project-id;x-sdk-date",
            ";content-type;host;x-project-id;x-sdk-date",
        ] {
            let h = headers(signed, SIGNATURE);
            assert!(
                canonical_request(&parts(&h, body), ALG, signed).is_err(),
                "{signed}"
            );
            assert!(
                verify(&parts(&h, body), &directory(), at()).is_err(),
                "{signed}"
            );
        }
        let repeated = format!("{};x-sdk-date", ["host"; 10_000].join(";"));
        let h = headers(&repeated, SIGNATURE);
        assert!(canonical_request(&parts(&h, body), ALG, &repeated).is_err());
    }

    // The same request signed by huaweicloudsdkcore 3.1.219's SM3Signer.
    #[test]
    fn sm3_signature_of_the_sdk() {
        let sm3_signature = "4a75d010ff546966251ee168eff8dcff216bb2231cbd70c385ebe084c08c6e25";
        let h = headers_with(Algorithm::HmacSm3, SIGNED, sm3_signature);
        let verified = verify(&parts(&h, BODY.as_bytes()), &directory(), at()).unwrap();
        assert_eq!(verified.principal.account, 1);
        let tampered = BODY.replace("0d04", "1d04");
        assert!(verify(&parts(&h, tampered.as_bytes()), &directory(), at()).is_err());
        let as_sha256 = headers_with(ALG, SIGNED, sm3_signature);
        assert!(verify(&parts(&as_sha256, BODY.as_bytes()), &directory(), at()).is_err());
    }

    #[test]
    fn dates_parse_and_stale_ones_are_refused() {
        assert_eq!(parse_sdk_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_sdk_date("20250101T000000Z"), Some(1_735_689_600));
        assert_eq!(parse_sdk_date("2025-01-01T00:00:00Z"), None);
        assert_eq!(parse_sdk_date("20251301T000000Z"), None);
        let h = headers(SIGNED, SIGNATURE);
        let dir = directory();
        assert!(verify(&parts(&h, BODY.as_bytes()), &dir, at() + DATE_WINDOW_SECS).is_ok());
        let stale = verify(
            &parts(&h, BODY.as_bytes()),
            &dir,
            at() + DATE_WINDOW_SECS + 1,
        );
        assert_eq!(stale.unwrap_err().code, "APIG.0301");
        assert!(
            verify(
                &parts(&h, BODY.as_bytes()),
                &dir,
                at() - DATE_WINDOW_SECS - 1
            )
            .is_err()
        );
    }

    #[test]
    fn tampering_is_refused() {
        let dir = directory();
        let h = headers(SIGNED, SIGNATURE);
        let tampered = BODY.replace("0d04", "1d04");
        assert!(verify(&parts(&h, tampered.as_bytes()), &dir, at()).is_err());
        let mut other = h.clone();
        other.insert("x-project-id", "f".repeat(32).parse().unwrap());
        assert!(verify(&parts(&other, BODY.as_bytes()), &dir, at()).is_err());
        let wrong = headers(SIGNED, &SIGNATURE.replace('d', "e"));
        assert!(verify(&parts(&wrong, BODY.as_bytes()), &dir, at()).is_err());
    }

    const SIGNED_CLAIM: &str = "content-type;host;x-project-id;x-sdk-content-sha256;x-sdk-date";

    /// Signs `body` as a client would that put `claimed` in the canonical request as the payload
    /// hash and sent it in `X-Sdk-Content-Sha256` (the canonical request is built with the
    /// body's own hash, which the verifier accepts, and its last line replaced by the claim).
    fn signed_claiming(claimed: &str, body: &[u8]) -> HeaderMap {
        let mut h = headers(SIGNED_CLAIM, SIGNATURE);
        h.insert(
            "x-sdk-content-sha256",
            hex::encode(sha256(body)).parse().unwrap(),
        );
        let honest = canonical_request(&parts(&h, body), ALG, SIGNED_CLAIM).unwrap();
        let (head, _) = honest.rsplit_once('\n').unwrap();
        let head = head.replace(&hex::encode(sha256(body)), claimed);
        let signature = sign(ALG, SK.as_bytes(), DATE, &format!("{head}\n{claimed}"));
        let auth = format!(
            "{} Access={AK}, SignedHeaders={SIGNED_CLAIM}, Signature={signature}",
            ALG.name()
        );
        h.insert("x-sdk-content-sha256", claimed.parse().unwrap());
        h.insert("authorization", auth.parse().unwrap());
        h
    }

    /// The claimed payload hash never stands in for the body's: a request signed over a claim
    /// (captured, or made so on purpose) is refused with any body that does not hash to it.
    #[test]
    fn the_signature_binds_the_body_whatever_the_content_header_claims() {
        let dir = directory();
        let body = BODY.as_bytes();
        let other = BODY.replace("0d04", "1d04");
        for claimed in ["UNSIGNED-PAYLOAD", &hex::encode(sha256(other.as_bytes()))] {
            let h = signed_claiming(claimed, body);
            let refused = verify(&parts(&h, body), &dir, at()).unwrap_err();
            assert_eq!(
                (refused.status, refused.code),
                (401, "APIG.0301"),
                "{claimed}"
            );
        }
        // A captured request with another body and, unsigned, the captured body's hash.
        let mut replayed = headers(SIGNED, SIGNATURE);
        replayed.insert(
            "x-sdk-content-sha256",
            hex::encode(sha256(body)).parse().unwrap(),
        );
        let refused = verify(&parts(&replayed, other.as_bytes()), &dir, at()).unwrap_err();
        assert_eq!((refused.status, refused.code), (401, "APIG.0301"));
        assert!(verify(&parts(&replayed, body), &dir, at()).is_ok());
        // Claiming the body's own hash is what hashing it gives: accepted, and bound to it.
        let h = signed_claiming(&hex::encode(sha256(body)), body);
        assert!(verify(&parts(&h, body), &dir, at()).is_ok());
        assert!(verify(&parts(&h, other.as_bytes()), &dir, at()).is_err());
        // The SDK ignores the header for an empty body and signs the empty body's hash.
        let mut h = headers(SIGNED_CLAIM, SIGNATURE);
        h.insert("x-sdk-content-sha256", "UNSIGNED-PAYLOAD".parse().unwrap());
        let canonical = canonical_request(&parts(&h, b""), ALG, SIGNED_CLAIM).unwrap();
        assert!(canonical.ends_with(&format!("\n{}", hex::encode(sha256(b"")))));
    }

    #[test]
    fn the_sm3_content_header_is_held_to_the_body_too() {
        let body = BODY.as_bytes();
        let mut h = headers_with(Algorithm::HmacSm3, SIGNED, "00");
        h.insert("x-sdk-content-sm3", "UNSIGNED-PAYLOAD".parse().unwrap());
        assert!(canonical_request(&parts(&h, body), Algorithm::HmacSm3, SIGNED).is_err());
        h.insert("x-sdk-content-sm3", hex::encode(sm3(body)).parse().unwrap());
        assert!(canonical_request(&parts(&h, body), Algorithm::HmacSm3, SIGNED).is_ok());
    }

    #[test]
    fn host_and_date_must_be_signed() {
        let dir = directory();
        for signed in ["content-type;host;x-project-id", "content-type;x-sdk-date"] {
            let h = headers(signed, SIGNATURE);
            let canonical = canonical_request(&parts(&h, BODY.as_bytes()), ALG, signed).unwrap();
            let sig = sign(ALG, SK.as_bytes(), DATE, &canonical);
            let h = headers(signed, &sig);
            assert!(verify(&parts(&h, BODY.as_bytes()), &dir, at()).is_err());
        }
    }

    #[test]
    fn canonical_uri_and_query_edge_cases() {
        assert_eq!(
            canonical_uri("/v1.0/p/kms/list-keys"),
            "/v1.0/p/kms/list-keys/"
        );
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/a%20b/c~d/"), "/a%20b/c~d/");
        assert_eq!(canonical_uri("/a%2fb"), "/a/b/");
        assert_eq!(canonical_uri("/é"), "/%C3%A9/");
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(canonical_query("k=a%20b&z"), "k=a%20b&z=");
        assert_eq!(canonical_query("x=%7e*"), "x=~%2A");
    }

    #[test]
    fn malformed_authorization_is_refused() {
        for bad in [
            "SDK-HMAC-SHA256",
            "SDK-HMAC-SM2 Access=a, SignedHeaders=host, Signature=00",
            "SDK-HMAC-SHA256 Access=a, SignedHeaders=host",
            "SDK-HMAC-SHA256 Access=a, Access=b, SignedHeaders=host, Signature=00",
            "SDK-HMAC-SHA256Access=a, SignedHeaders=host, Signature=00",
        ] {
            assert!(parse_authorization(bad).is_err(), "{bad}");
        }
    }
}
