use std::collections::BTreeSet;

use super::*;

const UIN: &str = "100000000001";
const DOMAIN: &str = "0a1b2c3d4e5f";
const KEY: &str = "8a1d1b9e-5f0c-4d2e-9b7a-3c6d2e1f0a9b";
const OTHER: &str = "11111111-2222-3333-4444-555555555555";

fn request(permission: Permission, key: Option<&str>) -> Request {
    Request {
        permission,
        resource: Resource {
            region: "ap-guangzhou".into(),
            uin: UIN.into(),
            domain_id: DOMAIN.into(),
            key: key.map(|id| KeyRef {
                id: id.into(),
                creator: UIN.into(),
            }),
        },
        context: Context {
            source_ip: Some("10.1.2.3".into()),
            region: Some("ap-guangzhou".into()),
            user_name: Some("app".into()),
            account_uin: Some(UIN.into()),
            ..Context::default()
        },
    }
}

fn cam(text: &str) -> Policy {
    cam::parse(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn iam(text: &str) -> Policy {
    iam::parse(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn decide(policies: &[Policy], p: Permission, key: Option<&str>) -> Decision {
    evaluate(policies, &request(p, key))
}

#[test]
fn cam_documents_from_the_vendor_form() {
    let p = cam(&format!(
        r#"{{"version":"2.0","statement":[{{"effect":"allow","action":["kms:Encrypt"],
        "resource":["qcs::kms:ap-guangzhou:uin/{UIN}:key/creatorUin/{UIN}/{KEY}"]}}]}}"#
    ));
    assert_eq!(
        decide(std::slice::from_ref(&p), Permission::Encrypt, Some(KEY)),
        Decision::Allow
    );
    assert_eq!(
        decide(std::slice::from_ref(&p), Permission::Encrypt, Some(OTHER)),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&[p], Permission::Decrypt, Some(KEY)),
        Decision::ImplicitDeny
    );
    // One statement as an object, a string action, every region, the caller's own account.
    let p = cam(
        r#"{"version":"2.0","statement":{"effect":"allow","action":"kms:Describe*","resource":"qcs::kms:::key/*"}}"#,
    );
    assert!(decide(std::slice::from_ref(&p), Permission::DescribeKey, Some(KEY)).allowed());
    let mut foreign = request(Permission::DescribeKey, Some(KEY));
    foreign.resource.uin = "200000000002".into();
    assert!(
        !evaluate(std::slice::from_ref(&p), &foreign).allowed(),
        "an empty account segment is the caller's own account"
    );
    assert!(!decide(&[p], Permission::ListKeys, None).allowed());
    let p = cam(
        r#"{"version":"2.0","statement":[{"effect":"allow","action":"name/kms:*","resource":"*"}]}"#,
    );
    assert!(decide(&[p], Permission::CreateKey, None).allowed());
}

#[test]
fn account_level_actions_need_all_keys() {
    let one = cam(&format!(
        r#"{{"version":"2.0","statement":[{{"effect":"allow","action":"kms:*",
        "resource":"qcs::kms:ap-guangzhou:uin/{UIN}:key/creatorUin/{UIN}/{KEY}"}}]}}"#
    ));
    assert!(!decide(&[one], Permission::CreateKey, None).allowed());
    let all = cam(&format!(
        r#"{{"version":"2.0","statement":[{{"effect":"allow","action":"kms:CreateKey",
        "resource":"qcs::kms:ap-guangzhou:uin/{UIN}:key/*"}}]}}"#
    ));
    assert!(decide(std::slice::from_ref(&all), Permission::CreateKey, None).allowed());
    let mut elsewhere = request(Permission::CreateKey, None);
    elsewhere.resource.uin = "200000000002".into();
    assert!(!evaluate(&[all], &elsewhere).allowed());
}

