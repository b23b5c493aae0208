//! Expected signatures were computed with tencentcloud-sdk-python's own signer
//! (`tencentcloud.common.sign.Sign`), so these tests pin us to the SDK byte for byte.

use kms_core::accounts::Directory;
use kms_core::testing::{MemorySeal, MemoryStore, directory_with_account};

use super::*;

const SECRET: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
const BODY: &str = r#"{"KeyId": "5c8a5a1b-0000-4000-8000-000000000001"}"#;
const TS: u64 = 1_551_113_065;
const TC3_SIG: &str = "1317f90d891425bfe8fa4bde84d67e04a9e0f903729e4afe479f75ccdae362aa";

fn directory() -> Directory {
    directory_with_account(
        &MemoryStore::default(),
        &MemorySeal::generate(),
        1,
        "AKIDEXAMPLE",
        SECRET,
    )
}

fn headers(host: &str) -> http::HeaderMap {
    headers_of_type(host, "application/json")
}

fn headers_of_type(host: &str, content_type: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("content-type", content_type.parse().unwrap());
    h.insert("host", host.parse().unwrap());
    h
}

fn authz(sig: &str) -> String {
    format!(
        "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25/kms/tc3_request, SignedHeaders=content-type;host, Signature={sig}"
    )
}

fn parts<'a>(h: &'a http::HeaderMap, body: &'a [u8]) -> SignedParts<'a> {
    SignedParts {
        method: "POST",
        path: "/",
        query: "",
        headers: h,
        body,
    }
}

#[test]
fn tc3_matches_the_sdk() {
    let h = headers("kms.tencentcloudapi.com");
    let dir = directory();
    let keys = SigningKeys::default();
    for _ in 0..2 {
        // The second pass uses the cached signing key.
        let p = verify_tc3(
            &parts(&h, BODY.as_bytes()),
            &authz(TC3_SIG),
            "1551113065",
            &dir,
            &keys,
            TS + 10,
        )
        .unwrap();
        assert_eq!(p.principal.account, 1);
    }
}

#[test]
fn tc3_authorization_signs_as_the_sdk() {
    assert_eq!(
        tc3_authorization(
            "AKIDEXAMPLE",
            SECRET.as_bytes(),
            "kms.tencentcloudapi.com",
            TS,
            BODY.as_bytes()
        ),
        authz(TC3_SIG)
    );
}

#[test]
fn tc3_refuses_tampering_staleness_and_strangers() {
    let dir = directory();
    let h = headers("kms.tencentcloudapi.com");
    let code = |h: &http::HeaderMap, body: &str, auth: &str, ts: &str, now: u64| {
        verify_tc3(
            &parts(h, body.as_bytes()),
            auth,
            ts,
            &dir,
            &SigningKeys::default(),
            now,
        )
        .unwrap_err()
        .code
    };
    assert_eq!(
        code(
            &h,
            &BODY.replace("01\"", "02\""),
            &authz(TC3_SIG),
            "1551113065",
            TS
        ),
        AUTH_SIGNATURE_FAILURE
    );
    assert_eq!(
        code(
            &headers("evil.example"),
            BODY,
            &authz(TC3_SIG),
            "1551113065",
            TS
        ),
        AUTH_SIGNATURE_FAILURE
    );
    assert_eq!(
        code(
            &h,
            BODY,
            &authz(&TC3_SIG.replace('1', "2")),
            "1551113065",
            TS
        ),
        AUTH_SIGNATURE_FAILURE
    );
    assert_eq!(
        code(&h, BODY, &authz(TC3_SIG), "1551113066", TS),
        AUTH_SIGNATURE_FAILURE
    );
    assert_eq!(
        code(&h, BODY, &authz(TC3_SIG), "1551113065", TS + 301),
        AUTH_SIGNATURE_EXPIRE
    );
    assert_eq!(
        code(&h, BODY, &authz(TC3_SIG), "1551113065", TS - 301),
        AUTH_SIGNATURE_EXPIRE
    );
    assert_eq!(
        code(
            &h,
            BODY,
            &authz(TC3_SIG).replace("AKIDEXAMPLE", "AKIDOTHER"),
            "1551113065",
            TS
        ),
        AUTH_SECRET_ID_NOT_FOUND
    );
    assert_eq!(
        code(&h, BODY, "Bearer x", "1551113065", TS),
        AUTH_INVALID_AUTHORIZATION
    );
    assert_eq!(
        code(
            &h,
            BODY,
            &authz(TC3_SIG).replace("content-type;host", "content-type"),
            "1551113065",
            TS
        ),
        AUTH_SIGNATURE_FAILURE
    );
    // The scope names another service than the one signed for: the key differs.
    let other_service = authz(TC3_SIG).replace("/kms/", "/cvm/");
    assert_ne!(other_service, authz(TC3_SIG));
    assert_eq!(
        code(&h, BODY, &other_service, "1551113065", TS),
        AUTH_SIGNATURE_FAILURE
    );
}

