use std::ops::Deref;

use super::test_fixture::*;
use super::*;

/// The engine fixture with one CMK to host data keys under.
struct DataKeyFixture {
    base: Fixture,
    cmk: String,
}

impl Deref for DataKeyFixture {
    type Target = Fixture;
    fn deref(&self) -> &Fixture {
        &self.base
    }
}

fn with_cmk(base: Fixture) -> DataKeyFixture {
    let cmk = base.key("cmk");
    DataKeyFixture { base, cmk }
}

fn named(name: &str) -> NewDataKey {
    NewDataKey {
        name: name.into(),
        description: String::new(),
        tags: vec![],
        expected_hsm_cluster: None,
    }
}

fn no_ctx() -> EncryptionContext {
    EncryptionContext::default()
}

impl DataKeyFixture {
    fn hosted(&self, name: &str) -> (DataKey, String) {
        let (dk, id) = self
            .engine
            .generate_hosted_data_key(&self.caller, &self.cmk, 32, &no_ctx(), named(name))
            .unwrap();
        (dk, id.to_string())
    }
}

#[test]
fn hosted_data_keys_return_their_plaintext_and_blob() {
    let f = with_cmk(fixture());
    let ctx = EncryptionContext::new([("a".to_string(), "b".to_string())].into());
    let (dk, id) = f
        .engine
        .generate_hosted_data_key(&f.caller, &f.cmk, 16, &ctx, named("dk1"))
        .unwrap();
    assert_eq!(
        f.engine
            .data_key_plaintext(&f.caller, &id.to_string())
            .unwrap(),
        dk.plaintext
    );
    assert_eq!(
        f.engine
            .data_key_ciphertext(&f.caller, &id.to_string())
            .unwrap(),
        dk.blob
    );
    let meta = f
        .engine
        .describe_data_key(&f.caller, &id.to_string())
        .unwrap();
    assert_eq!(
        (meta.length, meta.origin, meta.state),
        (16, Origin::Kms, DataKeyState::Enabled)
    );
}

#[test]
fn names_are_unique_and_the_limit_holds() {
    let f = with_cmk(fixture_with(EngineConfig {
        max_data_keys_per_region: 2,
        ..Default::default()
    }));
    f.hosted("a");
    let err = f
        .engine
        .generate_hosted_data_key(&f.caller, &f.cmk, 32, &no_ctx(), named("a"))
        .unwrap_err();
    assert_eq!(err, KmsError::DataKeyNameExists);
    let (_, b) = f.hosted("b");
    let err = f
        .engine
        .generate_hosted_data_key(&f.caller, &f.cmk, 32, &no_ctx(), named("c"))
        .unwrap_err();
    assert_eq!(err, KmsError::DataKeyLimitExceeded);
    assert_eq!(
        f.engine.rename_data_key(&f.caller, &b, "a".into()),
        Err(KmsError::DataKeyNameExists)
    );
    f.engine
        .rename_data_key(&f.caller, &b, "b2".into())
        .unwrap();
}

#[test]
fn imports_by_ciphertext_and_by_plaintext() {
    let f = with_cmk(fixture());
    let generated = f
        .engine
        .generate_data_key(&f.caller, &f.cmk, 24, &no_ctx())
        .unwrap();
    let other_cmk = f.key("other");
    let err = f
        .engine
        .import_data_key(
            &f.caller,
            DataKeyImport::Ciphertext(&generated.blob),
            Some(&other_cmk),
            named("x"),
        )
        .unwrap_err();
    assert_eq!(err, KmsError::KeyIdMismatch);
    let imported = f
        .engine
        .import_data_key(
            &f.caller,
            DataKeyImport::Ciphertext(&generated.blob),
            Some(&f.cmk),
            named("x"),
        )
        .unwrap();
    assert_eq!((imported.length, imported.origin), (24, Origin::Kms));
    assert_eq!(
        f.engine
            .data_key_plaintext(&f.caller, &imported.data_key_id.to_string())
            .unwrap(),
        generated.plaintext
    );
    assert_eq!(
        f.engine
            .import_data_key(
                &f.caller,
                DataKeyImport::Ciphertext(b"junk"),
                None,
                named("y")
            )
            .unwrap_err(),
        KmsError::InvalidCiphertext
    );

    // The seed page's example: ImportType 2 with "MTIzNAo=" ("1234\n").
    let plain = f
        .engine
        .import_data_key(
            &f.caller,
            DataKeyImport::Plaintext {
                key_id: &f.cmk,
                plaintext: b"1234\n",
            },
            None,
            named("seed"),
        )
        .unwrap();
    assert_eq!((plain.length, plain.origin), (5, Origin::External));
    assert_eq!(
        &f.engine
            .data_key_plaintext(&f.caller, &plain.data_key_id.to_string())
            .unwrap()[..],
        b"1234\n"
    );
}

