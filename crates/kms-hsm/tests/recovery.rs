//! A token lost while it is in use, through real SoftHSM2 state changes made by a second
//! handle on the module in this process: a logout (every session of the application loses
//! the login, as when an HSM restarts), a security officer logged in meanwhile (the user's
//! login is refused until the officer logs out) and a changed user PIN. What SoftHSM2 cannot
//! be made to answer from here (a session the device no longer knows, a device error), the
//! operation answers itself on its first run. The tests share one token and run one at a
//! time.

mod cluster;
mod softhsm;

use std::sync::{Arc, Mutex, MutexGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::types::AuthPin;
use kms_core::engine::NewKey;
use kms_core::testing::{MemorySeal, MemoryStore};
use kms_core::{
    EncryptionContext, Engine, EngineConfig, KeyUsage, KmsError, Origin, SealError, SystemClock,
};
use kms_crypto::{CryptoError, CryptoProvider, KeySpec, SignInput, SigningAlgorithm};
use kms_hsm::provider::HsmProvider;
use kms_hsm::{Pkcs11Root, Pkcs11Settings, Token, TokenError, RECONNECT_INTERVAL};
use kms_seal::RootOfTrust;

use cluster::*;
use softhsm::*;

/// Held by each test: they change the login state of the one token.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TOKEN_STATE: Mutex<()> = Mutex::new(());
    TOKEN_STATE.lock().unwrap_or_else(|e| e.into_inner())
}

fn token() -> Token {
    Token::open(&softhsm().module, SEAL_TOKEN, &pin(USER_PIN)).unwrap()
}

/// A session of the test's own in the token, through a second handle on the module. It is
/// the same application as the tokens under test (one library instance), so its logout and
/// logins change the login that their sessions share.
fn operator() -> Session {
    let module = Pkcs11::new(&softhsm().module).unwrap();
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("{e}"),
    }
    let slot = module
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|slot| module.get_token_info(*slot).unwrap().label().trim_end() == SEAL_TOKEN)
        .unwrap();
    module.open_rw_session(slot).unwrap()
}

/// Logs every session of the application out of the token, and the officer in: the user's
/// login is refused until [`release`].
fn hold_as_officer(operator: &Session) {
    operator.logout().unwrap();
    operator
        .login(UserType::So, Some(&AuthPin::from(SO_PIN)))
        .unwrap();
}

fn release(operator: &Session) {
    operator.logout().unwrap();
}

/// Calls `call` until the token answers again: a lost token is tried again at most once per
/// [`RECONNECT_INTERVAL`], and meanwhile `call` answers `unavailable`.
fn once_back<T, E: std::fmt::Debug>(
    mut call: impl FnMut() -> Result<T, E>,
    unavailable: impl Fn(&E) -> bool,
) -> T {
    for _ in 0..100 {
        match call() {
            Ok(answer) => return answer,
            Err(e) if unavailable(&e) => std::thread::sleep(RECONNECT_INTERVAL / 4),
            Err(e) => panic!("{e:?}"),
        }
    }
    panic!("the token did not come back");
}

fn seal_root() -> Pkcs11Root {
    Pkcs11Root::connect(&Pkcs11Settings {
        module: softhsm().module.clone(),
        token_label: SEAL_TOKEN.into(),
        key_label: ROOT_KEY.into(),
        pin: pin(USER_PIN),
    })
    .unwrap()
}

