use super::test_fixture::*;
use super::*;

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn encrypt_decrypt_round_trip_with_context() {
    let f = fixture();
    let id = f.key("a");
    let c = ctx(&[("app", "x")]);
    let (kid, blob) = f.engine.encrypt(&f.caller, &id, b"hello", &c).unwrap();
    assert_eq!(kid.to_string(), id);
    let (kid2, pt) = f.engine.decrypt(&f.caller, &blob, &c).unwrap();
    assert_eq!(kid2, kid);
    assert_eq!(&pt[..], b"hello");
    assert_eq!(
        f.engine.decrypt(&f.caller, &blob, &ctx(&[])),
        Err(KmsError::InvalidCiphertext).map(|_: (Uuid, Zeroizing<Vec<u8>>)| unreachable!())
    );
}

#[test]
fn blob_is_bound_to_account_and_region() {
    let f = fixture();
    let id = f.key("a");
    let (_, blob) = f.engine.encrypt(&f.caller, &id, b"x", &ctx(&[])).unwrap();
    for other in [
        Caller {
            account: 101,
            user: None,
            credential: "test-credential".into(),
            region: f.caller.region.clone(),
            authority: None,
        },
        Caller {
            account: 100,
            user: None,
            credential: "test-credential".into(),
            region: "ap-beijing".into(),
            authority: None,
        },
    ] {
        assert!(matches!(
            f.engine.decrypt(&other, &blob, &ctx(&[])),
            Err(KmsError::KeyNotFound)
        ));
    }
}

#[test]
fn tampered_blob_is_refused() {
    let f = fixture();
    let id = f.key("a");
    let (_, blob) = f.engine.encrypt(&f.caller, &id, b"x", &ctx(&[])).unwrap();
    let mut bad = blob.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(matches!(
        f.engine.decrypt(&f.caller, &bad, &ctx(&[])),
        Err(KmsError::InvalidCiphertext)
    ));
    assert!(matches!(
        f.engine.decrypt(&f.caller, b"garbage", &ctx(&[])),
        Err(KmsError::InvalidCiphertext)
    ));
}

#[test]
fn aliases_are_unique_per_account_and_region() {
    let f = fixture();
    f.key("dup");
    assert!(matches!(
        f.engine.create_key(&f.caller, new_key("dup")),
        Err(KmsError::AliasExists)
    ));
    let other = Caller {
        account: 100,
        user: None,
        credential: "test-credential".into(),
        region: "ap-shanghai".into(),
        authority: None,
    };
    f.engine.create_key(&other, new_key("dup")).unwrap();
    let id = f.key("second");
    assert_eq!(
        f.engine.update_alias(&f.caller, &id, "dup".into()),
        Err(KmsError::AliasExists)
    );
    f.engine
        .update_alias(&f.caller, &id, "renamed".into())
        .unwrap();
    f.key("second");
}

#[test]
fn key_limit_is_enforced() {
    let f = fixture_with(EngineConfig {
        max_keys_per_region: 2,
        ..Default::default()
    });
    f.key("a");
    f.key("b");
    assert!(matches!(
        f.engine.create_key(&f.caller, new_key("c")),
        Err(KmsError::KeyLimitExceeded)
    ));
}

