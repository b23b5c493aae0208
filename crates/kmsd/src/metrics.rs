//! Request counters in Prometheus text format. Labels come only from fixed sets (dialect,
//! the vendor's action names, the vendor's error codes), so cardinality stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

type Labels = (&'static str, &'static str, &'static str);

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<Labels, (u64, f64)>>,
    /// Calls refused by a rate limit, and faults injected, by dialect and code.
    refusals: Mutex<BTreeMap<(&'static str, &'static str, &'static str), u64>>,
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
        let entry = map.entry((dialect, action, code)).or_default();
        entry.0 += 1;
        entry.1 += elapsed.as_secs_f64();
    }

    /// Counts a call the server refused before it ran: `kind` is "throttled" or "fault".
    pub fn refused(&self, kind: &'static str, dialect: &'static str, code: &'static str) {
        let mut map = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((kind, dialect, code)).or_default() += 1;
    }

    pub fn render(&self) -> String {
        let mut out = self.render_requests();
        let map = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        for (kind, help) in [
            ("throttled", "API calls refused by a rate limit"),
            (
                "fault",
                "Faults injected in place of API calls (fault mode)",
            ),
        ] {
            let name = if kind == "throttled" {
                "kmsd_throttled_total"
            } else {
                "kmsd_faults_injected_total"
            };
            let _ = writeln!(out, "# HELP {name} {help}, by dialect and code.");
            let _ = writeln!(out, "# TYPE {name} counter");
            for ((_, dialect, code), count) in map.iter().filter(|((k, _, _), _)| *k == kind) {
                let _ = writeln!(
                    out,
                    "{name}{{dialect=\"{dialect}\",code=\"{code}\"}} {count}"
                );
            }
        }
        out
    }

    fn render_requests(&self) -> String {
        let map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str("# HELP kmsd_requests_total API requests answered, by dialect, action and result code.\n");
        out.push_str("# TYPE kmsd_requests_total counter\n");
        for ((dialect, action, code), (count, _)) in map.iter() {
            let _ = writeln!(
                out,
                "kmsd_requests_total{{dialect=\"{dialect}\",action=\"{action}\",code=\"{code}\"}} {count}"
            );
        }
        out.push_str("# HELP kmsd_request_seconds_total Time spent answering API requests.\n");
        out.push_str("# TYPE kmsd_request_seconds_total counter\n");
        for ((dialect, action, code), (_, secs)) in map.iter() {
            let _ = writeln!(
                out,
                "kmsd_request_seconds_total{{dialect=\"{dialect}\",action=\"{action}\",code=\"{code}\"}} {secs}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_counters() {
        let m = super::Metrics::default();
        m.record(
            "tencent",
            "Encrypt",
            "ok",
            std::time::Duration::from_millis(2),
        );
        m.record(
            "tencent",
            "Encrypt",
            "ok",
            std::time::Duration::from_millis(2),
        );
        m.refused("throttled", "huawei", "APIG.0308");
        m.refused("fault", "tencent", "InternalError");
        let text = m.render();
        assert!(text.contains("kmsd_throttled_total{dialect=\"huawei\",code=\"APIG.0308\"} 1"));
        assert!(
            text.contains(
                "kmsd_faults_injected_total{dialect=\"tencent\",code=\"InternalError\"} 1"
            )
        );
        assert!(
            text.contains(
                "kmsd_requests_total{dialect=\"tencent\",action=\"Encrypt\",code=\"ok\"} 2"
            )
        );
    }
}
