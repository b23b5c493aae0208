//! The fixture file of `kmsd dev --fixtures FILE`: accounts, users with their credentials and
//! policies, and keys with fixed ids and, where given, fixed material, made at start, so every
//! run of a test suite finds the same principals and keys and a ciphertext saved by one run
//! decrypts in the next. Nonces stay random: a fixture fixes keys, never the randomness of what
//! they encrypt.
//!
//! The file is read and checked whole before anything starts; each refusal names the entry (by
//! its index and name) and the field. What a store already holds (a `--persist` store of an
//! earlier run) is left as it is.

mod identity;

pub use identity::{FixedAccount, FixedPolicy, FixedUser};

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;
use uuid::Uuid;
use zeroize::Zeroizing;

use kms_core::base64_text::B64;
use kms_core::engine::{NewDataKey, NewKey, raw_material_len};
use kms_core::{
    Caller, Engine, KeySpec, KeyState, KeyUsage, KmsError, Origin, Tag, WrappingAlgorithm,
    WrappingKeySpec,
};
use kms_crypto::public_key::{WrapAlgorithm, encrypt_to_public_key_der};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    #[serde(default)]
    accounts: Vec<identity::AccountFixture>,
    #[serde(default)]
    policies: Vec<identity::PolicyFixture>,
    #[serde(default)]
    users: Vec<identity::UserFixture>,
    #[serde(default)]
    keys: Vec<KeyFixture>,
    #[serde(default)]
    data_keys: Vec<DataKeyFixture>,
}

/// A hosted data key: its plaintext sealed under one of the fixture's keys, in that key's
/// account and region.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataKeyFixture {
    id: Uuid,
    name: String,
    #[serde(default)]
    description: String,
    /// The id of one of the fixture's keys (an encrypt-decrypt symmetric key).
    key: Uuid,
    /// Base64 of the data key, 1 to 1024 bytes.
    plaintext: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// One key: the engine's names for usage, spec, origin and state (see `docs/dev-mode.md`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFixture {
    id: Uuid,
    /// One of the fixture's accounts; the root account by default.
    #[serde(default)]
    account: Option<kms_core::AccountId>,
    alias: String,
    #[serde(default)]
    description: String,
    #[serde(default = "encrypt_decrypt")]
    usage: KeyUsage,
    #[serde(default = "aes_256")]
    spec: KeySpec,
    #[serde(default = "service_origin")]
    origin: Origin,
    /// Base64 of the material, as key material import takes it: raw bytes for a symmetric
    /// key, PKCS#8 DER for a private key. Required for an `External` key.
    material: Option<String>,
    #[serde(default = "enabled")]
    state: KeyState,
    /// The served region to make it in; the first served region by default.
    region: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

fn encrypt_decrypt() -> KeyUsage {
    KeyUsage::EncryptDecrypt
}
fn aes_256() -> KeySpec {
    KeySpec::Aes256
}
fn service_origin() -> Origin {
    Origin::Kms
}
fn enabled() -> KeyState {
    KeyState::Enabled
}

/// A checked key fixture, ready to make.
pub struct FixedKey {
    /// `keys[i] (alias)`, for messages.
    name: String,
    id: Uuid,
    new: NewKey,
    material: Option<Zeroizing<Vec<u8>>>,
    enabled: bool,
    region: Option<String>,
    account: Option<kms_core::AccountId>,
}

/// A checked hosted data key fixture, ready to import.
struct FixedDataKey {
    /// `data_keys[i] (name)`, for messages.
    name: String,
    id: Uuid,
    /// Index into the fixture's keys of its CMK.
    key: usize,
    plaintext: Zeroizing<Vec<u8>>,
    new: NewDataKey,
}

/// The fixtures of a file, checked.
pub struct Fixtures {
    /// The file, for messages.
    source: PathBuf,
    pub accounts: Vec<FixedAccount>,
    pub policies: Vec<FixedPolicy>,
    pub users: Vec<FixedUser>,
    keys: Vec<FixedKey>,
    data_keys: Vec<FixedDataKey>,
}

