//! Authorization as the user meets it: whole requests of either dialect, signed validly as a
//! user whose policies allow everything except any action on one key, K. The harness fills
//! placeholders in the fuzzed text with K in every spelling it can be named by (`{K}` its id,
//! `{KU}` in upper case, `{KP}` with its first character percent-encoded, `{A}` its alias),
//! with ciphertexts under K (`{B}` a base64 blob of a secret, `{H}` the hex blob of a data
//! key) and with a key the user may use (`{O}`). Asserts that no request changes K, that no
//! answer carries the secret or the data key, and that no successful answer names K as the
//! key it used; and, as the other dialect targets do, that no input makes a server error.
//!
//! Layout: the first byte's low bit picks the dialect. Tencent: the action, then the JSON
//! body, split at 0xFF. Huawei: bits 1 and 2 pick the method and bit 3 the API version (v1.0
//! or v2); then the path under the caller's project (after `kms/`), the query and the body.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use uuid::Uuid;

use kms_core::accounts::Directory;
use kms_core::engine::NewKey;
use kms_core::testing::{MemorySeal, MemoryStore};
use kms_core::{Caller, EncryptionContext, Engine, KeySpec, KeyUsage, Origin, identity};
use kms_huawei::HuaweiApi;
use kms_tencent::auth;

use crate::huawei_request::{SDK_DATE, sdk_hmac_authorization};
use crate::{HOST, NOW, PYTHON_SDK_FORM, REGION, SignedRequest, fields, text};
/// What root encrypted under K: no answer to the user may carry it.
const SECRET: &[u8] = b"only-the-root-may-read-this-1234";

struct Fixture {
    engine: Arc<Engine>,
    tencent: kms_tencent::TencentApi,
    huawei: HuaweiApi,
    root: Caller,
    k: Uuid,
    /// K's revision when the fixture was made: any change of K bumps it.
    k_revision: u64,
    secret_id: String,
    secret_key: String,
    project: String,
    /// Placeholder and the text it stands for, longest placeholder first.
    fills: Vec<(&'static str, String)>,
    /// The encodings of the secret and the data key no answer may contain.
    forbidden: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let store = Arc::new(MemoryStore::default());
        let seal = Arc::new(MemorySeal::generate());
        let account = identity::create_account(store.as_ref(), seal.as_ref(), NOW)
            .expect("an account in memory");
        let engine = Arc::new(crate::fuzzed_engine(store.clone(), seal.clone()));
        let root = Caller {
            account: account.uin,
            user: None,
            credential: account.secret_id.clone(),
            region: REGION.into(),
            authority: None,
        };
        let key = |alias: &str| {
            let new = NewKey {
                hsm_cluster: None,
                alias: alias.into(),
                description: String::new(),
                usage: KeyUsage::EncryptDecrypt,
                spec: KeySpec::Aes256,
                origin: Origin::Kms,
                tags: Vec::new(),
            };
            engine.create_key(&root, new).expect("a key").key_id
        };
        let (k, o) = (key("fuzz-k"), key("fuzz-o"));
        engine
            .create_alias(&root, &k.to_string(), "alias/fuzz-k")
            .expect("an alias");
        let no_context = EncryptionContext::default();
        let (_, blob) = engine
            .encrypt(&root, &k.to_string(), SECRET, &no_context)
            .expect("a ciphertext");
        let data_key = engine
            .generate_data_key(&root, &k.to_string(), 32, &no_context)
            .expect("a data key");
        let (user, _) = identity::create_user(store.as_ref(), account.uin, "fuzzer", NOW)
            .expect("a user");
        let uin = account.uin;
        let document = format!(
            r#"{{"version":"2.0","statement":[
                {{"effect":"allow","action":["kms:*"],"resource":["*"]}},
                {{"effect":"deny","action":["kms:*"],"resource":["qcs::kms::uin/{uin}:key/creatorUin/{uin}/{k}"]}}]}}"#
        );
        identity::create_policy(
            store.as_ref(),
            uin,
            "all-but-k",
            identity::PolicyLanguage::Cam,
            &document,
            NOW,
        )
        .expect("a policy");
        identity::set_attached(store.as_ref(), uin, &user.id, "all-but-k", true)
            .expect("attached");
        let (credential, secret_key, _) =
            identity::create_credential(store.as_ref(), seal.as_ref(), uin, Some(&user.id), NOW)
                .expect("a credential");
        let directory = Arc::new(Directory::load(store.as_ref(), seal.as_ref()).expect("loaded"));
        let tencent = kms_tencent::TencentApi::new(
            engine.clone(),
            directory.clone(),
            kms_tencent::Options::new(vec![REGION.into()]),
        );
        let huawei = HuaweiApi::new(engine.clone(), directory, vec![REGION.into()]);
        let k_revision = engine.describe_key(&root, &k.to_string()).expect("K").revision;
        let id = k.to_string();
        let fills = vec![
            ("{KU}", id.to_uppercase()),
            ("{KP}", format!("%{:02X}{}", id.as_bytes()[0], &id[1..])),
            ("{K}", id),
            ("{O}", o.to_string()),
            ("{A}", "alias/fuzz-k".to_owned()),
            ("{B}", B64.encode(&blob)),
            ("{H}", hex::encode_upper(&data_key.blob)),
        ];
        let forbidden = [SECRET, data_key.plaintext.as_slice()]
            .iter()
            .flat_map(|bytes| [B64.encode(bytes), hex::encode(bytes), hex::encode_upper(bytes)])
            .collect();
        Fixture {
            engine,
            tencent,
            huawei,
            root,
            k,
            k_revision,
            secret_id: credential.secret_id,
            secret_key: secret_key.to_string(),
            project: account.project_id,
            fills,
            forbidden,
        }
    })
}

