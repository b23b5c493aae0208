//! Several engines, as on several nodes, over one PostgreSQL database: background work that
//! all of them run at once happens once.

use std::sync::{Arc, Barrier};

use kms_core::engine::NewKey;
use kms_core::testing::MemorySeal;
use kms_core::{
    Caller, DeletableFrom, Engine, EngineConfig, KeySpec, KeyUsage, KmsError, ManualClock, Origin,
};

use super::TestDb;

const T0: u64 = 1_700_000_000;
const DAY: u64 = 86_400;

struct Nodes {
    engines: Vec<Arc<Engine>>,
    clock: Arc<ManualClock>,
    caller: Caller,
}

fn nodes(db: &TestDb, n: usize) -> Nodes {
    let seal = Arc::new(MemorySeal::generate());
    let clock = Arc::new(ManualClock::new(T0));
    let engines = (0..n)
        .map(|_| {
            Arc::new(Engine::new(
                Arc::new(db.open_with(4)),
                seal.clone(),
                clock.clone(),
                EngineConfig::default(),
            ))
        })
        .collect();
    Nodes {
        engines,
        clock,
        caller: Caller {
            account: 100,
            user: None,
            credential: "test-credential".into(),
            region: "ap-guangzhou".into(),
            authority: None,
        },
    }
}

impl Nodes {
    /// Every engine runs its due work at once; each must succeed.
    fn sweep_together(&self) {
        let start = Arc::new(Barrier::new(self.engines.len()));
        let threads: Vec<_> = self
            .engines
            .iter()
            .map(|engine| {
                let (engine, start) = (engine.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    engine.run_due_work()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
    }
}

#[test]
fn due_work_on_three_nodes_at_once_happens_once() {
    let db = TestDb::new();
    let n = nodes(&db, 3);
    let engine = &n.engines[0];
    let key = engine
        .create_key(
            &n.caller,
            NewKey {
                hsm_cluster: None,
                alias: "rotating".into(),
                description: String::new(),
                usage: KeyUsage::EncryptDecrypt,
                spec: KeySpec::Aes256,
                origin: Origin::Kms,
                tags: vec![],
            },
        )
        .unwrap();
    let id = key.key_id.to_string();
    engine.enable_rotation(&n.caller, &id, 30).unwrap();
    n.clock.set(T0 + 30 * DAY + 1);
    n.sweep_together();
    for node in &n.engines {
        let described = node.describe_key(&n.caller, &id).unwrap();
        assert_eq!(
            described.versions.len(),
            2,
            "one rotation, none skipped or doubled"
        );
        assert_eq!(described.rotation.next_rotate_time, T0 + 60 * DAY);
    }

    engine.disable_key(&n.caller, &id).unwrap();
    let date = engine
        .schedule_deletion(&n.caller, &id, 7, DeletableFrom::Disabled)
        .unwrap();
    n.clock.set(date + 1);
    n.sweep_together();
    for node in &n.engines {
        assert_eq!(
            node.describe_key(&n.caller, &id).unwrap_err(),
            KmsError::KeyNotFound
        );
        assert_eq!(node.count_keys(&n.caller).unwrap(), 0);
    }
}
