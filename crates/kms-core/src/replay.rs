//! A memory of signatures already used, so a captured request cannot be sent again while its
//! timestamp is still inside the validity window.
//!
//! Entries are 16-byte digests of what identifies a request (a legacy signature's Nonce and
//! Timestamp, a TC3 or SDK-HMAC signature), kept per credential until the request's timestamp
//! leaves the window. Requests reach it only once their signature verified, so every credential
//! in it is one the directory holds.
//!
//! A [`ReplayMemory`] keeps them in this process (bounded per credential) or, when several nodes serve
//! one store, in the store's [`SharedState`], so a request used on one node is a replay on
//! every other.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use kms_crypto::digest::sha256;

use crate::shared::SharedState;
use crate::store::StoreError;

const SHARDS: usize = 16;

/// Why a request was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The same identifier was used before, and its window has not passed.
    Replayed,
    /// The credential holds as many live entries as it may (in this process's memory only).
    Full,
    /// The shared store could not record the identifier. The request is refused (fail closed):
    /// admitting what could not be recorded would let it be replayed on every node.
    Unavailable(StoreError),
}

/// One memory of used identifiers (a dialect's legacy nonces, or its signatures), in this
/// process or in the store every node shares.
pub struct ReplayMemory {
    /// Names the memory in the shared store, where each credential's entries are the room
    /// `name:credential`; two memories never share a room.
    name: &'static str,
    place: Place,
}

enum Place {
    Local(ReplayCache),
    /// No room bound here: a credential's entries in the shared store are bounded by the
    /// validity window and the server's rate limit on the credential's requests, not by a count.
    Shared(Arc<dyn SharedState>),
}

impl ReplayMemory {
    /// A memory in this process, with room for `per_credential` live entries of each credential.
    pub fn local(name: &'static str, per_credential: usize) -> Self {
        Self {
            name,
            place: Place::Local(ReplayCache::new(per_credential)),
        }
    }

    /// A memory in the store several nodes share: what one node admitted, every node refuses.
    pub fn shared(name: &'static str, state: Arc<dyn SharedState>) -> Self {
        Self {
            name,
            place: Place::Shared(state),
        }
    }

    /// Records `id` as used by `credential` until `expires`; refuses it when it is already
    /// recorded, when the credential has no room left (in memory), or when the shared store
    /// cannot record it.
    pub fn admit(
        &self,
        credential: &str,
        id: &[&[u8]],
        now: u64,
        expires: u64,
    ) -> Result<(), Refusal> {
        match &self.place {
            Place::Local(cache) => cache.admit(credential, id, now, expires),
            Place::Shared(state) => {
                let room = format!("{}:{credential}", self.name);
                match state.first_use(&room, &digest(id), now, expires) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(Refusal::Replayed),
                    Err(e) => Err(Refusal::Unavailable(e)),
                }
            }
        }
    }
}

/// The in-process memory: entries per credential, in shards. Each credential has room for a
/// fixed number of live entries: when its room is full even after dropping what expired, its
/// new requests are refused rather than forgotten (forgetting would reopen the replay), and no
/// other credential's are. A credential whose entries have all expired is forgotten whole, so
/// memory follows the credentials that signed within the last window, at most the room of each.
/// The room bound is this memory's alone: a shared store has none (see [`ReplayMemory::shared`]).
struct ReplayCache {
    shards: Vec<Mutex<Shard>>,
    /// Picks a credential's shard; seeded per process, so no client chooses collisions.
    shard_of: std::collections::hash_map::RandomState,
    per_credential: usize,
}

#[derive(Default)]
struct Shard {
    by_credential: HashMap<String, Entries>,
    /// The last time credentials whose entries all expired were dropped.
    swept_at: u64,
}

#[derive(Default)]
struct Entries {
    /// Digest of the identifier → the time after which it may be forgotten.
    expiry: HashMap<[u8; 16], u64>,
    /// The latest of those times: once it passed, the whole credential may be forgotten.
    last_expiry: u64,
    /// The last time expired entries were dropped.
    pruned_at: u64,
}

