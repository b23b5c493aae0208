//! The dialect over in-memory parts: the opt-in signature replay memory, on one node and on
//! several sharing one store's state, and the shared state reaching the tokens.

use std::sync::Arc;

use kms_core::testing::{
    FailingSharedState, MemorySeal, MemorySharedState, MemoryStore, directory_with_account,
};
use kms_core::{EngineConfig, ManualClock};

use super::*;
use crate::auth::Algorithm;

/// 2023-11-14 22:13:20 UTC: the engine's clock and every request's `X-Sdk-Date`.
const NOW: u64 = 1_700_000_000;
const SDK_DATE: &str = "20231114T221320Z";
const AK: &str = "AKIDunit";
const SK: &str = "unit-secret-key";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const SIGNED_HEADERS: &str = "content-type;host;x-project-id;x-sdk-date";
const PATH: &str = "/v1.0/0123456789abcdef0123456789abcdef/kms/list-keys";

/// One engine and directory over one store, which several dialect instances ("nodes") serve.
fn engine_and_directory() -> (Arc<Engine>, Arc<Directory>) {
    let store = Arc::new(MemoryStore::default());
    let seal = Arc::new(MemorySeal::generate());
    let directory = directory_with_account(store.as_ref(), seal.as_ref(), 7, AK, SK);
    let engine = Arc::new(Engine::new(
        store,
        seal,
        Arc::new(ManualClock::new(NOW)),
        EngineConfig::default(),
    ));
    (engine, Arc::new(directory))
}

fn api() -> HuaweiApi {
    let (engine, directory) = engine_and_directory();
    HuaweiApi::new(engine, directory, vec!["ap-guangzhou".into()])
}

/// Two nodes over one engine with the replay memory on, sharing `state`: one given the state
/// before the memory is turned on, the other after, which must not matter.
fn two_nodes(state: Arc<dyn SharedState>) -> [HuaweiApi; 2] {
    let (engine, directory) = engine_and_directory();
    let regions = vec!["ap-guangzhou".to_owned()];
    [
        HuaweiApi::new(engine.clone(), directory.clone(), regions.clone())
            .with_shared_state(state.clone())
            .with_replay_cache(1000),
        HuaweiApi::new(engine, directory, regions)
            .with_replay_cache(1000)
            .with_shared_state(state),
    ]
}

/// The headers of a `list-keys` with `body`, signed now as the SDK signs.
fn signed(body: &[u8]) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("host", "kms.test"),
        ("content-type", "application/json"),
        ("x-project-id", PROJECT),
        ("x-sdk-date", SDK_DATE),
    ] {
        headers.insert(name, value.parse().unwrap());
    }
    let canonical = auth::canonical_request(
        &SignedParts {
            method: "POST",
            path: PATH,
            query: "",
            headers: &headers,
            body,
        },
        Algorithm::HmacSha256,
        SIGNED_HEADERS,
    )
    .unwrap();
    let signature = auth::sign(Algorithm::HmacSha256, SK.as_bytes(), SDK_DATE, &canonical);
    let authorization = format!(
        "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    );
    headers.insert("authorization", authorization.parse().unwrap());
    headers
}

/// The status, code and message `api` refuses the request with, if it does.
fn refusal(api: &HuaweiApi, headers: &http::HeaderMap, body: &[u8]) -> Option<(u16, String)> {
    let req = SignedParts {
        method: "POST",
        path: PATH,
        query: "",
        headers,
        body,
    };
    let reply = api.prepare(&req, None).err()?;
    let answer: Value = serde_json::from_slice(&reply.body).unwrap();
    let code = answer["error"]["error_code"].as_str().unwrap();
    assert_eq!(Some(code), reply.error_code);
    Some((reply.status, code.to_owned()))
}

fn replayed() -> Option<(u16, String)> {
    Some((401, "APIG.0301".to_owned()))
}

const BODY: &[u8] = b"{}";

#[test]
fn signatures_are_not_remembered_by_default() {
    let api = api();
    let headers = signed(BODY);
    for _ in 0..3 {
        assert_eq!(refusal(&api, &headers, BODY), None);
    }
}

#[test]
fn a_remembered_signature_is_refused_the_second_time() {
    let api = api().with_replay_cache(100);
    let headers = signed(BODY);
    assert_eq!(refusal(&api, &headers, BODY), None);
    assert_eq!(refusal(&api, &headers, BODY), replayed());
    let req = SignedParts {
        method: "POST",
        path: PATH,
        query: "",
        headers: &headers,
        body: BODY,
    };
    let reply = api.prepare(&req, None).err().unwrap();
    let answer: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        answer["error"]["error_msg"],
        HwError::replayed().message.as_str()
    );
    // Another request of the same second is another signature.
    let other = br#"{"limit": "10"}"#;
    assert_eq!(refusal(&api, &signed(other), other), None);
}

