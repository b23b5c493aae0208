use base64::Engine as _;
use kms_crypto::public_key::{WrapAlgorithm, encrypt_to_public_key};

use super::test_fixture::*;
use super::*;

impl Fixture {
    fn params(&self, id: &str, alg: WrappingAlgorithm) -> ImportParametersIssued {
        self.engine
            .get_parameters_for_import(&self.caller, id, alg, WrappingKeySpec::Rsa2048)
            .unwrap()
    }

    fn import(
        &self,
        id: &str,
        p: &ImportParametersIssued,
        material: &[u8],
        valid_to: u64,
    ) -> Result<(), KmsError> {
        let wrapped = wrap(&p.public_key, WrapAlgorithm::RsaOaepSha256, material);
        self.engine
            .import_key_material(&self.caller, id, &wrapped, &p.token, valid_to)
    }
}

fn wrap(spki: &[u8], alg: WrapAlgorithm, material: &[u8]) -> Vec<u8> {
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        base64::engine::general_purpose::STANDARD.encode(spki)
    );
    encrypt_to_public_key(&pem, alg, material).unwrap()
}

fn ctx() -> EncryptionContext {
    EncryptionContext::default()
}

#[test]
fn every_wrapping_algorithm_imports() {
    let f = fixture();
    for (alg, wrap_alg) in [
        (WrappingAlgorithm::RsaesPkcs1V15, WrapAlgorithm::RsaPkcs1V15),
        (WrappingAlgorithm::RsaesOaepSha1, WrapAlgorithm::RsaOaepSha1),
        (
            WrappingAlgorithm::RsaesOaepSha256,
            WrapAlgorithm::RsaOaepSha256,
        ),
    ] {
        let id = f.key_of(Origin::External);
        let p = f.params(&id, alg);
        assert_eq!(p.expires_at, T0 + IMPORT_TOKEN_LIFETIME_SECS);
        let wrapped = wrap(&p.public_key, wrap_alg, &[9u8; 32]);
        f.engine
            .import_key_material(&f.caller, &id, &wrapped, &p.token, 0)
            .unwrap();
        assert_eq!(f.state(&id), KeyState::Enabled);
        let (_, blob) = f.engine.encrypt(&f.caller, &id, b"byok", &ctx()).unwrap();
        assert_eq!(
            &f.engine.decrypt(&f.caller, &blob, &ctx()).unwrap().1[..],
            b"byok"
        );
    }
}

#[test]
fn only_external_keys_in_the_right_states_take_parameters() {
    let f = fixture();
    let kms_key = f.key_of(Origin::Kms);
    assert!(matches!(
        f.engine.get_parameters_for_import(
            &f.caller,
            &kms_key,
            WrappingAlgorithm::RsaesOaepSha256,
            WrappingKeySpec::Rsa2048
        ),
        Err(KmsError::NotExternalKey)
    ));
    let id = f.key_of(Origin::External);
    f.engine
        .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled)
        .unwrap();
    assert!(matches!(
        f.engine.get_parameters_for_import(
            &f.caller,
            &id,
            WrappingAlgorithm::RsaesOaepSha256,
            WrappingKeySpec::Rsa2048
        ),
        Err(KmsError::InvalidKeyState {
            state: KeyState::PendingDelete,
            op: Operation::GetImportParameters
        })
    ));
}

#[test]
fn tokens_are_bound_to_their_key_and_expire() {
    let f = fixture();
    let a = f.key_of(Origin::External);
    let b = f.key_of(Origin::External);
    let pa = f.params(&a, WrappingAlgorithm::RsaesOaepSha256);
    assert_eq!(
        f.import(&b, &pa, &[1u8; 32], 0),
        Err(KmsError::InvalidImportToken)
    );
    let mut forged = pa.token.clone();
    forged[0] ^= 1;
    let wrapped = wrap(&pa.public_key, WrapAlgorithm::RsaOaepSha256, &[1u8; 32]);
    assert_eq!(
        f.engine
            .import_key_material(&f.caller, &a, &wrapped, &forged, 0),
        Err(KmsError::InvalidImportToken)
    );
    f.clock.advance(IMPORT_TOKEN_LIFETIME_SECS);
    assert_eq!(
        f.import(&a, &pa, &[1u8; 32], 0),
        Err(KmsError::ImportTokenExpired)
    );
    let fresh = f.params(&a, WrappingAlgorithm::RsaesOaepSha256);
    f.import(&a, &fresh, &[1u8; 32], 0).unwrap();
    let record = f.store.get_key(&pa.key_id).unwrap().unwrap();
    assert_eq!(
        record.import_parameters.len(),
        1,
        "expired parameters are pruned"
    );
    assert!(!format!("{record:?}").contains("sealed"));
}