/// The compact JSON body the Node.js SDK sends for `{KeyId}`.
const NODE_BODY: &str = r#"{"KeyId":"5c8a5a1b-0000-4000-8000-000000000001"}"#;

fn node_authz(service: &str, sig: &str) -> String {
    format!(
        "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25/{service}/tc3_request, SignedHeaders=content-type;host, Signature={sig}"
    )
}

fn verify_with(
    h: &http::HeaderMap,
    method: &'static str,
    query: &str,
    body: &str,
    authorization: &str,
) -> Result<Verified, TcError> {
    let req = SignedParts {
        method,
        path: "/",
        query,
        headers: h,
        body: body.as_bytes(),
    };
    verify_tc3(
        &req,
        authorization,
        "1551113065",
        &directory(),
        &SigningKeys::default(),
        TS,
    )
}

/// Signatures made by tencentcloud-sdk-nodejs 4.1.313's own signer (`Sign.sign3`) for an
/// endpoint with a port: the service is the endpoint's first label, the signed host has no port,
/// and the Host header sent has it.
#[test]
fn tc3_accepts_the_nodejs_sdk_service_and_host() {
    for (endpoint, service, sig) in [
        (
            "127.0.0.1:8740",
            "127",
            "41ea8a6e70cbcaa7fc59a0dad243d99c6c9398ca114e7db273879e95ffae2401",
        ),
        (
            "localhost:8740",
            "localhost:8740",
            "722b3d62cff2d3988d1d1322294a6067bc270c05c20a40e02b117db569dbfe16",
        ),
        (
            "[::1]:8740",
            "[::1]:8740",
            "fc2d1593b0ced3df013cc4c5847f228dd272d3c4b7df344717d5f532adb7d6f5",
        ),
    ] {
        let authorization = node_authz(service, sig);
        let p = verify_with(&headers(endpoint), "POST", "", NODE_BODY, &authorization)
            .unwrap_or_else(|e| panic!("{endpoint}: {}", e.message));
        assert_eq!(p.principal.account, 1);
        // The host without a port is what was signed, so it verifies sent that way too...
        let bare = host_without_port(endpoint).unwrap();
        verify_with(&headers(bare), "POST", "", NODE_BODY, &authorization).unwrap();
        // ...but not another host, another port's host, or another body.
        for other in ["127.0.0.2:8740", "evil.example:8740", "8740"] {
            assert_eq!(
                verify_with(&headers(other), "POST", "", NODE_BODY, &authorization)
                    .unwrap_err()
                    .code,
                AUTH_SIGNATURE_FAILURE,
                "{endpoint} sent as {other}"
            );
        }
        assert_eq!(
            verify_with(&headers(endpoint), "POST", "", BODY, &authorization)
                .unwrap_err()
                .code,
            AUTH_SIGNATURE_FAILURE
        );
    }
    // GET: the query is signed as sent, the body is empty.
    let h = headers_of_type("127.0.0.1:8740", "application/x-www-form-urlencoded");
    let authorization = node_authz(
        "127",
        "db15d0024051e77e9877fd2042a86657b64d60ba720abc6a17e95f3eb2bb74ee",
    );
    let query = "KeyId=5c8a5a1b-0000-4000-8000-000000000001";
    verify_with(&h, "GET", query, "", &authorization).unwrap();
    assert_eq!(
        verify_with(&h, "GET", &query.replace("01", "02"), "", &authorization)
            .unwrap_err()
            .code,
        AUTH_SIGNATURE_FAILURE
    );
}

