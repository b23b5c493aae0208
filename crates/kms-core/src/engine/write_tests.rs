//! Concurrent writes, batches against concurrent changes, and the engine's own bounds.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::test_fixture::*;
use super::*;
use crate::testing::MemoryStore;

const WRITERS: usize = 16;
const ROUNDS: usize = 8;

fn slow_store() -> InterferingStore {
    InterferingStore {
        delay: Duration::from_micros(300),
        ..Default::default()
    }
}

fn key_in(f: &InterferedFixture, alias: &str) -> String {
    f.engine
        .create_key(&f.caller, new_key(alias))
        .unwrap()
        .key_id
        .to_string()
}

fn named(name: &str) -> NewDataKey {
    NewDataKey {
        name: name.into(),
        description: String::new(),
        tags: vec![],
        expected_hsm_cluster: None,
    }
}

fn data_key_in(f: &InterferedFixture, cmk: &str, name: &str) -> String {
    f.engine
        .generate_hosted_data_key(
            &f.caller,
            cmk,
            32,
            &EncryptionContext::default(),
            named(name),
        )
        .unwrap()
        .1
        .to_string()
}

/// Runs `op(writer, round)` from sixteen threads at once; returns every answer.
fn from_sixteen_writers<T: Send>(
    op: impl Fn(usize, usize) -> Result<T, KmsError> + Sync,
) -> Vec<Result<T, KmsError>> {
    thread::scope(|s| {
        let op = &op;
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| s.spawn(move || (0..ROUNDS).map(|r| op(w, r)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn sixteen_writers_on_one_key_all_succeed() {
    let f = interfered(slow_store());
    let id = key_in(&f, "contended");
    let answers = from_sixteen_writers(|w, r| match (w + r) % 3 {
        0 => f
            .engine
            .update_description(&f.caller, &id, format!("{w}-{r}")),
        1 => f.engine.disable_key(&f.caller, &id),
        _ => f.engine.enable_key(&f.caller, &id),
    });
    let failures: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    let key = f.engine.describe_key(&f.caller, &id).unwrap();
    assert_eq!(key.revision, 1 + (WRITERS * ROUNDS) as u64, "no write lost");
}

#[test]
fn sixteen_writers_on_one_data_key_all_succeed() {
    let f = interfered(slow_store());
    let cmk = key_in(&f, "cmk");
    let id = data_key_in(&f, &cmk, "contended");
    let answers = from_sixteen_writers(|w, r| match (w + r) % 3 {
        0 => f
            .engine
            .update_data_key_description(&f.caller, &id, format!("{w}-{r}")),
        1 => f.engine.disable_data_key(&f.caller, &id),
        _ => f.engine.enable_data_key(&f.caller, &id),
    });
    let failures: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    let dk = f.engine.describe_data_key(&f.caller, &id).unwrap();
    assert_eq!(dk.revision, 1 + (WRITERS * ROUNDS) as u64, "no write lost");
}

/// The write paths of this engine's newer resources, bindings and aliases, under the same
/// contention: every writer's change is kept, none is lost to another.
#[test]
fn sixteen_writers_binding_and_naming_one_key_all_succeed() {
    let f = interfered(slow_store());
    let id = key_in(&f, "shared");
    let answers = from_sixteen_writers(|w, r| {
        // A quarter name the key: its aliases stay within the per-key bound.
        if (w + r) % 4 != 0 {
            f.engine
                .bind_cloud_resource(&f.caller, &id, "cvm", &format!("ins-{w}-{r}"))
        } else {
            f.engine
                .create_alias(&f.caller, &id, &format!("alias/{w}-{r}"))
                .map(drop)
        }
    });
    let failures: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    let key = f.engine.describe_key(&f.caller, &id).unwrap();
    assert_eq!(
        key.cloud_resources.len() + key.aliases.len(),
        WRITERS * ROUNDS,
        "no binding or alias lost"
    );
    assert_eq!(key.revision, 1 + (WRITERS * ROUNDS) as u64);
}

#[test]
fn concurrent_rotations_keep_every_ciphertext_decrypting() {
    let f = interfered(slow_store());
    let id = key_in(&f, "rotating");
    let ctx = EncryptionContext::default();
    let answers = from_sixteen_writers(|w, r| {
        if w % 4 == 0 {
            f.engine.rotate_key(&f.caller, &id).map(|_| None)
        } else {
            let plaintext = format!("{w}-{r}").into_bytes();
            let (_, blob) = f.engine.encrypt(&f.caller, &id, &plaintext, &ctx)?;
            Ok(Some((plaintext, blob)))
        }
    });
    let mut blobs = 0;
    for answer in answers {
        if let Some((plaintext, blob)) = answer.unwrap() {
            assert_eq!(
                *f.engine.decrypt(&f.caller, &blob, &ctx).unwrap().1,
                plaintext
            );
            blobs += 1;
        }
    }
    assert_eq!(blobs, WRITERS / 4 * 3 * ROUNDS);
    let versions = f.engine.describe_key(&f.caller, &id).unwrap().versions;
    assert_eq!(
        versions.len(),
        1 + WRITERS / 4 * ROUNDS,
        "every rotation kept"
    );
}

#[test]
fn writes_retry_conflicts_from_another_node() {
    let f = interfered(InterferingStore::default());
    let id = key_in(&f, "k");
    f.store.conflicts.store(20, Ordering::SeqCst);
    f.engine
        .update_description(&f.caller, &id, "after 20 conflicts".into())
        .unwrap();
    let key = f.engine.describe_key(&f.caller, &id).unwrap();
    assert_eq!(key.description, "after 20 conflicts");
    assert_eq!(key.revision, 2);
}

#[test]
fn endless_conflicts_end_in_a_retryable_refusal_not_an_internal_error() {
    let mut f = interfered(InterferingStore::default());
    f.engine.retry_budget = Duration::from_millis(30);
    let id = key_in(&f, "k");
    f.store.conflicts.store(usize::MAX, Ordering::SeqCst);
    let start = Instant::now();
    assert_eq!(
        f.engine.update_description(&f.caller, &id, "x".into()),
        Err(KmsError::Contended)
    );
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn reads_of_a_current_key_do_not_wait_for_writers() {
    let f = interfered(InterferingStore::default());
    let id = key_in(&f, "k");
    let key_id = parse_key_id(&id).unwrap();
    let _held = f.engine.key_locks.lock(key_id);
    let (done, answer) = mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            let ctx = EncryptionContext::default();
            let encrypted = f.engine.encrypt(&f.caller, &id, b"x", &ctx).is_ok();
            let generated = f.engine.generate_data_key(&f.caller, &id, 32, &ctx).is_ok();
            done.send(encrypted && generated).unwrap();
        });
        assert_eq!(answer.recv_timeout(Duration::from_secs(5)), Ok(true));
    });
}

#[test]
fn a_key_batch_changed_concurrently_changes_nothing() {
    let f = interfered(InterferingStore::default());
    let ids: Vec<String> = (0..20).map(|i| key_in(&f, &format!("k{i}"))).collect();
    let last = parse_key_id(&ids[19]).unwrap();
    // Another node disables the last key and schedules its deletion between the batch's reads
    // and its write.
    *f.store.before_write.lock().unwrap() = Some(Box::new(move |inner: &MemoryStore| {
        let mut k = inner.get_key(&last).unwrap().unwrap();
        k.state = KeyState::PendingDelete;
        k.deletion_date = T0 + 7 * SECONDS_PER_DAY;
        k.revision += 1;
        inner.update_key(&k, u64::MAX).unwrap();
    }));
    assert_eq!(
        f.engine.disable_keys(&f.caller, &ids),
        Err(KmsError::InvalidKeyState {
            state: KeyState::PendingDelete,
            op: Operation::Disable,
        })
    );
    for id in &ids[..19] {
        let state = f.engine.describe_key(&f.caller, id).unwrap().state;
        assert_eq!(state, KeyState::Enabled, "the batch changed nothing");
    }
}

#[test]
fn a_data_key_batch_changed_concurrently_changes_nothing() {
    let f = interfered(InterferingStore::default());
    let cmk = key_in(&f, "cmk");
    let ids: Vec<String> = (0..20)
        .map(|i| data_key_in(&f, &cmk, &format!("d{i}")))
        .collect();
    let last = parse_key_id(&ids[19]).unwrap();
    *f.store.before_write.lock().unwrap() = Some(Box::new(move |inner: &MemoryStore| {
        let mut dk = inner.get_data_key(&last).unwrap().unwrap();
        dk.state = DataKeyState::PendingDelete;
        dk.deletion_date = T0 + 7 * SECONDS_PER_DAY;
        dk.revision += 1;
        inner.update_data_key(&dk, u64::MAX).unwrap();
    }));
    assert!(matches!(
        f.engine.disable_data_keys(&f.caller, &ids),
        Err(KmsError::InvalidDataKeyState {
            state: DataKeyState::PendingDelete,
            ..
        })
    ));
    for id in &ids[..19] {
        let state = f.engine.describe_data_key(&f.caller, id).unwrap().state;
        assert_eq!(state, DataKeyState::Enabled, "the batch changed nothing");
    }
}

#[test]
fn cancelling_a_deletion_respects_the_key_limit() {
    let f = fixture_with(EngineConfig {
        max_keys_per_region: 2,
        ..EngineConfig::default()
    });
    let a = f.key("a");
    f.key("b");
    f.engine.disable_key(&f.caller, &a).unwrap();
    f.engine
        .schedule_deletion(&f.caller, &a, 7, DeletableFrom::Disabled)
        .unwrap();
    f.key("c");
    assert_eq!(
        f.engine.cancel_deletion(&f.caller, &a),
        Err(KmsError::KeyLimitExceeded)
    );
    assert_eq!(f.state(&a), KeyState::PendingDelete);
    assert_eq!(f.engine.count_keys(&f.caller).unwrap(), 2);
}

fn out_of_range(what: Bounded, min: u64, max: u64) -> Result<(), KmsError> {
    Err(KmsError::OutOfRange { what, min, max })
}

#[test]
fn rotation_periods_are_bounded() {
    let f = fixture();
    let id = f.key("k");
    for days in [0, 6, 366] {
        assert_eq!(
            f.engine.enable_rotation(&f.caller, &id, days),
            out_of_range(Bounded::RotationPeriod, 7, 365),
            "{days} days"
        );
    }
    f.engine.enable_rotation(&f.caller, &id, 7).unwrap();
    f.engine.enable_rotation(&f.caller, &id, 365).unwrap();
    f.clock.advance(366 * SECONDS_PER_DAY);
    assert_eq!(f.versions(&id), 2);
}

#[test]
fn sizes_chosen_by_clients_are_bounded() {
    let f = fixture();
    let id = f.key("k");
    let ctx = EncryptionContext::default();
    let data_key_len = out_of_range(Bounded::DataKeyLength, 1, 1024);
    for len in [0, 1025] {
        assert_eq!(
            f.engine
                .generate_data_key(&f.caller, &id, len, &ctx)
                .map(|_| ()),
            data_key_len
        );
        assert_eq!(
            f.engine.generate_random(len).map(|_| ()),
            out_of_range(Bounded::RandomLength, 1, 1024)
        );
        let plaintext = vec![7u8; len];
        let import = DataKeyImport::Plaintext {
            key_id: &id,
            plaintext: &plaintext,
        };
        assert_eq!(
            f.engine
                .import_data_key(&f.caller, import, None, named(&format!("i{len}")))
                .map(|_| ()),
            data_key_len
        );
    }
    for len in [1, 1024] {
        assert_eq!(f.engine.generate_random(len).unwrap().len(), len);
        let dk = f
            .engine
            .generate_data_key(&f.caller, &id, len, &ctx)
            .unwrap();
        assert_eq!(dk.plaintext.len(), len);
    }
    let (_, big) = f
        .engine
        .encrypt(&f.caller, &id, &[1u8; 4097][..4096], &ctx)
        .unwrap();
    assert_eq!(
        f.engine
            .import_data_key(
                &f.caller,
                DataKeyImport::Ciphertext(&big),
                None,
                named("big")
            )
            .map(|_| ()),
        data_key_len,
        "a ciphertext of more than a data key is not one"
    );
    assert_eq!(
        f.engine
            .encrypt(&f.caller, &id, &[1u8; 4097], &ctx)
            .map(|_| ()),
        out_of_range(Bounded::PlaintextLength, 0, 4096)
    );
}

#[test]
fn pending_windows_are_bounded() {
    let f = fixture();
    let id = f.key("k");
    f.engine.disable_key(&f.caller, &id).unwrap();
    let window = out_of_range(Bounded::PendingWindow, 7, 1096);
    for days in [0, 6, 1097] {
        assert_eq!(
            f.engine
                .schedule_deletion(&f.caller, &id, days, DeletableFrom::Disabled)
                .map(|_| ()),
            window
        );
    }
    let (_, dk) = f
        .engine
        .generate_hosted_data_key(
            &f.caller,
            &f.key("cmk"),
            32,
            &EncryptionContext::default(),
            named("d"),
        )
        .unwrap();
    assert_eq!(
        f.engine
            .schedule_data_key_deletion(&f.caller, &dk.to_string(), 1097)
            .map(|_| ()),
        window
    );
    assert_eq!(
        f.engine
            .schedule_deletion(&f.caller, &id, 1096, DeletableFrom::Disabled),
        Ok(T0 + 1096 * SECONDS_PER_DAY)
    );
}

#[test]
fn whether_an_enabled_key_may_be_scheduled_is_the_callers_rule() {
    let f = fixture();
    let id = f.key("k");
    assert_eq!(
        f.engine
            .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled),
        Err(KmsError::InvalidKeyState {
            state: KeyState::Enabled,
            op: Operation::ScheduleDeletion
        })
    );
    f.engine
        .schedule_deletion(&f.caller, &id, 7, DeletableFrom::EnabledOrDisabled)
        .unwrap();
    f.engine.cancel_deletion(&f.caller, &id).unwrap();
    assert_eq!(
        f.engine.describe_key(&f.caller, &id).unwrap().state,
        KeyState::Disabled,
        "a cancelled deletion leaves the key disabled"
    );
}

#[test]
fn names_descriptions_tags_and_batches_are_bounded() {
    let f = fixture();
    let mut new = new_key(&"a".repeat(256));
    assert_eq!(
        f.engine.create_key(&f.caller, new.clone()).map(|_| ()),
        out_of_range(Bounded::NameLength, 0, 255)
    );
    new.alias = "a".repeat(255);
    new.description = "d".repeat(1025);
    assert_eq!(
        f.engine.create_key(&f.caller, new.clone()).map(|_| ()),
        out_of_range(Bounded::DescriptionLength, 0, 1024)
    );
    new.description = "d".repeat(1024);
    new.tags = (0..51)
        .map(|i| Tag {
            key: format!("t{i}"),
            value: String::new(),
        })
        .collect();
    assert_eq!(
        f.engine.create_key(&f.caller, new.clone()).map(|_| ()),
        out_of_range(Bounded::TagCount, 0, 50)
    );
    new.tags.truncate(50);
    let id = f
        .engine
        .create_key(&f.caller, new)
        .unwrap()
        .key_id
        .to_string();
    assert_eq!(
        f.engine
            .update_description(&f.caller, &id, "d".repeat(1025)),
        out_of_range(Bounded::DescriptionLength, 0, 1024)
    );
    assert_eq!(
        f.engine.update_alias(&f.caller, &id, "a".repeat(256)),
        out_of_range(Bounded::NameLength, 0, 255)
    );

    let batch = out_of_range(Bounded::IdCount, 1, 100);
    let ids: Vec<String> = (0..101).map(|_| Uuid::new_v4().to_string()).collect();
    assert_eq!(f.engine.disable_keys(&f.caller, &ids), batch);
    assert_eq!(f.engine.enable_data_keys(&f.caller, &ids), batch);
    assert_eq!(f.engine.describe_keys(&f.caller, &[]).map(|_| ()), batch);
    assert_eq!(
        f.engine
            .describe_keys(&f.caller, &ids[..100])
            .map(|k| k.len()),
        Ok(0)
    );
}