#[test]
fn states_gate_operations() {
    let f = fixture();
    let id = f.key("a");
    let (_, blob) = f.engine.encrypt(&f.caller, &id, b"x", &ctx(&[])).unwrap();
    f.engine.disable_key(&f.caller, &id).unwrap();
    assert_eq!(f.state(&id), KeyState::Disabled);
    assert!(matches!(
        f.engine.encrypt(&f.caller, &id, b"x", &ctx(&[])),
        Err(KmsError::InvalidKeyState {
            state: KeyState::Disabled,
            op: Operation::Encrypt
        })
    ));
    assert!(matches!(
        f.engine.decrypt(&f.caller, &blob, &ctx(&[])),
        Err(KmsError::InvalidKeyState {
            state: KeyState::Disabled,
            op: Operation::Decrypt
        })
    ));
    f.engine.enable_key(&f.caller, &id).unwrap();
    f.engine.archive_key(&f.caller, &id).unwrap();
    assert!(
        f.engine.decrypt(&f.caller, &blob, &ctx(&[])).is_ok(),
        "archived keys decrypt"
    );
    assert!(f.engine.encrypt(&f.caller, &id, b"x", &ctx(&[])).is_err());
    assert!(matches!(
        f.engine.disable_key(&f.caller, &id),
        Err(KmsError::InvalidKeyState {
            state: KeyState::Archived,
            ..
        })
    ));
    f.engine.cancel_archive(&f.caller, &id).unwrap();
    assert_eq!(f.state(&id), KeyState::Enabled);
    assert!(matches!(
        f.engine.cancel_archive(&f.caller, &id),
        Err(KmsError::InvalidKeyState {
            op: Operation::CancelArchive,
            ..
        })
    ));
}

#[test]
fn deletion_needs_disabled_and_purges_on_time() {
    let f = fixture();
    let id = f.key("a");
    assert!(matches!(
        f.engine
            .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled),
        Err(KmsError::InvalidKeyState {
            state: KeyState::Enabled,
            op: Operation::ScheduleDeletion
        })
    ));
    f.engine.disable_key(&f.caller, &id).unwrap();
    let date = f
        .engine
        .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled)
        .unwrap();
    assert_eq!(date, T0 + 7 * 86_400);
    assert_eq!(f.state(&id), KeyState::PendingDelete);
    assert!(
        f.engine
            .update_description(&f.caller, &id, "d".into())
            .is_err()
    );
    f.engine.cancel_deletion(&f.caller, &id).unwrap();
    assert_eq!(f.state(&id), KeyState::Disabled);
    assert!(matches!(
        f.engine.cancel_deletion(&f.caller, &id),
        Err(KmsError::InvalidKeyState {
            op: Operation::CancelDeletion,
            ..
        })
    ));
    f.engine
        .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled)
        .unwrap();
    f.clock.set(date - 1);
    assert_eq!(f.state(&id), KeyState::PendingDelete);
    f.clock.set(date);
    assert_eq!(
        f.engine.describe_key(&f.caller, &id).unwrap_err(),
        KmsError::KeyNotFound
    );
    f.key("a");
}

#[test]
fn background_work_purges_due_keys() {
    let f = fixture();
    let id = f.key("a");
    f.engine.disable_key(&f.caller, &id).unwrap();
    f.engine
        .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled)
        .unwrap();
    assert_eq!(f.engine.run_due_work().unwrap(), 0);
    f.clock.advance(7 * 86_400);
    assert_eq!(f.engine.run_due_work().unwrap(), 1);
    assert_eq!(f.engine.count_keys(&f.caller).unwrap(), 0);
}

#[test]
fn rotation_keeps_old_versions_decrypting() {
    let f = fixture();
    let id = f.key("a");
    let (_, old) = f.engine.encrypt(&f.caller, &id, b"v1", &ctx(&[])).unwrap();
    assert_eq!(f.engine.rotate_key(&f.caller, &id).unwrap(), 2);
    let (_, new) = f.engine.encrypt(&f.caller, &id, b"v2", &ctx(&[])).unwrap();
    assert_eq!(ciphertext::decode(&new).unwrap().0.key_version, 2);
    assert_eq!(
        &f.engine.decrypt(&f.caller, &old, &ctx(&[])).unwrap().1[..],
        b"v1"
    );
    assert_eq!(
        &f.engine.decrypt(&f.caller, &new, &ctx(&[])).unwrap().1[..],
        b"v2"
    );

    let r = f
        .engine
        .re_encrypt(&f.caller, &old, &ctx(&[]), None, &ctx(&[]))
        .unwrap();
    assert!(r.re_encrypted);
    assert_eq!(ciphertext::decode(&r.blob).unwrap().0.key_version, 2);
    let same = f
        .engine
        .re_encrypt(&f.caller, &new, &ctx(&[]), None, &ctx(&[]))
        .unwrap();
    assert!(!same.re_encrypted);
    assert_eq!(same.blob, new);
}

