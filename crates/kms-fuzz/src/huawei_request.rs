//! A whole Huawei request through the dialect: the first byte picks the method, whether the path
//! is put under the caller's project and whether the harness signs the request validly
//! (SDK-HMAC-SHA256), so the fuzzer reaches the code behind authentication; the rest is the
//! path, the query, extra headers and the body.

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use kms_core::testing::{MemorySeal, MemoryStore, directory_with_account};
use kms_crypto::Software;
use kms_huawei::HuaweiApi;
use kms_huawei::auth::{self, Algorithm, SignedParts};
use kms_huawei::iam::Tokens;
use kms_huawei::tokens::TokenKey;

use crate::{extra_headers, fields, text};

const AK: &str = "AKIDhuaweifuzz";
const SK: &str = "huawei-fuzz-secret-key";
/// The project id `directory_with_account` gives the account.
pub(crate) const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const HOST: &str = "kms.example";
/// The date every signed request carries: the fuzzed engine's clock (`crate::NOW`,
/// 2023-11-14 22:13:20 UTC).
pub(crate) const SDK_DATE: &str = "20231114T221320Z";
const SIGNED_HEADERS: &str = "content-type;host;x-project-id;x-sdk-date";

fn api() -> &'static HuaweiApi {
    static API: OnceLock<HuaweiApi> = OnceLock::new();
    API.get_or_init(|| new_api(&[]))
}

/// The dialect over a fresh in-memory engine that serves the HSM clusters `clusters` (the
/// software provider standing in for their tokens), its account signing as `AK`/`SK`.
pub(crate) fn new_api(clusters: &[&str]) -> HuaweiApi {
    let store = Arc::new(MemoryStore::default());
    let seal = Arc::new(MemorySeal::generate());
    let directory = Arc::new(directory_with_account(
        store.as_ref(),
        seal.as_ref(),
        1,
        AK,
        SK,
    ));
    // Tokens too, so a fuzzed `X-Auth-Token` meets the token check.
    let key = kms_core::identity::token_key(store.as_ref(), seal.as_ref())
        .expect("a token key in memory");
    let engine = clusters
        .iter()
        .fold(crate::fuzzed_engine(store, seal), |engine, id| {
            engine.with_hsm_cluster(id, Arc::new(Software))
        });
    HuaweiApi::new(
        Arc::new(engine),
        directory,
        vec!["ap-guangzhou".into(), "ap-shanghai".into()],
    )
    .with_tokens(Tokens::new(TokenKey::new(key), 3600))
}

/// The `Authorization` of `req` signed with SDK-HMAC-SHA256 by `ak`/`sk` over
/// `signed_headers` at [`SDK_DATE`], as the SDK signs; `None` when no canonical request can
/// be made of it.
pub(crate) fn sdk_hmac_authorization(
    req: &SignedParts<'_>,
    signed_headers: &str,
    ak: &str,
    sk: &str,
) -> Option<http::HeaderValue> {
    let canonical = auth::canonical_request(req, Algorithm::HmacSha256, signed_headers).ok()?;
    let signature = auth::sign(Algorithm::HmacSha256, sk.as_bytes(), SDK_DATE, &canonical);
    http::HeaderValue::from_str(&format!(
        "SDK-HMAC-SHA256 Access={ak}, SignedHeaders={signed_headers}, Signature={signature}"
    ))
    .ok()
}

pub fn huawei_request(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let method = ["GET", "POST", "PUT", "DELETE"][usize::from(flags & 3)];
    let parts = fields(rest, 4);
    let (tail, query, extra, body) = (text(parts[0]), text(parts[1]), parts[2], parts[3]);
    let path = if flags & 4 != 0 {
        format!("/v1.0/{PROJECT}/kms/{tail}")
    } else {
        format!("/{}", tail.trim_start_matches('/'))
    };
    if !HuaweiApi::claims(method, &path) {
        return;
    }
    let reply = answer(api(), (method, &path, &query), extra, body, flags & 8 != 0);
    check(&reply);
}

/// `api`'s answer to the request `method path?query` with the `name:value` header lines
/// `extra` and `body`, signed validly as the account when `sign`.
pub(crate) fn answer(
    api: &HuaweiApi,
    (method, path, query): (&str, &str, &str),
    extra: &[u8],
    body: &[u8],
    sign: bool,
) -> kms_huawei::Reply {
    let mut headers = extra_headers(extra);
    for (name, value) in [
        ("host", HOST),
        ("content-type", "application/json"),
        ("x-project-id", PROJECT),
        ("x-sdk-date", SDK_DATE),
    ] {
        headers.insert(name, http::HeaderValue::from_static(value));
    }
    if sign {
        let unsigned = SignedParts {
            method,
            path,
            query,
            headers: &headers,
            body,
        };
        if let Some(authorization) = sdk_hmac_authorization(&unsigned, SIGNED_HEADERS, AK, SK) {
            headers.insert(http::header::AUTHORIZATION, authorization);
        }
    }
    let req = SignedParts {
        method,
        path,
        query,
        headers: &headers,
        body,
    };
    match api.prepare(&req, None) {
        Ok(call) => api.execute(call),
        Err(reply) => *reply,
    }
}

/// What every answer keeps to: no server error, and a body that is JSON when there is one.
pub(crate) fn check(reply: &kms_huawei::Reply) {
    assert!(
        reply.status < 500,
        "no input makes a server error: {} {:?}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    if !reply.body.is_empty() {
        let _: Value = serde_json::from_slice(&reply.body).expect("the answer is JSON");
    }
}
