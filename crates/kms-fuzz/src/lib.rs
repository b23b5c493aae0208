//! The bodies of the fuzz targets. `fuzz/` (cargo-fuzz, outside the workspace) calls them with
//! coverage-guided input; `tests/corpus.rs` replays the committed corpus through them on every
//! test run, so a crash once found stays fixed. Each body panics only when it finds a bug: a
//! crash of the code under test, or a broken invariant asserted here.

mod authorization;
mod backup_file;
mod client_address;
mod dev_fixtures;
mod engine_blobs;
mod huawei_key_stores;
mod huawei_request;
mod key_material;
mod policy_document;
mod store_url;
mod unseal_share;

pub use authorization::authorization;
pub use backup_file::backup_file;
pub use client_address::client_address;
pub use dev_fixtures::dev_fixtures;
pub use engine_blobs::{engine_blob_seeds, engine_blobs};
pub use huawei_key_stores::{huawei_key_store_seeds, huawei_key_stores};
pub use huawei_request::huawei_request;
pub use key_material::{
    ASYMMETRIC_ALGORITHMS, KeyOp, SIGNING_ALGORITHMS, fixture_key, key_material,
    key_material_input, signing_algorithm,
};
pub use policy_document::policy_document;
pub use store_url::store_url;
pub use unseal_share::unseal_share;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use kms_core::accounts::Directory;
use kms_core::testing::{MemorySeal, MemoryStore, directory_with_account};
use kms_core::{Engine, EngineConfig, ManualClock};
use kms_tencent::auth::{self, SignedParts, SigningKeys};
use kms_tencent::params::{
    MAX_JSON_DEPTH, MAX_PARAMS, Params, form_pairs, json_depth_within, unflatten,
};
use kms_tencent::{Options, TencentApi, actions};

const SECRET_ID: &str = "AKIDfuzz";
const SECRET_KEY: &str = "fuzz-secret-key";
const HOST: &str = "kms.example";
/// The clock of the fuzzed server, so signatures made for it are always fresh.
const NOW: u64 = 1_700_000_000;
const REGION: &str = "ap-guangzhou";

/// An engine over in-memory parts at [`NOW`], with small limits so the in-memory state of a long
/// run stays bounded: what every dialect target runs against.
pub(crate) fn fuzzed_engine(store: Arc<MemoryStore>, seal: Arc<MemorySeal>) -> Engine {
    Engine::new(
        store,
        seal,
        Arc::new(ManualClock::new(NOW)),
        EngineConfig {
            max_keys_per_region: 64,
            max_data_keys_per_region: 64,
        },
    )
}

struct Fixture {
    api: TencentApi,
    directory: Arc<Directory>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let store = Arc::new(MemoryStore::default());
        let seal = Arc::new(MemorySeal::generate());
        let directory = Arc::new(directory_with_account(
            store.as_ref(),
            seal.as_ref(),
            1,
            SECRET_ID,
            SECRET_KEY,
        ));
        let engine = Arc::new(fuzzed_engine(store, seal));
        let api = TencentApi::new(
            engine,
            directory.clone(),
            Options::new(vec![REGION.into(), "ap-shanghai".into()]),
        );
        Fixture { api, directory }
    })
}

/// Splits `data` at 0xFF bytes into at most `n` parts (missing parts are empty).
pub(crate) fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |&b| b == 0xFF).collect();
    out.resize(n, &[]);
    out
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A whole Tencent request through the dialect: the first byte picks the method, the content
/// type and whether the harness signs it validly (TC3 as the Python SDK signs it, TC3 as the
/// Node.js SDK does for an endpoint with a port, or legacy), so the fuzzer reaches the code
/// behind authentication; the rest is action, query, extra headers and body.
pub fn tencent_request(data: &[u8]) {
    let Some(reply) = tencent_reply(data) else {
        return;
    };
    let answer: Value = serde_json::from_slice(&reply.body).expect("the answer is JSON");
    assert_eq!(answer["Response"]["RequestId"], "fuzz-request");
    assert_ne!(
        reply.error_code,
        Some("InternalError"),
        "no input makes an internal error: {answer}"
    );
}

