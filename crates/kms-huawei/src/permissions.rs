//! What the permission evaluator needs from a Huawei request: the operation's IAM action and
//! permission, and the key it acts on.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use kms_core::accounts::Principal;
use kms_policy::Permission;

use crate::errors::{HwError, NO_PERMISSION};
use crate::routes::{PathParams, RouteSpec};

/// The IAM action a route needs, as the vendor names it today (`kms:cmk:encryptData`); every
/// route of the table has one.
pub fn iam_action(route: &RouteSpec) -> &'static str {
    kms_policy::huawei_operation(route.name)
        .and_then(|o| o.actions.first().copied())
        .unwrap_or("kms:unknown:unknown")
}

/// The permission a route needs.
pub fn permission(route: &RouteSpec) -> Option<Permission> {
    kms_policy::huawei_operation(route.name).map(|o| o.permission)
}

/// The key a request acts on: the path's `{key_id}`, else the body's `key_id`; none for
/// account-level operations. decrypt-data has no `key_id`: its key is the one its ciphertext
/// names, which the caller reads before authorizing.
pub fn key_id<'a>(path: &PathParams<'a>, body: &'a Value) -> Option<&'a str> {
    path.key_id
        .or_else(|| body.get("key_id").and_then(Value::as_str))
}

/// Every key a request acts on: [`key_id`], re-encrypt's `destination_key_id`, and the key a
/// `cipher_text` names in its header (base64, or hex for data keys).
fn key_ids(path: &PathParams<'_>, body: &Value) -> Vec<String> {
    let named = [
        key_id(path, body),
        body.get("destination_key_id").and_then(Value::as_str),
    ];
    let from_blob = body
        .get("cipher_text")
        .and_then(Value::as_str)
        .and_then(|text| {
            let text = text.trim();
            B64.decode(text).ok().or_else(|| hex::decode(text).ok())
        })
        .and_then(|blob| kms_core::ciphertext::decode(&blob).map(|(h, _)| h.key_id.to_string()));
    named
        .into_iter()
        .flatten()
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .chain(from_blob)
        .collect()
}

/// Whether `principal` may run `route` on the keys the request names in `region`: the
/// account's root always may; a user when its policies allow it for every key (or, for an
/// account-level operation, for the account's keys as a whole). Refusals answer 403
/// `KMS.0306`, naming the IAM action and never the policy.
pub fn authorize(
    principal: &Principal,
    route: &RouteSpec,
    path: &PathParams<'_>,
    body: &Value,
    region: &str,
) -> Result<(), HwError> {
    // The root is never evaluated: nothing of the request is read for it.
    if principal.user.is_none() || principal.may(permission(route), region, &key_ids(path, body)) {
        Ok(())
    } else {
        Err(HwError::new(
            403,
            NO_PERMISSION,
            format!(
                "The user has no permission to perform {} on this resource.",
                iam_action(route)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;
    use serde_json::json;

    #[test]
    fn every_route_has_an_iam_action_and_a_permission() {
        assert_eq!(
            ROUTES.len(),
            kms_policy::HUAWEI.len(),
            "no operation the table lacks"
        );
        for r in ROUTES {
            let action = iam_action(r);
            assert!(
                action.starts_with("kms:") && action != "kms:unknown:unknown",
                "{}",
                r.name
            );
            assert!(permission(r).is_some(), "{}", r.name);
        }
        let find = |name: &str| ROUTES.iter().find(|r| r.name == name).unwrap();
        assert_eq!(iam_action(find("CreateKey")), "kms:cmk:create");
        assert_eq!(iam_action(find("ListKeyDetail")), "kms:cmk:get");
        assert_eq!(iam_action(find("ListKeys")), "kms:cmk:list");
        assert_eq!(iam_action(find("EncryptData")), "kms:cmk:encryptData");
        assert_eq!(permission(find("EncryptData")), Some(Permission::Encrypt));
    }

    #[test]
    fn the_key_from_path_or_body() {
        let body = json!({"key_id": "k1"});
        let none = PathParams {
            key_id: None,
            key: None,
            id: None,
        };
        assert_eq!(key_id(&none, &body), Some("k1"));
        let path = PathParams {
            key_id: Some("k2"),
            key: None,
            id: None,
        };
        assert_eq!(key_id(&path, &body), Some("k2"));
        assert_eq!(key_id(&none, &json!({})), None);
    }
}