impl Fixtures {
    /// Reads and checks `path`; `regions` are the served regions.
    pub fn load(path: &Path, regions: &[String]) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the fixtures {}", path.display()))?;
        let mut fixtures =
            Self::parse(&text, regions).with_context(|| format!("fixtures {}", path.display()))?;
        fixtures.source = path.to_owned();
        Ok(fixtures)
    }

    /// The file the fixtures came from, for messages.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Checks fixture text; `regions` are the served regions.
    pub fn parse(text: &str, regions: &[String]) -> anyhow::Result<Self> {
        let file: FixtureFile = toml::from_str(text)?;
        let accounts = identity::accounts(file.accounts)?;
        let policies = identity::policies(file.policies, &accounts)?;
        let users = identity::users(file.users, &accounts, &policies)?;
        let mut ids = HashSet::new();
        let mut keys = Vec::with_capacity(file.keys.len());
        for (i, k) in file.keys.into_iter().enumerate() {
            let name = format!("keys[{i}] ({})", k.alias);
            anyhow::ensure!(ids.insert(k.id), "{name}: id {} appears twice", k.id);
            identity::known_account(&name, k.account, &accounts)?;
            // Tencent's rules, the stricter dialect's, so the key is reachable by alias in both.
            anyhow::ensure!(
                k.alias.len() <= 60 && kms_tencent::actions::is_valid_alias(&k.alias),
                "{name}: alias must be 1 to 60 letters, digits, '-' or '_', start with a letter \
                 or digit, and not start with 'kms-'"
            );
            anyhow::ensure!(
                k.usage.allows(k.spec),
                "{name}: a {:?} key cannot be used for {:?}",
                k.spec,
                k.usage
            );
            anyhow::ensure!(
                matches!(k.state, KeyState::Enabled | KeyState::Disabled),
                "{name}: state must be Enabled or Disabled"
            );
            if let Some(region) = &k.region {
                anyhow::ensure!(
                    regions.contains(region),
                    "{name}: region {region:?} is not served (served: {})",
                    regions.join(", ")
                );
            }
            let material = k
                .material
                .map(|text| {
                    B64.decode(text.trim())
                        .map(Zeroizing::new)
                        .map_err(|_| anyhow::anyhow!("{name}: material is not base64"))
                })
                .transpose()?;
            anyhow::ensure!(
                k.origin == Origin::Kms || material.is_some(),
                "{name}: an External key needs its material"
            );
            anyhow::ensure!(
                k.origin == Origin::Kms || k.spec.is_symmetric(),
                "{name}: External keys are symmetric (Aes256 or Sm4)"
            );
            // Checked before the start: a refused import would leave the key waiting for one.
            if let (Some(material), Some(expected)) = (&material, raw_material_len(k.spec)) {
                anyhow::ensure!(
                    material.len() == expected,
                    "{name}: a {:?} key's material is {expected} bytes, not {}",
                    k.spec,
                    material.len()
                );
            }
            keys.push(FixedKey {
                name,
                id: k.id,
                new: NewKey {
                    alias: k.alias,
                    description: k.description,
                    usage: k.usage,
                    spec: k.spec,
                    origin: k.origin,
                    tags: k
                        .tags
                        .into_iter()
                        .map(|(key, value)| Tag { key, value })
                        .collect(),
                    hsm_cluster: None,
                },
                material,
                enabled: k.state == KeyState::Enabled,
                region: k.region,
                account: k.account,
            });
        }
        let data_keys = data_keys(file.data_keys, &keys, &mut ids)?;
        Ok(Self {
            source: PathBuf::new(),
            accounts,
            policies,
            users,
            keys,
            data_keys,
        })
    }

    /// Makes every key not already in the store, as the root account `caller` (or the
    /// fixture's account) in its region (or the fixture's); how many it made. The accounts must
    /// have been made first.
    pub fn apply(&self, engine: &Engine, caller: &Caller) -> anyhow::Result<usize> {
        let mut made = 0;
        for key in &self.keys {
            let caller = key_caller(key, caller);
            let refused = |e: KmsError| {
                anyhow::anyhow!("fixtures {}: {}: {e}", self.source.display(), key.name)
            };
            match engine.describe_key(&caller, &key.id.to_string()) {
                Ok(_) => continue,
                Err(KmsError::KeyNotFound) => {}
                Err(e) => return Err(refused(e)),
            }
            make(engine, &caller, key).map_err(refused)?;
            made += 1;
        }
        for dk in &self.data_keys {
            let key = &self.keys[dk.key];
            let caller = key_caller(key, caller);
            let refused = |e: KmsError| {
                anyhow::anyhow!("fixtures {}: {}: {e}", self.source.display(), dk.name)
            };
            match engine.describe_data_key(&caller, &dk.id.to_string()) {
                Ok(_) => continue,
                Err(KmsError::DataKeyNotFound) => {}
                Err(e) => return Err(refused(e)),
            }
            engine
                .import_fixed_data_key(
                    &caller,
                    &key.id.to_string(),
                    &dk.plaintext,
                    dk.new.clone(),
                    dk.id,
                )
                .map_err(refused)?;
            made += 1;
        }
        Ok(made)
    }
}

