//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the target bodies, so
//! every input the fuzzer kept, and every crash it once found, runs on each `cargo test`.

use std::path::PathBuf;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        body(&data);
        count += 1;
    }
    assert!(count > 0, "the corpus of {target} is empty");
}

#[test]
fn tencent_request_corpus() {
    replay("tencent_request", kms_fuzz::tencent_request);
}

#[test]
fn signatures_corpus() {
    replay("signatures", kms_fuzz::signatures);
}

#[test]
fn ciphertext_corpus() {
    replay("ciphertext", kms_fuzz::ciphertext);
}

#[test]
fn parameters_corpus() {
    replay("parameters", kms_fuzz::parameters);
}

#[test]
fn encryption_context_corpus() {
    replay("encryption_context", kms_fuzz::encryption_context);
}

#[test]
fn key_material_corpus() {
    replay("key_material", kms_fuzz::key_material);
}

#[test]
fn engine_blobs_corpus() {
    replay("engine_blobs", kms_fuzz::engine_blobs);
}

#[test]
fn huawei_request_corpus() {
    replay("huawei_request", kms_fuzz::huawei_request);
}

#[test]
fn policy_document_corpus() {
    replay("policy_document", kms_fuzz::policy_document);
}

#[test]
fn authorization_corpus() {
    replay("authorization", kms_fuzz::authorization);
}

#[test]
fn client_address_corpus() {
    replay("client_address", kms_fuzz::client_address);
}

#[test]
fn store_url_corpus() {
    replay("store_url", kms_fuzz::store_url);
}

#[test]
fn backup_file_corpus() {
    replay("backup_file", kms_fuzz::backup_file);
}

#[test]
fn unseal_share_corpus() {
    replay("unseal_share", kms_fuzz::unseal_share);
}

#[test]
fn huawei_key_stores_corpus() {
    replay("huawei_key_stores", kms_fuzz::huawei_key_stores);
}

#[test]
fn dev_fixtures_corpus() {
    replay("dev_fixtures", kms_fuzz::dev_fixtures);
}