#[test]
fn automatic_rotation_happens_at_next_rotate_time() {
    let f = fixture();
    let id = f.key("a");
    f.engine.enable_rotation(&f.caller, &id, 30).unwrap();
    let k = f.engine.describe_key(&f.caller, &id).unwrap();
    assert_eq!(k.rotation.next_rotate_time, T0 + 30 * 86_400);
    f.clock.set(T0 + 30 * 86_400 - 1);
    assert_eq!(f.versions(&id), 1);
    f.clock.set(T0 + 30 * 86_400);
    let k = f.engine.describe_key(&f.caller, &id).unwrap();
    assert_eq!(k.versions.len(), 2);
    assert_eq!(k.last_rotate_time, T0 + 30 * 86_400);
    assert_eq!(k.rotation.next_rotate_time, T0 + 60 * 86_400);
    // Two missed periods catch up to two rotations, on the schedule.
    f.clock.set(T0 + 91 * 86_400);
    assert_eq!(f.versions(&id), 4);
    f.engine.disable_rotation(&f.caller, &id).unwrap();
    assert!(
        !f.engine
            .describe_key(&f.caller, &id)
            .unwrap()
            .rotation
            .enabled
    );
}

#[test]
fn external_keys_wait_for_material_and_cannot_rotate() {
    let f = fixture();
    let mut nk = new_key("ext");
    nk.origin = Origin::External;
    let k = f.engine.create_key(&f.caller, nk).unwrap();
    let id = k.key_id.to_string();
    assert_eq!(k.state, KeyState::PendingImport);
    assert_eq!(
        f.engine.rotate_key(&f.caller, &id),
        Err(KmsError::ExternalKeyCannotRotate)
    );
    assert_eq!(
        f.engine.enable_rotation(&f.caller, &id, 30),
        Err(KmsError::ExternalKeyCannotRotate)
    );
    f.engine
        .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled)
        .unwrap();
    f.engine.cancel_deletion(&f.caller, &id).unwrap();
    assert_eq!(f.state(&id), KeyState::PendingImport);
}

#[test]
fn batch_state_changes_are_all_or_nothing() {
    let f = fixture();
    let a = f.key("a");
    let b = f.key("b");
    f.engine.archive_key(&f.caller, &b).unwrap();
    assert!(
        f.engine
            .disable_keys(&f.caller, &[a.clone(), b.clone()])
            .is_err()
    );
    assert_eq!(f.state(&a), KeyState::Enabled);
    assert_eq!(
        f.engine.disable_keys(&f.caller, &[a.clone(), a.clone()]),
        Err(KmsError::DuplicatedKeyId)
    );
    f.engine.cancel_archive(&f.caller, &b).unwrap();
    f.engine
        .disable_keys(&f.caller, &[a.clone(), b.clone()])
        .unwrap();
    assert_eq!(f.state(&b), KeyState::Disabled);
    f.engine
        .enable_keys(&f.caller, &[a.clone(), b.clone()])
        .unwrap();
    assert_eq!(f.state(&a), KeyState::Enabled);
}