/// The Java SDK (and PHP, .NET) sign the endpoint with its port as `host` and its first label
/// as the service, with `application/json; charset=utf-8`. The signature was computed with
/// Python's hashlib/hmac over the canonical request that SDK's `AbstractClient` builds.
#[test]
fn tc3_accepts_the_java_sdk_form() {
    let h = headers_of_type("127.0.0.1:8740", "application/json; charset=utf-8");
    let authorization = node_authz(
        "127",
        "b4c9ae40f89538bf8590bed82ad2517b41982cf3af337739e3d09be0c270b0a8",
    );
    verify_with(&h, "POST", "", NODE_BODY, &authorization).unwrap();
    // Signed with the port, so the host without it is another host.
    let mut bare = h.clone();
    bare.insert("host", "127.0.0.1".parse().unwrap());
    assert_eq!(
        verify_with(&bare, "POST", "", NODE_BODY, &authorization)
            .unwrap_err()
            .code,
        AUTH_SIGNATURE_FAILURE
    );
}

#[test]
fn a_port_is_only_dropped_from_a_host_that_has_one() {
    assert_eq!(host_without_port("127.0.0.1:8740"), Some("127.0.0.1"));
    assert_eq!(host_without_port("localhost:1"), Some("localhost"));
    assert_eq!(host_without_port("[::1]:8740"), Some("[::1]"));
    assert_eq!(host_without_port("[::1]"), None);
    assert_eq!(host_without_port("::1"), None);
    assert_eq!(host_without_port("kms.example"), None);
    assert_eq!(host_without_port("kms.example:"), None);
    assert_eq!(host_without_port(":8740"), None);
    assert_eq!(host_without_port("kms.example:87a0"), None);
    // tccli's Host carries the scheme; that is no host with a port.
    assert_eq!(host_without_port("http://127.0.0.1:8740"), None);
}

#[test]
fn a_signing_key_is_kept_only_once_it_verified() {
    let dir = directory();
    let keys = SigningKeys::default();
    let h = headers("kms.tencentcloudapi.com");
    let req = parts(&h, BODY.as_bytes());
    let kept = |keys: &SigningKeys| {
        let map = keys.0.lock().unwrap();
        map.get("AKIDEXAMPLE").map(|k| k.service.clone())
    };
    verify_tc3(&req, &authz(TC3_SIG), "1551113065", &dir, &keys, TS).unwrap();
    assert_eq!(kept(&keys).as_deref(), Some("kms"));
    // A stranger who knows the SecretId signs for another service: refused, and the owner's
    // key stays.
    let forged = authz(&"0".repeat(64)).replace("/kms/", "/cvm/");
    assert_eq!(
        verify_tc3(&req, &forged, "1551113065", &dir, &keys, TS)
            .unwrap_err()
            .code,
        AUTH_SIGNATURE_FAILURE
    );
    assert_eq!(kept(&keys).as_deref(), Some("kms"));
}

/// The reproduction of the issue: `SignedHeaders` naming one 24 KB header 8,000 times once
/// built a canonical request of 192 MB, twice, before the signature was checked.
#[test]
fn signed_headers_are_bounded_before_the_canonical_request_is_built() {
    let dir = directory();
    let mut h = headers("kms.tencentcloudapi.com");
    h.insert("x-big", "a".repeat(24 * 1024).parse().unwrap());
    let verify = |h: &http::HeaderMap, signed_headers: &str| {
        let authorization = format!(
            "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25/kms/tc3_request, SignedHeaders={signed_headers}, Signature={TC3_SIG}"
        );
        verify_tc3(
            &parts(h, BODY.as_bytes()),
            &authorization,
            "1551113065",
            &dir,
            &SigningKeys::default(),
            TS,
        )
        .unwrap_err()
    };
    let repeated = format!("content-type;host{}", ";x-big".repeat(8000));
    let e = verify(&h, &repeated);
    assert_eq!(e.code, AUTH_INVALID_AUTHORIZATION);
    assert!(e.message.contains("more than once"), "{}", e.message);
    // Names compare without regard to case, as header names do.
    let e = verify(&h, "content-type;host;x-big;X-Big");
    assert_eq!(e.code, AUTH_INVALID_AUTHORIZATION);
    // Many distinct names: refused by their number, before any is looked up.
    let many: Vec<String> = (0..=MAX_SIGNED_HEADERS)
        .map(|i| format!("x-h{i}"))
        .collect();
    let e = verify(&h, &format!("host;{}", many.join(";")));
    assert_eq!(e.code, AUTH_INVALID_AUTHORIZATION);
    assert_eq!(
        verify(&h, "content-type;;host").code,
        AUTH_INVALID_AUTHORIZATION
    );
    // Distinct headers whose values together exceed the bound.
    for i in 0..3 {
        h.insert(
            http::HeaderName::from_bytes(format!("x-big-{i}").as_bytes()).unwrap(),
            "b".repeat(30 * 1024).parse().unwrap(),
        );
    }
    let e = verify(&h, "content-type;host;x-big-0;x-big-1;x-big-2");
    assert_eq!(e.code, AUTH_INVALID_AUTHORIZATION);
    assert!(e.message.contains("exceed"), "{}", e.message);
    // One large signed header within the bound is merely a wrong signature.
    assert_eq!(
        verify(&h, "content-type;host;x-big").code,
        AUTH_SIGNATURE_FAILURE
    );
}