#[test]
fn a_token_logged_out_meanwhile_is_logged_in_again_within_the_call() {
    let _alone = one_at_a_time();
    let provider = HsmProvider::new(token());
    let aes = provider.generate(KeySpec::Aes256).unwrap();
    let aes = provider.load(KeySpec::Aes256, &aes.private).unwrap();
    let sealed = aes.seal(b"context", b"sealed before").unwrap();
    let ec = provider.generate(KeySpec::EccP256).unwrap();
    let ec = provider.load(KeySpec::EccP256, &ec.private).unwrap();
    let root = seal_root();
    let wrapped = root.wrap(b"a keyring").unwrap();

    // SoftHSM2 drops the handles of private objects at a logout: the keys' handles are stale
    // and the sessions public, which the token takes for a lost login.
    operator().logout().unwrap();
    assert_eq!(
        &aes.open(b"context", &sealed).unwrap()[..],
        b"sealed before"
    );
    // A token is logged in to again at most once per interval.
    std::thread::sleep(RECONNECT_INTERVAL);
    operator().logout().unwrap();
    let message = SignInput::Message(b"signed after a logout");
    let signature = ec.sign(SigningAlgorithm::EcdsaSha256, message).unwrap();
    assert!(ec
        .verify(SigningAlgorithm::EcdsaSha256, message, &signature)
        .unwrap());
    operator().logout().unwrap();
    assert_eq!(&root.unwrap(&wrapped).unwrap()[..], b"a keyring");
}

#[test]
fn calls_answer_the_transient_error_while_the_login_is_refused_and_work_once_it_is_back() {
    let _alone = one_at_a_time();
    let engine = Engine::new(
        Arc::new(MemoryStore::default()),
        Arc::new(MemorySeal::generate()),
        Arc::new(SystemClock),
        EngineConfig::default(),
    )
    .with_hsm_cluster(CLUSTER, Arc::new(HsmProvider::new(token())));
    let caller = caller();
    let context = EncryptionContext::default();
    let create = |alias: &str, usage, spec| {
        let new = NewKey {
            usage,
            spec,
            ..new_key(alias, Some(CLUSTER), Origin::Kms)
        };
        engine
            .create_key(&caller, new)
            .map(|key| key.key_id.to_string())
    };
    let aes = create("outage-aes", KeyUsage::EncryptDecrypt, KeySpec::Aes256).unwrap();
    let (_, blob) = engine
        .encrypt(&caller, &aes, b"encrypted before", &context)
        .unwrap();
    let ec = create("outage-ec", KeyUsage::SignVerify, KeySpec::EccP256).unwrap();
    let message = SignInput::Message(b"signed in the token");
    let sign = || engine.sign(&caller, &ec, SigningAlgorithm::EcdsaSha256, message);
    let root = seal_root();
    let wrapped = root.wrap(b"a keyring").unwrap();

    let operator = operator();
    hold_as_officer(&operator);
    assert_eq!(
        engine.decrypt(&caller, &blob, &context),
        Err(KmsError::Unavailable)
    );
    assert_eq!(
        engine.encrypt(&caller, &aes, b"during", &context),
        Err(KmsError::Unavailable)
    );
    assert_eq!(sign(), Err(KmsError::Unavailable));
    assert_eq!(
        create("made-during", KeyUsage::EncryptDecrypt, KeySpec::Aes256),
        Err(KmsError::Unavailable)
    );
    assert!(
        matches!(root.wrap(b"a keyring"), Err(SealError::Unreachable(_))),
        "a root key rotation meanwhile is refused as a transient failure"
    );
    assert!(matches!(
        root.unwrap(&wrapped),
        Err(SealError::Unreachable(_))
    ));
    // Still refused after the next attempt to log in.
    std::thread::sleep(RECONNECT_INTERVAL);
    let refused = engine.decrypt(&caller, &blob, &context);
    assert_eq!(refused, Err(KmsError::Unavailable));

    release(&operator);
    let (_, plaintext) = once_back(
        || engine.decrypt(&caller, &blob, &context),
        |e| *e == KmsError::Unavailable,
    );
    assert_eq!(&plaintext[..], b"encrypted before");
    let (_, signature) = sign().unwrap();
    let (_, valid) = engine
        .verify(
            &caller,
            &ec,
            SigningAlgorithm::EcdsaSha256,
            message,
            &signature,
        )
        .unwrap();
    assert!(valid);
    let made_after = create("made-after", KeyUsage::EncryptDecrypt, KeySpec::Aes256).unwrap();
    let (_, blob) = engine
        .encrypt(&caller, &made_after, b"after", &context)
        .unwrap();
    assert_eq!(
        &engine.decrypt(&caller, &blob, &context).unwrap().1[..],
        b"after"
    );
    let unwrapped = once_back(
        || root.unwrap(&wrapped),
        |e| matches!(e, SealError::Unreachable(_)),
    );
    assert_eq!(&unwrapped[..], b"a keyring");
}