#[test]
fn listing_filters_sorts_and_pages() {
    let f = fixture();
    let mut ids = vec![];
    for i in 0..5 {
        let mut nk = new_key(&format!("k{i}"));
        nk.tags = vec![Tag {
            key: "env".into(),
            value: if i % 2 == 0 { "dev" } else { "prod" }.into(),
        }];
        ids.push(f.engine.create_key(&f.caller, nk).unwrap().key_id);
        f.clock.advance(1);
    }
    f.engine
        .disable_key(&f.caller, &ids[1].to_string())
        .unwrap();
    let all = KeyListFilter {
        limit: 10,
        ..Default::default()
    };
    let (total, page) = f.engine.list_keys(&f.caller, &all).unwrap();
    assert_eq!(total, 5);
    assert_eq!(page[0].key_id, ids[4], "newest first by default");
    let oldest = KeyListFilter {
        limit: 2,
        offset: 1,
        order: SortOrder::OldestFirst,
        ..Default::default()
    };
    let (_, page) = f.engine.list_keys(&f.caller, &oldest).unwrap();
    assert_eq!(
        page.iter().map(|k| k.key_id).collect::<Vec<_>>(),
        vec![ids[1], ids[2]]
    );
    let disabled = KeyListFilter {
        limit: 10,
        states: Some(vec![KeyState::Disabled]),
        ..Default::default()
    };
    assert_eq!(f.engine.list_keys(&f.caller, &disabled).unwrap().0, 1);
    let tagged = KeyListFilter {
        limit: 10,
        tags: vec![("env".into(), vec!["prod".into()])],
        ..Default::default()
    };
    assert_eq!(f.engine.list_keys(&f.caller, &tagged).unwrap().0, 2);
    let search = KeyListFilter {
        limit: 10,
        search: Some("k3".into()),
        ..Default::default()
    };
    assert_eq!(
        f.engine.list_keys(&f.caller, &search).unwrap().1[0].key_id,
        ids[3]
    );
}

#[test]
fn malformed_ids_and_duplicate_tags_are_refused() {
    let f = fixture();
    assert_eq!(
        f.engine.describe_key(&f.caller, "nope").unwrap_err(),
        KmsError::InvalidKeyId
    );
    assert_eq!(
        f.engine
            .describe_key(&f.caller, &Uuid::new_v4().to_string())
            .unwrap_err(),
        KmsError::KeyNotFound
    );
    let mut nk = new_key("t");
    nk.tags = vec![
        Tag {
            key: "a".into(),
            value: "1".into(),
        },
        Tag {
            key: "a".into(),
            value: "2".into(),
        },
    ];
    assert!(matches!(
        f.engine.create_key(&f.caller, nk),
        Err(KmsError::DuplicatedTagKey)
    ));
}

#[test]
fn data_keys_decrypt_to_the_returned_plaintext() {
    let f = fixture();
    let id = f.key("a");
    let dk = f
        .engine
        .generate_data_key(&f.caller, &id, 32, &ctx(&[]))
        .unwrap();
    assert_eq!(dk.plaintext.len(), 32);
    assert_eq!(
        f.engine.decrypt(&f.caller, &dk.blob, &ctx(&[])).unwrap().1,
        dk.plaintext
    );
}

#[test]
fn a_read_that_must_persist_a_due_transition_is_handed_back_when_blocking_is_refused() {
    use super::nonblocking::without_blocking;
    let f = fixture();
    let id = f.key("due");
    let ctx = EncryptionContext::default();
    f.engine.enable_rotation(&f.caller, &id, 30).unwrap();
    // Nothing due: served without blocking.
    let served = without_blocking(|| f.engine.encrypt(&f.caller, &id, b"x", &ctx));
    assert!(served.is_some_and(|r| r.is_ok()));
    // A rotation is due: persisting it would commit on the calling thread, so the read is
    // refused there and changes nothing...
    f.clock.set(T0 + 30 * 86_400);
    assert!(without_blocking(|| f.engine.encrypt(&f.caller, &id, b"x", &ctx)).is_none());
    let stored = f
        .store
        .get_key(&parse_key_id(&id).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.versions.len(), 1);
    // ...and where blocking is fine it rotates and serves.
    f.engine.encrypt(&f.caller, &id, b"x", &ctx).unwrap();
    assert_eq!(f.versions(&id), 2);
}

