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

    pub fn render(&self) -> String {
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
        let text = m.render();
        assert!(
            text.contains(
                "kmsd_requests_total{dialect=\"tencent\",action=\"Encrypt\",code=\"ok\"} 2"
            )
        );
    }
}
