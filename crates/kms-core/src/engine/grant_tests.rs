//! Grants: bookkeeping, and the access they give another account's or user's principal.

use super::test_fixture::*;
use super::*;
use crate::grants::{GrantOperation as G, GranteeType};

/// Another account's root, in the fixture's region.
fn other_account() -> Caller {
    Caller {
        account: 200,
        user: None,
        credential: "other".into(),
        region: "ap-guangzhou".into(),
        authority: None,
    }
}

fn grant_to(key_id: &str, grantee: &str, kind: GranteeType, ops: &[G]) -> NewGrant {
    NewGrant {
        key_id: key_id.into(),
        grantee: grantee.into(),
        grantee_type: kind,
        operations: ops.to_vec(),
        name: "app-1".into(),
        retiring_principal: String::new(),
    }
}

fn decrypt_as(f: &Fixture, caller: &Caller, blob: &[u8]) -> Result<Vec<u8>, KmsError> {
    with_grant_operation(G::DecryptData, || {
        f.engine
            .decrypt(caller, blob, &EncryptionContext::default())
    })
    .map(|(_, p)| p.to_vec())
}

fn encrypted(f: &Fixture, key_id: &str) -> Vec<u8> {
    f.engine
        .encrypt(&f.caller, key_id, b"secret", &EncryptionContext::default())
        .unwrap()
        .1
}

