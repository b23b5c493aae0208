//! A grant through the Huawei dialect between two accounts: the owner grants another account
//! (a domain) decrypt-data on a key; that account decrypts with it from its own project, is
//! refused every operation the grant does not name, and loses the key when the grant is
//! revoked. Also a retiring principal in the other account retires a grant.

use std::sync::Arc;

use serde_json::{Value, json};
use zeroize::Zeroizing;

use kms_core::accounts::{Directory, NewAccount, create_account};
use kms_core::testing::{MemorySeal, MemoryStore};
use kms_core::{Engine, EngineConfig, ManualClock};
use kms_huawei::HuaweiApi;
use kms_huawei::auth::{self, Algorithm, SignedParts};

const REGION: &str = "ap-guangzhou";
/// The engine's clock and the date every request is signed at: 2023-11-14 22:13:20 UTC.
const NOW: u64 = 1_700_000_000;
const SDK_DATE: &str = "20231114T221320Z";
const SIGNED_HEADERS: &str = "content-type;host;x-project-id;x-sdk-date";

struct Principal {
    ak: &'static str,
    sk: &'static str,
    project: &'static str,
}

const OWNER: Principal = Principal {
    ak: "AKIDowner",
    sk: "owner-secret-key",
    project: "0123456789abcdef0123456789abcdef",
};
const OWNER_DOMAIN: u64 = 1001;
const OTHER: Principal = Principal {
    ak: "AKIDother",
    sk: "other-secret-key",
    project: "fedcba9876543210fedcba9876543210",
};
const OTHER_DOMAIN: u64 = 2002;
const THIRD: Principal = Principal {
    ak: "AKIDthird",
    sk: "third-secret-key",
    project: "00112233445566778899aabbccddeeff",
};
const THIRD_DOMAIN: u64 = 3003;

fn api() -> HuaweiApi {
    let store = Arc::new(MemoryStore::default());
    let seal = Arc::new(MemorySeal::generate());
    for (uin, p) in [
        (OWNER_DOMAIN, &OWNER),
        (OTHER_DOMAIN, &OTHER),
        (THIRD_DOMAIN, &THIRD),
    ] {
        let account = NewAccount {
            uin,
            app_id: uin,
            secret_id: p.ak.into(),
            secret_key: Zeroizing::new(p.sk.into()),
            project_id: p.project.into(),
        };
        create_account(store.as_ref(), seal.as_ref(), &account, NOW).unwrap();
    }
    let directory = Arc::new(Directory::load(store.as_ref(), seal.as_ref()).unwrap());
    let engine = Arc::new(Engine::new(
        store,
        seal,
        Arc::new(ManualClock::new(NOW)),
        EngineConfig::default(),
    ));
    HuaweiApi::new(engine, directory, vec![REGION.into()])
}

/// Calls `operation` as `who`, signed as the SDK signs; the status and the JSON answer.
fn call(api: &HuaweiApi, who: &Principal, operation: &str, body: &Value) -> (u16, Value) {
    let path = format!("/v1.0/{}/kms/{operation}", who.project);
    let body = serde_json::to_vec(body).unwrap();
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("host", "kms.example".to_owned()),
        ("content-type", "application/json".to_owned()),
        ("x-project-id", who.project.to_owned()),
        ("x-sdk-date", SDK_DATE.to_owned()),
    ] {
        headers.insert(name, http::HeaderValue::from_str(&value).unwrap());
    }
    let unsigned = SignedParts {
        method: "POST",
        path: &path,
        query: "",
        headers: &headers,
        body: &body,
    };
    let canonical =
        auth::canonical_request(&unsigned, Algorithm::HmacSha256, SIGNED_HEADERS).unwrap();
    let signature = auth::sign(
        Algorithm::HmacSha256,
        who.sk.as_bytes(),
        SDK_DATE,
        &canonical,
    );
    let authorization = format!(
        "SDK-HMAC-SHA256 Access={}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        who.ak
    );
    headers.insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&authorization).unwrap(),
    );
    let req = SignedParts {
        method: "POST",
        path: &path,
        query: "",
        headers: &headers,
        body: &body,
    };
    let reply = match api.prepare(&req, None) {
        Ok(call) => api.execute(call),
        Err(reply) => *reply,
    };
    let answer = if reply.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&reply.body).unwrap()
    };
    (reply.status, answer)
}

fn ok(api: &HuaweiApi, who: &Principal, operation: &str, body: Value) -> Value {
    let (status, answer) = call(api, who, operation, &body);
    assert_eq!(status, 200, "{operation}: {answer}");
    answer
}

fn refused(api: &HuaweiApi, who: &Principal, operation: &str, body: Value) -> (u16, String) {
    let (status, answer) = call(api, who, operation, &body);
    let code = answer["error"]["error_code"].as_str().unwrap_or_default();
    (status, code.to_owned())
}

/// What a caller is answered for a key it may not use: the key is not there.
fn not_found() -> (u16, String) {
    (404, "KMS.0207".to_owned())
}

