//! The engine over in-memory parts and a manual clock, shared by the engine's tests.

use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::testing::{MemorySeal, MemoryStore};

/// Where every test's clock starts.
pub(super) const T0: u64 = 1_700_000_000;

pub(super) struct Fixture {
    pub(super) engine: Engine,
    pub(super) clock: Arc<ManualClock>,
    pub(super) store: Arc<MemoryStore>,
    pub(super) caller: Caller,
}

pub(super) fn fixture() -> Fixture {
    fixture_with(EngineConfig::default())
}

pub(super) fn fixture_with(config: EngineConfig) -> Fixture {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Arc::new(MemoryStore::default());
    let engine = Engine::new(
        store.clone(),
        Arc::new(MemorySeal::generate()),
        clock.clone(),
        config,
    );
    Fixture {
        engine,
        clock,
        store,
        caller: Caller {
            account: 100,
            region: "ap-guangzhou".into(),
        },
    }
}

/// A KMS-generated symmetric key named `alias`.
pub(super) fn new_key(alias: &str) -> NewKey {
    NewKey {
        alias: alias.into(),
        description: String::new(),
        usage: KeyUsage::EncryptDecrypt,
        origin: Origin::Kms,
        tags: vec![],
    }
}

impl Fixture {
    /// Creates a KMS key named `alias`; returns its id.
    pub(super) fn key(&self, alias: &str) -> String {
        self.engine
            .create_key(&self.caller, new_key(alias))
            .unwrap()
            .key_id
            .to_string()
    }

    /// Creates a key of `origin` under a fresh alias; returns its id.
    pub(super) fn key_of(&self, origin: Origin) -> String {
        let mut new = new_key(&format!("k{}", Uuid::new_v4().simple()));
        new.origin = origin;
        self.engine
            .create_key(&self.caller, new)
            .unwrap()
            .key_id
            .to_string()
    }

    /// Runs the scrub every engine owes at start, so a test sees only the scrubs it causes.
    pub(super) fn settle_scrub(&self) {
        assert!(
            self.engine.run_owed_scrub().unwrap(),
            "a fresh engine owes one scrub"
        );
        assert!(!self.engine.scrub_owed());
    }

    pub(super) fn state(&self, id: &str) -> KeyState {
        self.engine.describe_key(&self.caller, id).unwrap().state
    }
}
