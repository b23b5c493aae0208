//! The per-address bound on IAM token requests (`POST /v3/auth/tokens`).
//!
//! A token request costs a password check (Argon2, tens of milliseconds and about 19 MiB)
//! before anyone is authenticated. The server runs a few at once; without a bound per client,
//! one address flooding wrong passwords would queue everyone else's token requests behind its
//! own and keep the cores busy. Each source address gets a token bucket (`--token-requests-per-
//! address` a second, [`DEFAULT_PER_SECOND`] unless configured, after a burst of
//! [`BURST_SECONDS`] times as many) and at most [`IN_FLIGHT`] requests waiting or running at once;
//! past either it is answered 429 at once, once its small body is read (so the connection
//! stays usable). Signed KMS calls never pass here. An IPv6 client counts by its /64, the
//! block one host is usually given, so a host cannot mint addresses to escape its bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Requests an address may make per second once its burst is spent, unless configured: a few
/// password checks a second, a small part of one core.
pub const DEFAULT_PER_SECOND: u32 = 2;
/// The burst, in seconds' worth of the rate: after a quiet spell a script that logs in a few
/// users fits; a flood spends it within a second or two.
const BURST_SECONDS: f64 = 20.0;
/// Requests of one address waiting for or running a password check at once.
pub const IN_FLIGHT: u32 = 2;
/// Addresses remembered at once. When full, addresses whose bucket has refilled and that have
/// nothing in flight are forgotten (a full bucket is what a new address gets, so forgetting
/// changes nothing); if none is, new addresses are refused rather than older ones forgotten.
const MAX_ADDRESSES: usize = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This address has spent its budget or has its share in flight.
    Busy,
    /// Too many addresses are being tracked at once.
    Full,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
    in_flight: u32,
}

/// The rate and burst of every address's bucket.
#[derive(Clone, Copy)]
struct Budget {
    per_second: f64,
    burst: f64,
}

impl Bucket {
    fn refill(&mut self, budget: Budget, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * budget.per_second).min(budget.burst);
        self.refilled = now;
    }

    fn idle(&mut self, budget: Budget, now: Instant) -> bool {
        self.refill(budget, now);
        self.in_flight == 0 && self.tokens >= budget.burst
    }
}

#[derive(Default)]
struct Table {
    buckets: HashMap<IpAddr, Bucket>,
    /// When idle buckets were last dropped, so a full table is walked at most once a second.
    pruned: Option<Instant>,
}

/// The buckets of every address that asked for a token recently; no bound when configured off.
#[derive(Clone)]
pub struct TokenRequests {
    budget: Option<Budget>,
    table: Arc<Mutex<Table>>,
}

/// One admitted request; dropping it ends the request's share of its address's [`IN_FLIGHT`].
pub struct Admitted {
    table: Arc<Mutex<Table>>,
    address: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = table.buckets.get_mut(&self.address) {
            bucket.in_flight = bucket.in_flight.saturating_sub(1);
        }
    }
}

/// The address a client is counted by: IPv4 (also when mapped into IPv6) as it is, IPv6 by /64.
fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
        v4 => v4,
    }
}

