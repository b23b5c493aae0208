//! What the permission evaluator needs from a Tencent request: the action's CAM name and
//! permission, and the keys it acts on.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use kms_core::accounts::Principal;
use kms_policy::{KeyRef, Permission, Resource};

use crate::errors::{TcError, UNAUTHORIZED_OPERATION};
use crate::params::Params;

/// The CAM action name of a Tencent action (`kms:Encrypt`), or `kms:unknown` for a name that
/// is not one of the vendor's actions (those are refused before authorization).
pub fn cam_action(action_name: &str) -> &'static str {
    kms_policy::tencent_action(action_name).map_or("kms:unknown", |a| a.cam)
}

/// The permission a Tencent action needs.
pub fn permission(action_name: &str) -> Option<Permission> {
    kms_policy::tencent_action(action_name).map(|a| a.permission)
}

/// The keys a request acts on: its `KeyId`, each of its `KeyIds`, ReEncrypt's
/// `DestinationKeyId`, and the key a `CiphertextBlob` names in its header (Decrypt and
/// ReEncrypt find their key there). None for account-level actions.
pub fn key_ids(params: &Params) -> Vec<String> {
    let mut ids: Vec<String> = ["KeyId", "DestinationKeyId"]
        .iter()
        .filter_map(|name| params.str(name))
        .chain(params.str_list("KeyIds"))
        .map(str::to_owned)
        .collect();
    if let Some(header) = params
        .str("CiphertextBlob")
        .and_then(|b| B64.decode(b.trim()).ok())
        .and_then(|blob| kms_core::ciphertext::decode(&blob).map(|(h, _)| h))
    {
        ids.push(header.key_id.to_string());
    }
    ids
}

/// Whether `principal` may run `action_name` on what `params` name in `region`: the account's
/// root always may; a user when its policies allow it for every key the request names (or,
/// for an account-level action, for the account's keys as a whole). Refusals answer
/// `UnauthorizedOperation`, naming the CAM action and never the policy.
pub fn authorize(
    principal: &Principal,
    action_name: &str,
    params: &Params,
    region: &str,
) -> Result<(), TcError> {
    // The root is never evaluated: nothing of the request is read for it.
    if principal.user.is_none() || principal.may(permission(action_name), region, &key_ids(params))
    {
        Ok(())
    } else {
        Err(TcError::new(
            UNAUTHORIZED_OPERATION,
            format!(
                "The user is not authorized to perform {} on this resource.",
                cam_action(action_name)
            ),
        ))
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
        let r = resource("ap-guangzhou", "100", "d", Some(("k1", "200")));
        assert_eq!(
            r.cam_name(),
            "qcs::kms:ap-guangzhou:uin/100:key/creatorUin/200/k1"
        );
        let r = resource("ap-guangzhou", "100", "d", None);
        assert_eq!(r.cam_name(), "qcs::kms:ap-guangzhou:uin/100:key/*");
    }
}