impl Fixture {
    fn fill(&self, text: String) -> String {
        self.fills.iter().fold(text, |t, (placeholder, value)| {
            t.replace(placeholder, value)
        })
    }
}

pub fn authorization(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let Exchange {
        request,
        succeeded,
        body,
    } = if flags & 1 == 0 {
        tencent(f, rest)
    } else {
        huawei(f, flags, rest)
    };
    let k = f.engine.describe_key(&f.root, &f.k.to_string()).expect("K");
    assert_eq!(k.revision, f.k_revision, "a request changed the denied key");
    let answer = String::from_utf8_lossy(&body);
    // An error message may echo what the request said; only what it did not say is a leak.
    for secret in f.forbidden.iter().filter(|s| !request.contains(s.as_str())) {
        assert!(
            !answer.contains(secret.as_str()),
            "an answer leaked: {answer}"
        );
    }
    if succeeded && let Ok(value) = serde_json::from_slice::<Value>(&body) {
        let used = [
            "/Response/KeyId",
            "/Response/SourceKeyId",
            "/Response/KeyMetadata/KeyId",
            "/key_id",
            "/source_key_id",
            "/key_info/key_id",
        ]
        .iter()
        .filter_map(|p| value.pointer(p).and_then(Value::as_str))
        .any(|id| id.eq_ignore_ascii_case(&f.k.to_string()));
        assert!(!used, "a successful answer used the denied key: {answer}");
    }
}

/// One request as sent and its answer.
struct Exchange {
    /// The request's text (action or path, query and body) after the placeholders were filled.
    request: String,
    succeeded: bool,
    body: Vec<u8>,
}

/// A TC3-signed JSON POST as the user.
fn tencent(f: &Fixture, data: &[u8]) -> Exchange {
    let parts = fields(data, 2);
    let action = text(parts[0]);
    let body = f.fill(text(parts[1])).into_bytes();
    let request = format!("{action}\n{}", String::from_utf8_lossy(&body));
    let content_type = "application/json";
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", http::HeaderValue::from_static(content_type));
    let signed = SignedRequest {
        method: "POST",
        query: "",
        body: &body,
        action: &action,
        content_type,
    };
    signed.sign_tc3(&mut headers, PYTHON_SDK_FORM, (&f.secret_id, &f.secret_key));
    let req = auth::SignedParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: &body,
    };
    let reply = f.tencent.handle(&req, "fuzz-request", None);
    assert_ne!(reply.error_code, Some("InternalError"), "no internal error");
    Exchange {
        request,
        succeeded: reply.error_code.is_none(),
        body: reply.body,
    }
}

/// A request signed with SDK-HMAC-SHA256 as the user.
fn huawei(f: &Fixture, flags: u8, data: &[u8]) -> Exchange {
    let method = ["GET", "POST", "PUT", "DELETE"][usize::from(flags >> 1 & 3)];
    let parts = fields(data, 3);
    let version = if flags & 8 == 0 { "v1.0" } else { "v2" };
    let path = format!("/{version}/{}/kms/{}", f.project, f.fill(text(parts[0])));
    let query = f.fill(text(parts[1]));
    let body = f.fill(text(parts[2])).into_bytes();
    let mut exchange = Exchange {
        request: format!("{path}\n{query}\n{}", String::from_utf8_lossy(&body)),
        succeeded: false,
        body: Vec::new(),
    };
    if !HuaweiApi::claims(method, &path) {
        return exchange;
    }
    let signed_headers = "content-type;host;x-sdk-date";
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("host", HOST),
        ("content-type", "application/json"),
        ("x-sdk-date", SDK_DATE),
    ] {
        headers.insert(name, http::HeaderValue::from_static(value));
    }
    let unsigned = kms_huawei::auth::SignedParts {
        method,
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
    };
    let Some(authorization) =
        sdk_hmac_authorization(&unsigned, signed_headers, &f.secret_id, &f.secret_key)
    else {
        return exchange;
    };
    headers.insert(http::header::AUTHORIZATION, authorization);
    let req = kms_huawei::auth::SignedParts {
        method,
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
    };
    let reply = match f.huawei.prepare(&req, None) {
        Ok(call) => f.huawei.execute(call),
        Err(reply) => *reply,
    };
    assert!(reply.status < 500, "no server error: {}", reply.status);
    exchange.succeeded = reply.error_code.is_none();
    exchange.body = reply.body;
    exchange
}