/// The header's spacing is not signed: a replay respelled is still the signature it carries.
#[test]
fn a_respelled_authorization_is_the_same_signature() {
    let api = api().with_replay_cache(100);
    let headers = signed(BODY);
    assert_eq!(refusal(&api, &headers, BODY), None);
    let mut respelled = headers.clone();
    let authorization = headers["authorization"]
        .to_str()
        .unwrap()
        .replace(", ", ",");
    respelled.insert("authorization", authorization.parse().unwrap());
    assert_eq!(
        refusal(&self::api(), &respelled, BODY),
        None,
        "a valid form"
    );
    assert_eq!(refusal(&api, &respelled, BODY), replayed());
}

#[test]
fn a_credential_that_fills_its_room_is_throttled_not_forgotten() {
    let api = api().with_replay_cache(2);
    let bodies: Vec<Vec<u8>> = (0..3).map(|i| format!(r#"{{"n": {i}}}"#).into()).collect();
    for body in &bodies[..2] {
        assert_eq!(refusal(&api, &signed(body), body), None);
    }
    let full = Some((429, errors::THROTTLED.to_owned()));
    assert_eq!(refusal(&api, &signed(&bodies[2]), &bodies[2]), full);
    assert_eq!(refusal(&api, &signed(&bodies[0]), &bodies[0]), replayed());
}

#[test]
fn a_signature_used_on_one_node_is_a_replay_on_another() {
    let [a, b] = two_nodes(Arc::new(MemorySharedState::default()));
    let headers = signed(BODY);
    assert_eq!(refusal(&a, &headers, BODY), None);
    assert_eq!(refusal(&b, &headers, BODY), replayed());
    assert_eq!(refusal(&a, &headers, BODY), replayed());
    let other = br#"{"limit": "10"}"#;
    assert_eq!(refusal(&b, &signed(other), other), None);
    assert_eq!(refusal(&a, &signed(other), other), replayed());
    // No room bound over a shared store: the window and the rate limit bound it.
    let [a, _] = two_nodes(Arc::new(MemorySharedState::default()));
    let a = a.with_replay_cache(1);
    for i in 0..5 {
        let body = format!(r#"{{"n": {i}}}"#);
        assert_eq!(refusal(&a, &signed(body.as_bytes()), body.as_bytes()), None);
    }
}

/// A signature the shared state cannot record is refused (fail closed): 503 when the store is
/// unavailable, 500 when it fails otherwise. Without the memory, signatures need no state.
#[test]
fn a_shared_state_that_fails_refuses_the_signatures_it_cannot_record() {
    let headers = signed(BODY);
    for (failing, status) in [
        (FailingSharedState::Unavailable, 503),
        (FailingSharedState::Broken, 500),
    ] {
        let [a, b] = two_nodes(Arc::new(failing));
        for node in [&a, &b] {
            let refused = Some((status, errors::KMS_ERROR.to_owned()));
            assert_eq!(refusal(node, &headers, BODY), refused);
        }
        let without_memory = api().with_shared_state(Arc::new(failing));
        assert_eq!(refusal(&without_memory, &headers, BODY), None);
    }
}

/// The API's shared state reaches its tokens whichever is set up first: a token request whose
/// failed logins cannot be counted is refused before any password is checked.
#[test]
fn the_shared_state_reaches_the_tokens_in_either_order() {
    let key = || iam::Tokens::new(tokens::TokenKey::new(Zeroizing::new([3; 32])), 600);
    let state = || Arc::new(FailingSharedState::Unavailable);
    let body = serde_json::to_vec(&json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "alice", "password": "a password", "domain": {"name": "7"}}}},
        "scope": {"project": {"name": "ap-guangzhou"}},
    }}))
    .unwrap();
    for api in [
        api().with_tokens(key()).with_shared_state(state()),
        api().with_shared_state(state()).with_tokens(key()),
    ] {
        let reply = api.issue_token(&body, "");
        assert_eq!(reply.status, 503);
        assert_eq!(reply.error_code, Some("503"));
    }
    // A single node counts in memory: the same request is a wrong password.
    let reply = api().with_tokens(key()).issue_token(&body, "");
    assert_eq!(reply.status, 401);
}