#[test]
fn malformed_credentials_are_refused_as_such() {
    for authorization in [
        // A part given twice.
        format!(
            "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25/kms/tc3_request, Credential=AKIDOTHER/2019-02-25/kms/tc3_request, SignedHeaders=content-type;host, Signature={TC3_SIG}"
        ),
        format!(
            "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25/kms/tc3_request, SignedHeaders=host, SignedHeaders=content-type;host, Signature={TC3_SIG}"
        ),
        // No service.
        format!(
            "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25//tc3_request, SignedHeaders=content-type;host, Signature={TC3_SIG}"
        ),
    ] {
        assert_eq!(
            parse_tc3_authorization(&authorization).unwrap_err().code,
            AUTH_INVALID_AUTHORIZATION,
            "{authorization}"
        );
    }
}

#[test]
fn legacy_matches_the_sdk() {
    let params: Vec<(String, String)> = [
        ("Action", "DescribeKey"),
        ("KeyId", "k"),
        ("Nonce", "11886"),
        ("Region", "ap-guangzhou"),
        ("SecretId", "AKIDEXAMPLE"),
        ("SignatureMethod", "HmacSHA256"),
        ("Timestamp", "1465185768"),
        ("Version", "2019-01-18"),
        ("Tags.0.TagKey", "env"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let s = legacy_string_to_sign("POST", "kms.tencentcloudapi.com", "/", &params);
    assert_eq!(
        s,
        "POSTkms.tencentcloudapi.com/?Action=DescribeKey&KeyId=k&Nonce=11886&Region=ap-guangzhou&SecretId=AKIDEXAMPLE&SignatureMethod=HmacSHA256&Tags.0.TagKey=env&Timestamp=1465185768&Version=2019-01-18"
    );
    assert_eq!(
        legacy_signature(SECRET.as_bytes(), LegacyMethod::HmacSha256, &s),
        "1JkwVeyvUdD5eEdyaYLMxM7A6WkYDteYDaIWnVEursw="
    );
    assert_eq!(
        legacy_signature(SECRET.as_bytes(), LegacyMethod::HmacSha1, &s),
        "ic0CrLe+D0HH0zdZ0U/v3w1DBEY="
    );

    let dir = directory();
    let h = headers("kms.tencentcloudapi.com");
    let mut signed = params.clone();
    signed.push((
        "Signature".into(),
        "1JkwVeyvUdD5eEdyaYLMxM7A6WkYDteYDaIWnVEursw=".into(),
    ));
    verify_legacy(&parts(&h, b""), &signed, &dir, 1_465_185_768).unwrap();
    signed[1].1 = "other".into();
    assert_eq!(
        verify_legacy(&parts(&h, b""), &signed, &dir, 1_465_185_768)
            .unwrap_err()
            .code,
        AUTH_SIGNATURE_FAILURE
    );
}

#[test]
fn utc_dates() {
    assert_eq!(utc_date(0), "1970-01-01");
    assert_eq!(utc_date(1_551_113_065), "2019-02-25");
    assert_eq!(utc_date(951_782_400), "2000-02-29");
    assert_eq!(utc_date(4_102_444_800), "2100-01-01");
}