#[test]
fn a_pin_refused_when_logging_in_again_is_not_tried_again() {
    let _alone = one_at_a_time();
    let provider = HsmProvider::new(token());
    let material = provider.generate(KeySpec::Aes256).unwrap();
    let key = provider.load(KeySpec::Aes256, &material.private).unwrap();
    let sealed = key.seal(b"", b"kept").unwrap();

    let operator = operator();
    let set_user_pin = |new: &str| {
        hold_as_officer(&operator);
        operator.init_pin(&AuthPin::from(new)).unwrap();
        release(&operator);
    };
    set_user_pin("changed-pin");
    let refusal = match key.open(b"", &sealed) {
        Err(CryptoError::Unavailable(why)) => why,
        other => panic!("{other:?}"),
    };
    assert!(refusal.contains("the PIN is incorrect"), "{refusal}");
    assert!(!refusal.contains(USER_PIN) && !refusal.contains("changed-pin"));

    // An HSM locks a PIN after a few wrong tries: with the PIN right again, this token still
    // does not log in by itself; an operator restarts it.
    set_user_pin(USER_PIN);
    std::thread::sleep(RECONNECT_INTERVAL * 2);
    assert!(matches!(
        key.open(b"", &sealed),
        Err(CryptoError::Unavailable(_))
    ));
    let restarted = HsmProvider::new(token());
    let key = restarted.load(KeySpec::Aes256, &material.private).unwrap();
    assert_eq!(&key.open(b"", &sealed).unwrap()[..], b"kept");
}

/// What a restarted or disconnected HSM answers inside a call, given by the operation itself on
/// its first run.
fn gone(function: Function) -> CkError {
    CkError::Pkcs11(RvError::SessionHandleInvalid, function)
}

#[test]
fn a_call_whose_session_the_token_lost_runs_again_logged_in_on_a_new_one() {
    let _alone = one_at_a_time();
    let token = token();
    let mut runs = 0;
    let state = token
        .with_session(|session| {
            runs += 1;
            if runs == 1 {
                return Err(gone(Function::Encrypt));
            }
            session.get_session_info()
        })
        .unwrap()
        .session_state();
    assert_eq!((runs, state), (2, SessionState::RwUser));

    std::thread::sleep(RECONNECT_INTERVAL);
    let key = token
        .find_object(vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(OTHER_KEY.as_bytes().to_vec()),
        ])
        .unwrap();
    let mut runs = 0;
    let label = token
        .with_object(&key, |session, key| {
            runs += 1;
            if runs == 1 {
                return Err(gone(Function::GetAttributeValue));
            }
            session.get_attributes(key, &[AttributeType::Label])
        })
        .unwrap();
    assert_eq!(runs, 2);
    assert_eq!(label, [Attribute::Label(OTHER_KEY.as_bytes().to_vec())]);
}

#[test]
fn a_generation_runs_again_only_when_the_token_refused_it_before_generating() {
    let _alone = one_at_a_time();
    let token = token();
    let mut runs = 0;
    token
        .generating(|_| {
            runs += 1;
            if runs == 1 {
                return Err(gone(Function::GenerateKey));
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(runs, 2);

    // A device that failed midway may have made the key: the caller is told to try again.
    let mut runs = 0;
    let refused = token.generating(|_| {
        runs += 1;
        Err::<(), _>(CkError::Pkcs11(RvError::DeviceError, Function::GenerateKey))
    });
    assert_eq!(runs, 1);
    assert!(
        matches!(&refused, Err(TokenError::Unreachable(why)) if why.contains("DeviceError")),
        "{refused:?}"
    );
    let state = once_back(
        || token.with_session(|session| session.get_session_info()),
        |e| matches!(e, TokenError::Unreachable(_)),
    )
    .session_state();
    assert_eq!(state, SessionState::RwUser);
}
