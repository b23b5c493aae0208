//! Ciphertext blobs of every algorithm through the engine's `decrypt` and
//! `decrypt_post_quantum`, against an AES-256, an SM4 and an ML-KEM-768 key.
//!
//! Input: `flags (1) | bytes`. Flags bits 0-1 pick the key (AES, SM4, ML-KEM; 3 is AES), bit 2
//! the path (`decrypt` or `decrypt_post_quantum`), bit 3 the mode:
//! - 0, relative: the blob is the key's real blob (made once by the fixture, with this run's key
//!   id and material) XORed with `bytes`, as long as `bytes` (missing template bytes are zero).
//!   All-zero `bytes` of the template's length is the valid blob, on every run.
//! - 1, raw: the blob is `bytes`, with the key id (bytes 2..18) replaced by the key's id when
//!   long enough, so the header always names a key that exists.
//!
//! The invariant: a blob decrypts exactly when it is the key's real blob and goes through the
//! path for its key type, and then to the real plaintext.

use std::sync::{Arc, OnceLock};

use uuid::Uuid;

use kms_core::engine::NewKey;
use kms_core::testing::{MemorySeal, MemoryStore};
use kms_core::{
    Caller, EncryptionContext, Engine, EngineConfig, KeySpec, KeyUsage, ManualClock, Origin,
};

const PLAINTEXT: &[u8] = b"fuzz blob plaintext";
const KEY_SPECS: [KeySpec; 3] = [KeySpec::Aes256, KeySpec::Sm4, KeySpec::MlKem768];
const KEY_ID: std::ops::Range<usize> = 2..18;

struct BlobKey {
    key_id: Uuid,
    spec: KeySpec,
    blob: Vec<u8>,
}

struct Fixture {
    engine: Engine,
    caller: Caller,
    keys: Vec<BlobKey>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let engine = Engine::new(
            Arc::new(MemoryStore::default()),
            Arc::new(MemorySeal::generate()),
            Arc::new(ManualClock::new(super::NOW)),
            EngineConfig::default(),
        );
        let caller = Caller {
            account: 1,
            user: None,
            credential: super::SECRET_ID.into(),
            region: super::REGION.into(),
            authority: None,
        };
        let keys = KEY_SPECS
            .into_iter()
            .map(|spec| {
                let key = engine
                    .create_key(
                        &caller,
                        NewKey {
                            hsm_cluster: None,
                            alias: format!("{spec:?}"),
                            description: String::new(),
                            usage: KeyUsage::EncryptDecrypt,
                            spec,
                            origin: Origin::Kms,
                            tags: vec![],
                        },
                    )
                    .expect("fixture key");
                let id = key.key_id.to_string();
                let (_, blob) = if spec == KeySpec::MlKem768 {
                    engine.encrypt_post_quantum(&caller, &id, PLAINTEXT)
                } else {
                    engine.encrypt(&caller, &id, PLAINTEXT, &EncryptionContext::default())
                }
                .expect("fixture blob");
                BlobKey {
                    key_id: key.key_id,
                    spec,
                    blob,
                }
            })
            .collect();
        Fixture {
            engine,
            caller,
            keys,
        }
    })
}

/// One valid input per key and path: the relative form of the real blob (all zeros).
pub fn engine_blob_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let mut seeds = Vec::new();
    for (i, key) in f.keys.iter().enumerate() {
        for path in [0u8, 4] {
            let mut seed = vec![i as u8 | path];
            seed.resize(1 + key.blob.len(), 0);
            seeds.push(seed);
        }
    }
    seeds
}

/// The body.
pub fn engine_blobs(data: &[u8]) {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let key = &f.keys[usize::from(flags & 3) % f.keys.len()];
    let post_quantum = flags & 4 != 0;
    let blob: Vec<u8> = if flags & 8 == 0 {
        bytes
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key.blob.get(i).copied().unwrap_or(0))
            .collect()
    } else {
        let mut blob = bytes.to_vec();
        if let Some(id) = blob.get_mut(KEY_ID) {
            id.copy_from_slice(key.key_id.as_bytes());
        }
        blob
    };
    let result = if post_quantum {
        f.engine.decrypt_post_quantum(&f.caller, &blob)
    } else {
        f.engine
            .decrypt(&f.caller, &blob, &EncryptionContext::default())
    };
    let right_path = post_quantum == (key.spec == KeySpec::MlKem768);
    match result {
        Ok((key_id, plaintext)) => {
            assert!(blob == key.blob, "only the real blob decrypts");
            assert!(
                right_path,
                "a blob decrypts only through its key type's path"
            );
            assert_eq!(key_id, key.key_id);
            assert_eq!(&plaintext[..], PLAINTEXT);
        }
        Err(e) => assert!(
            !(right_path && blob == key.blob),
            "the real blob decrypts: {e}"
        ),
    }
}