#[test]
fn iam_documents_from_the_vendor_form() {
    let p = iam(&format!(
        r#"{{"Version":"1.1","Statement":[{{"Effect":"Allow","Action":["kms:cmk:encryptData"],
        "Resource":["KMS:*:*:KeyId:{KEY}"]}}]}}"#
    ));
    assert!(decide(std::slice::from_ref(&p), Permission::Encrypt, Some(KEY)).allowed());
    assert!(!decide(std::slice::from_ref(&p), Permission::Encrypt, Some(OTHER)).allowed());
    assert!(!decide(&[p], Permission::Decrypt, Some(KEY)).allowed());
    // No Resource: every resource. Older names and wildcards over the type and operation.
    let p = iam(
        r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:cmk:crypto","kms:*:get*"]}]}"#,
    );
    for perm in [
        Permission::Encrypt,
        Permission::Decrypt,
        Permission::DescribeKey,
        Permission::GetKeyRotationStatus,
    ] {
        assert!(
            decide(std::slice::from_ref(&p), perm, Some(KEY)).allowed(),
            "{perm:?}"
        );
    }
    assert!(!decide(&[p], Permission::CreateKey, None).allowed());
    let p = iam(r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:cmk:*"]}]}"#);
    assert!(decide(std::slice::from_ref(&p), Permission::CreateKey, None).allowed());
    assert!(!decide(&[p], Permission::CreateGrant, Some(KEY)).allowed());
    // Operations are case-insensitive at Huawei.
    let p = iam(
        r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:CMK:ENCRYPTDATA"]}]}"#,
    );
    assert!(decide(&[p], Permission::Encrypt, Some(KEY)).allowed());
}

#[test]
fn deny_beats_allow_and_nothing_is_implicit_deny() {
    let allow = cam(
        r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:*","resource":"*"}]}"#,
    );
    let deny = iam(&format!(
        r#"{{"Version":"1.1","Statement":[{{"Effect":"Deny","Action":["kms:cmk:decryptData"],"Resource":["KMS:*:*:KeyId:{KEY}"]}}]}}"#
    ));
    let both = [allow.clone(), deny.clone()];
    assert_eq!(
        decide(&both, Permission::Decrypt, Some(KEY)),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&both, Permission::Decrypt, Some(OTHER)),
        Decision::Allow
    );
    assert_eq!(
        decide(&[deny.clone(), allow], Permission::Decrypt, Some(KEY)),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&[], Permission::Encrypt, Some(KEY)),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&[deny], Permission::Encrypt, Some(KEY)),
        Decision::ImplicitDeny
    );
    // Within one statement list too.
    let p = cam(
        r#"{"version":"2.0","statement":[{"effect":"allow","action":"*","resource":"*"},{"effect":"deny","action":"kms:Schedule*","resource":"*"}]}"#,
    );
    assert_eq!(
        decide(&[p], Permission::ScheduleKeyDeletion, Some(KEY)),
        Decision::ExplicitDeny
    );
}

