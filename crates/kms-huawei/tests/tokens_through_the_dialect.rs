//! IAM tokens through the dialect: `issue_token` answers 201 with the token for
//! `X-Subject-Token`, and `prepare` accepts it in `X-Auth-Token` as the user, in the token's
//! project only; a bad token answers the gateway's 401, and the audit fields name the token by
//! its id, never by itself.

use std::sync::Arc;

use serde_json::{Value, json};

use kms_core::accounts::Directory;
use kms_core::identity;
use kms_core::testing::{MemorySeal, MemoryStore};
use kms_core::{Engine, EngineConfig, ManualClock};
use kms_huawei::HuaweiApi;
use kms_huawei::auth::SignedParts;
use kms_huawei::iam::Tokens;
use kms_huawei::tokens::TokenKey;

const NOW: u64 = 1_700_000_000;
const REGIONS: [&str; 2] = ["ap-guangzhou", "ap-shanghai"];
const PASSWORD: &str = "a long enough password";

struct Setup {
    api: HuaweiApi,
    uin: u64,
    user: String,
    project: String,
}

fn setup() -> Setup {
    let store = Arc::new(MemoryStore::default());
    let seal = Arc::new(MemorySeal::generate());
    let account = identity::create_account(store.as_ref(), seal.as_ref(), NOW).unwrap();
    let (user, _) = identity::create_user(store.as_ref(), account.uin, "alice", NOW).unwrap();
    identity::set_password(store.as_ref(), account.uin, &user.id, Some(PASSWORD)).unwrap();
    let everything = r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:*:*"]}]}"#;
    identity::create_policy(
        store.as_ref(),
        account.uin,
        "all-kms",
        identity::PolicyLanguage::Iam,
        everything,
        NOW,
    )
    .unwrap();
    identity::set_attached(store.as_ref(), account.uin, &user.id, "all-kms", true).unwrap();
    let directory = Arc::new(Directory::load(store.as_ref(), seal.as_ref()).unwrap());
    let key = identity::token_key(store.as_ref(), seal.as_ref()).unwrap();
    let engine = Arc::new(Engine::new(
        store,
        seal,
        Arc::new(ManualClock::new(NOW)),
        EngineConfig::default(),
    ));
    let api = HuaweiApi::new(engine, directory, REGIONS.map(String::from).to_vec())
        .with_tokens(Tokens::new(TokenKey::new(key), 600));
    Setup {
        api,
        uin: account.uin,
        user: user.id,
        project: account.project_id,
    }
}

fn issue(s: &Setup, project: &str) -> String {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "alice", "password": PASSWORD, "domain": {"name": s.uin.to_string()}}}},
        "scope": {"project": {"name": project}},
    }});
    let reply = s.api.issue_token(&serde_json::to_vec(&body).unwrap(), "");
    assert_eq!(reply.status, 201);
    assert_eq!(reply.action, "KeystoneCreateUserTokenByPassword");
    assert_eq!(reply.audit.user.as_deref(), Some(s.user.as_str()));
    let token = reply.subject_token.unwrap().to_string();
    let id = reply.audit.credential_id.unwrap();
    assert!(id.starts_with("token:") && !token.contains(&id[6..]));
    token
}

fn call(s: &Setup, token: &str, project: &str, op: &str) -> (u16, Value, kms_huawei::AuditFields) {
    let path = format!("/v1.0/{project}/kms/{op}");
    let mut headers = http::HeaderMap::new();
    headers.insert("x-auth-token", http::HeaderValue::from_str(token).unwrap());
    let req = SignedParts {
        method: "POST",
        path: &path,
        query: "",
        headers: &headers,
        body: b"{}",
    };
    let reply = match s.api.prepare(&req, None) {
        Ok(call) => {
            assert_eq!(call.caller().user.as_deref(), Some(s.user.as_str()));
            s.api.execute(call)
        }
        Err(reply) => *reply,
    };
    (
        reply.status,
        serde_json::from_slice(&reply.body).unwrap(),
        reply.audit,
    )
}

#[test]
fn a_token_calls_as_its_user_in_its_project_only() {
    let s = setup();
    let token = issue(&s, "ap-guangzhou");
    let (status, answer, audit) = call(&s, &token, &s.project, "list-keys");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(audit.user.as_deref(), Some(s.user.as_str()));
    assert!(audit.credential_id.unwrap().starts_with("token:"));

    let shanghai = issue(&s, "ap-shanghai");
    let (status, answer, _) = call(&s, &shanghai, &s.project, "list-keys");
    assert_eq!(
        (status, answer["error"]["error_code"].as_str()),
        (403, Some("KMS.0306"))
    );
}

#[test]
fn a_bad_token_answers_the_gateways_401() {
    let s = setup();
    let token = issue(&s, "ap-guangzhou");
    for bad in [format!("{token}x"), "MIIE".into(), String::new()] {
        let (status, answer, _) = call(&s, &bad, &s.project, "list-keys");
        assert_eq!(status, 401);
        assert_eq!(
            answer,
            json!({"error": {"error_code": "APIG.0301",
                             "error_msg": "Incorrect IAM authentication information: decrypt token fail"}})
        );
    }
}

#[test]
fn without_a_token_key_no_token_is_issued_or_accepted() {
    let s = setup();
    let token = issue(&s, "ap-guangzhou");
    let store = Arc::new(MemoryStore::default());
    let seal = Arc::new(MemorySeal::generate());
    let engine = Arc::new(Engine::new(
        store,
        seal,
        Arc::new(ManualClock::new(NOW)),
        EngineConfig::default(),
    ));
    let bare = Setup {
        api: HuaweiApi::new(
            engine,
            Arc::new(Directory::default()),
            REGIONS.map(String::from).to_vec(),
        ),
        ..s
    };
    assert_eq!(bare.api.issue_token(b"{}", "").status, 401);
    let path = format!("/v1.0/{}/kms/list-keys", bare.project);
    let mut headers = http::HeaderMap::new();
    headers.insert("x-auth-token", http::HeaderValue::from_str(&token).unwrap());
    let req = SignedParts {
        method: "POST",
        path: &path,
        query: "",
        headers: &headers,
        body: b"{}",
    };
    assert_eq!(bare.api.prepare(&req, None).err().unwrap().status, 401);
}
