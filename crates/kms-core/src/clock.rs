//! Time, injected so expiry, deletion windows and rotation are testable without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of the current Unix time in seconds.
pub trait Clock: Send + Sync {
    fn now(&self) -> u64;
}

/// The system wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A Unix time as ISO 8601 UTC to the second, e.g. `2023-11-14T22:13:20Z`.
pub fn utc_date_time(unix_secs: u64) -> String {
    let (year, month, day) = utc_civil_date(unix_secs);
    let of_day = unix_secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The UTC calendar date `(year, month, day)` of a Unix time, by Howard Hinnant's
/// `civil_from_days` (eras of 400 years, each 146097 days; years counted from March so leap days
/// fall last). Signatures name the day they were made; audit records carry RFC 3339 times.
pub fn utc_civil_date(unix_secs: u64) -> (u64, u64, u64) {
    let z = unix_secs / 86_400 + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A clock that moves only when told to, for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(now: u64) -> Self {
        Self(AtomicU64::new(now))
    }
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dates checked against `date -u -d @SECS` (GNU coreutils).
    #[test]
    fn unix_times_read_as_utc_dates() {
        assert_eq!(utc_date_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_date_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_date_time(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_date_time(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(utc_civil_date(4_107_542_400), (2100, 3, 1));
    }
}