#[test]
fn everything_patterns_cover_the_other_vendors_permissions() {
    let cam_all =
        cam(r#"{"version":"2.0","statement":[{"effect":"deny","action":"kms:*","resource":"*"}]}"#);
    let iam_all = iam(r#"{"Version":"1.1","Statement":[{"Effect":"Deny","Action":["kms:*:*"]}]}"#);
    let iam_cmk =
        iam(r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:cmk:*"]}]}"#);
    for p in [
        Permission::CreateGrant,
        Permission::ArchiveKey,
        Permission::WhiteBox,
    ] {
        assert_eq!(
            decide(std::slice::from_ref(&cam_all), p, Some(KEY)),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(std::slice::from_ref(&iam_all), p, Some(KEY)),
            Decision::ExplicitDeny
        );
    }
    assert!(!decide(&[iam_cmk], Permission::ArchiveKey, Some(KEY)).allowed());
}

#[test]
fn the_root_is_not_evaluated() {
    let r = request(Permission::ScheduleKeyDeletion, Some(KEY));
    assert_eq!(authorize(Principal::Root, &[], &r), Decision::Allow);
    assert_eq!(authorize(Principal::User, &[], &r), Decision::ImplicitDeny);
}

#[test]
fn conditions() {
    let p = cam(
        r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:Encrypt","resource":"*",
        "condition":{"ip_equal":{"qcs:ip":["10.0.0.0/8","192.168.1.1"]},"string_equal":{"qcs:requested_region":"ap-guangzhou"}}}]}"#,
    );
    let mut r = request(Permission::Encrypt, Some(KEY));
    assert!(evaluate(std::slice::from_ref(&p), &r).allowed());
    r.context.source_ip = Some("11.0.0.1".into());
    assert!(!evaluate(std::slice::from_ref(&p), &r).allowed());
    r.context.source_ip = None;
    assert!(
        !evaluate(&[p], &r).allowed(),
        "an unknown address satisfies no allow"
    );
    let deny = iam(
        r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["*"]},
        {"Effect":"Deny","Action":["*"],"Condition":{"NotIpAddress":{"g:SourceIp":["10.0.0.0/8"]}}}]}"#,
    );
    let mut r = request(Permission::Encrypt, Some(KEY));
    assert!(evaluate(std::slice::from_ref(&deny), &r).allowed());
    r.context.source_ip = None;
    assert_eq!(
        evaluate(std::slice::from_ref(&deny), &r),
        Decision::ExplicitDeny,
        "an unknown address is not inside"
    );
    r.context.source_ip = Some("2001:db8::1".into());
    assert_eq!(evaluate(&[deny], &r), Decision::ExplicitDeny);
    let like = iam(
        r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["*"],"Condition":{"StringEqualsIgnoreCase":{"g:UserName":["APP"]},"StringLike":{"g:ProjectName":["ap-*"]}}}]}"#,
    );
    assert!(decide(&[like], Permission::Encrypt, Some(KEY)).allowed());
    let v6 = cam(
        r#"{"version":"2.0","statement":[{"effect":"allow","action":"*","resource":"*","condition":{"ip_equal":{"qcs:ip":"2001:db8::/32"}}}]}"#,
    );
    let mut r = request(Permission::Encrypt, Some(KEY));
    r.context.source_ip = Some("2001:db8:1::5".into());
    assert!(evaluate(std::slice::from_ref(&v6), &r).allowed());
    r.context.source_ip = Some("2001:db9::5".into());
    assert!(!evaluate(&[v6], &r).allowed());
}