#[test]
fn usability_follows_the_data_key_and_its_cmk() {
    let f = with_cmk(fixture());
    let (_, id) = f.hosted("dk");
    f.engine.disable_data_key(&f.caller, &id).unwrap();
    assert!(matches!(
        f.engine.data_key_plaintext(&f.caller, &id),
        Err(KmsError::InvalidDataKeyState {
            state: DataKeyState::Disabled,
            ..
        })
    ));
    f.engine
        .enable_data_keys(&f.caller, std::slice::from_ref(&id))
        .unwrap();
    f.engine.disable_key(&f.caller, &f.cmk).unwrap();
    assert!(matches!(
        f.engine.data_key_plaintext(&f.caller, &id),
        Err(KmsError::InvalidKeyState {
            state: KeyState::Disabled,
            op: Operation::Decrypt
        })
    ));
    f.engine.enable_key(&f.caller, &f.cmk).unwrap();
    assert!(f.engine.data_key_plaintext(&f.caller, &id).is_ok());
}

#[test]
fn deletion_is_scheduled_cancellable_and_purged_on_time() {
    let f = with_cmk(fixture());
    let (_, id) = f.hosted("dk");
    let date = f
        .engine
        .schedule_data_key_deletion(&f.caller, &id, 7)
        .unwrap();
    assert_eq!(date, T0 + 7 * 86_400);
    assert!(matches!(
        f.engine.data_key_plaintext(&f.caller, &id),
        Err(KmsError::InvalidDataKeyState {
            state: DataKeyState::PendingDelete,
            ..
        })
    ));
    assert!(matches!(
        f.engine.enable_data_key(&f.caller, &id),
        Err(KmsError::InvalidDataKeyState {
            state: DataKeyState::PendingDelete,
            op: Operation::Enable
        })
    ));
    f.engine.cancel_data_key_deletion(&f.caller, &id).unwrap();
    assert_eq!(
        f.engine.describe_data_key(&f.caller, &id).unwrap().state,
        DataKeyState::Disabled
    );
    assert!(matches!(
        f.engine.cancel_data_key_deletion(&f.caller, &id),
        Err(KmsError::InvalidDataKeyState {
            op: Operation::CancelDeletion,
            ..
        })
    ));
    f.engine
        .schedule_data_key_deletion(&f.caller, &id, 7)
        .unwrap();
    f.clock.set(date);
    assert_eq!(
        f.engine.describe_data_key(&f.caller, &id).unwrap_err(),
        KmsError::DataKeyNotFound
    );
    f.hosted("dk");
}

#[test]
fn listing_filters_and_pages() {
    let f = with_cmk(fixture());
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(f.hosted(&format!("dk{i}")).1);
        f.clock.advance(1);
    }
    f.engine.disable_data_keys(&f.caller, &ids[..2]).unwrap();
    let page = |filter: DataKeyListFilter| f.engine.list_data_keys(&f.caller, &filter).unwrap();
    let (total, newest) = page(DataKeyListFilter {
        limit: 1,
        ..Default::default()
    });
    assert_eq!(
        (total, newest[0].data_key_id.to_string()),
        (4, ids[3].clone())
    );
    let (total, _) = page(DataKeyListFilter {
        limit: 10,
        states: Some(vec![DataKeyState::Disabled]),
        ..Default::default()
    });
    assert_eq!(total, 2);
    let (_, found) = page(DataKeyListFilter {
        limit: 10,
        search: Some("dk2".into()),
        ..Default::default()
    });
    assert_eq!(found[0].data_key_id.to_string(), ids[2]);
    let (total, _) = page(DataKeyListFilter {
        limit: 10,
        length: Some(16),
        ..Default::default()
    });
    assert_eq!(total, 0);
    assert_eq!(
        f.engine
            .describe_data_keys(&f.caller, &[ids[0].clone(), ids[0].clone()])
            .unwrap_err(),
        KmsError::DuplicatedDataKeyId
    );
    assert_eq!(
        f.engine.describe_data_key(&f.caller, "bad").unwrap_err(),
        KmsError::InvalidDataKeyId
    );
}
