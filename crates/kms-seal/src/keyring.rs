//! The root keyring: the root keys that seal records, by generation, and the [`Seal`] the engine
//! uses over them.
//!
//! Generation 0 is a key-file store's original key, which seals records directly; its blobs are
//! bare AES-256-GCM (`nonce || ciphertext || tag`), as they always were. Every later generation
//! lives only in a keyring that the root of trust wraps, and its blobs carry the generation
//! ([`BLOB_PREFIX`], then the generation, big-endian), so a rotation can tell which records it
//! has sealed again and a node can tell which key opens a blob. A keyring holds more than one
//! generation only while a rotation is under way.

use std::collections::BTreeMap;
use std::sync::RwLock;

use zeroize::Zeroizing;

use kms_core::{Seal, SealError};
use kms_crypto::Aes256GcmKey;

/// Starts every blob sealed under a generation above 0. A bare generation-0 blob starts with a
/// random nonce, so it may start with these bytes too (one time in 2^32): opening falls back to
/// generation 0 when the generation named does not authenticate the blob.
pub const BLOB_PREFIX: [u8; 4] = [0x00, b'K', b'R', b'K'];
const BLOB_HEADER_LEN: usize = BLOB_PREFIX.len() + 4;

/// Identifies a serialized keyring, so a later format can be told apart.
const KEYRING_MAGIC: &[u8; 8] = b"KMSRING1";
/// The most generations a keyring holds: the current one, the one a rotation leaves, and room
/// for a rotation started over an unfinished one.
const MAX_GENERATIONS: usize = 8;

/// The root keys by generation, with the check value the store keeps ([`Seal::check_value`]).
#[derive(Clone)]
pub struct Keyring {
    check: [u8; 8],
    current: u32,
    keys: BTreeMap<u32, Aes256GcmKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("generations", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why a serialized keyring was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("the root keyring is malformed")]
    Format,
    #[error("the OS random source failed while making a root key")]
    Random,
}

impl Keyring {
    /// A key-file store's keyring: the file's key as generation 0, sealing directly.
    pub fn legacy(key: Aes256GcmKey) -> Self {
        Self {
            check: key.check_value(),
            current: 0,
            keys: BTreeMap::from([(0, key)]),
        }
    }

    /// A new store's keyring: one random root key, generation 1, and a check value derived from
    /// a key used for nothing else (so it says nothing of the root key).
    pub fn generate() -> Result<Self, KeyringError> {
        let key = Aes256GcmKey::generate().map_err(|_| KeyringError::Random)?;
        let marker = Aes256GcmKey::generate().map_err(|_| KeyringError::Random)?;
        Ok(Self {
            check: marker.check_value(),
            current: 1,
            keys: BTreeMap::from([(1, key)]),
        })
    }

    pub fn current(&self) -> u32 {
        self.current
    }