impl TokenRequests {
    /// `per_second` requests per address after a burst of [`BURST_SECONDS`] times as many;
    /// 0 admits every request.
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second);
        Self {
            budget: (per_second > 0.0).then_some(Budget {
                per_second,
                burst: per_second * BURST_SECONDS,
            }),
            table: Arc::default(),
        }
    }

    /// Admits a token request from `address` at `now`, or says why not.
    pub fn admit(&self, address: IpAddr, now: Instant) -> Result<Option<Admitted>, Refusal> {
        let Some(budget) = self.budget else {
            return Ok(None);
        };
        let client = client_of(address);
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if !table.buckets.contains_key(&client) && table.buckets.len() >= MAX_ADDRESSES {
            let due = table
                .pruned
                .is_none_or(|at| now.saturating_duration_since(at).as_secs() >= 1);
            if due {
                table.buckets.retain(|_, b| !b.idle(budget, now));
                table.pruned = Some(now);
            }
            if table.buckets.len() >= MAX_ADDRESSES {
                return Err(Refusal::Full);
            }
        }
        let bucket = table.buckets.entry(client).or_insert(Bucket {
            tokens: budget.burst,
            refilled: now,
            in_flight: 0,
        });
        bucket.refill(budget, now);
        if bucket.in_flight >= IN_FLIGHT || bucket.tokens < 1.0 {
            return Err(Refusal::Busy);
        }
        bucket.tokens -= 1.0;
        bucket.in_flight += 1;
        drop(table);
        Ok(Some(Admitted {
            table: self.table.clone(),
            address: client,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const BURST: usize = DEFAULT_PER_SECOND as usize * BURST_SECONDS as usize;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_gets_its_burst_then_its_rate() {
        let gate = TokenRequests::new(DEFAULT_PER_SECOND);
        let start = Instant::now();
        for _ in 0..BURST {
            drop(gate.admit(ip("192.0.2.1"), start).unwrap());
        }
        assert_eq!(
            gate.admit(ip("192.0.2.1"), start).err(),
            Some(Refusal::Busy)
        );
        // Another address is not touched by the first one's flood.
        assert!(gate.admit(ip("192.0.2.2"), start).is_ok());
        let later = start + Duration::from_millis(500);
        drop(gate.admit(ip("192.0.2.1"), later).unwrap());
        assert!(gate.admit(ip("192.0.2.1"), later).is_err());
        let much_later = start + Duration::from_secs(3600);
        for _ in 0..BURST {
            drop(gate.admit(ip("192.0.2.1"), much_later).unwrap());
        }
        assert!(gate.admit(ip("192.0.2.1"), much_later).is_err());
    }

    #[test]
    fn an_address_has_at_most_its_share_in_flight() {
        let gate = TokenRequests::new(DEFAULT_PER_SECOND);
        let now = Instant::now();
        let held: Vec<Option<Admitted>> = (0..IN_FLIGHT)
            .map(|_| gate.admit(ip("192.0.2.1"), now).unwrap())
            .collect();
        assert_eq!(gate.admit(ip("192.0.2.1"), now).err(), Some(Refusal::Busy));
        drop(held);
        assert!(gate.admit(ip("192.0.2.1"), now).is_ok());
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(client_of(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        let gate = TokenRequests::new(DEFAULT_PER_SECOND);
        let now = Instant::now();
        for i in 0..BURST {
            let address = format!("2001:db8:1:2::{:x}", i + 1);
            drop(gate.admit(ip(&address), now).unwrap());
        }
        assert!(gate.admit(ip("2001:db8:1:2:ffff::9"), now).is_err());
        assert!(gate.admit(ip("2001:db8:1:3::1"), now).is_ok());
    }

    #[test]
    fn a_full_table_forgets_idle_addresses_and_refuses_when_none_is() {
        let gate = TokenRequests::new(DEFAULT_PER_SECOND);
        let start = Instant::now();
        let held: Vec<Option<Admitted>> = (0..MAX_ADDRESSES as u32)
            .map(|i| gate.admit(IpAddr::V4(i.into()), start).unwrap())
            .collect();
        let newcomer = ip("198.51.100.1");
        assert_eq!(gate.admit(newcomer, start).err(), Some(Refusal::Full));
        drop(held);
        let refilled = start + Duration::from_secs(2);
        assert!(gate.admit(newcomer, refilled).is_ok());
    }

    #[test]
    fn a_rate_of_zero_admits_everything() {
        let gate = TokenRequests::new(0);
        let now = Instant::now();
        for _ in 0..10 * BURST {
            assert!(gate.admit(ip("192.0.2.1"), now).unwrap().is_none());
        }
    }
}
