//! The store contract's cases for settings, and for moving everything into another store.

use super::{REGION, account, credential, data_key, key};
use crate::identity::{AccountEntry, Identity};
use crate::model::{Account, KeyState};
use crate::store::{KeyListFilter, Record, Store, StoreError};

pub(super) fn check<S: Store>(new_store: &mut impl FnMut() -> S) {
    settings_are_written_once(&new_store());
    settings_are_replaced_only_from_what_is_stored(&new_store());
    an_account_is_sealed_again_and_nothing_else_changes(&new_store());
    export_and_import_move_everything(&new_store(), &new_store());
    export_is_one_snapshot(&new_store());
}

fn settings_are_written_once(store: &dyn Store) {
    assert_eq!(store.setting("check").unwrap(), None);
    assert_eq!(store.init_setting("check", b"first").unwrap(), b"first");
    assert_eq!(
        store.init_setting("check", b"second").unwrap(),
        b"first",
        "the first writer wins and the second learns what won"
    );
    assert_eq!(
        store.setting("check").unwrap().as_deref(),
        Some(&b"first"[..])
    );
}

fn settings_are_replaced_only_from_what_is_stored(store: &dyn Store) {
    assert_eq!(
        store.replace_setting("ring", Some(b"stale"), b"x"),
        Err(StoreError::Conflict),
        "nothing stored is not a stale value"
    );
    store.replace_setting("ring", None, b"one").unwrap();
    assert_eq!(
        store.replace_setting("ring", None, b"again"),
        Err(StoreError::Conflict),
        "a value is there now"
    );
    assert_eq!(
        store.replace_setting("ring", Some(b"other"), b"two"),
        Err(StoreError::Conflict)
    );
    store.replace_setting("ring", Some(b"one"), b"two").unwrap();
    assert_eq!(store.setting("ring").unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(store.init_setting("ring", b"three").unwrap(), b"two");
}

fn an_account_is_sealed_again_and_nothing_else_changes(store: &dyn Store) {
    let account = Account {
        uin: 7,
        app_id: 70,
        secret_id: "AKIDreseal".into(),
        sealed_secret_key: b"old sealed".to_vec(),
        project_id: "0123456789abcdef0123456789abcdef".into(),
        created_at: 5,
    };
    store.create_account(&account).unwrap();
    assert_eq!(
        store.reseal_account(8, b"new sealed"),
        Err(StoreError::Conflict)
    );
    store.reseal_account(7, b"new sealed").unwrap();
    let [stored] = store.accounts().unwrap().try_into().unwrap();
    assert_eq!(stored.sealed_secret_key, b"new sealed");
    assert_eq!(
        (
            stored.uin,
            stored.app_id,
            stored.secret_id,
            stored.project_id,
            stored.created_at
        ),
        (7, 70, "AKIDreseal".to_owned(), account.project_id, 5)
    );
}

fn every_record(store: &dyn Store) -> Vec<String> {
    let mut out = Vec::new();
    store
        .export(&mut |mut record| {
            // The identity document's revision restarts in the new store: it only guards
            // concurrent replacement there.
            if let Record::Identity(identity) = &mut record {
                identity.revision = 0;
            }
            out.push(serde_json::to_string(&record).unwrap());
            Ok(())
        })
        .unwrap();
    out.sort();
    out
}

fn export_and_import_move_everything(from: &dyn Store, to: &dyn Store) {
    assert!(from.is_empty().unwrap());
    let account = account(7);
    from.create_account(&account).unwrap();
    assert!(!from.is_empty().unwrap());
    let mut identity = Identity::default();
    identity.accounts.insert(7, AccountEntry { enabled: true });
    identity
        .credentials
        .insert("AKID8".into(), credential(7, "AKID8"));
    identity
        .credentials
        .insert("AKID9".into(), credential(7, "AKID9"));
    from.replace_identity(0, &identity).unwrap();
    // A deleted credential's id stays reserved, and moves with the store.
    let mut fewer = from.identity().unwrap();
    fewer.credentials.remove("AKID9");
    from.replace_identity(1, &fewer).unwrap();
    from.init_setting("check", b"value").unwrap();
    let mut k = key(7, "a", 10);
    k.revision = 5;
    k.state = KeyState::PendingDelete;
    k.deletion_date = 99;
    from.create_key(&k, 10).unwrap();
    from.create_key(&key(7, "b", 11), 10).unwrap();
    let mut d = data_key(7, "d", 12);
    d.key_id = k.key_id;
    from.create_data_key(&d, 10).unwrap();
    let mut g = super::grants::grant(k.key_id, 1, "someone");
    g.account = 7;
    from.create_grant(&g, 10).unwrap();

    let mut records = Vec::new();
    from.export(&mut |r| {
        records.push(r);
        Ok(())
    })
    .unwrap();
    assert!(
        matches!(records[0], Record::Account(_)),
        "accounts come first"
    );
    for record in &records {
        to.import(record).unwrap();
    }
    assert_eq!(every_record(from), every_record(to));
    assert_eq!(to.get_key(&k.key_id).unwrap().unwrap().revision, 5);
    assert_eq!(to.due_keys(100, 10).unwrap(), vec![k.key_id]);
    assert_eq!(to.count_keys(7, REGION).unwrap(), 1);
    let listed = to.list_keys(
        7,
        REGION,
        &KeyListFilter {
            limit: 10,
            ..Default::default()
        },
    );
    assert_eq!(listed.unwrap().total, 2);
    assert!(to.key_by_name(7, REGION, "b").unwrap().is_some());
    assert_eq!(to.key_grants(&k.key_id).unwrap().len(), 1);
    assert_eq!(
        to.retirable_grants(REGION, "someone", 0, 10).unwrap().total,
        1
    );
    assert_eq!(to.setting("check").unwrap().as_deref(), Some(&b"value"[..]));
    let mut back = to.identity().unwrap();
    back.credentials
        .insert("AKID9".into(), credential(7, "AKID9"));
    assert_eq!(
        to.replace_identity(back.revision, &back),
        Err(StoreError::AlreadyExists),
        "the deleted credential's id is still reserved"
    );
}

/// Writes made while an export runs are either all in it or none of them (a backup is one
/// consistent state): here they are made once the export has begun, so none may show, however
/// far along the export is when they commit. A store whose export holds a lock that writes wait
/// on lets them commit only after it ends, which is as good.
fn export_is_one_snapshot(store: &dyn Store) {
    let account = account(7);
    store.create_account(&account).unwrap();
    let (a, b) = (key(7, "a", 10), key(7, "b", 11));
    store.create_key(&a, 10).unwrap();
    store.create_key(&b, 10).unwrap();
    let (late_key, late_data_key) = (key(7, "late", 12), data_key(7, "late", 13));
    let late_grant = super::grants::grant(a.key_id, 1, "");
    let mut renamed = [a.clone(), b.clone()];
    for k in &mut renamed {
        k.description = "changed during the export".into();
        k.revision += 1;
    }
    let (start, started) = std::sync::mpsc::channel::<()>();
    let (finish, done) = std::sync::mpsc::channel::<()>();
    let mut exported = Vec::new();
    std::thread::scope(|scope| {
        let (late_key, renamed) = (&late_key, &renamed);
        let writer = scope.spawn(move || {
            started.recv().unwrap();
            store.create_key(late_key, 10).unwrap();
            store.update_keys(renamed, 10).unwrap();
            store.create_data_key(&late_data_key, 10).unwrap();
            store.create_grant(&late_grant, 10).unwrap();
            store.init_setting("late", b"1").unwrap();
            let _ = finish.send(());
        });
        store
            .export(&mut |record| {
                if exported.is_empty() {
                    start.send(()).unwrap();
                    // Long enough for the writes to commit unless the export holds them off.
                    let _ = done.recv_timeout(std::time::Duration::from_secs(2));
                }
                exported.push(serde_json::to_string(&record).unwrap());
                Ok(())
            })
            .unwrap();
        writer.join().unwrap();
    });
    let keys: Vec<&String> = exported
        .iter()
        .filter(|r| r.starts_with("{\"Key\""))
        .collect();
    assert_eq!(
        keys.len(),
        2,
        "the key created during the export is not in it"
    );
    assert!(
        !exported
            .iter()
            .any(|r| r.contains("changed during the export")),
        "no update made during the export is in it"
    );
    assert!(!exported.iter().any(|r| r.starts_with("{\"DataKey\"")));
    assert!(!exported.iter().any(|r| r.starts_with("{\"Grant\"")));
    assert!(!exported.iter().any(|r| r.contains("\"late\"")));
    assert!(
        store.get_key(&late_key.key_id).unwrap().is_some(),
        "the writes landed"
    );
    assert_eq!(
        store.get_key(&b.key_id).unwrap().unwrap().description,
        "changed during the export"
    );
}
