//! What the permission evaluator needs from a Tencent request: the action's CAM name and
//! permission, and the keys it acts on.

use serde_json::{Map, Value};

use kms_policy::{KeyRef, Permission, Resource};

/// The CAM action name of a Tencent action (`kms:Encrypt`), or `kms:unknown` for a name that
/// is not one of the vendor's actions (those are refused before authorization).
pub fn cam_action(action_name: &str) -> &'static str {
    kms_policy::tencent_action(action_name).map_or("kms:unknown", |a| a.cam)
}

/// The permission a Tencent action needs.
pub fn permission(action_name: &str) -> Option<Permission> {
    kms_policy::tencent_action(action_name).map(|a| a.permission)
}

/// The keys a request names: its `KeyId`, or each of its `KeyIds`; none for account-level
/// actions. Decrypt, ReEncrypt (source) and the post-quantum decrypt find their key in the
/// ciphertext, so the caller names that one after reading the blob's header.
pub fn key_ids(params: &Map<String, Value>) -> Vec<&str> {
    if let Some(Value::String(id)) = params.get("KeyId") {
        return vec![id.as_str()];
    }
    match params.get("KeyIds") {
        Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The resource the evaluator checks: a key of the account (created by `creator_uin`), or the
/// account's keys as a whole when `key_id` is `None`.
pub fn resource(region: &str, uin: &str, domain_id: &str, key: Option<(&str, &str)>) -> Resource {
    Resource {
        region: region.to_owned(),
        uin: uin.to_owned(),
        domain_id: domain_id.to_owned(),
        key: key.map(|(id, creator_uin)| KeyRef {
            id: id.to_owned(),
            creator: creator_uin.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{ACTIONS, NOT_YET_SERVED};
    use serde_json::json;

    #[test]
    fn every_action_has_a_cam_name_and_a_permission() {
        let names: Vec<&str> = ACTIONS
            .iter()
            .map(|a| a.name)
            .chain(NOT_YET_SERVED.iter().copied())
            .collect();
        assert_eq!(names.len(), 69);
        for name in names {
            assert_eq!(cam_action(name), format!("kms:{name}"));
            assert!(permission(name).is_some(), "{name}");
        }
        assert_eq!(kms_policy::TENCENT.len(), 69, "no action the dialect lacks");
        assert_eq!(cam_action("Nonsense"), "kms:unknown");
        assert_eq!(permission("Encrypt"), Some(Permission::Encrypt));
        assert_eq!(
            permission("PostQuantumCryptoDecrypt"),
            Some(Permission::Decrypt)
        );
    }

    #[test]
    fn keys_and_resources() {
        let one = json!({"KeyId": "k1", "Plaintext": "x"});
        assert_eq!(key_ids(one.as_object().unwrap()), ["k1"]);
        let many = json!({"KeyIds": ["k1", "k2"]});
        assert_eq!(key_ids(many.as_object().unwrap()), ["k1", "k2"]);
        assert!(key_ids(json!({}).as_object().unwrap()).is_empty());
        let r = resource("ap-guangzhou", "100", "d", Some(("k1", "200")));
        assert_eq!(
            r.cam_name(),
            "qcs::kms:ap-guangzhou:uin/100:key/creatorUin/200/k1"
        );
        let r = resource("ap-guangzhou", "100", "d", None);
        assert_eq!(r.cam_name(), "qcs::kms:ap-guangzhou:uin/100:key/*");
    }
}