impl ReplayCache {
    /// A cache with room for `per_credential` live entries of each credential.
    fn new(per_credential: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_of: Default::default(),
            per_credential: per_credential.max(1),
        }
    }

    /// Records `id` as used by `credential` until `expires`; refuses it when it is already
    /// recorded, or when the credential has no room left.
    fn admit(&self, credential: &str, id: &[&[u8]], now: u64, expires: u64) -> Result<(), Refusal> {
        let digest = digest(id);
        let shard_index = (self.shard_of.hash_one(credential) % SHARDS as u64) as usize;
        let mut shard = self.shards[shard_index]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Looks at each credential's latest expiry only, not at its entries: a fixed cost per
        // credential of the shard, at most once a second.
        if shard.swept_at != now {
            shard
                .by_credential
                .retain(|_, entries| entries.last_expiry >= now);
            shard.swept_at = now;
        }
        if !shard.by_credential.contains_key(credential) {
            shard
                .by_credential
                .insert(credential.to_owned(), Entries::default());
        }
        let entries = shard
            .by_credential
            .get_mut(credential)
            .expect("inserted above");
        if let Some(&until) = entries.expiry.get(&digest)
            && until >= now
        {
            return Err(Refusal::Replayed);
        }
        // Dropping expired entries walks the credential's entries, so it runs at most once a
        // second (entries expire by the second, so a second walk would find nothing new).
        if entries.pruned_at != now {
            entries.expiry.retain(|_, until| *until >= now);
            entries.pruned_at = now;
        }
        if entries.expiry.len() >= self.per_credential {
            return Err(Refusal::Full);
        }
        entries.expiry.insert(digest, expires);
        entries.last_expiry = entries.last_expiry.max(expires);
        Ok(())
    }

    /// How many credentials the cache holds entries of.
    #[cfg(test)]
    fn credentials(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap().by_credential.len())
            .sum()
    }
}

