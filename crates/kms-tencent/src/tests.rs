//! The dialect end to end over in-memory parts: how a request is prepared and where it runs.

use std::sync::Arc;

use kms_core::shared::SharedState;
use kms_core::testing::{
    FailingSharedState, MemorySeal, MemorySharedState, MemoryStore, directory_with_account,
};
use kms_core::{EngineConfig, ManualClock};

use super::*;
use crate::auth::{
    LegacyMethod, legacy_signature, legacy_string_to_sign, tc3_sign, tc3_signing_key, utc_date,
};

const NOW: u64 = 1_700_000_000;
const SECRET_KEY: &str = "unit-secret";

fn api() -> TencentApi {
    let (engine, directory) = engine_and_directory();
    TencentApi::new(engine, directory, Options::new(vec!["ap-guangzhou".into()]))
}

/// One engine and directory over one store, which several dialect instances ("nodes") serve.
fn engine_and_directory() -> (Arc<Engine>, Arc<Directory>) {
    let store = Arc::new(MemoryStore::default());
    let seal = Arc::new(MemorySeal::generate());
    let directory = Arc::new(directory_with_account(
        store.as_ref(),
        seal.as_ref(),
        7,
        "AKIDunit",
        SECRET_KEY,
    ));
    let engine = Arc::new(Engine::new(
        store,
        seal,
        Arc::new(ManualClock::new(NOW)),
        EngineConfig::default(),
    ));
    (engine, directory)
}

/// A legacy-signed GET of `action` with `own` parameters, by the unit test's credential now.
fn legacy_get(action: &str, own: &[(&str, &str)], nonce: u32) -> (String, http::HeaderMap) {
    legacy_get_by("AKIDunit", NOW, action, own, nonce)
}

/// A legacy-signed GET of `action` with `own` parameters, by `secret_id` at `timestamp`.
fn legacy_get_by(
    secret_id: &str,
    timestamp: u64,
    action: &str,
    own: &[(&str, &str)],
    nonce: u32,
) -> (String, http::HeaderMap) {
    let mut pairs: Vec<(String, String)> = own
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in [
        ("Action", action.to_owned()),
        ("Version", VERSION.to_owned()),
        ("Region", "ap-guangzhou".to_owned()),
        ("Timestamp", timestamp.to_string()),
        ("Nonce", nonce.to_string()),
        ("SecretId", secret_id.to_owned()),
        ("SignatureMethod", "HmacSHA256".to_owned()),
    ] {
        pairs.push((k.to_owned(), v));
    }
    let signature = legacy_signature(
        SECRET_KEY.as_bytes(),
        LegacyMethod::HmacSha256,
        &legacy_string_to_sign("GET", "kms.test", "/", &pairs),
    );
    pairs.push(("Signature".into(), signature));
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    let mut headers = http::HeaderMap::new();
    headers.insert("host", http::HeaderValue::from_static("kms.test"));
    (query, headers)
}

fn prepare(api: &TencentApi, query: &str, headers: &http::HeaderMap) -> Result<Call, Box<Reply>> {
    api.prepare(
        &SignedParts {
            method: "GET",
            path: "/",
            query,
            headers,
            body: b"",
        },
        "rid",
        None,
    )
}

#[test]
fn the_pool_follows_the_authenticated_action_not_an_unsigned_header() {
    let api = api();
    let (query, mut headers) = legacy_get(
        "GetParametersForImport",
        &[
            ("KeyId", "01890a5d-ac96-774b-bcce-b302099a8057"),
            ("WrappingAlgorithm", "RSAES_OAEP_SHA_256"),
            ("WrappingKeySpec", "RSA_2048"),
        ],
        1,
    );
    // A forged header claims a quick action; it is not what runs.
    headers.insert("x-tc-action", http::HeaderValue::from_static("Encrypt"));
    let call = prepare(&api, &query, &headers)
        .map_err(|r| r.error_code)
        .unwrap();
    assert_eq!(call.action(), "GetParametersForImport");
    assert!(
        call.blocking,
        "key pair generation runs on the blocking pool"
    );
}

