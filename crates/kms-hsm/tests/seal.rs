//! The PKCS#11 seal against SoftHSM2.

mod softhsm;

use std::sync::Arc;

use kms_core::testing::MemoryStore;
use kms_core::{Seal as _, SealError, Store as _};
use kms_hsm::{HsmError, Pkcs11Root, Pkcs11Settings};
use kms_seal::keyring::RootKeys;
use kms_seal::{open_keyring, RootOfTrust};

use softhsm::*;

fn settings(token: &str, key: &str, pin_text: &str) -> Pkcs11Settings {
    Pkcs11Settings {
        module: softhsm().module.clone(),
        token_label: token.into(),
        key_label: key.into(),
        pin: pin(pin_text),
    }
}

fn root(key: &str) -> Pkcs11Root {
    Pkcs11Root::connect(&settings(SEAL_TOKEN, key, USER_PIN)).unwrap()
}

#[test]
fn wraps_and_unwraps_with_a_fresh_iv_each_time() {
    let root = root(ROOT_KEY);
    let keyring = b"KMSRING1 the keyring's bytes";
    let first = root.wrap(keyring).unwrap();
    let second = root.wrap(keyring).unwrap();
    assert_eq!(&first[..4], b"KP11");
    assert_eq!(first.len(), 4 + 12 + keyring.len() + 16);
    assert_ne!(first[4..16], second[4..16], "each wrap draws its own IV");
    assert!(!first.windows(8).any(|w| w == b"KMSRING1"));
    assert_eq!(&root.unwrap(&first).unwrap()[..], keyring);
    assert_eq!(&root.unwrap(&second).unwrap()[..], keyring);
}

#[test]
fn another_key_does_not_unwrap() {
    let wrapped = root(ROOT_KEY).wrap(b"keyring").unwrap();
    assert_eq!(
        root(OTHER_KEY).unwrap(&wrapped),
        Err(SealError::Authentication)
    );
}

#[test]
fn a_changed_or_cut_blob_is_refused() {
    let root = root(ROOT_KEY);
    let wrapped = root.wrap(b"the root keyring").unwrap();
    for at in 0..wrapped.len() {
        let mut changed = wrapped.clone();
        changed[at] ^= 0x01;
        assert_eq!(
            root.unwrap(&changed),
            Err(SealError::Authentication),
            "byte {at}"
        );
    }
    for cut in 0..wrapped.len() {
        assert_eq!(
            root.unwrap(&wrapped[..cut]),
            Err(SealError::Authentication),
            "cut at {cut}"
        );
    }
    let mut longer = wrapped.clone();
    longer.push(0);
    assert_eq!(root.unwrap(&longer), Err(SealError::Authentication));
}

#[test]
fn a_new_store_gets_a_keyring_only_the_token_key_opens() {
    let store = MemoryStore::default();
    let root = root(ROOT_KEY);
    let keys = RootKeys::unsealed(open_keyring(&store, &root, None).unwrap());
    let blob = keys.seal(b"aad", b"secret").unwrap();
    let stored = store
        .setting(kms_core::store::ROOT_KEYRING)
        .unwrap()
        .unwrap();
    assert_eq!(&stored[..4], b"KP11");
    assert!(
        !stored.windows(8).any(|w| w == b"KMSRING1"),
        "stored wrapped"
    );

    let again = RootKeys::unsealed(open_keyring(&store, &root, None).unwrap());
    assert_eq!(&again.unseal(b"aad", &blob).unwrap()[..], b"secret");
    assert_eq!(keys.check_value(), again.check_value());
    assert!(matches!(
        open_keyring(&store, &self::root(OTHER_KEY), None),
        Err(kms_seal::KeyringOpenError::Seal(SealError::Authentication))
    ));
}

#[test]
fn sixteen_threads_share_one_root_and_sessions() {
    let root = Arc::new(root(ROOT_KEY));
    let threads: Vec<_> = (0..16u8)
        .map(|n| {
            let root = root.clone();
            std::thread::spawn(move || {
                for round in 0..40u8 {
                    let keyring = [n, round, 7, 7, 7];
                    let wrapped = root.wrap(&keyring).unwrap();
                    assert_eq!(&root.unwrap(&wrapped).unwrap()[..], keyring);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

fn refusal(settings: &Pkcs11Settings) -> String {
    let err = Pkcs11Root::connect(settings).err().expect("refused");
    let text = err.to_string();
    assert!(!text.contains(USER_PIN), "{text}");
    assert!(!text.contains('\n'), "{text}");
    text
}

#[test]
fn a_missing_key_label_is_refused_by_name() {
    let text = refusal(&settings(SEAL_TOKEN, "no-such-key", USER_PIN));
    assert_eq!(
        text,
        format!("no AES key is labelled \"no-such-key\" in the PKCS#11 token \"{SEAL_TOKEN}\"; the seal's key must exist there")
    );
    let text = refusal(&settings(SEAL_TOKEN, TWIN_KEY, USER_PIN));
    assert!(text.contains("2 keys are labelled \"kmsd-twin\""), "{text}");
}

#[test]
fn a_wrong_pin_is_refused_and_the_right_one_then_logs_in() {
    let err = Pkcs11Root::connect(&settings(PIN_TOKEN, ROOT_KEY, "wrong-pin"))
        .err()
        .unwrap();
    assert!(matches!(err, HsmError::PinRefused { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("cannot log in to the PKCS#11 token \"{PIN_TOKEN}\": the PIN is incorrect")
    );
    assert!(!format!("{err:?}").contains("wrong-pin"));
    // The right PIN gets as far as the key, which this token does not hold.
    let err = Pkcs11Root::connect(&settings(PIN_TOKEN, ROOT_KEY, USER_PIN))
        .err()
        .unwrap();
    assert!(matches!(err, HsmError::NoKey { .. }), "{err:?}");
}

#[test]
fn a_missing_token_names_the_tokens_there_are() {
    let text = refusal(&settings("no-such-token", ROOT_KEY, USER_PIN));
    assert!(
        text.starts_with("no PKCS#11 token is labelled \"no-such-token\" in the module "),
        "{text}"
    );
    assert!(text.contains(&format!("\"{SEAL_TOKEN}\"")), "{text}");
    assert!(text.contains(&format!("\"{PIN_TOKEN}\"")), "{text}");
}

#[test]
fn a_missing_module_is_refused_by_path() {
    let mut missing = settings(SEAL_TOKEN, ROOT_KEY, USER_PIN);
    missing.module = "/nonexistent/libpkcs11.so".into();
    let text = refusal(&missing);
    assert!(
        text.starts_with("cannot load the PKCS#11 module /nonexistent/libpkcs11.so: "),
        "{text}"
    );
}

#[test]
fn settings_never_show_the_pin() {
    let shown = format!("{:?}", settings(SEAL_TOKEN, ROOT_KEY, USER_PIN));
    assert!(shown.contains("Pin(<redacted>)"), "{shown}");
    assert!(!shown.contains(USER_PIN), "{shown}");
}
