use std::sync::Arc;

use super::*;
use crate::accounts::Directory;
use crate::testing::{MemorySeal, MemoryStore};

fn setup() -> (MemoryStore, MemorySeal, CreatedAccount) {
    let store = MemoryStore::default();
    let seal = MemorySeal::generate();
    let account = create_account(&store, &seal, 10).unwrap();
    (store, seal, account)
}

#[test]
fn a_new_account_signs_with_its_root_credential() {
    let (store, seal, account) = setup();
    let directory = Directory::load(&store, &seal).unwrap();
    let principal = directory.by_secret_id(&account.secret_id).unwrap();
    assert_eq!(principal.account, account.uin);
    assert_eq!(principal.user, None);
    assert_eq!(principal.secret_key(), account.secret_key.as_bytes());
    assert_eq!(account.secret_id.len(), 36);
    assert_eq!(account.project_id.len(), 32);
}

#[test]
fn an_account_made_before_identity_records_keeps_working_and_is_migrated_once() {
    let store = MemoryStore::default();
    let seal = MemorySeal::generate();
    let directory = crate::testing::directory_with_account(&store, &seal, 7, "AKIDold", "old");
    assert!(directory.by_secret_id("AKIDold").is_some());
    assert!(migrate(&store).unwrap());
    assert!(!migrate(&store).unwrap());
    let identity = store.identity().unwrap();
    assert_eq!(identity.credentials["AKIDold"].account, 7);
    let directory = Directory::load(&store, &seal).unwrap();
    assert_eq!(
        directory.by_secret_id("AKIDold").unwrap().secret_key(),
        b"old"
    );
}

#[test]
fn users_have_unique_names_in_their_account_and_numeric_ids() {
    let (store, seal, a) = setup();
    let b = create_account(&store, &seal, 11).unwrap();
    let (alice, _) = create_user(&store, a.uin, "alice", 12).unwrap();
    assert!(alice.id.len() == 12 && alice.id.bytes().all(|c| c.is_ascii_digit()));
    assert!(matches!(
        create_user(&store, a.uin, "alice", 13),
        Err(IdentityError::Exists(_))
    ));
    create_user(&store, b.uin, "alice", 13).unwrap();
    assert!(matches!(
        create_user(&store, a.uin, "bad name", 13),
        Err(IdentityError::Invalid(_))
    ));
    assert!(matches!(
        create_user(&store, 1, "x", 13),
        Err(IdentityError::NotFound(_))
    ));
}

#[test]
fn credentials_follow_their_user_and_account_at_once() {
    let (store, seal, a) = setup();
    let directory = Directory::load(&store, &seal).unwrap();
    let (user, _) = create_user(&store, a.uin, "app", 12).unwrap();
    let (credential, secret, identity) =
        create_credential(&store, &seal, a.uin, Some(&user.id), 13).unwrap();
    directory.install(&identity, &store, &seal).unwrap();
    let p = directory.by_secret_id(&credential.secret_id).unwrap();
    assert_eq!(p.user.as_deref(), Some(user.id.as_str()));
    assert_eq!(p.secret_key(), secret.as_bytes());

    let sid = credential.secret_id.as_str();
    let check = |identity: Identity, usable: bool| {
        directory.install(&identity, &store, &seal).unwrap();
        assert_eq!(directory.by_secret_id(sid).is_some(), usable);
    };
    check(
        set_credential_enabled(&store, a.uin, sid, false).unwrap(),
        false,
    );
    check(
        set_credential_enabled(&store, a.uin, sid, true).unwrap(),
        true,
    );
    check(
        set_user_enabled(&store, a.uin, &user.id, false).unwrap(),
        false,
    );
    check(
        set_user_enabled(&store, a.uin, &user.id, true).unwrap(),
        true,
    );
    check(set_account_enabled(&store, a.uin, false).unwrap(), false);
    assert!(directory.by_secret_id(&a.secret_id).is_none());
    check(set_account_enabled(&store, a.uin, true).unwrap(), true);

    let (new_secret, identity) = rotate_credential(&store, &seal, a.uin, sid).unwrap();
    check(identity, true);
    assert_eq!(
        directory.by_secret_id(sid).unwrap().secret_key(),
        new_secret.as_bytes()
    );
    assert_ne!(*new_secret, *secret);

    check(delete_user(&store, a.uin, &user.id).unwrap(), false);
    assert!(!store.identity().unwrap().credentials.contains_key(sid));
}

