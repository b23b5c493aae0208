//! The key store operations through the Huawei dialect, signed, over an engine that serves two
//! HSM clusters, so fuzzed bodies, ids and queries reach create-keystore, list-keystores,
//! show-keystore, enable-, disable- and delete-keystore, and create-key's `keystore_id`, past
//! authentication. The first byte picks the operation; the rest is an id (list-keystores: the
//! query) and a body, split at 0xFF. An empty id names a key store the harness made, and a
//! create-key body without `keystore_id` gets that store's, so the paths behind a found store
//! are reached too.

use std::sync::OnceLock;

use serde_json::Value;

use kms_huawei::HuaweiApi;

use crate::huawei_request::{PROJECT, answer, check, new_api};
use crate::{fields, text};

const CLUSTERS: [&str; 2] = ["cls-fuzz-a", "cls-fuzz-b"];

struct Fixture {
    api: HuaweiApi,
    /// The id of the key store made over the first cluster at start.
    known: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let api = new_api(&CLUSTERS);
        let body = format!(
            r#"{{"keystore_alias":"fuzz-known","hsm_cluster_id":"{}"}}"#,
            CLUSTERS[0]
        );
        let path = format!("/v1.0/{PROJECT}/keystores");
        let reply = answer(&api, ("POST", &path, ""), &[], body.as_bytes(), true);
        let made: Value = serde_json::from_slice(&reply.body).expect("the answer is JSON");
        let known = made["keystore"]["keystore_id"]
            .as_str()
            .expect("the harness's key store is made")
            .to_owned();
        Fixture { api, known }
    })
}

pub fn huawei_key_stores(data: &[u8]) {
    let Some((&op, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let parts = fields(rest, 2);
    let given = text(parts[0]);
    let id = if given.is_empty() { &f.known } else { &given };
    let base = format!("/v1.0/{PROJECT}");
    let mut body = parts[1].to_vec();
    let (method, path, query) = match op % 7 {
        0 => ("POST", format!("{base}/keystores"), ""),
        1 => ("GET", format!("{base}/keystores"), given.as_str()),
        2 => ("GET", format!("{base}/keystores/{id}"), ""),
        3 => ("POST", format!("{base}/keystores/{id}/enable"), ""),
        4 => ("POST", format!("{base}/keystores/{id}/disable"), ""),
        5 => ("DELETE", format!("{base}/keystores/{id}"), ""),
        _ => {
            if let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(&body)
                && !fields.contains_key("keystore_id")
            {
                fields.insert("keystore_id".into(), Value::String(f.known.clone()));
                body = serde_json::to_vec(&fields).expect("a JSON object");
            }
            ("POST", format!("{base}/kms/create-key"), "")
        }
    };
    if !HuaweiApi::claims(method, &path) {
        return;
    }
    check(&answer(&f.api, (method, &path, query), &[], &body, true));
}

/// A valid input for each operation (the corpus's seeds).
pub fn huawei_key_store_seeds() -> Vec<(String, Vec<u8>)> {
    let seed = |op: u8, id: &str, body: &str| {
        [&[op][..], id.as_bytes(), b"\xff", body.as_bytes()].concat()
    };
    let create = format!(
        r#"{{"keystore_alias":"fuzz-seed","hsm_cluster_id":"{}"}}"#,
        CLUSTERS[1]
    );
    vec![
        ("seed-create".into(), seed(0, "", &create)),
        ("seed-list".into(), seed(1, "limit=10&offset=0", "")),
        ("seed-show".into(), seed(2, "", "")),
        ("seed-enable".into(), seed(3, "", "")),
        ("seed-disable".into(), seed(4, "", "")),
        ("seed-delete".into(), seed(5, "", "")),
        (
            "seed-create-key".into(),
            seed(6, "", r#"{"key_alias":"fuzz-key-in-store"}"#),
        ),
        (
            "seed-create-key-default".into(),
            seed(6, "", r#"{"key_alias":"fuzz-key","keystore_id":"0"}"#),
        ),
    ]
}