#[test]
fn hosted_data_key_generation_blocks_and_plain_generation_does_not() {
    let api = api();
    let key = "01890a5d-ac96-774b-bcce-b302099a8057";
    let (query, headers) = legacy_get(
        "GenerateDataKey",
        &[("KeyId", key), ("IsHostedByKms", "1"), ("DataKeyName", "n")],
        2,
    );
    assert!(prepare(&api, &query, &headers).ok().unwrap().blocking);
    let (query, headers) = legacy_get("GenerateDataKey", &[("KeyId", key)], 3);
    assert!(!prepare(&api, &query, &headers).ok().unwrap().blocking);
}

#[test]
fn a_legacy_nonce_is_refused_the_second_time() {
    let api = api();
    let (query, headers) = legacy_get("GenerateRandom", &[("NumberOfBytes", "8")], 4);
    assert!(prepare(&api, &query, &headers).is_ok());
    let second = prepare(&api, &query, &headers).err().unwrap();
    assert_eq!(second.error_code, Some(AUTH_INVALID_AUTHORIZATION));
}

#[test]
fn audit_fields_name_each_resource_once() {
    let params = Params::validate(
        json!({ "KeyIds": ["k1", "k2"], "KeyId": "k1", "Plaintext": "c2VjcmV0" })
            .as_object()
            .cloned()
            .unwrap(),
        &[
            params::Field::opt("KeyId", params::Kind::Str { min: 0, max: 128 }),
            params::Field::opt("KeyIds", params::Kind::StrList { min: 1, max: 100 }),
            params::Field::opt("Plaintext", params::Kind::Str { min: 0, max: 100 }),
        ],
        false,
    )
    .unwrap();
    let mut audit = AuditFields::default();
    audit.add_request_resources(&params);
    let answer = json!({
        "KeyId": "k2",
        "SourceKeyId": "k0",
        "DataKeyMetadata": { "DataKeyId": "dk1", "KeyId": "k1" },
        "Plaintext": "c2VjcmV0",
    });
    audit.add_answer_resources(answer.as_object().unwrap());
    assert_eq!(audit.resources, ["k1", "k2", "k0", "dk1"]);
}

/// Two accounts, each with its own credential, and room for `per_credential` entries of each
/// in the replay caches.
fn api_of_two_accounts(per_credential: usize) -> TencentApi {
    let store = Arc::new(MemoryStore::default());
    let seal = Arc::new(MemorySeal::generate());
    for (uin, secret_id, project_id) in [
        (7, "AKIDunit", "0123456789abcdef0123456789abcdef"),
        (8, "AKIDother", "fedcba9876543210fedcba9876543210"),
    ] {
        kms_core::accounts::create_account(
            store.as_ref(),
            seal.as_ref(),
            &kms_core::accounts::NewAccount {
                uin,
                app_id: uin,
                secret_id: secret_id.into(),
                secret_key: zeroize::Zeroizing::new(SECRET_KEY.into()),
                project_id: project_id.into(),
            },
            0,
        )
        .unwrap();
    }
    let directory = Arc::new(Directory::load(store.as_ref(), seal.as_ref()).unwrap());
    let engine = Arc::new(Engine::new(
        store,
        seal,
        Arc::new(ManualClock::new(NOW)),
        EngineConfig::default(),
    ));
    let options = Options {
        replay_entries_per_credential: per_credential,
        ..Options::new(vec!["ap-guangzhou".into()])
    };
    TencentApi::new(engine, directory, options)
}

/// A legacy-signed `GenerateRandom` by `secret_id` with `timestamp` and `nonce`.
fn legacy_random(secret_id: &str, timestamp: u64, nonce: u32) -> (String, http::HeaderMap) {
    legacy_get_by(
        secret_id,
        timestamp,
        "GenerateRandom",
        &[("NumberOfBytes", "8")],
        nonce,
    )
}