#[test]
fn a_credential_belongs_to_its_account_only() {
    let (store, seal, a) = setup();
    let b = create_account(&store, &seal, 11).unwrap();
    assert!(matches!(
        set_credential_enabled(&store, b.uin, &a.secret_id, false),
        Err(IdentityError::NotFound(_))
    ));
    assert!(matches!(
        delete_credential(&store, b.uin, &a.secret_id),
        Err(IdentityError::NotFound(_))
    ));
    let (user, _) = create_user(&store, a.uin, "u", 12).unwrap();
    assert!(matches!(
        create_credential(&store, &seal, b.uin, Some(&user.id), 13),
        Err(IdentityError::NotFound(_))
    ));
}

#[test]
fn secret_ids_are_never_reused() {
    let (store, seal, a) = setup();
    let (credential, _, _) = create_credential(&store, &seal, a.uin, None, 12).unwrap();
    delete_credential(&store, a.uin, &credential.secret_id).unwrap();
    let mut identity = store.identity().unwrap();
    let revision = identity.revision;
    identity
        .credentials
        .insert(credential.secret_id.clone(), credential.clone());
    assert_eq!(
        store.replace_identity(revision, &identity),
        Err(StoreError::AlreadyExists)
    );
}

#[test]
fn passwords_are_stored_as_salted_slow_hashes() {
    let (store, _, a) = setup();
    let (user, _) = create_user(&store, a.uin, "p", 12).unwrap();
    assert!(matches!(
        set_password(&store, a.uin, &user.id, Some("short")),
        Err(IdentityError::Invalid(_))
    ));
    let identity = set_password(&store, a.uin, &user.id, Some("correct horse")).unwrap();
    let hash = identity.users[&user.id].password_hash.clone().unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse"));
    assert!(verify_password(&hash, "correct horse"));
    assert!(!verify_password(&hash, "correct horsf"));
    let again = set_password(&store, a.uin, &user.id, Some("correct horse")).unwrap();
    assert_ne!(again.users[&user.id].password_hash.as_ref(), Some(&hash));
    assert!(!format!("{:?}", again.users[&user.id]).contains("argon2"));
    let cleared = set_password(&store, a.uin, &user.id, None).unwrap();
    assert!(cleared.users[&user.id].password_hash.is_none());
}