/// The caller a key fixture is made as: the root `caller`, or the fixture's account, in the
/// key's region.
fn key_caller(key: &FixedKey, caller: &Caller) -> Caller {
    Caller {
        account: key.account.unwrap_or(caller.account),
        region: key.region.clone().unwrap_or_else(|| caller.region.clone()),
        ..caller.clone()
    }
}

/// The data key fixtures, checked against the keys; `ids` holds every key id already seen.
fn data_keys(
    list: Vec<DataKeyFixture>,
    keys: &[FixedKey],
    ids: &mut HashSet<Uuid>,
) -> anyhow::Result<Vec<FixedDataKey>> {
    let mut names = HashSet::new();
    list.into_iter()
        .enumerate()
        .map(|(i, d)| {
            let name = format!("data_keys[{i}] ({})", d.name);
            anyhow::ensure!(ids.insert(d.id), "{name}: id {} appears twice", d.id);
            let key = keys.iter().position(|k| k.id == d.key).ok_or_else(|| {
                anyhow::anyhow!("{name}: key {} is not among the fixture's keys", d.key)
            })?;
            let cmk = &keys[key];
            anyhow::ensure!(
                cmk.new.usage == KeyUsage::EncryptDecrypt && cmk.new.spec.is_symmetric(),
                "{name}: its key must be a symmetric EncryptDecrypt key"
            );
            anyhow::ensure!(
                names.insert((cmk.account, cmk.region.clone(), d.name.clone())),
                "{name}: a data key of this name is already in the key's account and region"
            );
            anyhow::ensure!(
                kms_tencent::actions::is_valid_alias(&d.name) && d.name.len() <= 60,
                "{name}: name must be 1 to 60 letters, digits, '-' or '_', starting with a \
                 letter or digit"
            );
            let plaintext = B64
                .decode(d.plaintext.trim())
                .map(Zeroizing::new)
                .map_err(|_| anyhow::anyhow!("{name}: plaintext is not base64"))?;
            anyhow::ensure!(
                (1..=1024).contains(&plaintext.len()),
                "{name}: plaintext must be 1 to 1024 bytes, not {}",
                plaintext.len()
            );
            Ok(FixedDataKey {
                name,
                id: d.id,
                key,
                plaintext,
                new: NewDataKey {
                    name: d.name,
                    description: d.description,
                    tags: d
                        .tags
                        .into_iter()
                        .map(|(key, value)| Tag { key, value })
                        .collect(),
                    expected_hsm_cluster: None,
                },
            })
        })
        .collect()
}