#[test]
fn a_domain_grant_lets_another_account_decrypt_until_revoked() {
    let f = fixture();
    let key_id = f.key("shared");
    let blob = encrypted(&f, &key_id);
    let other = other_account();
    assert_eq!(decrypt_as(&f, &other, &blob), Err(KmsError::KeyNotFound));

    let grant = f
        .engine
        .create_grant(
            &f.caller,
            grant_to(&key_id, "200", GranteeType::Domain, &[G::DecryptData]),
        )
        .unwrap();
    assert_eq!(grant.grant_id.len(), 64);
    assert!(grant.grant_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(grant.issuing_principal, "100");
    assert_eq!(decrypt_as(&f, &other, &blob).unwrap(), b"secret");

    // Only the granted operation, and only when the request performs it.
    let described = with_grant_operation(G::DescribeKey, || f.engine.describe_key(&other, &key_id));
    assert_eq!(described.unwrap_err(), KmsError::KeyNotFound);
    let plain = f
        .engine
        .decrypt(&other, &blob, &EncryptionContext::default());
    assert_eq!(plain.unwrap_err(), KmsError::KeyNotFound);
    let encrypt = with_grant_operation(G::DecryptData, || {
        f.engine
            .encrypt(&other, &key_id, b"x", &EncryptionContext::default())
    });
    assert!(
        encrypt.is_ok(),
        "the operation is the request's, named by the dialect"
    );
    let disabled = with_grant_operation(G::DecryptData, || f.engine.disable_key(&other, &key_id));
    assert_eq!(
        disabled,
        Err(KmsError::KeyNotFound),
        "grants never let a caller change the key"
    );

    // Another region of the grantee's is not the key's.
    let mut elsewhere = other.clone();
    elsewhere.region = "ap-beijing".into();
    assert_eq!(
        decrypt_as(&f, &elsewhere, &blob),
        Err(KmsError::KeyNotFound)
    );

    // The key's state still rules.
    f.engine.disable_key(&f.caller, &key_id).unwrap();
    assert!(matches!(
        decrypt_as(&f, &other, &blob),
        Err(KmsError::InvalidKeyState { .. })
    ));
    f.engine.enable_key(&f.caller, &key_id).unwrap();

    f.engine
        .revoke_grant(&f.caller, &key_id, &grant.grant_id)
        .unwrap();
    assert_eq!(decrypt_as(&f, &other, &blob), Err(KmsError::KeyNotFound));
}

#[test]
fn a_user_grant_names_one_user() {
    let f = fixture();
    let key_id = f.key("k");
    let blob = encrypted(&f, &key_id);
    f.engine
        .create_grant(
            &f.caller,
            grant_to(&key_id, "u1", GranteeType::User, &[G::DecryptData]),
        )
        .unwrap();
    let mut user = other_account();
    user.user = Some("u1".into());
    assert_eq!(decrypt_as(&f, &user, &blob).unwrap(), b"secret");
    user.user = Some("u2".into());
    assert_eq!(decrypt_as(&f, &user, &blob), Err(KmsError::KeyNotFound));
    assert_eq!(
        decrypt_as(&f, &other_account(), &blob),
        Err(KmsError::KeyNotFound),
        "a user grant does not admit the user's account root"
    );
}

#[test]
fn only_the_owner_lists_and_revokes() {
    let f = fixture();
    let key_id = f.key("k");
    let mut ids = Vec::new();
    for n in 0..3 {
        f.clock.advance(1);
        let mut new = grant_to(&key_id, "200", GranteeType::Domain, &[G::DescribeKey]);
        new.name = format!("g{n}");
        ids.push(f.engine.create_grant(&f.caller, new).unwrap().grant_id);
    }
    let listed = f.engine.list_grants(&f.caller, &key_id, 1, 1).unwrap();
    assert_eq!(listed.total, 3);
    assert_eq!(listed.page[0].grant_id, ids[1]);
    assert_eq!(listed.page[0].name, "g1");

    let other = other_account();
    assert_eq!(
        f.engine.list_grants(&other, &key_id, 0, 10).unwrap_err(),
        KmsError::KeyNotFound
    );
    assert_eq!(
        f.engine.revoke_grant(&other, &key_id, &ids[0]).unwrap_err(),
        KmsError::KeyNotFound
    );
    assert!(matches!(
        f.engine.revoke_grant(&f.caller, &key_id, &"0".repeat(64)),
        Err(KmsError::InvalidParameter {
            field: "grant_id",
            ..
        })
    ));
}

#[test]
fn retiring_is_for_the_retiring_principal_the_issuer_and_grantees_allowed_to() {
    let f = fixture();
    let key_id = f.key("k");
    let other = other_account();
    let mut stranger = other_account();
    stranger.account = 300;

    let mut new = grant_to(&key_id, "300", GranteeType::Domain, &[G::DecryptData]);
    new.retiring_principal = "200".into();
    let g = f.engine.create_grant(&f.caller, new).unwrap();
    let retirable = f.engine.list_retirable_grants(&other, 0, 10).unwrap();
    assert_eq!(retirable.total, 1);
    assert_eq!(retirable.page[0].grant_id, g.grant_id);
    assert_eq!(
        f.engine.retire_grant(&stranger, &key_id, &g.grant_id),
        Err(KmsError::KeyNotFound),
        "the grantee without retire-grant"
    );
    f.engine.retire_grant(&other, &key_id, &g.grant_id).unwrap();
    assert_eq!(
        f.engine
            .list_grants(&f.caller, &key_id, 0, 10)
            .unwrap()
            .total,
        0
    );

    let g = f
        .engine
        .create_grant(
            &f.caller,
            grant_to(&key_id, "300", GranteeType::Domain, &[G::RetireGrant]),
        )
        .unwrap();
    assert_eq!(
        f.engine.retire_grant(&other, &key_id, &g.grant_id),
        Err(KmsError::KeyNotFound)
    );
    f.engine
        .retire_grant(&stranger, &key_id, &g.grant_id)
        .unwrap();

    let g = f
        .engine
        .create_grant(
            &f.caller,
            grant_to(&key_id, "300", GranteeType::Domain, &[G::DecryptData]),
        )
        .unwrap();
    f.engine
        .retire_grant(&f.caller, &key_id, &g.grant_id)
        .unwrap();
    assert!(matches!(
        f.engine.retire_grant(&f.caller, &key_id, &g.grant_id),
        Err(KmsError::InvalidParameter {
            field: "grant_id",
            ..
        })
    ));
}

#[test]
fn a_grantee_passes_on_only_what_it_holds() {
    let f = fixture();
    let key_id = f.key("k");
    let other = other_account();
    f.engine
        .create_grant(
            &f.caller,
            grant_to(
                &key_id,
                "200",
                GranteeType::Domain,
                &[G::CreateGrant, G::DecryptData],
            ),
        )
        .unwrap();
    let passed = f
        .engine
        .create_grant(
            &other,
            grant_to(&key_id, "300", GranteeType::Domain, &[G::DecryptData]),
        )
        .unwrap();
    assert_eq!(passed.issuing_principal, "200");
    assert_eq!(passed.account, 100, "the grant lives with the key");
    assert!(matches!(
        f.engine.create_grant(
            &other,
            grant_to(&key_id, "300", GranteeType::Domain, &[G::EncryptData]),
        ),
        Err(KmsError::InvalidParameter {
            field: "operations",
            ..
        })
    ));
    let mut stranger = other_account();
    stranger.account = 300;
    assert_eq!(
        f.engine
            .create_grant(
                &stranger,
                grant_to(&key_id, "300", GranteeType::Domain, &[G::DecryptData]),
            )
            .unwrap_err(),
        KmsError::KeyNotFound
    );
}

#[test]
fn grants_are_bounded_and_checked() {
    let f = fixture();
    let key_id = f.key("k");
    let ops = [G::EncryptData, G::EncryptData, G::DescribeKey];
    let g = f
        .engine
        .create_grant(
            &f.caller,
            grant_to(&key_id, "200", GranteeType::Domain, &ops),
        )
        .unwrap();
    assert_eq!(g.operations, vec![G::EncryptData, G::DescribeKey]);
    for _ in 1..GRANTS_PER_KEY {
        f.engine
            .create_grant(
                &f.caller,
                grant_to(&key_id, "200", GranteeType::Domain, &ops),
            )
            .unwrap();
    }
    assert!(matches!(
        f.engine.create_grant(
            &f.caller,
            grant_to(&key_id, "200", GranteeType::Domain, &ops)
        ),
        Err(KmsError::OutOfRange {
            what: Bounded::GrantCount,
            ..
        })
    ));

    let k2 = f.key("k2");
    let refused = |new: NewGrant| f.engine.create_grant(&f.caller, new).unwrap_err();
    for (new, field) in [
        (grant_to(&k2, "200", GranteeType::Domain, &[]), "operations"),
        (
            grant_to(&k2, "200", GranteeType::Domain, &[G::CreateGrant]),
            "operations",
        ),
        (
            grant_to(&k2, "", GranteeType::Domain, &[G::DecryptData]),
            "grantee_principal",
        ),
        (
            grant_to(&k2, "a-b", GranteeType::Domain, &[G::DecryptData]),
            "grantee_principal",
        ),
        (
            grant_to(&k2, &"a".repeat(65), GranteeType::User, &[G::DecryptData]),
            "grantee_principal",
        ),
    ] {
        assert!(
            matches!(refused(new.clone()), KmsError::InvalidParameter { field: f, .. } if f == field),
            "{new:?}"
        );
    }
    let mut bad_name = grant_to(&k2, "200", GranteeType::Domain, &[G::DecryptData]);
    bad_name.name = "a b".into();
    assert!(matches!(
        refused(bad_name),
        KmsError::InvalidParameter { field: "name", .. }
    ));
    let mut bad_retiring = grant_to(&k2, "200", GranteeType::Domain, &[G::DecryptData]);
    bad_retiring.retiring_principal = "x!".into();
    assert!(matches!(
        refused(bad_retiring),
        KmsError::InvalidParameter {
            field: "retiring_principal",
            ..
        }
    ));
    assert_eq!(
        refused(grant_to(
            "nope",
            "200",
            GranteeType::Domain,
            &[G::DecryptData]
        )),
        KmsError::InvalidKeyId
    );
}

#[test]
fn a_key_pending_deletion_takes_no_grant_and_its_purge_takes_its_grants() {
    let f = fixture();
    let key_id = f.key("k");
    let mut new = grant_to(&key_id, "200", GranteeType::Domain, &[G::DecryptData]);
    new.retiring_principal = "200".into();
    f.engine.create_grant(&f.caller, new.clone()).unwrap();
    f.engine.disable_key(&f.caller, &key_id).unwrap();
    f.engine
        .schedule_deletion(&f.caller, &key_id, 7, DeletableFrom::Disabled)
        .unwrap();
    assert!(matches!(
        f.engine.create_grant(&f.caller, new),
        Err(KmsError::InvalidKeyState {
            state: KeyState::PendingDelete,
            op: Operation::CreateGrant
        })
    ));
    f.clock.advance(7 * 86_400);
    f.engine.run_due_work().unwrap();
    let id = parse_key_id(&key_id).unwrap();
    assert_eq!(f.store.key_grants(&id).unwrap(), vec![]);
    let retirable = f.engine.list_retirable_grants(&other_account(), 0, 10);
    assert_eq!(retirable.unwrap().total, 0);
}