#[test]
fn policies_are_json_objects_attached_to_users_of_their_account() {
    let (store, seal, a) = setup();
    let b = create_account(&store, &seal, 11).unwrap();
    let (user, _) = create_user(&store, a.uin, "u", 12).unwrap();
    let doc = r#"{"version":"2.0","statement":[{"effect":"allow","action":["kms:Encrypt"],"resource":["*"]}]}"#;
    create_policy(&store, a.uin, "p1", PolicyLanguage::Cam, doc, 13).unwrap();
    assert!(matches!(
        create_policy(&store, a.uin, "p1", PolicyLanguage::Cam, doc, 13),
        Err(IdentityError::Exists(_))
    ));
    for bad in [
        "[]",
        "not json",
        r#"{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["kms:cmk:encrypt"],"Principal":"x"}]}"#,
        r#"{"Version":"1.1","Statement":[{"Effect":"Maybe","Action":["kms:cmk:encrypt"]}]}"#,
        &format!("{{\"a\":\"{}\"}}", "x".repeat(6200)),
    ] {
        assert!(matches!(
            create_policy(&store, a.uin, "p2", PolicyLanguage::Iam, bad, 13),
            Err(IdentityError::Invalid(_))
        ));
    }
    set_attached(&store, a.uin, &user.id, "p1", true).unwrap();
    assert!(matches!(
        set_attached(&store, a.uin, &user.id, "p1", true),
        Err(IdentityError::Exists(_))
    ));
    let identity = store.identity().unwrap();
    let attached = identity.user_policies(a.uin, &user.id);
    assert_eq!(attached.len(), 1);
    assert_eq!(attached[0].document, doc);
    assert!(identity.user_policies(b.uin, &user.id).is_empty());
    assert!(matches!(
        delete_policy(&store, a.uin, "p1"),
        Err(IdentityError::Invalid(_))
    ));
    // Each of the user's credentials carries the attached documents to the evaluator.
    let (credential, _, identity) =
        create_credential(&store, &seal, a.uin, Some(&user.id), 14).unwrap();
    let directory = Directory::load(&store, &seal).unwrap();
    let principal = directory.by_secret_id(&credential.secret_id).unwrap();
    assert_eq!(principal.policies.len(), 1);
    assert_eq!(principal.policies[0].language, kms_policy::Language::Cam);
    assert!(
        directory
            .by_secret_id(&a.secret_id)
            .unwrap()
            .policies
            .is_empty()
    );
    assert_eq!(identity.user_policies(a.uin, &user.id).len(), 1);
    let detached = set_attached(&store, a.uin, &user.id, "p1", false).unwrap();
    directory.install(&detached, &store, &seal).unwrap();
    let principal = directory.by_secret_id(&credential.secret_id).unwrap();
    assert!(principal.policies.is_empty());
    delete_policy(&store, a.uin, "p1").unwrap();
    assert!(matches!(
        set_attached(&store, b.uin, &user.id, "p1", true),
        Err(IdentityError::NotFound(_))
    ));
}

#[test]
fn concurrent_changes_all_land() {
    let (store, _, a) = setup();
    let store = Arc::new(store);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || create_user(store.as_ref(), a.uin, &format!("u{i}"), 1))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(store.identity().unwrap().users.len(), 8);
}

#[test]
fn a_stale_revision_is_a_conflict() {
    let (store, _, _) = setup();
    let identity = store.identity().unwrap();
    store
        .replace_identity(identity.revision, &identity)
        .unwrap();
    assert_eq!(
        store.replace_identity(identity.revision, &identity),
        Err(StoreError::Conflict)
    );
}

#[test]
fn readers_see_whole_directories_while_changes_install() {
    let (store, seal, a) = setup();
    let store = Arc::new(store);
    let seal = Arc::new(seal);
    let directory = Arc::new(Directory::load(store.as_ref(), &*seal).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (directory, stop, root) = (directory.clone(), stop.clone(), a.secret_id.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    assert!(directory.by_secret_id(&root).is_some());
                }
            })
        })
        .collect();
    let mut made = Vec::new();
    for i in 0..20 {
        let (c, _, identity) = create_credential(store.as_ref(), &*seal, a.uin, None, i).unwrap();
        directory
            .install(&identity, store.as_ref(), &*seal)
            .unwrap();
        assert!(directory.by_secret_id(&c.secret_id).is_some());
        made.push(c.secret_id);
    }
    for id in &made {
        let identity = delete_credential(store.as_ref(), a.uin, id).unwrap();
        directory
            .install(&identity, store.as_ref(), &*seal)
            .unwrap();
        assert!(directory.by_secret_id(id).is_none());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
}

#[test]
fn the_first_operator_token_stays_when_nodes_start_together() {
    let store = crate::testing::MemoryStore::default();
    assert!(init_operator_token(&store, "first").unwrap());
    assert!(!init_operator_token(&store, "second").unwrap());
    let kept = store.identity().unwrap().operator_token_sha256;
    assert_eq!(kept, Some(hex_sha256(b"first")));
    set_operator_token(&store, "rotated").unwrap();
    assert_eq!(
        store.identity().unwrap().operator_token_sha256,
        Some(hex_sha256(b"rotated")),
        "an operator's rotation replaces it"
    );
}