fn make(engine: &Engine, caller: &Caller, key: &FixedKey) -> Result<(), KmsError> {
    let id = key.id.to_string();
    match key.new.origin {
        Origin::Kms => {
            engine.create_fixed_key(
                caller,
                key.new.clone(),
                key.id,
                key.material.as_ref().map(|m| m.as_slice()),
            )?;
        }
        // Imported material takes the customer's path: import parameters, the material wrapped
        // to their public key, the import.
        Origin::External => {
            engine.create_fixed_key(caller, key.new.clone(), key.id, None)?;
            let material = key.material.as_ref().map_or(&[][..], |m| m.as_slice());
            let issued = engine.get_parameters_for_import(
                caller,
                &id,
                WrappingAlgorithm::RsaesOaepSha256,
                WrappingKeySpec::Rsa2048,
            )?;
            let wrapped = encrypt_to_public_key_der(
                &issued.public_key,
                WrapAlgorithm::RsaOaepSha256,
                material,
            )
            .map_err(|e| KmsError::Internal(format!("wrapping the material: {e}")))?;
            engine.import_key_material(caller, &id, &wrapped, &issued.token, 0)?;
        }
    }
    if !key.enabled {
        engine.disable_key(caller, &id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<String> {
        vec!["ap-guangzhou".into(), "ap-shanghai".into()]
    }

    fn refusal(text: &str) -> String {
        format!("{:#}", Fixtures::parse(text, &regions()).err().unwrap())
    }

    const KEY: &str = "[[keys]]\nid = \"00000000-0000-4000-8000-000000000001\"\nalias = \"a\"\n";

    #[test]
    fn defaults_make_an_enabled_aes_key_of_the_service() {
        let fixtures = Fixtures::parse(KEY, &regions()).unwrap();
        let key = &fixtures.keys[0];
        assert_eq!(
            (key.new.usage, key.new.spec, key.new.origin, key.enabled),
            (KeyUsage::EncryptDecrypt, KeySpec::Aes256, Origin::Kms, true)
        );
        assert!(key.material.is_none() && key.region.is_none());
    }

    #[test]
    fn each_refusal_names_the_key_and_field() {
        assert!(
            refusal(&format!("{KEY}{KEY}"))
                .contains("keys[1] (a): id 00000000-0000-4000-8000-000000000001 appears twice")
        );
        assert!(
            refusal(&format!("{KEY}spec = \"Hmac256\""))
                .contains("keys[0] (a): a Hmac256 key cannot be used for EncryptDecrypt")
        );
        assert!(
            refusal(&format!("{KEY}state = \"PendingDelete\""))
                .contains("state must be Enabled or Disabled")
        );
        assert!(
            refusal(&format!("{KEY}region = \"eu-frankfurt\"")).contains(
                "region \"eu-frankfurt\" is not served (served: ap-guangzhou, ap-shanghai)"
            )
        );
        assert!(
            refusal(&format!("{KEY}material = \"not base64!\""))
                .contains("keys[0] (a): material is not base64")
        );
        assert!(
            refusal(&format!("{KEY}material = \"AAAA\""))
                .contains("keys[0] (a): a Aes256 key's material is 32 bytes, not 3")
        );
        assert!(
            refusal(&format!("{KEY}origin = \"External\""))
                .contains("an External key needs its material")
        );
        assert!(refusal(&format!("{KEY}colour = \"red\"")).contains("unknown field `colour`"));
        assert!(refusal("[[keys]]\nid = \"nope\"\nalias = \"a\"\n").contains("line 2"));
        assert!(refusal(&format!("{KEY}spec = \"Aes512\"")).contains("unknown variant `Aes512`"));
        assert!(
            refusal(&KEY.replace("\"a\"", "\"bad alias!\""))
                .contains("keys[0] (bad alias!): alias must be")
        );
    }
}