#[test]
fn malformed_documents_are_refused_with_a_reason() {
    let cases_cam = [
        ("", "not valid JSON"),
        ("[]", "JSON object"),
        (r#"{"statement":[]}"#, "no \"version\""),
        (r#"{"version":"1.0","statement":[]}"#, "\"2.0\""),
        (r#"{"version":"2.0"}"#, "no \"statement\""),
        (r#"{"version":"2.0","statement":[]}"#, "empty list"),
        (
            r#"{"version":"2.0","statement":[{"action":"kms:*","resource":"*"}]}"#,
            "no \"effect\"",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"maybe","action":"kms:*","resource":"*"}]}"#,
            "\"allow\" or \"deny\"",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","resource":"*"}]}"#,
            "no \"action\"",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:*"}]}"#,
            "no \"resource\"",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","action":"Encrypt","resource":"*"}]}"#,
            "kms:<Action>",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","action":[1],"resource":"*"}]}"#,
            "only strings",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:*","resource":"qcs::kms:gz:uin/1"}]}"#,
            "six segments",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:*","resource":"qcs:1:kms:gz:uin/1:key/*"}]}"#,
            "project",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:*","resource":"*","principal":{"qcs":["*"]}}]}"#,
            "\"principal\"",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:*","resource":"*","condition":{"date_greater_than":{"qcs:current_time":"x"}}}]}"#,
            "date_greater_than",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:*","resource":"*","condition":{"string_equal":{"qcs:resource_tag":"a&b"}}}]}"#,
            "qcs:resource_tag",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","action":"kms:*","resource":"*","condition":{"ip_equal":{"qcs:ip":"10.0.0.0/33"}}}]}"#,
            "CIDR",
        ),
        (
            r#"{"version":"2.0","statement":[{"effect":"allow","action":"permid/1","resource":"*"}]}"#,
            "feature set",
        ),
    ];
    for (text, expected) in cases_cam {
        let e = cam::parse(text).expect_err(text);
        assert!(e.to_string().contains(expected), "{text}: {e}");
    }
    let cases_iam = [
        (r#"{"Version":"1.0","Statement":[]}"#, "\"1.1\""),
        (r#"{"Version":"5.0","Statement":[]}"#, "5.0"),
        (r#"{"version":"1.1","Statement":[]}"#, "\"version\""),
        (
            r#"{"Version":"1.1","Statement":[{"Effect":"allow","Action":["kms:cmk:get"]}]}"#,
            "\"Allow\" or \"Deny\"",
        ),
        (
            r#"{"Version":"1.1","Statement":[{"Effect":"Allow"}]}"#,
            "no \"Action\"",
        ),
        (
            r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:encrypt"]}]}"#,
            "<service>:<resource type>:<operation>",
        ),
        (
            r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["KMS:cmk:get"]}]}"#,
            "lower case",
        ),
        (
            r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:cmk:get"],"Resource":["KMS:*:*:KeyId"]}]}"#,
            "five segments",
        ),
        (
            r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:cmk:get"],"Resource":["KMS::*:KeyId:x"]}]}"#,
            "empty segment",
        ),
        (
            r#"{"Version":"1.1","Statement":[{"Effect":"Allow","NotAction":["kms:cmk:get"]}]}"#,
            "NotAction",
        ),
        (
            r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:cmk:get"],"Condition":{"NumberEquals":{"g:UserId":["1"]}}}]}"#,
            "NumberEquals",
        ),
        (
            r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:cmk:get"],"Condition":{"StringEquals":{"kms:KeySpec":["AES_256"]}}}]}"#,
            "kms:KeySpec",
        ),
    ];
    for (text, expected) in cases_iam {
        let e = iam::parse(text).expect_err(text);
        assert!(e.to_string().contains(expected), "{text}: {e}");
    }
    let huge = format!(
        r#"{{"Version":"1.1","Statement":[{{"Effect":"Allow","Action":["{}"]}}]}}"#,
        "a".repeat(MAX_DOCUMENT)
    );
    assert!(
        iam::parse(&huge)
            .unwrap_err()
            .to_string()
            .contains("longer")
    );
}

#[test]
fn every_action_and_operation_has_a_name_and_a_permission() {
    assert_eq!(TENCENT.len(), 69);
    let names: BTreeSet<_> = TENCENT.iter().map(|a| a.name).collect();
    assert_eq!(names.len(), TENCENT.len(), "no Tencent action twice");
    assert_eq!(HUAWEI.len(), 73);
    let names: BTreeSet<_> = HUAWEI.iter().map(|o| o.name).collect();
    assert_eq!(names.len(), HUAWEI.len(), "no Huawei operation twice");
    for o in HUAWEI {
        assert!(!o.actions.is_empty(), "{}", o.name);
        for a in o.actions {
            assert_eq!(a.split(':').count(), 3, "{a}");
            assert!(a.starts_with("kms:"), "{a}");
        }
    }
    for d in HUAWEI_DERIVED {
        assert!(huawei_operation(d).is_some(), "{d}");
    }
    // Each action is allowed by its own name.
    for a in TENCENT {
        assert_eq!(a.cam, format!("kms:{}", a.name));
        let p = cam(&format!(
            r#"{{"version":"2.0","statement":[{{"effect":"allow","action":"{}","resource":"*"}}]}}"#,
            a.cam
        ));
        assert!(
            decide(&[p], a.permission, Some(KEY)).allowed(),
            "{}",
            a.name
        );
    }
    for o in HUAWEI {
        for a in o.actions {
            let p = iam(&format!(
                r#"{{"Version":"1.1","Statement":[{{"Effect":"Allow","Action":["{a}"]}}]}}"#
            ));
            assert!(decide(&[p], o.permission, Some(KEY)).allowed(), "{a}");
        }
    }
}

#[test]
fn a_cam_and_an_iam_policy_giving_the_same_access_decide_the_same() {
    let cam_policy = cam(&format!(
        r#"{{"version":"2.0","statement":[
        {{"effect":"allow","action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey","kms:DescribeKey"],
          "resource":"qcs::kms:*:uin/{UIN}:key/creatorUin/*/{KEY}"}},
        {{"effect":"allow","action":"kms:ListKeys","resource":"qcs::kms:*:uin/{UIN}:key/*"}},
        {{"effect":"deny","action":"kms:Decrypt","resource":"*","condition":{{"ip_not_equal":{{"qcs:ip":"10.0.0.0/8"}}}}}}]}}"#
    ));
    let iam_policy = iam(&format!(
        r#"{{"Version":"1.1","Statement":[
        {{"Effect":"Allow","Action":["kms:cmk:encryptData","kms:cmk:encryptDataKey","kms:cmk:decryptData","kms:cmk:decryptDataKey",
          "kms:cmk:createDataKey","kms:cmk:get"],"Resource":["KMS:*:{DOMAIN}:KeyId:{KEY}"]}},
        {{"Effect":"Allow","Action":["kms:cmk:list"],"Resource":["KMS:*:{DOMAIN}:KeyId:*"]}},
        {{"Effect":"Deny","Action":["kms:cmk:decrypt*"],"Condition":{{"NotIpAddress":{{"g:SourceIp":["10.0.0.0/8"]}}}}}}]}}"#
    ));
    let permissions: BTreeSet<Permission> = TENCENT
        .iter()
        .map(|a| a.permission)
        .chain(HUAWEI.iter().map(|o| o.permission))
        .collect();
    for permission in [
        Permission::Encrypt,
        Permission::Decrypt,
        Permission::GenerateDataKey,
        Permission::DescribeKey,
        Permission::ListKeys,
        Permission::CreateKey,
    ] {
        assert!(permissions.contains(&permission));
    }
    for permission in permissions {
        for key in [Some(KEY), Some(OTHER), None] {
            for ip in ["10.9.9.9", "172.16.0.1"] {
                let mut r = request(permission, key);
                r.context.source_ip = Some(ip.into());
                assert_eq!(
                    evaluate(std::slice::from_ref(&cam_policy), &r),
                    evaluate(std::slice::from_ref(&iam_policy), &r),
                    "{permission:?} {key:?} {ip}"
                );
            }
        }
    }
    let mut r = request(Permission::Decrypt, Some(KEY));
    assert!(evaluate(std::slice::from_ref(&cam_policy), &r).allowed());
    r.context.source_ip = Some("172.16.0.1".into());
    assert_eq!(evaluate(&[iam_policy], &r), Decision::ExplicitDeny);
}