/// The dialect's answer to the request `data` describes, if it describes one.
fn tencent_reply(data: &[u8]) -> Option<kms_tencent::Reply> {
    let (&flags, rest) = data.split_first()?;
    let f = fixture();
    let method = ["GET", "POST", "PUT", "POST"][usize::from(flags & 3)];
    let form = flags & 4 != 0;
    let parts = fields(rest, 4);
    let (action, mut query, extra, mut body) =
        (text(parts[0]), text(parts[1]), parts[2], parts[3].to_vec());
    let content_type = if form {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let mut headers = extra_headers(extra);
    headers.insert(http::header::HOST, http::HeaderValue::from_static(HOST));
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    let signed = SignedRequest {
        method,
        query: &query,
        body: &body,
        action: &action,
        content_type,
    };
    match flags >> 3 & 3 {
        1 => signed.sign_tc3(&mut headers, PYTHON_SDK_FORM, (SECRET_ID, SECRET_KEY)),
        3 => signed.sign_tc3(&mut headers, NODEJS_SDK_FORM, (SECRET_ID, SECRET_KEY)),
        2 if method == "GET" => query = sign_legacy(method, &query, &action),
        2 => body = sign_legacy(method, &text(&body), &action).into_bytes(),
        _ => {}
    }
    let req = SignedParts {
        method,
        path: "/",
        query: &query,
        headers: &headers,
        body: &body,
    };
    Some(f.api.handle(&req, "fuzz-request", None))
}

/// How an SDK fills the parts of TC3 that SDKs disagree on.
pub(crate) struct Tc3Form {
    /// The `Host` header sent.
    sent_host: &'static str,
    /// The `host` in the canonical request.
    signed_host: &'static str,
    /// The credential scope's service.
    service: &'static str,
}

pub(crate) const PYTHON_SDK_FORM: Tc3Form = Tc3Form {
    sent_host: HOST,
    signed_host: HOST,
    service: "kms",
};

/// The Node.js SDK against `127.0.0.1:8740`: the endpoint's first label as the service, the
/// host signed without the port it is sent with.
const NODEJS_SDK_FORM: Tc3Form = Tc3Form {
    sent_host: "127.0.0.1:8740",
    signed_host: "127.0.0.1",
    service: "127",
};

/// What the harness signs of a fuzzed request.
pub(crate) struct SignedRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) query: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) action: &'a str,
    pub(crate) content_type: &'a str,
}

impl SignedRequest<'_> {
    /// Signs with TC3 at [`NOW`] as the credential `secret_id`/`secret_key`, in `form`, and
    /// sets the headers TC3 sends.
    pub(crate) fn sign_tc3(
        &self,
        headers: &mut http::HeaderMap,
        form: Tc3Form,
        (secret_id, secret_key): (&str, &str),
    ) {
        let Self {
            method,
            query,
            body,
            action,
            content_type,
        } = *self;
        let date = auth::utc_date(NOW);
        let canonical = format!(
            "{method}\n/\n{query}\ncontent-type:{content_type}\nhost:{}\n\ncontent-type;host\n{}",
            form.signed_host,
            hex::encode(kms_crypto::digest::sha256(body))
        );
        let key = auth::tc3_signing_key(secret_key.as_bytes(), &date, form.service);
        let signature = auth::tc3_sign(&key, &date, form.service, &NOW.to_string(), &canonical);
        let authorization = format!(
            "TC3-HMAC-SHA256 Credential={secret_id}/{date}/{}/tc3_request, SignedHeaders=content-type;host, Signature={signature}",
            form.service
        );
        for (name, value) in [
            ("host", form.sent_host),
            ("authorization", authorization.as_str()),
            ("x-tc-action", action),
            ("x-tc-version", kms_tencent::VERSION),
            ("x-tc-region", REGION),
            ("x-tc-timestamp", &NOW.to_string()),
        ] {
            if let Ok(v) = http::HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
    }
}

/// The fuzzer's own parameters plus valid legacy common parameters and signature, form-encoded.
/// A fresh Nonce each time: the server refuses a Nonce it has seen.
fn sign_legacy(method: &str, own: &str, action: &str) -> String {
    static NONCE: AtomicU64 = AtomicU64::new(0);
    let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
    let Ok(mut pairs) = form_pairs(own.as_bytes()) else {
        return own.to_owned();
    };
    for (k, v) in [
        ("Action", action.to_owned()),
        ("Version", kms_tencent::VERSION.to_owned()),
        ("Region", REGION.to_owned()),
        ("Timestamp", NOW.to_string()),
        ("Nonce", nonce.to_string()),
        ("SecretId", SECRET_ID.to_owned()),
        ("SignatureMethod", "HmacSHA256".to_owned()),
    ] {
        pairs.push((k.to_owned(), v));
    }
    let signature = auth::legacy_signature(
        SECRET_KEY.as_bytes(),
        auth::LegacyMethod::HmacSha256,
        &auth::legacy_string_to_sign(method, HOST, "/", &pairs),
    );
    pairs.push(("Signature".to_owned(), signature));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish()
}

