//! Rate limits and fault injection for authenticated calls, decided before a call reaches the
//! engine, so a refused call changes nothing.
//!
//! Both vendors count per principal (Tencent: "API + access region + sub-account", the account
//! itself being one; Huawei: per IAM user), and so does the server: per principal, action and
//! region. Tencent documents a limit per action; Huawei states one figure, 20 operations per
//! second per user for all of KMS, which would refuse ordinary scripted use of a self-hosted
//! service, so Huawei operations get 100 per second each, as most Tencent actions do (an
//! operator wanting the vendor's figure sets `--rate-limit 20`). Each budget is a token bucket
//! holding one second's worth, refilled continuously. Only authenticated principals and the dialects' fixed
//! action names become keys, and the table is bounded: idle buckets (full again) are dropped when
//! it fills, and a table full of busy buckets refuses rather than forgets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Deserialize;

use kms_core::{AccountId, Caller};

/// Which vendor's API a call came through: they count and answer differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Tencent,
    Huawei,
}

/// The vendor's documented requests per second for one Tencent action (the action's API page,
/// "默认接口请求频率限制"); most actions allow 100.
fn tencent_default(action: &str) -> u32 {
    match action {
        "Encrypt" | "Decrypt" => 300,
        "GenerateDataKey" | "GenerateRandom" => 150,
        "AsymmetricRsaDecrypt" | "AsymmetricSm2Decrypt" => 200,
        "PostQuantumCryptoEncrypt"
        | "PostQuantumCryptoDecrypt"
        | "PostQuantumCryptoSign"
        | "PostQuantumCryptoVerify" => 20,
        _ => 100,
    }
}

/// Each Huawei operation's budget (the vendor's one figure is discussed above).
const HUAWEI_DEFAULT: u32 = 100;

/// How many requests per second a principal may make.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateSettings {
    /// `None`: each vendor's documented limits; `Some(0)`: no limit; `Some(n)`: n per second
    /// for every action of either dialect.
    pub default: Option<u32>,
    /// Per-account replacements of `default`, in the same unit; 0 exempts the account.
    pub accounts: HashMap<AccountId, u32>,
}

impl RateSettings {
    /// Parses one `UIN=N` per-account setting.
    pub fn parse_account(text: &str) -> anyhow::Result<(AccountId, u32)> {
        let parsed = text
            .split_once('=')
            .and_then(|(uin, n)| Some((uin.trim().parse().ok()?, n.trim().parse().ok()?)));
        parsed.ok_or_else(|| {
            anyhow::anyhow!(
                "--account-rate-limit {text:?} is not ACCOUNT=REQUESTS_PER_SECOND (like 100000000001=50)"
            )
        })
    }

    /// Whether any call can be limited at all.
    fn limits_anything(&self) -> bool {
        self.default != Some(0) || self.accounts.values().any(|n| *n > 0)
    }

    /// The limit for one call, `None` when it is not limited.
    fn rate(&self, dialect: Dialect, action: &str, account: AccountId) -> Option<u32> {
        let configured = self.accounts.get(&account).copied().or(self.default);
        let rate = configured.unwrap_or_else(|| match dialect {
            Dialect::Tencent => tencent_default(action),
            Dialect::Huawei => HUAWEI_DEFAULT,
        });
        (rate > 0).then_some(rate)
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let default = match self.default {
            None => "the vendors' documented limits".to_owned(),
            Some(0) => "none".to_owned(),
            Some(n) => format!("{n} per second"),
        };
        format!(
            "rate limits: {default}; {} account override(s)",
            self.accounts.len()
        )
    }
}

/// A family of injected faults; each dialect answers it with its vendor's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Tencent `RequestLimitExceeded` (HTTP 200), Huawei 429 `APIG.0308`.
    Throttle,
    /// Tencent `InternalError` (HTTP 200), Huawei 500 `KMS.0101`.
    Internal,
}

/// Opt-in fault injection: this share of authenticated calls answers one of these faults.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSettings {
    pub rate: f64,
    pub kinds: Vec<FaultKind>,
}