#[test]
fn resource_names() {
    let r = request(Permission::Encrypt, Some(KEY)).resource;
    assert_eq!(
        r.cam_name(),
        format!("qcs::kms:ap-guangzhou:uin/{UIN}:key/creatorUin/{UIN}/{KEY}")
    );
    assert_eq!(
        r.iam_name(),
        format!("KMS:ap-guangzhou:{DOMAIN}:KeyId:{KEY}")
    );
    let r = request(Permission::CreateKey, None).resource;
    assert_eq!(
        r.cam_name(),
        format!("qcs::kms:ap-guangzhou:uin/{UIN}:key/*")
    );
    assert_eq!(r.iam_name(), format!("KMS:ap-guangzhou:{DOMAIN}:KeyId:*"));
}

#[test]
fn hostile_patterns_in_documents_stay_cheap() {
    let pattern = format!("{}b", "*a".repeat(150));
    let text = format!(
        r#"{{"version":"2.0","statement":[{{"effect":"allow","action":"kms:{pattern}","resource":"qcs::kms:{pattern}:{pattern}:{pattern}"}}]}}"#
    );
    let p = cam(&text);
    let start = std::time::Instant::now();
    let mut r = request(Permission::Encrypt, Some(&"a".repeat(1000)));
    r.resource.region = "a".repeat(1000);
    assert!(!evaluate(&[p], &r).allowed());
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
}