/// A digest of the length-prefixed parts, so ("ab", "c") and ("a", "bc") differ.
fn digest(parts: &[&[u8]]) -> [u8; 16] {
    let mut framed = Vec::with_capacity(parts.iter().map(|p| p.len() + 8).sum());
    for part in parts {
        framed.extend_from_slice(&(part.len() as u64).to_be_bytes());
        framed.extend_from_slice(part);
    }
    let full = sha256(&framed);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FailingSharedState, MemorySharedState};

    #[test]
    fn a_shared_memory_refuses_on_every_node_what_one_admitted() {
        let state: Arc<dyn SharedState> = Arc::new(MemorySharedState::default());
        let node_a = ReplayMemory::shared("legacy", state.clone());
        let node_b = ReplayMemory::shared("legacy", state.clone());
        assert_eq!(node_a.admit("AKID", &[b"n", b"1"], 1000, 1300), Ok(()));
        assert_eq!(
            node_b.admit("AKID", &[b"n", b"1"], 1001, 1301),
            Err(Refusal::Replayed)
        );
        // Parts are framed as in memory, credentials and memories apart.
        assert_eq!(node_b.admit("AKID", &[b"n1"], 1001, 1301), Ok(()));
        assert_eq!(node_b.admit("AKID2", &[b"n", b"1"], 1001, 1301), Ok(()));
        let other = ReplayMemory::shared("signatures", state.clone());
        assert_eq!(other.admit("AKID", &[b"n", b"1"], 1001, 1301), Ok(()));
        // Room is the in-memory cache's bound only: the shared one takes what the window holds.
        for i in 0u32..500 {
            assert_eq!(
                node_a.admit("AKID", &[&i.to_be_bytes()], 1002, 1302),
                Ok(())
            );
        }
        assert_eq!(node_b.admit("AKID", &[b"n", b"1"], 1301, 1601), Ok(()));
    }

    #[test]
    fn a_shared_memory_that_cannot_record_refuses() {
        for failing in [FailingSharedState::Unavailable, FailingSharedState::Broken] {
            let memory = ReplayMemory::shared("legacy", Arc::new(failing));
            let refused = memory.admit("AKID", &[b"n"], 1000, 1300).unwrap_err();
            assert!(matches!(refused, Refusal::Unavailable(_)), "{refused:?}");
        }
    }

    #[test]
    fn a_local_memory_is_the_bounded_cache() {
        let memory = ReplayMemory::local("legacy", 2);
        assert_eq!(memory.admit("AKID", &[b"a"], 5, 100), Ok(()));
        assert_eq!(
            memory.admit("AKID", &[b"a"], 5, 100),
            Err(Refusal::Replayed)
        );
        assert_eq!(memory.admit("AKID", &[b"b"], 5, 100), Ok(()));
        assert_eq!(memory.admit("AKID", &[b"c"], 5, 100), Err(Refusal::Full));
    }

    #[test]
    fn second_use_is_refused_until_it_expires() {
        let cache = ReplayCache::new(100);
        assert_eq!(cache.admit("AKID", &[b"nonce"], 1000, 1300), Ok(()));
        assert_eq!(
            cache.admit("AKID", &[b"nonce"], 1200, 1500),
            Err(Refusal::Replayed)
        );
        assert_eq!(cache.admit("AKID", &[b"other"], 1200, 1500), Ok(()));
        assert_eq!(cache.admit("AKID", &[b"nonce"], 1301, 1601), Ok(()));
    }

    #[test]
    fn credentials_do_not_share_identifiers() {
        let cache = ReplayCache::new(100);
        assert_eq!(cache.admit("AKID-a", &[b"nonce"], 1000, 1300), Ok(()));
        assert_eq!(cache.admit("AKID-b", &[b"nonce"], 1000, 1300), Ok(()));
        assert_eq!(
            cache.admit("AKID-a", &[b"nonce"], 1000, 1300),
            Err(Refusal::Replayed)
        );
    }

    #[test]
    fn parts_are_framed() {
        let cache = ReplayCache::new(100);
        assert_eq!(cache.admit("AKID", &[b"ab", b"c"], 1, 10), Ok(()));
        assert_eq!(cache.admit("AKID", &[b"a", b"bc"], 1, 10), Ok(()));
    }

    #[test]
    fn a_full_credential_refuses_instead_of_forgetting() {
        let cache = ReplayCache::new(50);
        for i in 0u32..50 {
            assert_eq!(cache.admit("AKID", &[&i.to_be_bytes()], 5, 100), Ok(()));
        }
        assert_eq!(
            cache.admit("AKID", &[b"one more"], 5, 100),
            Err(Refusal::Full)
        );
        // What it holds is still refused as replayed, not forgotten.
        assert_eq!(
            cache.admit("AKID", &[&0u32.to_be_bytes()], 6, 100),
            Err(Refusal::Replayed)
        );
        // Once the entries expire there is room again.
        assert_eq!(cache.admit("AKID", &[b"later"], 101, 400), Ok(()));
    }

    #[test]
    fn one_credential_filling_its_room_denies_no_other() {
        let cache = ReplayCache::new(1000);
        let mut refused = 0;
        for i in 0u32..100_000 {
            if cache.admit("AKID-flood", &[&i.to_be_bytes()], 5, 300) == Err(Refusal::Full) {
                refused += 1;
            }
        }
        assert_eq!(refused, 99_000);
        for other in ["AKID-a", "AKID-b", "AKID-c"] {
            for i in 0u32..1000 {
                assert_eq!(cache.admit(other, &[&i.to_be_bytes()], 5, 300), Ok(()));
            }
        }
    }

    #[test]
    fn credentials_whose_entries_expired_are_forgotten() {
        let cache = ReplayCache::new(10);
        for i in 0u32..200 {
            let credential = format!("AKID-{i}");
            assert_eq!(cache.admit(&credential, &[b"n"], 10, 300), Ok(()));
        }
        assert_eq!(cache.credentials(), 200);
        // A later request sweeps its own shard; every shard swept leaves only the live.
        for i in 0u32..2000 {
            let credential = format!("AKID-later-{i}");
            assert_eq!(cache.admit(&credential, &[b"n"], 301, 600), Ok(()));
        }
        assert_eq!(
            cache.credentials(),
            2000,
            "only the later credentials remain"
        );
    }
}
