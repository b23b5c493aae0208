//! Policy documents: the first byte picks the language (bit 0: CAM or IAM), the rest is the
//! document. Whatever parses is evaluated for every permission, on a key and account-wide.

use std::sync::OnceLock;

use kms_policy::{
    Context, Decision, KeyRef, Language, Permission, Policy, Request, Resource, evaluate, parse,
};

fn permissions() -> &'static [Permission] {
    static ALL: OnceLock<Vec<Permission>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<Permission> = kms_policy::TENCENT
            .iter()
            .map(|a| a.permission)
            .chain(kms_policy::HUAWEI.iter().map(|o| o.permission))
            .collect();
        all.sort();
        all.dedup();
        all
    })
}

fn fixed(language: Language, text: &str) -> Policy {
    parse(language, text).expect("the harness's own policy parses")
}

/// Parses the document; what parses must parse the same again, and evaluate so that an added
/// deny-everything policy always denies explicitly and an added allow-everything one allows
/// unless the document denies, in either order.
pub fn policy_document(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let language = if flags & 1 == 0 {
        Language::Cam
    } else {
        Language::Iam
    };
    let Ok(policy) = parse(language, text) else {
        return;
    };
    assert!(text.len() <= kms_policy::MAX_DOCUMENT);
    assert_eq!(
        parse(language, text).as_ref(),
        Ok(&policy),
        "parsing is deterministic"
    );
    let deny_all = fixed(
        Language::Iam,
        r#"{"Version":"1.1","Statement":[{"Effect":"Deny","Action":["*"]}]}"#,
    );
    let allow_all = fixed(
        Language::Cam,
        r#"{"version":"2.0","statement":[{"effect":"allow","action":"*","resource":"*"}]}"#,
    );
    for &permission in permissions() {
        for key in [
            Some(KeyRef {
                id: "0d6c7a5e-1f2b-4c3d-8e9f-a0b1c2d3e4f5".into(),
                creator: "100000000001".into(),
            }),
            None,
        ] {
            let request = Request {
                permission,
                resource: Resource {
                    region: "ap-guangzhou".into(),
                    uin: "100000000001".into(),
                    domain_id: "0a1b2c3d4e5f".into(),
                    key,
                },
                context: Context {
                    source_ip: Some("10.1.2.3".into()),
                    region: Some("ap-guangzhou".into()),
                    user_id: Some("u1".into()),
                    user_name: Some("app".into()),
                    account_name: Some("tenant".into()),
                    account_uin: Some("100000000001".into()),
                },
            };
            let alone = evaluate(std::slice::from_ref(&policy), &request);
            assert_eq!(
                evaluate(&[policy.clone(), deny_all.clone()], &request),
                Decision::ExplicitDeny
            );
            let with_allow = evaluate(&[policy.clone(), allow_all.clone()], &request);
            assert_eq!(
                with_allow,
                evaluate(&[allow_all.clone(), policy.clone()], &request)
            );
            let expected = if alone == Decision::ExplicitDeny {
                Decision::ExplicitDeny
            } else {
                Decision::Allow
            };
            assert_eq!(with_allow, expected, "{permission:?}");
        }
    }
}