fn legacy_code(
    api: &TencentApi,
    secret_id: &str,
    timestamp: u64,
    nonce: u32,
) -> Option<&'static str> {
    let (query, headers) = legacy_random(secret_id, timestamp, nonce);
    prepare(api, &query, &headers)
        .err()
        .and_then(|r| r.error_code)
}

#[test]
fn a_credential_that_fills_its_nonce_memory_denies_no_other() {
    let api = api_of_two_accounts(3);
    for nonce in 0..3 {
        assert_eq!(legacy_code(&api, "AKIDunit", NOW, nonce), None);
    }
    assert_eq!(
        legacy_code(&api, "AKIDunit", NOW, 3),
        Some(REQUEST_LIMIT_EXCEEDED)
    );
    for nonce in 0..3 {
        assert_eq!(legacy_code(&api, "AKIDother", NOW, nonce), None);
    }
    // A request that does not verify takes no room.
    let (query, headers) = legacy_random("AKIDother", NOW, 99);
    let tampered = query.replace("NumberOfBytes=8", "NumberOfBytes=9");
    assert_eq!(
        prepare(&api, &tampered, &headers).err().unwrap().error_code,
        Some(AUTH_SIGNATURE_FAILURE)
    );
}

#[test]
fn a_legacy_nonce_is_unique_with_its_timestamp() {
    let api = api_of_two_accounts(100);
    assert_eq!(legacy_code(&api, "AKIDunit", NOW, 42), None);
    assert_eq!(
        legacy_code(&api, "AKIDunit", NOW, 42),
        Some(AUTH_INVALID_AUTHORIZATION)
    );
    // The same Nonce a second later is another request, as the vendor defines it.
    assert_eq!(legacy_code(&api, "AKIDunit", NOW - 1, 42), None);
    assert_eq!(
        legacy_code(&api, "AKIDunit", NOW - 1, 42),
        Some(AUTH_INVALID_AUTHORIZATION)
    );
    // And another credential's.
    assert_eq!(legacy_code(&api, "AKIDother", NOW, 42), None);
}

/// Two nodes over one engine, with `options`, sharing `state`.
fn two_nodes(options: Options, state: Arc<dyn SharedState>) -> [TencentApi; 2] {
    let (engine, directory) = engine_and_directory();
    [(); 2].map(|()| {
        TencentApi::new(engine.clone(), directory.clone(), options.clone())
            .with_shared_state(state.clone())
    })
}

fn with_tc3_memory() -> Options {
    Options {
        tc3_replay_cache: true,
        ..Options::new(vec!["ap-guangzhou".into()])
    }
}

const TC3_BODY: &[u8] = br#"{"NumberOfBytes":8}"#;

/// A TC3-signed `GenerateRandom` by the unit test's credential now, as the Python SDK signs it.
fn tc3_random() -> http::HeaderMap {
    let date = utc_date(NOW);
    let canonical = format!(
        "POST\n/\n\ncontent-type:application/json\nhost:kms.test\n\ncontent-type;host\n{}",
        hex::encode(kms_crypto::digest::sha256(TC3_BODY))
    );
    let key = tc3_signing_key(SECRET_KEY.as_bytes(), &date, "kms");
    let signature = tc3_sign(&key, &date, "kms", &NOW.to_string(), &canonical);
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("host", "kms.test".to_owned()),
        ("content-type", "application/json".to_owned()),
        (
            "authorization",
            format!(
                "TC3-HMAC-SHA256 Credential=AKIDunit/{date}/kms/tc3_request, \
                 SignedHeaders=content-type;host, Signature={signature}"
            ),
        ),
        ("x-tc-action", "GenerateRandom".to_owned()),
        ("x-tc-version", VERSION.to_owned()),
        ("x-tc-region", "ap-guangzhou".to_owned()),
        ("x-tc-timestamp", NOW.to_string()),
    ] {
        headers.insert(name, value.parse().unwrap());
    }
    headers
}

