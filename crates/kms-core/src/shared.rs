//! Security state that must hold across every node serving one store: a signature used on one
//! node is a replay on every other, and ten wrong passwords are ten across the cluster.
//!
//! A single node keeps this state in memory (the dialects' own tables); a store that several
//! nodes share (PostgreSQL) implements [`SharedState`] and the dialects use it instead. A
//! dialect that cannot reach it refuses the request (fails closed): admitting a signature it
//! could not record, or checking a password whose failures it could not count, would undo on
//! the whole cluster what the state is for.

use crate::store::StoreError;

pub trait SharedState: Send + Sync {
    /// Records `id` in `room` (a credential's replay memory) until `expires`, and answers
    /// whether this is its first use: `Ok(false)` when it was recorded before and has not
    /// expired at `now` (an entry is live while `now <= expires`, as in the in-memory cache).
    /// Recording and answering are one atomic step: of two nodes using one id at once, exactly
    /// one sees its first use.
    fn first_use(
        &self,
        room: &str,
        id: &[u8; 16],
        now: u64,
        expires: u64,
    ) -> Result<bool, StoreError>;

    /// Counts a failed login and answers the failures of its current window, this one included.
    /// A window opens at a login's first failure and lasts `window_secs` (it is open while
    /// `now < opened + window_secs`); a failure after it closed opens a new one.
    fn login_failed(&self, login: &[u8; 32], now: u64, window_secs: u64)
    -> Result<u32, StoreError>;

    /// The failures of `login` in its window, if the window is open at `now` (else 0).
    fn login_failures(
        &self,
        login: &[u8; 32],
        now: u64,
        window_secs: u64,
    ) -> Result<u32, StoreError>;

    /// Forgets the failures of a login that succeeded.
    fn login_succeeded(&self, login: &[u8; 32]) -> Result<(), StoreError>;

    /// Forgets what expired by `now`: replay entries past their expiry, login windows closed.
    fn forget_expired(&self, now: u64, window_secs: u64) -> Result<(), StoreError>;
}

#[cfg(any(test, feature = "testing"))]
pub mod contract;