/// The signature parsers and verifiers on their own: an Authorization header, a timestamp and
/// a body (TC3), a parameter list (legacy), and extra headers (`name:value` lines) that a
/// fuzzed `SignedHeaders` may name. Asserts the bounds that hold before authentication: what
/// parses names each signed header once and at most `MAX_SIGNED_HEADERS` of them, and a
/// parameter list has at most `MAX_PARAMS` pairs.
pub fn signatures(data: &[u8]) {
    let f = fixture();
    let parts = fields(data, 5);
    let (authorization, timestamp, body, pairs, extra) =
        (text(parts[0]), text(parts[1]), parts[2], parts[3], parts[4]);
    if let Ok(parsed) = auth::parse_tc3_authorization(&authorization) {
        let names: Vec<String> = parsed
            .signed_headers
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect();
        assert!(
            names.len() <= auth::MAX_SIGNED_HEADERS,
            "too many signed headers"
        );
        let distinct: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), names.len(), "a signed header named twice");
    }
    let mut headers = extra_headers(extra);
    headers.insert(http::header::HOST, http::HeaderValue::from_static(HOST));
    let req = SignedParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body,
    };
    let keys = SigningKeys::default();
    assert!(
        auth::verify_tc3(&req, &authorization, &timestamp, &f.directory, &keys, NOW).is_err(),
        "no fuzzed signature verifies"
    );
    if let Ok(pairs) = form_pairs(pairs) {
        assert!(pairs.len() <= MAX_PARAMS, "too many parameters");
        let _ = auth::verify_legacy(&req, &pairs, &f.directory, NOW);
    }
}

/// Headers from `name:value` lines; lines that make no header are skipped.
fn extra_headers(lines: &[u8]) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for line in lines.split(|&b| b == b'\n') {
        if let Some(pos) = line.iter().position(|&b| b == b':')
            && let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(&line[..pos]),
                http::HeaderValue::from_bytes(&line[pos + 1..]),
            )
        {
            headers.append(name, value);
        }
    }
    headers
}

/// The ciphertext blob decoder: whatever it accepts re-encodes to the same bytes. And the
/// base64 a blob arrives in: the vectorized codec accepts exactly what the strict reference
/// codec accepts, with the same bytes, and encodes them back to the same text.
pub fn ciphertext(data: &[u8]) {
    use base64::Engine as _;
    let decoded = kms_core::base64_text::B64.decode(data).ok();
    assert_eq!(
        decoded,
        base64::engine::general_purpose::STANDARD.decode(data).ok()
    );
    if let Some(bytes) = decoded {
        assert_eq!(kms_core::base64_text::B64.encode(bytes).as_bytes(), data);
    }
    if let Some((header, sealed)) = kms_core::ciphertext::decode(data) {
        assert_eq!(kms_core::ciphertext::encode(header, sealed), data);
        let _ = header.aad(1, REGION, &kms_core::EncryptionContext::default());
    }
}

/// Parameter parsing: the flattened form and JSON bodies, validated against every action's
/// declared fields; whatever passes must deserialize into the action's request type.
pub fn parameters(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let action = &actions::ACTIONS[usize::from(selector) % actions::ACTIONS.len()];
    let validated = if selector & 0x80 != 0 {
        form_pairs(rest)
            .and_then(|pairs| unflatten(&pairs))
            .and_then(|map| Params::validate(map, action.fields, true))
    } else if json_depth_within(rest, MAX_JSON_DEPTH)
        && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(rest)
    {
        Params::validate(map, action.fields, false)
    } else {
        return;
    };
    if let Ok(params) = validated
        && let Err(e) = (action.prepare)(params)
    {
        panic!(
            "{}: validated parameters were refused: {}",
            action.name, e.code
        );
    }
}

/// The encryption context parser and its canonical form, which the ciphertext's associated
/// data binds: two texts (split at the first 0xFF) that both parse have the same canonical
/// bytes only when they are the same context.
pub fn encryption_context(data: &[u8]) {
    let parts = fields(data, 2);
    let parsed: Vec<_> = parts
        .iter()
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter_map(|t| kms_core::EncryptionContext::from_json(t).ok())
        .collect();
    if let [a, b] = parsed.as_slice() {
        assert_eq!(
            a.canonical_bytes() == b.canonical_bytes(),
            a == b,
            "the canonical form is injective"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness's own signatures verify in each form, so the fuzzer gets past
    /// authentication in each; the Node.js form also over GET with a flattened query.
    #[test]
    fn each_signed_form_authenticates() {
        for (flags, query, body) in [
            (0x09, "", "{}"),
            (0x19, "", "{}"),
            (0x1c, "Limit=1", ""),
            (0x15, "", ""),
        ] {
            let data = [
                &[flags][..],
                b"ListKeys\xff",
                query.as_bytes(),
                b"\xff\xff",
                body.as_bytes(),
            ]
            .concat();
            let reply = tencent_reply(&data).unwrap();
            assert_eq!(
                reply.error_code,
                None,
                "flags {flags:#x}: {}",
                String::from_utf8_lossy(&reply.body)
            );
            assert_eq!(reply.action, "ListKeys");
        }
    }
}