/// The error code and message `api` answers a TC3 request with `headers`, if it refuses it.
fn tc3_refusal(api: &TencentApi, headers: &http::HeaderMap) -> Option<(&'static str, String)> {
    let req = SignedParts {
        method: "POST",
        path: "/",
        query: "",
        headers,
        body: TC3_BODY,
    };
    api.prepare(&req, "rid", None)
        .err()
        .map(|reply| refusal(&reply))
}

fn refusal(reply: &Reply) -> (&'static str, String) {
    let body: Value = serde_json::from_slice(&reply.body).unwrap();
    let message = body["Response"]["Error"]["Message"].as_str().unwrap();
    (reply.error_code.unwrap(), message.to_owned())
}

fn legacy_refusal(api: &TencentApi, nonce: u32) -> Option<(&'static str, String)> {
    let (query, headers) = legacy_random("AKIDunit", NOW, nonce);
    prepare(api, &query, &headers)
        .err()
        .map(|reply| refusal(&reply))
}

#[test]
fn a_legacy_nonce_used_on_one_node_is_a_replay_on_another() {
    let state = Arc::new(MemorySharedState::default());
    let [a, b] = two_nodes(Options::new(vec!["ap-guangzhou".into()]), state);
    assert_eq!(legacy_refusal(&a, 7), None);
    // The answer a single node gives its own replay.
    let alone = api();
    assert_eq!(legacy_refusal(&alone, 7), None);
    let replayed = legacy_refusal(&alone, 7).unwrap();
    assert_eq!(replayed.0, AUTH_INVALID_AUTHORIZATION);
    assert_eq!(legacy_refusal(&b, 7), Some(replayed.clone()));
    assert_eq!(legacy_refusal(&a, 7), Some(replayed));
    assert_eq!(legacy_refusal(&b, 8), None);
}

#[test]
fn a_shared_nonce_memory_has_no_room_bound_of_its_own() {
    let state = Arc::new(MemorySharedState::default());
    let options = Options {
        replay_entries_per_credential: 3,
        ..Options::new(vec!["ap-guangzhou".into()])
    };
    let [a, b] = two_nodes(options, state);
    for nonce in 0..10 {
        assert_eq!(
            legacy_refusal(if nonce % 2 == 0 { &a } else { &b }, nonce),
            None
        );
    }
}

#[test]
fn a_tc3_signature_used_on_one_node_is_a_replay_on_another_when_remembered() {
    let headers = tc3_random();
    let [a, b] = two_nodes(with_tc3_memory(), Arc::new(MemorySharedState::default()));
    assert_eq!(tc3_refusal(&a, &headers), None);
    let replayed = tc3_refusal(&b, &headers).unwrap();
    assert_eq!(
        replayed,
        (
            AUTH_INVALID_AUTHORIZATION,
            "This signature was already used; sign every request anew.".to_owned()
        )
    );
    // Off by default: honest identical calls in one second are admitted on every node.
    let default = Options::new(vec!["ap-guangzhou".into()]);
    let [a, b] = two_nodes(default, Arc::new(MemorySharedState::default()));
    for node in [&a, &b, &a] {
        assert_eq!(tc3_refusal(node, &headers), None);
    }
}

