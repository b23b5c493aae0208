//! `kmsd dev`'s fixture file: whatever the text, checking it never panics, and fixtures that
//! pass the checks are made by an engine (any material, any spec) with an answer, never a
//! panic; made again, they change nothing.

use std::sync::Arc;

use kms_core::testing::{MemorySeal, MemoryStore};
use kms_core::{Caller, Engine, EngineConfig, ManualClock};
use kms_fixtures::Fixtures;

use crate::text;

pub fn dev_fixtures(data: &[u8]) {
    let regions = vec![crate::REGION.to_owned(), "ap-shanghai".to_owned()];
    let Ok(fixtures) = Fixtures::parse(&text(data), &regions) else {
        return;
    };
    let engine = Engine::new(
        Arc::new(MemoryStore::default()),
        Arc::new(MemorySeal::generate()),
        Arc::new(ManualClock::new(crate::NOW)),
        EngineConfig::default(),
    );
    let caller = Caller {
        account: 1,
        user: None,
        credential: crate::SECRET_ID.into(),
        region: crate::REGION.into(),
        authority: None,
    };
    if fixtures.apply(&engine, &caller).is_ok() {
        assert_eq!(fixtures.apply(&engine, &caller).ok(), Some(0));
    }
}