/// What the server does with an authenticated call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Run,
    /// The node's view of a shared store is not current (its change feed is down).
    Unavailable,
    /// Over its budget of this many requests per second.
    Throttled(u32),
    Fault(FaultKind),
}

/// Most buckets held at once, over all shards: beyond that, idle ones are dropped.
const MAX_BUCKETS: usize = 1 << 20;
/// Shards of the bucket table, so concurrent calls of different principals rarely share a lock.
const SHARDS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    dialect: Dialect,
    account: AccountId,
    user: Option<Box<str>>,
    action: &'static str,
    /// Index in the served regions (which every authenticated call names), so a lookup
    /// allocates nothing.
    region: u16,
}

struct Bucket {
    rate: u32,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let rate = f64::from(self.rate);
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.at = now;
    }

    fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Full again: forgetting it changes nothing.
    fn idle(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * f64::from(self.rate) >= f64::from(self.rate)
    }
}

/// Token buckets per (dialect, principal, action, region).
struct Limiter {
    settings: RateSettings,
    regions: Vec<String>,
    shards: Vec<Mutex<HashMap<BucketKey, Bucket>>>,
    shard_capacity: usize,
}

impl Limiter {
    fn new(settings: RateSettings, regions: Vec<String>, capacity: usize) -> Self {
        Self {
            settings,
            regions,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn admit(&self, dialect: Dialect, action: &'static str, caller: &Caller, now: Instant) -> bool {
        let Some(rate) = self.settings.rate(dialect, action, caller.account) else {
            return true;
        };
        let region = self
            .regions
            .iter()
            .position(|r| *r == caller.region)
            .map_or(u16::MAX, |i| u16::try_from(i).unwrap_or(u16::MAX));
        let key = BucketKey {
            dialect,
            account: caller.account,
            user: caller.user.as_deref().map(Box::from),
            action,
            region,
        };
        // The shard only spreads contention; the table's own hasher resists collisions.
        let spread = caller.account ^ ((action.len() as u64) << 32) ^ u64::from(region);
        let shard =
            &self.shards[(spread.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % SHARDS];
        let mut buckets = shard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = buckets.get_mut(&key) {
            bucket.rate = rate;
            return bucket.take(now);
        }
        if buckets.len() >= self.shard_capacity {
            buckets.retain(|_, b| !b.idle(now));
            if buckets.len() >= self.shard_capacity {
                return false;
            }
        }
        let mut bucket = Bucket {
            rate,
            tokens: f64::from(rate),
            at: now,
        };
        let admitted = bucket.take(now);
        buckets.insert(key, bucket);
        admitted
    }

    #[cfg(test)]
    fn buckets(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

/// Draws whether to inject a fault, from the OS's random source.
struct Faults {
    settings: FaultSettings,
}

impl Faults {
    fn draw(&self) -> Option<FaultKind> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).ok()?;
        let x = u64::from_le_bytes(bytes);
        // The top 53 bits give a uniform number in [0, 1); the low bits pick the family.
        let share = (x >> 11) as f64 / (1u64 << 53) as f64;
        if share >= self.settings.rate || self.settings.kinds.is_empty() {
            return None;
        }
        let kinds = &self.settings.kinds;
        Some(kinds[(x & 0x7ff) as usize % kinds.len()])
    }
}

/// The server's limits and faults; both are skipped entirely when off.
pub struct Limits {
    limiter: Option<Limiter>,
    faults: Option<Faults>,
}

impl Limits {
    /// `regions` are the served regions.
    pub fn new(rates: RateSettings, faults: Option<FaultSettings>, regions: &[String]) -> Self {
        Self {
            limiter: rates
                .limits_anything()
                .then(|| Limiter::new(rates, regions.to_vec(), MAX_BUCKETS)),
            faults: faults
                .filter(|f| f.rate > 0.0 && !f.kinds.is_empty())
                .map(|settings| Faults { settings }),
        }
    }

    /// Decides an authenticated call's fate: over budget, an injected fault, or run it. A
    /// throttled call is not also faulted; a faulted call has used its budget.
    pub fn check(&self, dialect: Dialect, action: &'static str, caller: &Caller) -> Verdict {
        if let Some(limiter) = &self.limiter
            && !limiter.admit(dialect, action, caller, Instant::now())
        {
            let rate = limiter
                .settings
                .rate(dialect, action, caller.account)
                .unwrap_or(0);
            return Verdict::Throttled(rate);
        }
        match self.faults.as_ref().and_then(Faults::draw) {
            Some(kind) => Verdict::Fault(kind),
            None => Verdict::Run,
        }
    }
}

/// A fault's answer says it was injected, so no operator mistakes it for a real failure.
const INJECTED: &str = "(injected by kmsd's fault mode)";

/// The Tencent code and message for a refused call.
pub fn tencent_answer(verdict: Verdict) -> Option<(&'static str, String)> {
    use kms_tencent::errors::{INTERNAL_ERROR, REQUEST_LIMIT_EXCEEDED};
    match verdict {
        Verdict::Run => None,
        Verdict::Unavailable => Some((
            "UnsupportedOperation.ServiceTemporaryUnavailable",
            "The service is temporarily unavailable: this node cannot reach its store.".into(),
        )),
        Verdict::Throttled(rate) => Some((
            REQUEST_LIMIT_EXCEEDED,
            format!("The request rate exceeds this action's limit of {rate} per second."),
        )),
        Verdict::Fault(FaultKind::Throttle) => Some((
            REQUEST_LIMIT_EXCEEDED,
            format!("The request rate exceeds the limit {INJECTED}."),
        )),
        Verdict::Fault(FaultKind::Internal) => Some((
            INTERNAL_ERROR,
            format!("An internal error occurred {INJECTED}."),
        )),
    }
}

/// The API gateway's throttling code, answered with 429 (its error-code table).
pub const HUAWEI_THROTTLED: &str = "APIG.0308";

/// The Huawei status, code and message for a refused call.
pub fn huawei_answer(verdict: Verdict) -> Option<kms_huawei::errors::HwError> {
    use kms_huawei::errors::{HwError, KMS_ERROR};
    match verdict {
        Verdict::Run => None,
        Verdict::Unavailable => Some(HwError::new(
            503,
            KMS_ERROR,
            "The service is temporarily unavailable: this node cannot reach its store.",
        )),
        Verdict::Throttled(rate) => Some(HwError::new(
            429,
            HUAWEI_THROTTLED,
            format!(
                "The throttling threshold has been reached: policy user over ratelimit,limit:{rate},time:1 second"
            ),
        )),
        Verdict::Fault(FaultKind::Throttle) => Some(HwError::new(
            429,
            HUAWEI_THROTTLED,
            format!("The throttling threshold has been reached {INJECTED}"),
        )),
        Verdict::Fault(FaultKind::Internal) => Some(HwError::new(
            500,
            KMS_ERROR,
            format!("KMS error {INJECTED}."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn caller(account: AccountId, region: &str) -> Caller {
        Caller {
            account,
            user: None,
            credential: "AKID".into(),
            region: region.into(),
            authority: None,
        }
    }

    fn limiter(default: Option<u32>, accounts: &[(AccountId, u32)]) -> Limiter {
        let settings = RateSettings {
            default,
            accounts: accounts.iter().copied().collect(),
        };
        Limiter::new(settings, regions(), MAX_BUCKETS)
    }

    fn regions() -> Vec<String> {
        vec!["ap-guangzhou".into(), "ap-shanghai".into(), "r".into()]
    }

    fn admitted(
        l: &Limiter,
        n: usize,
        d: Dialect,
        action: &'static str,
        c: &Caller,
        at: Instant,
    ) -> usize {
        (0..n).filter(|_| l.admit(d, action, c, at)).count()
    }

    #[test]
    fn a_burst_of_one_seconds_worth_then_refill() {
        let l = limiter(Some(5), &[]);
        let c = caller(1, "ap-guangzhou");
        let t0 = Instant::now();
        assert_eq!(admitted(&l, 10, Dialect::Tencent, "Encrypt", &c, t0), 5);
        // A fifth of a second refills one request, a whole second all five (never more).
        assert_eq!(
            admitted(
                &l,
                3,
                Dialect::Tencent,
                "Encrypt",
                &c,
                t0 + Duration::from_millis(200)
            ),
            1
        );
        assert_eq!(
            admitted(
                &l,
                10,
                Dialect::Tencent,
                "Encrypt",
                &c,
                t0 + Duration::from_secs(5)
            ),
            5
        );
    }

    #[test]
    fn budgets_are_per_principal_action_and_region() {
        let l = limiter(Some(2), &[]);
        let t = Instant::now();
        let a = caller(1, "ap-guangzhou");
        assert_eq!(admitted(&l, 5, Dialect::Tencent, "Encrypt", &a, t), 2);
        assert_eq!(admitted(&l, 5, Dialect::Tencent, "Decrypt", &a, t), 2);
        assert_eq!(
            admitted(
                &l,
                5,
                Dialect::Tencent,
                "Encrypt",
                &caller(2, "ap-guangzhou"),
                t
            ),
            2
        );
        assert_eq!(
            admitted(
                &l,
                5,
                Dialect::Tencent,
                "Encrypt",
                &caller(1, "ap-shanghai"),
                t
            ),
            2
        );
        let user = Caller {
            user: Some("alice".into()),
            ..a.clone()
        };
        assert_eq!(admitted(&l, 5, Dialect::Tencent, "Encrypt", &user, t), 2);
        // The dialects' budgets are apart, even for actions of the same name.
        assert_eq!(admitted(&l, 5, Dialect::Huawei, "Encrypt", &a, t), 2);
        assert_eq!(admitted(&l, 5, Dialect::Huawei, "DecryptData", &a, t), 2);
    }

    #[test]
    fn vendor_defaults_and_account_overrides() {
        let l = limiter(None, &[(7, 3), (8, 0)]);
        let t = Instant::now();
        let c = caller(1, "ap-guangzhou");
        assert_eq!(admitted(&l, 400, Dialect::Tencent, "Encrypt", &c, t), 300);
        assert_eq!(
            admitted(&l, 400, Dialect::Tencent, "GenerateDataKey", &c, t),
            150
        );
        assert_eq!(admitted(&l, 400, Dialect::Tencent, "CreateKey", &c, t), 100);
        assert_eq!(admitted(&l, 400, Dialect::Huawei, "CreateKey", &c, t), 100);
        assert_eq!(
            admitted(
                &l,
                10,
                Dialect::Tencent,
                "Encrypt",
                &caller(7, "ap-guangzhou"),
                t
            ),
            3
        );
        assert_eq!(
            admitted(
                &l,
                1000,
                Dialect::Tencent,
                "Encrypt",
                &caller(8, "ap-guangzhou"),
                t
            ),
            1000
        );
        assert_eq!(l.buckets(), 5, "an exempt account holds no bucket");
    }

    #[test]
    fn zero_disables_and_overrides_still_apply() {
        let off = Limits::new(
            RateSettings {
                default: Some(0),
                accounts: HashMap::new(),
            },
            None,
            &regions(),
        );
        assert!(off.limiter.is_none());
        let c = caller(1, "ap-guangzhou");
        assert!((0..1000).all(|_| off.check(Dialect::Tencent, "Encrypt", &c) == Verdict::Run));
        let l = limiter(Some(0), &[(1, 1)]);
        let t = Instant::now();
        assert_eq!(admitted(&l, 3, Dialect::Tencent, "Encrypt", &c, t), 1);
        assert_eq!(
            admitted(
                &l,
                3,
                Dialect::Tencent,
                "Encrypt",
                &caller(2, "ap-guangzhou"),
                t
            ),
            3
        );
    }

    #[test]
    fn memory_is_bounded_idle_buckets_go_and_a_full_table_refuses() {
        let settings = RateSettings {
            default: Some(1),
            accounts: HashMap::new(),
        };
        let l = Limiter::new(settings, regions(), SHARDS * 4);
        let t = Instant::now();
        for account in 0..10_000 {
            l.admit(
                Dialect::Tencent,
                "Encrypt",
                &caller(account, "ap-guangzhou"),
                t,
            );
        }
        assert!(l.buckets() <= SHARDS * 4, "{} buckets", l.buckets());
        // A second on, every bucket is full again, so a newcomer is served.
        assert!((1..1000u64).all(|a| {
            let later = t + Duration::from_secs(a);
            l.admit(Dialect::Tencent, "Encrypt", &caller(20_000 + a, "r"), later)
        }));
        assert!(l.buckets() <= SHARDS * 4);
        // Within the same instant a shard full of busy buckets refuses a newcomer.
        let busy = Limiter::new(
            RateSettings {
                default: Some(1),
                accounts: HashMap::new(),
            },
            regions(),
            1,
        );
        assert!(busy.admit(Dialect::Tencent, "Encrypt", &caller(1, "r"), t));
        let refused =
            (2..200).filter(|a| !busy.admit(Dialect::Tencent, "Encrypt", &caller(*a, "r"), t));
        assert!(refused.count() > 0);
    }

    #[test]
    fn fault_rates_one_and_zero() {
        let c = caller(1, "ap-guangzhou");
        let off = RateSettings {
            default: Some(0),
            accounts: HashMap::new(),
        };
        let always = Limits::new(
            off.clone(),
            Some(FaultSettings {
                rate: 1.0,
                kinds: vec![FaultKind::Internal],
            }),
            &regions(),
        );
        assert!(
            (0..200).all(|_| always.check(Dialect::Huawei, "EncryptData", &c)
                == Verdict::Fault(FaultKind::Internal))
        );
        let never = Limits::new(
            off.clone(),
            Some(FaultSettings {
                rate: 0.0,
                kinds: vec![FaultKind::Throttle],
            }),
            &regions(),
        );
        assert!(never.faults.is_none());
        let both = Limits::new(
            off,
            Some(FaultSettings {
                rate: 1.0,
                kinds: vec![FaultKind::Throttle, FaultKind::Internal],
            }),
            &regions(),
        );
        let drawn: Vec<_> = (0..200)
            .map(|_| both.check(Dialect::Tencent, "Encrypt", &c))
            .collect();
        assert!(drawn.contains(&Verdict::Fault(FaultKind::Throttle)));
        assert!(drawn.contains(&Verdict::Fault(FaultKind::Internal)));
    }

    #[test]
    fn answers_carry_the_vendors_codes() {
        assert_eq!(tencent_answer(Verdict::Run), None);
        assert_eq!(
            tencent_answer(Verdict::Throttled(5)).unwrap().0,
            "RequestLimitExceeded"
        );
        assert_eq!(
            tencent_answer(Verdict::Fault(FaultKind::Internal))
                .unwrap()
                .0,
            "InternalError"
        );
        let e = huawei_answer(Verdict::Throttled(5)).unwrap();
        assert_eq!((e.status, e.code), (429, "APIG.0308"));
        assert!(e.message.contains("limit:5"));
        let e = huawei_answer(Verdict::Fault(FaultKind::Internal)).unwrap();
        assert_eq!((e.status, e.code), (500, "KMS.0101"));
    }

    #[test]
    fn account_settings_parse() {
        assert_eq!(
            RateSettings::parse_account("100000000001=50").unwrap(),
            (100000000001, 50)
        );
        assert_eq!(RateSettings::parse_account(" 7 = 0 ").unwrap(), (7, 0));
        for bad in ["7", "x=1", "7=-1", "7=1.5", "=3"] {
            assert!(RateSettings::parse_account(bad).is_err(), "{bad}");
        }
    }
}