/// The Authorization header's spacing and the order of its parts are not signed: the replay
/// memory keys on the signature itself, so a resent request with them changed is still refused.
#[test]
fn a_tc3_replay_is_refused_however_its_authorization_is_spelled() {
    let headers = tc3_random();
    let authorization = headers["authorization"].to_str().unwrap().to_owned();
    let (_, parts) = authorization.split_once(' ').unwrap();
    let parts: Vec<&str> = parts.split(", ").collect();
    let respelled = [
        format!("TC3-HMAC-SHA256  {}", parts.join(",")),
        format!("TC3-HMAC-SHA256 {}, {}, {}", parts[2], parts[0], parts[1]),
    ];
    let replayed = (
        AUTH_INVALID_AUTHORIZATION,
        "This signature was already used; sign every request anew.".to_owned(),
    );
    let single = || {
        let (engine, directory) = engine_and_directory();
        TencentApi::new(engine, directory, with_tc3_memory())
    };
    let alone = single();
    let [a, b] = two_nodes(with_tc3_memory(), Arc::new(MemorySharedState::default()));
    for (first, then) in [(&alone, &alone), (&a, &b)] {
        assert_eq!(tc3_refusal(first, &headers), None);
        for spelling in &respelled {
            let mut again = headers.clone();
            again.insert("authorization", spelling.parse().unwrap());
            assert_eq!(tc3_refusal(&single(), &again), None, "a valid {spelling}");
            assert_eq!(
                tc3_refusal(then, &again),
                Some(replayed.clone()),
                "{spelling}"
            );
        }
    }
}

/// A shared state that cannot record a request's identifier refuses the request: the vendor's
/// transient code when the store is unavailable, an internal error otherwise; never admitted.
#[test]
fn a_shared_state_that_fails_refuses_what_it_cannot_record() {
    const TRANSIENT: &str = "UnsupportedOperation.ServiceTemporaryUnavailable";
    for (failing, code) in [
        (FailingSharedState::Unavailable, TRANSIENT),
        (FailingSharedState::Broken, INTERNAL_ERROR),
    ] {
        let [node, _] = two_nodes(with_tc3_memory(), Arc::new(failing));
        assert_eq!(legacy_refusal(&node, 1).map(|(c, _)| c), Some(code));
        assert_eq!(
            tc3_refusal(&node, &tc3_random()).map(|(c, _)| c),
            Some(code)
        );
        // Without the TC3 memory, TC3 needs no shared state.
        let default = Options::new(vec!["ap-guangzhou".into()]);
        let [node, _] = two_nodes(default, Arc::new(failing));
        assert_eq!(tc3_refusal(&node, &tc3_random()), None);
        assert_eq!(legacy_refusal(&node, 1).map(|(c, _)| c), Some(code));
    }
}

/// A call prepared for an already authenticated principal (the console's) is checked as a
/// signed one is: its version, region and parameters, and it runs in the principal's account.
#[test]
fn an_authenticated_call_is_checked_and_run_as_a_signed_one() {
    let api = api();
    let principal = api.directory.by_secret_id("AKIDunit").expect("the account");
    let head = |action, region| Head {
        action,
        version: Some(VERSION),
        region: Some(region),
    };
    let run = |head: &Head<'_>, params: Value| {
        let params = match params {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        match api.prepare_authenticated(&principal, "AKIDunit", head, params, "rid", None) {
            Ok(call) => api.execute(call, "rid"),
            Err(reply) => *reply,
        }
    };
    let created = run(
        &head("CreateKey", "ap-guangzhou"),
        json!({ "Alias": "console" }),
    );
    assert_eq!(created.error_code, None);
    assert_eq!(created.audit.account, Some(7));
    assert_eq!(created.audit.credential_id.as_deref(), Some("AKIDunit"));
    let body: Value = serde_json::from_slice(&created.body).unwrap();
    assert_eq!(body["Response"]["Alias"], "console");

    let refused = run(&head("CreateKey", "ap-guangzhou"), json!({ "Alias": 5 }));
    assert_eq!(refused.error_code, Some("InvalidParameter"));
    let refused = run(&head("CreateKey", "mars-1"), json!({ "Alias": "x" }));
    assert_eq!(refused.error_code, Some(UNSUPPORTED_REGION));
    let refused = run(&head("NoSuchAction", "ap-guangzhou"), json!({}));
    assert_eq!(refused.error_code, Some(INVALID_ACTION));
    assert_eq!(refused.action, "unknown");
}