#[test]
fn bad_material_is_refused() {
    let f = fixture();
    let id = f.key_of(Origin::External);
    let p = f.params(&id, WrappingAlgorithm::RsaesOaepSha256);
    assert_eq!(
        f.import(&id, &p, &[1u8; 16], 0),
        Err(KmsError::InvalidMaterialLength { expected: 32 })
    );
    assert_eq!(
        f.engine
            .import_key_material(&f.caller, &id, b"garbage", &p.token, 0),
        Err(KmsError::MaterialUnwrapFailed)
    );
    let pkcs1 = wrap(&p.public_key, WrapAlgorithm::RsaPkcs1V15, &[1u8; 32]);
    assert_eq!(
        f.engine
            .import_key_material(&f.caller, &id, &pkcs1, &p.token, 0),
        Err(KmsError::MaterialUnwrapFailed),
        "wrapped with another algorithm than the token's"
    );
    assert!(matches!(
        f.import(&id, &p, &[1u8; 32], T0),
        Err(KmsError::InvalidParameter {
            field: "ValidTo",
            ..
        })
    ));
    assert!(matches!(
        f.import(&id, &p, &[1u8; 32], MAX_VALID_TO + 1),
        Err(KmsError::InvalidParameter {
            field: "ValidTo",
            ..
        })
    ));
    assert_eq!(f.state(&id), KeyState::PendingImport);
}

#[test]
fn retries_and_reimports_need_the_same_material() {
    let f = fixture();
    let id = f.key_of(Origin::External);
    let p = f.params(&id, WrappingAlgorithm::RsaesOaepSha256);
    f.import(&id, &p, &[7u8; 32], 0).unwrap();
    f.import(&id, &p, &[7u8; 32], 0).unwrap();
    assert_eq!(
        f.import(&id, &p, &[8u8; 32], 0),
        Err(KmsError::MaterialMismatch)
    );
    let (_, blob) = f.engine.encrypt(&f.caller, &id, b"x", &ctx()).unwrap();

    f.engine.delete_imported_material(&f.caller, &id).unwrap();
    assert_eq!(f.state(&id), KeyState::PendingImport);
    let record = f.store.get_key(&p.key_id).unwrap().unwrap();
    assert!(
        record.versions.is_empty(),
        "no copy of the material is left in the record"
    );
    assert!(matches!(
        f.engine.decrypt(&f.caller, &blob, &ctx()),
        Err(KmsError::InvalidKeyState {
            state: KeyState::PendingImport,
            ..
        })
    ));
    let p2 = f.params(&id, WrappingAlgorithm::RsaesOaepSha256);
    assert_eq!(
        f.import(&id, &p2, &[8u8; 32], 0),
        Err(KmsError::MaterialMismatch)
    );
    f.import(&id, &p2, &[7u8; 32], 0).unwrap();
    assert_eq!(
        &f.engine.decrypt(&f.caller, &blob, &ctx()).unwrap().1[..],
        b"x"
    );
}

#[test]
fn material_expires_exactly_on_time() {
    let f = fixture();
    let id = f.key_of(Origin::External);
    let p = f.params(&id, WrappingAlgorithm::RsaesOaepSha256);
    f.import(&id, &p, &[3u8; 32], T0 + 100).unwrap();
    let (_, blob) = f.engine.encrypt(&f.caller, &id, b"x", &ctx()).unwrap();
    assert_eq!(
        f.engine.describe_key(&f.caller, &id).unwrap().valid_to,
        T0 + 100
    );
    f.clock.set(T0 + 99);
    assert!(f.engine.decrypt(&f.caller, &blob, &ctx()).is_ok());
    f.clock.set(T0 + 100);
    let listed = KeyListFilter {
        limit: 10,
        states: Some(vec![KeyState::PendingImport]),
        ..Default::default()
    };
    assert_eq!(
        f.engine.list_keys(&f.caller, &listed).unwrap().0,
        1,
        "listings agree before anything is written"
    );
    assert!(matches!(
        f.engine.decrypt(&f.caller, &blob, &ctx()),
        Err(KmsError::InvalidKeyState {
            state: KeyState::PendingImport,
            ..
        })
    ));
    let record = f.store.get_key(&p.key_id).unwrap().unwrap();
    assert!(record.versions.is_empty());
    assert_eq!(record.valid_to, 0);
    let p2 = f.params(&id, WrappingAlgorithm::RsaesOaepSha256);
    f.import(&id, &p2, &[3u8; 32], 0).unwrap();
    assert_eq!(
        &f.engine.decrypt(&f.caller, &blob, &ctx()).unwrap().1[..],
        b"x"
    );
}

