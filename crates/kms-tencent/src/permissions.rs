//! What the permission evaluator needs from a Tencent action: its CAM name and permission,
//! and the two questions the dialect asks itself. The keys a call touches are asked about by
//! the engine, about the id it resolved (`kms_core::engine` `access.rs`), so a key id in
//! another spelling, a ciphertext's header or a batch is authorized as it executes.

use kms_core::accounts::{Authority, Stage};
use kms_policy::Permission;

use crate::errors::{TcError, UNAUTHORIZED_OPERATION};

/// The CAM action name of a Tencent action (`kms:Encrypt`), or `kms:unknown` for a name that
/// is not one of the vendor's actions (those are refused before authorization).
pub fn cam_action(action_name: &str) -> &'static str {
    kms_policy::tencent_action(action_name).map_or("kms:unknown", |a| a.cam)
}

/// The permission a Tencent action needs.
pub fn permission(action_name: &str) -> Option<Permission> {
    kms_policy::tencent_action(action_name).map(|a| a.permission)
}

/// The refusal of `action_name`: `UnauthorizedOperation`, naming the CAM action and never the
/// policy.
pub fn refusal(action_name: &str) -> TcError {
    TcError::new(
        UNAUTHORIZED_OPERATION,
        format!(
            "The user is not authorized to perform {} on this resource.",
            cam_action(action_name)
        ),
    )
}

/// Refuses a call that the caller's policies refuse at `stage`, asked of the account's keys
/// as a whole; the account's root has no authority and is never refused.
pub fn authorize(
    authority: Option<&Authority>,
    stage: Stage,
    action_name: &str,
) -> Result<(), TcError> {
    match authority {
        Some(a) if a.refuses(stage) => Err(refusal(action_name)),
        _ => Ok(()),
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
}
