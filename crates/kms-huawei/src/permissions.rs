//! What the permission evaluator needs from a Huawei operation: its IAM action and permission,
//! and the two questions the dialect asks itself. The keys a call touches are asked about by
//! the engine, about the id it resolved (`kms_core::engine` `access.rs`): a percent-encoded
//! or upper-case path id, a ciphertext's header in either encoding, re-encrypt's source and
//! destination, an alias, a grant.

use kms_core::accounts::{Authority, Stage};
use kms_policy::Permission;

use crate::errors::{HwError, NO_PERMISSION};
use crate::routes::RouteSpec;

/// The IAM action an operation needs, as the vendor names it today (`kms:cmk:encryptData`);
/// every route of the table has one.
pub fn iam_action(name: &str) -> &'static str {
    kms_policy::huawei_operation(name)
        .and_then(|o| o.actions.first().copied())
        .unwrap_or("kms:unknown:unknown")
}

/// The permission a route needs.
pub fn permission(route: &RouteSpec) -> Option<Permission> {
    kms_policy::huawei_operation(route.name).map(|o| o.permission)
}

/// The refusal of the operation `name`: 403 `KMS.0306`, naming the IAM action and never the
/// policy.
pub fn refusal(name: &str) -> HwError {
    HwError::new(
        403,
        NO_PERMISSION,
        format!(
            "The user has no permission to perform {} on this resource.",
            iam_action(name)
        ),
    )
}

/// Refuses a call that the caller's policies refuse at `stage`, asked of the account's keys
/// as a whole; the account's root has no authority and is never refused.
pub fn authorize(authority: Option<&Authority>, stage: Stage, name: &str) -> Result<(), HwError> {
    match authority {
        Some(a) if a.refuses(stage) => Err(refusal(name)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn every_route_has_an_iam_action_and_a_permission() {
        assert_eq!(
            ROUTES.len(),
            kms_policy::HUAWEI.len(),
            "no operation the table lacks"
        );
        for r in ROUTES {
            let action = iam_action(r.name);
            assert!(
                action.starts_with("kms:") && action != "kms:unknown:unknown",
                "{}",
                r.name
            );
            assert!(permission(r).is_some(), "{}", r.name);
        }
        let find = |name: &str| ROUTES.iter().find(|r| r.name == name).unwrap();
        assert_eq!(iam_action(find("CreateKey").name), "kms:cmk:create");
        assert_eq!(iam_action(find("ListKeyDetail").name), "kms:cmk:get");
        assert_eq!(iam_action(find("ListKeys").name), "kms:cmk:list");
        assert_eq!(iam_action(find("EncryptData").name), "kms:cmk:encryptData");
        assert_eq!(permission(find("EncryptData")), Some(Permission::Encrypt));
    }
}
