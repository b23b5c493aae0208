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
    let mut h = http::HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
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
    // Signed for another service: the scope, not the signature, is what is wrong.
    let other_service = authz(TC3_SIG).replace("/kms/", "/cvm/");
    assert_ne!(other_service, authz(TC3_SIG));
    let e = verify_tc3(
        &parts(&h, BODY.as_bytes()),
        &other_service,
        "1551113065",
        &dir,
        &SigningKeys::default(),
        TS,
    )
    .unwrap_err();
    assert_eq!(e.code, AUTH_INVALID_AUTHORIZATION);
    assert!(e.message.contains("`cvm`"), "{}", e.message);
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
