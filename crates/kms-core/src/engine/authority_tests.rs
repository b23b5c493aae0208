//! A user's policies are asked about the key the engine resolves, whatever spelling,
//! ciphertext header, alias or batch named it.

use super::test_fixture::{Fixture, fixture};
use super::*;
use crate::context::EncryptionContext;
use kms_policy::{Language, Permission};

/// Every action on every key, except any action on `denied`.
fn all_but(denied: &str) -> Arc<[kms_policy::Policy]> {
    let document = format!(
        r#"{{"version":"2.0","statement":[
            {{"effect":"allow","action":["kms:*"],"resource":["*"]}},
            {{"effect":"deny","action":["kms:*"],"resource":["qcs::kms::uin/100:key/creatorUin/100/{denied}"]}}]}}"#
    );
    Arc::new([kms_policy::parse(Language::Cam, &document).unwrap()])
}

/// The fixture's account as a user under `policies`, for a call needing `permission`.
fn user(f: &Fixture, policies: &Arc<[kms_policy::Policy]>, permission: Permission) -> Caller {
    let context = kms_policy::Context {
        region: Some(f.caller.region.clone()),
        user_id: Some("200000000001".into()),
        account_uin: Some("100".into()),
        ..kms_policy::Context::default()
    };
    Caller {
        user: Some("200000000001".into()),
        authority: Some(Arc::new(Authority::new(
            policies.clone(),
            Some(permission),
            f.caller.account,
            context,
        ))),
        ..f.caller.clone()
    }
}

fn no_context() -> EncryptionContext {
    EncryptionContext::default()
}

#[test]
fn a_deny_holds_for_every_spelling_of_the_key_id() {
    let f = fixture();
    let (k1, k2) = (f.key("k1"), f.key("k2"));
    let policies = all_but(&k1);
    let encrypting = user(&f, &policies, Permission::Encrypt);
    for spelling in [k1.clone(), k1.to_uppercase()] {
        assert_eq!(
            f.engine
                .encrypt(&encrypting, &spelling, b"x", &no_context())
                .unwrap_err(),
            KmsError::Unauthorized
        );
        let disabling = user(&f, &policies, Permission::DisableKey);
        assert_eq!(
            f.engine.disable_key(&disabling, &spelling).unwrap_err(),
            KmsError::Unauthorized
        );
    }
    assert_eq!(f.state(&k1), KeyState::Enabled);
    // The other key works in either spelling, and answers its canonical id.
    let (id, _) = f
        .engine
        .encrypt(&encrypting, &k2.to_uppercase(), b"x", &no_context())
        .unwrap();
    assert_eq!(id.to_string(), k2);
}

#[test]
fn ciphertexts_are_authorized_under_the_key_their_header_names() {
    let f = fixture();
    let (k1, k2) = (f.key("k1"), f.key("k2"));
    let policies = all_but(&k1);
    let (_, blob_k1) = f
        .engine
        .encrypt(&f.caller, &k1, b"secret", &no_context())
        .unwrap();
    let (_, blob_k2) = f
        .engine
        .encrypt(&f.caller, &k2, b"other", &no_context())
        .unwrap();
    let decrypting = user(&f, &policies, Permission::Decrypt);
    assert_eq!(
        f.engine
            .decrypt(&decrypting, &blob_k1, &no_context())
            .unwrap_err(),
        KmsError::Unauthorized
    );
    assert_eq!(
        &*f.engine
            .decrypt(&decrypting, &blob_k2, &no_context())
            .unwrap()
            .1,
        b"other"
    );
    let re_encrypting = user(&f, &policies, Permission::ReEncrypt);
    // The source key (from the header) and the destination key are both asked about.
    for (blob, destination) in [(&blob_k1, &k2), (&blob_k2, &k1)] {
        assert_eq!(
            f.engine
                .re_encrypt(
                    &re_encrypting,
                    blob,
                    &no_context(),
                    Some(destination),
                    &no_context()
                )
                .unwrap_err(),
            KmsError::Unauthorized
        );
    }
}

#[test]
fn a_batch_naming_a_denied_key_changes_nothing() {
    let f = fixture();
    let (k1, k2) = (f.key("k1"), f.key("k2"));
    let disabling = user(&f, &all_but(&k1), Permission::DisableKey);
    assert_eq!(
        f.engine
            .disable_keys(&disabling, &[k2.clone(), k1.to_uppercase()])
            .unwrap_err(),
        KmsError::Unauthorized
    );
    assert_eq!(f.state(&k2), KeyState::Enabled);
    assert_eq!(f.state(&k1), KeyState::Enabled);
}

#[test]
fn moving_an_alias_asks_about_the_key_that_holds_it() {
    let f = fixture();
    let (k1, k2) = (f.key("k1"), f.key("k2"));
    f.engine.create_alias(&f.caller, &k1, "alias/app").unwrap();
    let managing = user(&f, &all_but(&k1), Permission::ManageAliases);
    assert_eq!(
        f.engine
            .associate_alias(&managing, "alias/app", &k2)
            .unwrap_err(),
        KmsError::Unauthorized
    );
    assert_eq!(
        f.engine.delete_alias(&managing, "alias/app").unwrap_err(),
        KmsError::Unauthorized
    );
    let held_by = f.engine.key_by_alias(&f.caller, "alias/app").unwrap();
    assert_eq!(held_by.key_id.to_string(), k1);
}

#[test]
fn a_refusal_does_not_tell_whether_the_key_exists_and_is_noted() {
    let f = fixture();
    let k2 = f.key("k2");
    let only_k2: Arc<[kms_policy::Policy]> = Arc::new([kms_policy::parse(
        Language::Cam,
        &format!(
            r#"{{"version":"2.0","statement":[{{"effect":"allow","action":["kms:*"],
                "resource":["qcs::kms::uin/100:key/creatorUin/100/{k2}"]}}]}}"#
        ),
    )
    .unwrap()]);
    let describing = user(&f, &only_k2, Permission::DescribeKey);
    let absent = Uuid::new_v4().to_string();
    assert_eq!(
        f.engine.describe_key(&describing, &absent).unwrap_err(),
        KmsError::Unauthorized
    );
    assert!(describing.authority.as_ref().unwrap().asked_about_a_key());
    assert_eq!(
        f.engine
            .describe_key(&describing, &k2)
            .unwrap()
            .key_id
            .to_string(),
        k2
    );
    let fresh = user(&f, &only_k2, Permission::DescribeKey);
    assert!(!fresh.authority.as_ref().unwrap().asked_about_a_key());
}
