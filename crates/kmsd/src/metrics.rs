//! Request metrics in Prometheus text format: counts by result code and a latency histogram per
//! dialect and action, and calls refused before they ran. Labels come only from fixed sets
//! (dialect, the vendor's action names, the vendor's error codes), so cardinality stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds. A call kmsd answers from memory
/// takes tens to hundreds of microseconds; a store write an fsync (milliseconds); an HSM call or
/// a PostgreSQL round trip more. The last bucket, `+Inf`, is implied.
pub const BUCKETS: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// What one action of one dialect has answered.
#[derive(Default)]
struct ActionStats {
    /// Answers by result code (`ok` for success).
    codes: BTreeMap<&'static str, u64>,
    /// Answers no slower than each of [`BUCKETS`] (not cumulative: summed when rendered).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    seconds: f64,
}

impl ActionStats {
    fn observe(&mut self, code: &'static str, elapsed: Duration) {
        *self.codes.entry(code).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.seconds += secs;
    }
}

/// The answers of one action of one dialect, as [`Metrics::snapshot`] reports them.
pub struct ActionSummary {
    pub dialect: &'static str,
    pub action: &'static str,
    pub count: u64,
    /// Answers by result code (`ok` for success).
    pub codes: Vec<(&'static str, u64)>,
    /// Answers no slower than each of [`BUCKETS`] and slower than the one before.
    pub buckets: [u64; BUCKETS.len()],
}

/// Why a call was refused before it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// Over a rate limit.
    Throttled,
    /// Fault mode answered in its place.
    Fault,
    /// The node is sealed.
    Sealed,
    /// The node's view of a shared store is not current.
    StoreUnavailable,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str), ActionStats>>,
    refusals: Mutex<BTreeMap<(Refusal, &'static str, &'static str), u64>>,
}

