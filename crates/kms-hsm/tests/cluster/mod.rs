//! What the engine's tests over an HSM cluster share: the cluster's id, a caller and the
//! settings of a new key.

use kms_core::engine::NewKey;
use kms_core::{Caller, KeyUsage, Origin};
use kms_crypto::KeySpec;

pub const CLUSTER: &str = "cls-softhsm";

pub fn caller() -> Caller {
    Caller {
        account: 100,
        user: None,
        credential: "test-credential".into(),
        region: "ap-guangzhou".into(),
        authority: None,
    }
}

/// An AES-256 key for encryption, in `hsm_cluster` or in software.
pub fn new_key(alias: &str, hsm_cluster: Option<&str>, origin: Origin) -> NewKey {
    NewKey {
        alias: alias.into(),
        description: String::new(),
        usage: KeyUsage::EncryptDecrypt,
        spec: KeySpec::Aes256,
        origin,
        tags: vec![],
        hsm_cluster: hsm_cluster.map(str::to_owned),
    }
}
