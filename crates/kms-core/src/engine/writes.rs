//! How the engine keeps concurrent writes to one resource from failing each other.
//!
//! Writers of one resource on this node take its lock for the whole read-modify-write, so they
//! never conflict. The store's revision check stays as the guard between nodes: a write that
//! still loses (another node got there first) is retried with backoff for a bounded time, and
//! only then refused with [`KmsError::Contended`].

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::error::KmsError;

/// Locks per resource kind: resources share a stripe by id, so memory stays fixed however
/// many resources there are; two resources in one stripe only wait for each other.
const STRIPES: usize = 1024;

/// How long a write keeps retrying after losing to another node.
pub(super) const RETRY_BUDGET: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(1);
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// Striped write locks over one kind of resource (keys, or hosted data keys).
pub(super) struct WriteLocks {
    stripes: Box<[Mutex<()>]>,
}

impl WriteLocks {
    pub(super) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    fn stripe(id: Uuid) -> usize {
        let (high, low) = id.as_u64_pair();
        ((high ^ low) % STRIPES as u64) as usize
    }

    fn take(&self, stripe: usize) -> MutexGuard<'_, ()> {
        // The guarded value is `()`: a panic while holding a lock cannot leave it inconsistent.
        self.stripes[stripe]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Holds the write lock of one resource.
    pub(super) fn lock(&self, id: Uuid) -> MutexGuard<'_, ()> {
        self.take(Self::stripe(id))
    }

    /// Holds the write locks of several resources, taken in stripe order so two batches that
    /// share resources cannot deadlock.
    pub(super) fn lock_all(&self, ids: &[Uuid]) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = ids.iter().map(|id| Self::stripe(*id)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        stripes.into_iter().map(|s| self.take(s)).collect()
    }
}

/// Backoff between attempts of a write that lost to another node, within a time budget.
pub(super) struct Retry {
    deadline: Instant,
    delay: Duration,
}

impl Retry {
    pub(super) fn within(budget: Duration) -> Self {
        Self {
            deadline: Instant::now() + budget,
            delay: FIRST_BACKOFF,
        }
    }

    /// Waits before the next attempt, or refuses once the budget is spent.
    pub(super) fn wait(&mut self) -> Result<(), KmsError> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(KmsError::Contended);
        }
        // Jitter keeps nodes that collided once from colliding again in lockstep.
        let jitter = Duration::from_micros(u64::from(Uuid::new_v4().as_u128() as u16) % 1000);
        std::thread::sleep((self.delay + jitter).min(self.deadline - now));
        self.delay = (self.delay * 2).min(MAX_BACKOFF);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_locks_are_taken_once_per_stripe() {
        let locks = WriteLocks::new();
        let id = Uuid::new_v4();
        // The same id twice must not lock its stripe twice (which would deadlock).
        assert_eq!(locks.lock_all(&[id, id]).len(), 1);
    }

    #[test]
    fn retries_stop_at_the_budget() {
        let mut retry = Retry::within(Duration::from_millis(20));
        let start = Instant::now();
        let mut attempts = 0;
        while retry.wait().is_ok() {
            attempts += 1;
        }
        assert!(attempts >= 2);
        assert!(start.elapsed() < Duration::from_millis(200));
    }
}