#[test]
fn background_work_expires_material() {
    let f = fixture();
    let id = f.key_of(Origin::External);
    let p = f.params(&id, WrappingAlgorithm::RsaesOaepSha256);
    f.import(&id, &p, &[3u8; 32], T0 + 10).unwrap();
    f.clock.set(T0 + 10);
    assert_eq!(f.engine.run_due_work().unwrap(), 1);
    let record = f.store.get_key(&p.key_id).unwrap().unwrap();
    assert_eq!(record.state, KeyState::PendingImport);
    assert!(record.versions.is_empty());
}

#[test]
fn deleting_material_needs_an_external_key() {
    let f = fixture();
    let kms_key = f.key_of(Origin::Kms);
    assert_eq!(
        f.engine.delete_imported_material(&f.caller, &kms_key),
        Err(KmsError::NotExternalKey)
    );
    let id = f.key_of(Origin::External);
    f.engine.delete_imported_material(&f.caller, &id).unwrap();
    assert_eq!(f.state(&id), KeyState::PendingImport);
}

#[test]
fn deleting_material_leaves_the_scrub_to_the_background() {
    let f = fixture();
    f.settle_scrub();
    let before = f.store.scrubs();
    let id = f.key_of(Origin::External);
    for _ in 0..100 {
        f.engine.delete_imported_material(&f.caller, &id).unwrap();
    }
    assert!(!f.engine.scrub_owed(), "nothing erased, nothing to scrub");
    assert!(!f.engine.run_owed_scrub().unwrap());

    // A hundred more, every tenth with material to erase.
    for round in 0..100 {
        if round % 10 == 0 {
            let p = f.params(&id, WrappingAlgorithm::RsaesOaepSha256);
            f.import(&id, &p, &[7u8; 32], 0).unwrap();
        }
        f.engine.delete_imported_material(&f.caller, &id).unwrap();
        assert_eq!(f.state(&id), KeyState::PendingImport);
    }
    assert_eq!(
        f.store.scrubs(),
        before,
        "no request scrubs on its own path"
    );
    assert!(f.engine.scrub_owed());
    assert!(f.engine.run_owed_scrub().unwrap());
    assert!(
        !f.engine.run_owed_scrub().unwrap(),
        "one scrub settles them all"
    );
    assert_eq!(f.store.scrubs(), before + 1);
}

/// A store left scrubbed by the previous process owes no scrub at start, but the next erasure
/// still owes one.
#[test]
fn an_engine_over_a_scrubbed_store_owes_a_scrub_only_after_an_erasure() {
    let mut f = fixture();
    let clean = Engine::new(
        f.store.clone(),
        Arc::new(crate::testing::MemorySeal::generate()),
        f.clock.clone(),
        EngineConfig::default(),
    )
    .scrubbed_before_start();
    f.engine = clean;
    assert!(!f.engine.scrub_owed());
    assert!(!f.engine.run_owed_scrub().unwrap());
    let id = f.key_of(Origin::External);
    let p = f.params(&id, WrappingAlgorithm::RsaesOaepSha256);
    f.import(&id, &p, &[5u8; 32], 0).unwrap();
    assert!(!f.engine.scrub_owed(), "an import erases nothing");
    f.engine.delete_imported_material(&f.caller, &id).unwrap();
    assert!(f.engine.scrub_owed());
    assert!(f.engine.run_owed_scrub().unwrap());
    assert_eq!(f.store.scrubs(), 1);
}

#[test]
fn expiry_owes_a_scrub() {
    let f = fixture();
    let id = f.key_of(Origin::External);
    let p = f.params(&id, WrappingAlgorithm::RsaesOaepSha256);
    f.import(&id, &p, &[3u8; 32], T0 + 10).unwrap();
    f.settle_scrub();
    f.clock.set(T0 + 10);
    assert_eq!(f.state(&id), KeyState::PendingImport);
    assert!(f.engine.scrub_owed());
}

/// The vendor's BindCloudResource cancels the key's expiry: a key a cloud product uses keeps its
/// imported material.
#[test]
fn binding_a_cloud_resource_cancels_the_materials_expiry() {
    let f = fixture();
    let id = f.key_of(Origin::External);
    let p = f.params(&id, WrappingAlgorithm::RsaesOaepSha256);
    f.import(&id, &p, &[3u8; 32], T0 + 100).unwrap();
    f.engine
        .bind_cloud_resource(&f.caller, &id, "cbs", "disk-1")
        .unwrap();
    assert_eq!(f.engine.describe_key(&f.caller, &id).unwrap().valid_to, 0);
    f.clock.set(T0 + 1000);
    let (_, blob) = f.engine.encrypt(&f.caller, &id, b"x", &ctx()).unwrap();
    assert!(f.engine.decrypt(&f.caller, &blob, &ctx()).is_ok());
}
