//! A memory of signatures already used, so a captured request cannot be sent again while its
//! timestamp is still inside the validity window.
//!
//! Entries are 16-byte digests of what identifies a request (the legacy signature's
//! `(SecretId, Nonce)`, or a TC3 signature), each kept until its request's timestamp leaves the
//! window. Memory is bounded: when a shard is full even after dropping what expired, new
//! requests are refused rather than forgotten, since forgetting would reopen the replay.

use std::collections::HashMap;
use std::sync::Mutex;

use kms_crypto::digest::sha256;

const SHARDS: usize = 16;

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The same identifier was used before, and its window has not passed.
    Replayed,
    /// The cache holds as many live entries as it may.
    Full,
}

pub struct ReplayCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

#[derive(Default)]
struct Shard {
    /// Digest of the identifier → the time after which it may be forgotten.
    expiry: HashMap<[u8; 16], u64>,
    /// The last time expired entries were dropped.
    pruned_at: u64,
}

impl ReplayCache {
    /// A cache of at most `capacity` live entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// Records `id` as used until `expires`; refuses it when it is already recorded.
    pub fn admit(&self, id: &[&[u8]], now: u64, expires: u64) -> Result<(), Refusal> {
        let digest = digest(id);
        let mut shard = self.shards[usize::from(digest[0]) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(&until) = shard.expiry.get(&digest)
            && until >= now
        {
            return Err(Refusal::Replayed);
        }
        // Dropping expired entries walks the shard, so it runs at most once a second, or
        // when the shard is full.
        if shard.expiry.len() >= self.per_shard || shard.pruned_at != now {
            shard.expiry.retain(|_, until| *until >= now);
            shard.pruned_at = now;
        }
        if shard.expiry.len() >= self.per_shard {
            return Err(Refusal::Full);
        }
        shard.expiry.insert(digest, expires);
        Ok(())
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

    #[test]
    fn second_use_is_refused_until_it_expires() {
        let cache = ReplayCache::new(100);
        assert_eq!(cache.admit(&[b"id", b"nonce"], 1000, 1300), Ok(()));
        assert_eq!(
            cache.admit(&[b"id", b"nonce"], 1200, 1500),
            Err(Refusal::Replayed)
        );
        assert_eq!(cache.admit(&[b"id", b"other"], 1200, 1500), Ok(()));
        assert_eq!(cache.admit(&[b"id", b"nonce"], 1301, 1601), Ok(()));
    }

    #[test]
    fn parts_are_framed() {
        let cache = ReplayCache::new(100);
        assert_eq!(cache.admit(&[b"ab", b"c"], 1, 10), Ok(()));
        assert_eq!(cache.admit(&[b"a", b"bc"], 1, 10), Ok(()));
    }

    #[test]
    fn full_cache_refuses_instead_of_forgetting() {
        let cache = ReplayCache::new(SHARDS);
        let mut refused = 0;
        for i in 0u32..200 {
            match cache.admit(&[&i.to_be_bytes()], 5, 100) {
                Ok(()) => {}
                Err(Refusal::Full) => refused += 1,
                Err(Refusal::Replayed) => panic!("distinct ids"),
            }
        }
        assert!(refused > 0, "a bounded cache refuses once full");
        // Once the entries expire there is room again.
        assert_eq!(cache.admit(&[b"later"], 101, 400), Ok(()));
    }
}