impl Metrics {
    pub fn record(
        &self,
        dialect: &'static str,
        action: &'static str,
        code: &'static str,
        elapsed: Duration,
    ) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((dialect, action))
            .or_default()
            .observe(code, elapsed);
    }

    /// Counts a call the server refused before it ran, by dialect and the code it answered.
    pub fn refused(&self, why: Refusal, dialect: &'static str, code: &'static str) {
        let mut map = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((why, dialect, code)).or_default() += 1;
    }

    pub fn render(&self) -> String {
        let mut out = self.render_requests();
        let map = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let families = [
            (
                "kmsd_throttled_total",
                "API calls refused by a rate limit",
                &[Refusal::Throttled][..],
            ),
            (
                "kmsd_faults_injected_total",
                "Faults injected in place of API calls (fault mode)",
                &[Refusal::Fault],
            ),
            (
                "kmsd_unavailable_total",
                "API calls refused because the node is sealed or its view of a shared store is \
                 not current",
                &[Refusal::Sealed, Refusal::StoreUnavailable],
            ),
        ];
        for (name, help, kinds) in families {
            let _ = writeln!(out, "# HELP {name} {help}, by dialect and code.");
            let _ = writeln!(out, "# TYPE {name} counter");
            for ((why, dialect, code), count) in
                map.iter().filter(|((k, _, _), _)| kinds.contains(k))
            {
                let reason = match why {
                    Refusal::Sealed => ",reason=\"sealed\"",
                    Refusal::StoreUnavailable => ",reason=\"store\"",
                    Refusal::Throttled | Refusal::Fault => "",
                };
                let _ = writeln!(
                    out,
                    "{name}{{dialect=\"{dialect}\",code=\"{code}\"{reason}}} {count}"
                );
            }
        }
        out
    }

    /// What each dialect's actions have answered so far, for the console's charts.
    pub fn snapshot(&self) -> Vec<ActionSummary> {
        let map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|((dialect, action), stats)| ActionSummary {
                dialect,
                action,
                count: stats.count,
                codes: stats.codes.iter().map(|(c, n)| (*c, *n)).collect(),
                buckets: stats.buckets,
            })
            .collect()
    }

    fn render_requests(&self) -> String {
        let map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP kmsd_requests_total API requests answered, by dialect, action and result \
             code.\n# TYPE kmsd_requests_total counter\n",
        );
        for ((dialect, action), stats) in map.iter() {
            for (code, count) in &stats.codes {
                let _ = writeln!(
                    out,
                    "kmsd_requests_total{{dialect=\"{dialect}\",action=\"{action}\",code=\"{code}\"}} {count}"
                );
            }
        }
        out.push_str(
            "# HELP kmsd_request_errors_total API requests answered with an error, by dialect \
             and error code.\n# TYPE kmsd_request_errors_total counter\n",
        );
        let mut errors: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for ((dialect, _), stats) in map.iter() {
            for (code, count) in stats.codes.iter().filter(|(code, _)| **code != "ok") {
                *errors.entry((dialect, code)).or_default() += count;
            }
        }
        for ((dialect, code), count) in errors {
            let _ = writeln!(
                out,
                "kmsd_request_errors_total{{dialect=\"{dialect}\",code=\"{code}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP kmsd_request_duration_seconds Time to answer API requests, by dialect and \
             action.\n# TYPE kmsd_request_duration_seconds histogram\n",
        );
        for ((dialect, action), stats) in map.iter() {
            let labels = format!("dialect=\"{dialect}\",action=\"{action}\"");
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(stats.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "kmsd_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "kmsd_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                 kmsd_request_duration_seconds_sum{{{labels}}} {}\n\
                 kmsd_request_duration_seconds_count{{{labels}}} {}",
                stats.count, stats.seconds, stats.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_micros(n * 1000)
    }

    #[test]
    fn renders_counts_by_code_and_errors_by_dialect() {
        let m = Metrics::default();
        m.record("tencent", "Encrypt", "ok", ms(2));
        m.record("tencent", "Encrypt", "ok", ms(2));
        m.record(
            "tencent",
            "Encrypt",
            "ResourceUnavailable.CmkDisabled",
            ms(1),
        );
        m.record(
            "tencent",
            "Decrypt",
            "ResourceUnavailable.CmkDisabled",
            ms(1),
        );
        m.record("huawei", "encrypt-data", "KMS.0205", ms(1));
        m.refused(Refusal::Throttled, "huawei", "APIG.0308");
        m.refused(Refusal::Fault, "tencent", "InternalError");
        m.refused(Refusal::Sealed, "tencent", "ServiceUnavailable");
        m.refused(Refusal::StoreUnavailable, "huawei", "KMS.0101");
        let text = m.render();
        for line in [
            "kmsd_requests_total{dialect=\"tencent\",action=\"Encrypt\",code=\"ok\"} 2",
            "kmsd_requests_total{dialect=\"tencent\",action=\"Encrypt\",code=\"ResourceUnavailable.CmkDisabled\"} 1",
            "kmsd_request_errors_total{dialect=\"tencent\",code=\"ResourceUnavailable.CmkDisabled\"} 2",
            "kmsd_request_errors_total{dialect=\"huawei\",code=\"KMS.0205\"} 1",
            "kmsd_throttled_total{dialect=\"huawei\",code=\"APIG.0308\"} 1",
            "kmsd_faults_injected_total{dialect=\"tencent\",code=\"InternalError\"} 1",
            "kmsd_unavailable_total{dialect=\"tencent\",code=\"ServiceUnavailable\",reason=\"sealed\"} 1",
            "kmsd_unavailable_total{dialect=\"huawei\",code=\"KMS.0101\",reason=\"store\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(!text.contains("kmsd_request_errors_total{dialect=\"tencent\",code=\"ok\"}"));
    }

    #[test]
    fn the_histogram_is_cumulative_and_ends_with_every_answer() {
        let m = Metrics::default();
        // On a bound, just above one, and beyond the last.
        for elapsed in [
            Duration::from_micros(100),
            Duration::from_micros(101),
            ms(30),
            Duration::from_secs(3),
        ] {
            m.record("tencent", "Encrypt", "ok", elapsed);
        }
        let text = m.render();
        let bucket = |le: &str| {
            let prefix = format!(
                "kmsd_request_duration_seconds_bucket{{dialect=\"tencent\",action=\"Encrypt\",le=\"{le}\"}} "
            );
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("no bucket {le} in\n{text}"))
                .parse::<u64>()
                .unwrap()
        };
        assert_eq!(bucket("0.0001"), 1);
        assert_eq!(bucket("0.00025"), 2);
        assert_eq!(bucket("0.025"), 2);
        assert_eq!(bucket("0.05"), 3);
        assert_eq!(bucket("2.5"), 3);
        assert_eq!(bucket("+Inf"), 4);
        assert!(text.contains(
            "kmsd_request_duration_seconds_count{dialect=\"tencent\",action=\"Encrypt\"} 4"
        ));
        let sum: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    "kmsd_request_duration_seconds_sum{dialect=\"tencent\",action=\"Encrypt\"} ",
                )
            })
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 3.030_201).abs() < 1e-9, "{sum}");
    }
}
