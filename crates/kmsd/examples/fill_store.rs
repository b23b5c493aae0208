//! Fills a stopped kmsd's data dir with KEYS AES-256 keys and as many hosted data keys (one
//! under each key), in the root account's region, quickly: through the engine (so every record
//! is what CreateKey and GenerateDataKey with hosting would store, material sealed under the data
//! dir's root key) into an in-memory store, then into the data dir's store a chunk of records
//! per commit. Start kmsd once on the data dir first, so it holds the root key and root account.
//!
//! Prints SAMPLE of the keys, spread evenly over the ones made, one per line: the key id and, in
//! hex, the ciphertext of 32 bytes of 'x' under it (for pre-signed Encrypt and Decrypt calls).
//!
//! usage: cargo run --release -p kmsd --example fill_store -- DATA_DIR KEYS [SAMPLE] [REGION]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use kms_core::engine::{NewDataKey, NewKey};
use kms_core::store::{ROOT_KEY_CHECK, Record};
use kms_core::testing::MemoryStore;
use kms_core::{
    Caller, EncryptionContext, Engine, EngineConfig, KeySpec, KeyUsage, Origin, Seal, Store,
    SystemClock,
};
use kms_seal::FileSeal;
use kms_store::EmbeddedStore;

/// Keys (and as many data keys) per commit: large enough that commits cost little, small
/// enough that redb's dirty pages stay small.
const CHUNK: u64 = 20_000;
/// Keys per in-memory staging store, whose every creation walks what it holds.
const STAGE: u64 = 500;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        (2..=4).contains(&args.len()),
        "usage: fill_store DATA_DIR KEYS [SAMPLE] [REGION]"
    );
    let dir = PathBuf::from(&args[0]);
    let keys: u64 = args[1].parse()?;
    let sample: u64 = args.get(2).map_or(Ok(1000), |s| s.parse())?;
    let region = args.get(3).map_or("ap-guangzhou", String::as_str);

    let store = EmbeddedStore::open(&dir.join("kms.redb"))?;
    let seal: Arc<dyn Seal> = FileSeal::open(&dir.join("root.key"))?.unseal(&store)?.keys;
    let check = hex::encode(seal.check_value()?);
    anyhow::ensure!(
        store.setting(ROOT_KEY_CHECK)?.as_deref() == Some(check.as_bytes()),
        "the data dir's root key is not its store's, or kmsd never started on it"
    );
    let accounts = store.accounts()?;
    let [account] = accounts.as_slice() else {
        anyhow::bail!(
            "expected the root account alone, found {} accounts",
            accounts.len()
        );
    };
    let caller = Caller {
        account: account.uin,
        user: None,
        credential: account.secret_id.clone(),
        region: region.to_owned(),
        authority: None,
    };
    let config = EngineConfig {
        max_keys_per_region: u64::MAX,
        max_data_keys_per_region: u64::MAX,
    };
    let every = (keys / sample.max(1)).max(1);
    let context = EncryptionContext::default();
    let started = Instant::now();
    let mut first = 0;
    while first < keys {
        let last = (first + CHUNK).min(keys);
        let mut records = Vec::with_capacity(2 * CHUNK as usize);
        for stage in (first..last).step_by(STAGE as usize) {
            let staging = Arc::new(MemoryStore::default());
            let engine = Engine::new(
                staging.clone(),
                seal.clone(),
                Arc::new(SystemClock),
                config.clone(),
            );
            for i in stage..(stage + STAGE).min(last) {
                let key_id = create(&engine, &caller, &context, i)?;
                if i % every == 0 && i / every < sample {
                    let (_, blob) = engine.encrypt(&caller, &key_id, &[b'x'; 32], &context)?;
                    println!("{key_id} {}", hex::encode(blob));
                }
            }
            staging.export(&mut |record| {
                if matches!(record, Record::Key(_) | Record::DataKey(_)) {
                    records.push(record);
                }
                Ok(())
            })?;
        }
        store.import_batch(&records)?;
        first = last;
        eprintln!(
            "{last} keys and data keys stored ({:.0} a second)",
            last as f64 / started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Key `i` and a hosted data key under it, as CreateKey and GenerateDataKey would make them;
/// returns the key's id.
fn create(
    engine: &Engine,
    caller: &Caller,
    context: &EncryptionContext,
    i: u64,
) -> anyhow::Result<String> {
    let key = engine.create_key(
        caller,
        NewKey {
            hsm_cluster: None,
            alias: format!("fill-{i:07}"),
            description: String::new(),
            usage: KeyUsage::EncryptDecrypt,
            spec: KeySpec::Aes256,
            origin: Origin::Kms,
            tags: Vec::new(),
        },
    )?;
    let key_id = key.key_id.to_string();
    engine.generate_hosted_data_key(
        caller,
        &key_id,
        32,
        context,
        NewDataKey {
            name: format!("fill-data-{i:07}"),
            description: String::new(),
            tags: Vec::new(),
            expected_hsm_cluster: None,
        },
    )?;
    Ok(key_id)
}