#[test]
fn a_day_of_purges_scrubs_once() {
    let f = fixture();
    f.settle_scrub();
    let before = f.store.scrubs();
    for i in 0..50 {
        let id = f.key(&format!("doomed{i}"));
        f.engine.disable_key(&f.caller, &id).unwrap();
        f.engine
            .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled)
            .unwrap();
    }
    f.clock.set(T0 + 7 * 86_400);
    assert_eq!(f.engine.run_due_work().unwrap(), 50);
    assert_eq!(f.store.scrubs(), before, "the sweep does not scrub per key");
    assert!(f.engine.run_owed_scrub().unwrap());
    assert_eq!(f.store.scrubs(), before + 1);
}

/// Blobs written by the engine before it knew more than one key type (AES-256-GCM, blob format
/// 1, algorithm 1), with the key record as that engine stored it, still decrypt.
#[test]
fn blobs_written_before_every_key_type_still_decrypt() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/fixtures/legacy-aes-blobs.json")).unwrap();
    let root = b64.decode(fixture["root_key"].as_str().unwrap()).unwrap();
    let record: KeyRecord = serde_json::from_str(&fixture["key_record"].to_string()).unwrap();
    assert_eq!((record.spec, record.versions.len()), (KeySpec::Aes256, 2));
    let store = Arc::new(crate::testing::MemoryStore::default());
    store.create_key(&record, 10).unwrap();
    let engine = Engine::new(
        store,
        Arc::new(crate::testing::MemorySeal::from_root_key(&root)),
        Arc::new(crate::clock::ManualClock::new(record.created_at + 60)),
        EngineConfig::default(),
    );
    let caller = Caller {
        account: record.account,
        user: None,
        credential: "test-credential".into(),
        region: record.region.clone(),
        authority: None,
    };
    for case in fixture["blobs"].as_array().unwrap() {
        let blob = b64.decode(case["blob"].as_str().unwrap()).unwrap();
        let context = match case["context"].as_str().unwrap() {
            "" => EncryptionContext::default(),
            json => EncryptionContext::from_json(json).unwrap(),
        };
        let (key_id, plaintext) = engine.decrypt(&caller, &blob, &context).unwrap();
        assert_eq!(key_id, record.key_id);
        assert_eq!(
            *plaintext,
            b64.decode(case["plaintext"].as_str().unwrap()).unwrap()
        );
        assert!(matches!(
            engine.decrypt(
                &caller,
                &blob,
                &EncryptionContext::new([("x".into(), "y".into())].into())
            ),
            Err(KmsError::InvalidCiphertext)
        ));
    }
}

#[test]
fn a_fixed_key_opens_in_another_engine_what_one_engine_sealed() {
    let material = [0x5au8; 32];
    let key_id = Uuid::parse_str("5f0a3c1e-7b2d-4e8f-9a61-0c3b5d7e9f21").unwrap();
    let new = NewKey {
        alias: "fixed".into(),
        description: String::new(),
        usage: KeyUsage::EncryptDecrypt,
        spec: KeySpec::Aes256,
        origin: Origin::Kms,
        tags: vec![],
        hsm_cluster: None,
    };
    // Two engines: two stores, two root keys, as two runs of dev mode.
    let (first, second) = (fixture(), fixture());
    for f in [&first, &second] {
        let key = f
            .engine
            .create_fixed_key(&f.caller, new.clone(), key_id, Some(&material))
            .unwrap();
        assert_eq!((key.key_id, key.state), (key_id, KeyState::Enabled));
    }
    let (_, blob) = first
        .engine
        .encrypt(&first.caller, &key_id.to_string(), b"kept", &ctx(&[]))
        .unwrap();
    let (_, plaintext) = second
        .engine
        .decrypt(&second.caller, &blob, &ctx(&[]))
        .unwrap();
    assert_eq!(&plaintext[..], b"kept");

    // The id is taken: a second key under it is refused, the first stays.
    let again = NewKey {
        alias: "again".into(),
        ..new.clone()
    };
    assert!(matches!(
        first
            .engine
            .create_fixed_key(&first.caller, again, key_id, None),
        Err(KmsError::InvalidParameter { field: "KeyId", .. })
    ));
    assert_eq!(
        first
            .engine
            .describe_key(&first.caller, &key_id.to_string())
            .unwrap()
            .alias,
        "fixed"
    );
    let short = first.engine.create_fixed_key(
        &first.caller,
        NewKey {
            alias: "short".into(),
            ..new.clone()
        },
        Uuid::new_v4(),
        Some(&material[..16]),
    );
    assert_eq!(short.err(), Some(KmsError::InvalidKeyMaterial));
    let external = first.engine.create_fixed_key(
        &first.caller,
        NewKey {
            alias: "external".into(),
            origin: Origin::External,
            ..new
        },
        Uuid::new_v4(),
        Some(&material),
    );
    assert!(matches!(
        external,
        Err(KmsError::InvalidParameter {
            field: "material",
            ..
        })
    ));
}