    /// The generations held, oldest first.
    pub fn generations(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Adds a fresh root key as the new current generation (the start of a rotation). Refused
    /// when the keyring is full.
    pub fn add_generation(&mut self) -> Result<u32, KeyringError> {
        if self.keys.len() >= MAX_GENERATIONS {
            return Err(KeyringError::Format);
        }
        let next = self.keys.keys().next_back().copied().unwrap_or(0) + 1;
        let key = Aes256GcmKey::generate().map_err(|_| KeyringError::Random)?;
        self.keys.insert(next, key);
        self.current = next;
        Ok(next)
    }

    /// Forgets every generation but the current one (the end of a rotation).
    pub fn retire_old_generations(&mut self) {
        let current = self.current;
        self.keys.retain(|generation, _| *generation == current);
    }

    /// The generation a blob was sealed under (0 for a bare blob).
    pub fn generation_of(blob: &[u8]) -> u32 {
        match blob.split_first_chunk::<BLOB_HEADER_LEN>() {
            Some((header, _)) if header[..4] == BLOB_PREFIX => {
                u32::from_be_bytes([header[4], header[5], header[6], header[7]])
            }
            _ => 0,
        }
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let key = &self.keys[&self.current];
        let sealed = key
            .seal(aad, plaintext)
            .map_err(|e| SealError::Backend(e.to_string()))?;
        if self.current == 0 {
            return Ok(sealed);
        }
        let mut out = Vec::with_capacity(BLOB_HEADER_LEN + sealed.len());
        out.extend_from_slice(&BLOB_PREFIX);
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unseal(&self, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let generation = Self::generation_of(blob);
        if generation != 0 {
            if let Some(key) = self.keys.get(&generation) {
                if let Ok(plaintext) = key.open(aad, &blob[BLOB_HEADER_LEN..]) {
                    return Ok(plaintext);
                }
            }
        }
        match self.keys.get(&0) {
            Some(key) => key.open(aad, blob).map_err(|_| SealError::Authentication),
            None => Err(SealError::Authentication),
        }
    }

    /// The keyring's bytes, for the root of trust to wrap; zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(24 + self.keys.len() * 36));
        out.extend_from_slice(KEYRING_MAGIC);
        out.extend_from_slice(&self.check);
        out.extend_from_slice(&self.current.to_be_bytes());
        out.push(self.keys.len() as u8);
        for (generation, key) in &self.keys {
            out.extend_from_slice(&generation.to_be_bytes());
            out.extend_from_slice(key.expose());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyringError> {
        let rest = bytes
            .strip_prefix(KEYRING_MAGIC.as_slice())
            .ok_or(KeyringError::Format)?;
        let (check, rest) = rest.split_first_chunk::<8>().ok_or(KeyringError::Format)?;
        let (current, rest) = rest.split_first_chunk::<4>().ok_or(KeyringError::Format)?;
        let (count, mut rest) = rest.split_first().ok_or(KeyringError::Format)?;
        let count = usize::from(*count);
        if count == 0 || count > MAX_GENERATIONS || rest.len() != count * 36 {
            return Err(KeyringError::Format);
        }
        let mut keys = BTreeMap::new();
        while let Some((entry, tail)) = rest.split_first_chunk::<36>() {
            let generation = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let key = Aes256GcmKey::from_bytes(&entry[4..]).map_err(|_| KeyringError::Format)?;
            if keys.insert(generation, key).is_some() {
                return Err(KeyringError::Format);
            }
            rest = tail;
        }
        let current = u32::from_be_bytes(*current);
        if !keys.contains_key(&current) {
            return Err(KeyringError::Format);
        }
        Ok(Self {
            check: *check,
            current,
            keys,
        })
    }
}

/// The seal the engine holds: the root keyring while unsealed, nothing while sealed. Sealing
/// drops the keys (zeroized); every seal and unseal then answers [`SealError::Sealed`].
#[derive(Default)]
pub struct RootKeys {
    keyring: RwLock<Option<Keyring>>,
}

impl RootKeys {
    /// Root keys that start sealed.
    pub fn sealed() -> Self {
        Self::default()
    }

    pub fn unsealed(keyring: Keyring) -> Self {
        Self {
            keyring: RwLock::new(Some(keyring)),
        }
    }

    /// Installs `keyring`: unsealing, or the next step of a rotation.
    pub fn install(&self, keyring: Keyring) {
        *self.keyring.write().unwrap_or_else(|e| e.into_inner()) = Some(keyring);
    }

    /// Drops the keys from memory.
    pub fn seal_now(&self) {
        self.keyring
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    pub fn is_sealed(&self) -> bool {
        self.keyring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// A copy of the keyring, for a rotation to change and install; `None` while sealed.
    pub fn keyring(&self) -> Option<Keyring> {
        self.keyring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn with<T>(&self, f: impl FnOnce(&Keyring) -> Result<T, SealError>) -> Result<T, SealError> {
        match &*self.keyring.read().unwrap_or_else(|e| e.into_inner()) {
            Some(keyring) => f(keyring),
            None => Err(SealError::Sealed),
        }
    }
}

impl Seal for RootKeys {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.with(|keyring| keyring.seal(aad, plaintext))
    }

    fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.with(|keyring| keyring.unseal(aad, sealed))
    }

    fn check_value(&self) -> Result<[u8; 8], SealError> {
        self.with(|keyring| Ok(keyring.check))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_zero_blobs_are_bare_and_open_as_before() {
        let key = Aes256GcmKey::generate().unwrap();
        let before = key.seal(b"aad", b"secret").unwrap();
        let keys = RootKeys::unsealed(Keyring::legacy(key.clone()));
        assert_eq!(&keys.unseal(b"aad", &before).unwrap()[..], b"secret");
        let sealed = keys.seal(b"aad", b"secret").unwrap();
        assert_eq!(Keyring::generation_of(&sealed), 0);
        assert_eq!(&key.open(b"aad", &sealed).unwrap()[..], b"secret");
        assert_eq!(keys.check_value().unwrap(), key.check_value());
    }

    #[test]
    fn a_rotation_seals_under_the_new_generation_and_opens_both_until_retired() {
        let key = Aes256GcmKey::generate().unwrap();
        let mut keyring = Keyring::legacy(key);
        let check = keyring.check;
        let keys = RootKeys::unsealed(keyring.clone());
        let old = keys.seal(b"aad", b"old").unwrap();
        assert_eq!(keyring.add_generation().unwrap(), 1);
        keys.install(keyring.clone());
        let new = keys.seal(b"aad", b"new").unwrap();
        assert_eq!(Keyring::generation_of(&new), 1);
        assert_eq!(&new[..4], &BLOB_PREFIX);
        assert_eq!(&keys.unseal(b"aad", &old).unwrap()[..], b"old");
        assert_eq!(&keys.unseal(b"aad", &new).unwrap()[..], b"new");
        keyring.retire_old_generations();
        keys.install(keyring);
        assert_eq!(keys.unseal(b"aad", &old), Err(SealError::Authentication));
        assert_eq!(&keys.unseal(b"aad", &new).unwrap()[..], b"new");
        assert_eq!(
            keys.check_value().unwrap(),
            check,
            "rotation keeps the check"
        );
    }

    #[test]
    fn a_sealed_keyring_refuses_everything() {
        let keys = RootKeys::unsealed(Keyring::generate().unwrap());
        let blob = keys.seal(b"aad", b"secret").unwrap();
        keys.seal_now();
        assert!(keys.is_sealed());
        assert_eq!(keys.seal(b"aad", b"x"), Err(SealError::Sealed));
        assert_eq!(keys.unseal(b"aad", &blob), Err(SealError::Sealed));
        assert_eq!(keys.check_value(), Err(SealError::Sealed));
    }

    #[test]
    fn a_keyring_round_trips_and_malformed_ones_are_refused() {
        let mut keyring = Keyring::generate().unwrap();
        keyring.add_generation().unwrap();
        let bytes = keyring.to_bytes();
        let again = Keyring::from_bytes(&bytes).unwrap();
        assert_eq!(again.current(), 2);
        assert_eq!(again.generations(), [1, 2]);
        assert_eq!(again.check, keyring.check);
        for cut in 0..bytes.len() {
            assert_eq!(
                Keyring::from_bytes(&bytes[..cut]).err(),
                Some(KeyringError::Format),
                "{cut}"
            );
        }
        let mut wrong_current = bytes.to_vec();
        wrong_current[16..20].copy_from_slice(&9u32.to_be_bytes());
        assert!(Keyring::from_bytes(&wrong_current).is_err());
        let mut duplicate = bytes.to_vec();
        duplicate[57..61].copy_from_slice(&1u32.to_be_bytes());
        assert!(Keyring::from_bytes(&duplicate).is_err());
    }

    #[test]
    fn debug_shows_no_key() {
        let keyring = Keyring::generate().unwrap();
        let shown = format!("{keyring:?}");
        assert!(shown.contains("current: 1"), "{shown}");
        assert!(!shown.contains(&format!("{:?}", keyring.keys[&1].expose())));
    }
}