fn new_key(api: &HuaweiApi) -> String {
    let created = ok(api, &OWNER, "create-key", json!({ "key_alias": "shared" }));
    created["key_info"]["key_id"].as_str().unwrap().to_owned()
}

#[test]
fn a_grant_lets_another_account_decrypt_until_revoked() {
    let api = api();
    let key_id = new_key(&api);
    let sealed = ok(
        &api,
        &OWNER,
        "encrypt-data",
        json!({ "key_id": key_id, "plain_text": "for the other account" }),
    );
    let blob = sealed["cipher_text"].as_str().unwrap().to_owned();
    let decrypt = json!({ "cipher_text": blob });
    assert_eq!(
        refused(&api, &OTHER, "decrypt-data", decrypt.clone()),
        not_found()
    );

    let made = ok(
        &api,
        &OWNER,
        "create-grant",
        json!({
            "key_id": key_id,
            "grantee_principal": OTHER_DOMAIN.to_string(),
            "grantee_principal_type": "domain",
            "operations": ["decrypt-data"],
        }),
    );
    let grant_id = made["grant_id"].as_str().unwrap().to_owned();

    let opened = ok(&api, &OTHER, "decrypt-data", decrypt.clone());
    assert_eq!(opened["plain_text"], "for the other account");
    assert_eq!(opened["key_id"], key_id.as_str());

    // Everything the grant does not name stays out of reach, as if the key did not exist.
    let named = json!({ "key_id": key_id });
    for operation in [
        "describe-key",
        "disable-key",
        "list-grants",
        "create-datakey",
        "enable-key-rotation",
    ] {
        assert_eq!(
            refused(&api, &OTHER, operation, named.clone()),
            not_found(),
            "{operation}"
        );
    }
    assert_eq!(
        refused(
            &api,
            &OTHER,
            "encrypt-data",
            json!({ "key_id": key_id, "plain_text": "x" }),
        ),
        not_found()
    );
    assert_eq!(
        refused(
            &api,
            &OTHER,
            "revoke-grant",
            json!({ "key_id": key_id, "grant_id": grant_id }),
        ),
        not_found()
    );
    // A third account is not the grantee.
    assert_eq!(
        refused(&api, &THIRD, "decrypt-data", decrypt.clone()),
        not_found()
    );
    // The key's state still rules the grantee's use.
    ok(&api, &OWNER, "disable-key", named.clone());
    assert_eq!(
        refused(&api, &OTHER, "decrypt-data", decrypt.clone()),
        (400, "KMS.0209".to_owned())
    );
    ok(&api, &OWNER, "enable-key", named.clone());

    ok(
        &api,
        &OWNER,
        "revoke-grant",
        json!({ "key_id": key_id, "grant_id": grant_id }),
    );
    assert_eq!(refused(&api, &OTHER, "decrypt-data", decrypt), not_found());
}

#[test]
fn a_retiring_principal_in_another_account_retires_the_grant() {
    let api = api();
    let key_id = new_key(&api);
    let made = ok(
        &api,
        &OWNER,
        "create-grant",
        json!({
            "key_id": key_id,
            "grantee_principal": THIRD_DOMAIN.to_string(),
            "grantee_principal_type": "domain",
            "operations": ["describe-key", "create-grant"],
            "retiring_principal": OTHER_DOMAIN.to_string(),
        }),
    );
    let grant_id = made["grant_id"].as_str().unwrap().to_owned();

    // The grantee describes the key and passes on what it holds, and no more.
    let described = ok(&api, &THIRD, "describe-key", json!({ "key_id": key_id }));
    assert_eq!(described["key_info"]["domain_id"], OWNER_DOMAIN.to_string());
    let passed = json!({
        "key_id": key_id,
        "grantee_principal": OTHER_DOMAIN.to_string(),
        "grantee_principal_type": "domain",
        "operations": ["describe-key"],
    });
    ok(&api, &THIRD, "create-grant", passed.clone());
    let mut wider = passed;
    wider["operations"] = json!(["decrypt-data"]);
    assert_eq!(
        refused(&api, &THIRD, "create-grant", wider),
        (400, "KMS.0308".to_owned())
    );

    let listed = ok(&api, &OTHER, "list-retirable-grants", json!({}));
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["grants"][0]["grant_id"], grant_id.as_str());
    assert_eq!(
        listed["grants"][0]["issuing_principal"],
        OWNER_DOMAIN.to_string()
    );

    let retire = json!({ "key_id": key_id, "grant_id": grant_id });
    assert_eq!(
        refused(&api, &THIRD, "retire-grant", retire.clone()),
        not_found(),
        "the grantee's grant does not name retire-grant"
    );
    ok(&api, &OTHER, "retire-grant", retire);
    assert_eq!(
        refused(&api, &THIRD, "describe-key", json!({ "key_id": key_id })),
        not_found()
    );
    let left = ok(&api, &OWNER, "list-grants", json!({ "key_id": key_id }));
    assert_eq!(left["total"], 1, "the grant the grantee made stays");
    assert_eq!(
        left["grants"][0]["issuing_principal"],
        THIRD_DOMAIN.to_string()
    );
}