#[test]
fn erasing_a_scope_deletes_its_keys_and_data_keys_and_nothing_else() {
    let f = fixture();
    let other = Caller {
        account: 101,
        ..f.caller.clone()
    };
    let elsewhere = Caller {
        region: "ap-beijing".into(),
        ..f.caller.clone()
    };
    let kept = [
        f.engine
            .create_key(&other, new_key("theirs"))
            .unwrap()
            .key_id,
        f.engine
            .create_key(&elsewhere, new_key("there"))
            .unwrap()
            .key_id,
    ];
    let ids: Vec<String> = (0..3).map(|i| f.key(&format!("k{i}"))).collect();
    f.engine.disable_key(&f.caller, &ids[1]).unwrap();
    f.engine
        .schedule_deletion(&f.caller, &ids[2], 7, DeletableFrom::EnabledOrDisabled)
        .unwrap();
    f.engine
        .generate_hosted_data_key(
            &f.caller,
            &ids[0],
            32,
            &ctx(&[]),
            NewDataKey {
                name: "dk".into(),
                description: String::new(),
                tags: vec![],
                expected_hsm_cluster: None,
            },
        )
        .unwrap();

    assert_eq!(f.engine.erase_scope(&f.caller).unwrap(), (3, 1));
    for id in &ids {
        assert_eq!(
            f.engine.describe_key(&f.caller, id).err(),
            Some(KmsError::KeyNotFound)
        );
    }
    // The aliases are free again, and the other scopes untouched.
    f.key("k0");
    assert!(f.engine.describe_key(&other, &kept[0].to_string()).is_ok());
    assert!(
        f.engine
            .describe_key(&elsewhere, &kept[1].to_string())
            .is_ok()
    );
    assert_eq!(f.engine.erase_scope(&f.caller).unwrap(), (1, 0));
}

#[test]
fn an_erase_racing_writers_on_its_keys_still_erases_them() {
    let f = fixture();
    let ids: Vec<String> = (0..20).map(|i| f.key(&format!("busy{i}"))).collect();
    let erased = std::thread::scope(|s| {
        for id in &ids {
            s.spawn(|| {
                // Writes until the key is gone; every refusal is the key's absence.
                for _ in 0..50 {
                    match f.engine.disable_key(&f.caller, id) {
                        Ok(()) => {}
                        Err(KmsError::KeyNotFound) => return,
                        Err(e) => panic!("{e}"),
                    }
                    let _ = f.engine.enable_key(&f.caller, id);
                }
            });
        }
        f.engine.erase_scope(&f.caller).unwrap()
    });
    assert_eq!(erased, (20, 0));
    assert_eq!(f.engine.erase_scope(&f.caller).unwrap(), (0, 0));
    for id in &ids {
        assert_eq!(
            f.engine.describe_key(&f.caller, id).err(),
            Some(KmsError::KeyNotFound)
        );
    }
}
