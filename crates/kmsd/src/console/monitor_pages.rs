//! The audit trail, searchable, and the node's health with its metrics as charts (SVG drawn on
//! the server: no script runs in the page).

use std::io::{Read, Seek, SeekFrom};

use maud::{Markup, html};
use serde_json::Value;

use super::calls;
use super::key_pages::frame;
use super::view::facts;
use super::{Ctx, Handled};
use crate::metrics::{ActionSummary, BUCKETS};

/// The newest part of the audit file a search reads: searches cost at most this much.
const SEARCH_BYTES: u64 = 32 * 1024 * 1024;
/// Most records a search shows.
const MAX_RESULTS: usize = 200;

pub fn route(ctx: &Ctx<'_>, segments: &[&str]) -> Handled {
    match segments {
        ["audit"] if calls::administrator(ctx) => audit(ctx),
        ["health"] if ctx.is_operator() => health(ctx),
        _ => Handled::not_found(),
    }
}

/// What a search asks for; empty fields match everything.
#[derive(Default)]
struct Search {
    from: String,
    to: String,
    account: String,
    user: String,
    action: String,
    /// `ok`, `error`, or one code.
    outcome: String,
}

impl Search {
    fn matches(&self, r: &Value) -> bool {
        let time = r["time"].as_str().unwrap_or_default();
        let text = |name: &str| match &r[name] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let outcome = r["outcome"].as_str().unwrap_or_default();
        // Times are RFC 3339 UTC, so text order is time order; a bound given to the minute
        // (as a browser's datetime-local field sends it) covers that whole minute.
        (self.from.is_empty() || time >= self.from.as_str())
            && (self.to.is_empty() || time.get(..self.to.len()).unwrap_or(time) <= self.to.as_str())
            && (self.account.is_empty() || text("account") == self.account)
            && (self.user.is_empty() || text("user") == self.user)
            && (self.action.is_empty()
                || r["action"]
                    .as_str()
                    .is_some_and(|a| a.eq_ignore_ascii_case(&self.action)))
            && match self.outcome.as_str() {
                "" => true,
                "ok" => outcome == "ok",
                "error" => outcome != "ok",
                code => outcome == code,
            }
    }
}

/// The records of the newest [`SEARCH_BYTES`] of `file` that match, newest first.
fn search(file: &std::path::Path, s: &Search) -> std::io::Result<(Vec<Value>, bool)> {
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(SEARCH_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut text = Vec::with_capacity((len - start) as usize);
    f.take(SEARCH_BYTES).read_to_end(&mut text)?;
    let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    // A read that began inside a record drops its tail.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let mut found = Vec::new();
    for line in lines.iter().rev().filter(|l| !l.is_empty()) {
        let Ok(record) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if s.matches(&record) {
            found.push(record);
            if found.len() == MAX_RESULTS {
                return Ok((found, true));
            }
        }
    }
    Ok((found, false))
}

fn audit(ctx: &Ctx<'_>) -> Handled {
    let q = |n: &str| ctx.query(n).unwrap_or_default().trim().to_owned();
    let mut s = Search {
        from: q("from"),
        to: q("to"),
        account: q("account"),
        user: q("user"),
        action: q("action"),
        outcome: q("outcome"),
    };
    // An account's root sees its own account's records only.
    if !ctx.is_operator() {
        s.account = ctx
            .session
            .account
            .map(|a| a.to_string())
            .unwrap_or_default();
    }
    let results = ctx.app.audit.file().map(|f| search(f, &s));
    let body = html! {
        form.filters method="get" action="/console/audit" id="audit-search" {
            label { "From (UTC)" input type="datetime-local" name="from" value=(s.from); }
            label { "To (UTC)" input type="datetime-local" name="to" value=(s.to); }
            @if ctx.is_operator() { label { "Account" input type="text" name="account" value=(s.account); } }
            label { "User" input type="text" name="user" value=(s.user); }
            label { "Action" input type="text" name="action" value=(s.action); }
            label { "Outcome (ok, error or a code)" input type="text" name="outcome" value=(s.outcome); }
            button type="submit" { "Search" }
        }
        @match results {
            None => p { "The audit trail is not written to a file (" code { "--audit-log" } " is standard output or unset), so it cannot be searched here." },
            Some(Err(e)) => div.flash.bad { "The audit file cannot be read: " (e.kind().to_string()) },
            Some(Ok((records, more))) => {
                p.muted { (records.len()) " records, newest first" @if more { " (the first " (MAX_RESULTS) ": narrow the search)" } "." }
                table id="audit" {
                    thead { tr { th { "Time (UTC)" } th { "Dialect" } th { "Action" } th { "Outcome" } th { "Account" } th { "User" } th { "Credential" } th { "Resources" } th { "Source" } th { "Request id" } } }
                    tbody {
                        @for r in &records {
                            tr {
                                td.mono { (r["time"].as_str().unwrap_or_default()) }
                                td { (r["dialect"].as_str().unwrap_or_default()) }
                                td { (r["action"].as_str().unwrap_or_default()) }
                                td class={ "state-" (if r["outcome"] == "ok" { "ok" } else { "bad" }) } { (r["outcome"].as_str().unwrap_or_default()) }
                                td.mono { (r["account"]) }
                                td.mono { (r["user"].as_str().unwrap_or_default()) }
                                td.mono { (r["credential_id"].as_str().unwrap_or_default()) }
                                td.mono { (r["resources"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")) }
                                td.mono { (r["source"].as_str().unwrap_or_default()) }
                                td.mono { (r["request_id"].as_str().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    };
    Handled::page(
        "SearchAudit",
        frame(ctx, "/console/audit", "Audit trail", body),
    )
}

fn health(ctx: &Ctx<'_>) -> Handled {
    let app = ctx.app;
    let seal = app.seal.status(&app.service);
    let root_key = calls::admin(ctx, "GET", "/root-key", Value::Null).unwrap_or_default();
    let mut store_metrics = String::new();
    app.store.render_metrics(&mut store_metrics);
    let stats = app.metrics.snapshot();
    let body = html! {
        div.cards id="health" {
            (card("Seal", if app.service.get().is_some() { "unsealed" } else { "sealed" }, seal["seal"].as_str().unwrap_or_default()))
            (card("Store", if app.store.serving() { "serving" } else { "not current" }, &app.opener.store_place))
            (card("Audit trail", if app.audit.refusing() { "failing" } else { "writing" }, &app.audit.file().map_or("standard output or off".to_owned(), |p| p.display().to_string())))
            (card("Root key", &format!("generation {}", root_key["generation"]), if root_key["rotating"] == true { "rotating" } else { "" }))
        }
        h2 { "Seal status" }
        pre.mono { (serde_json::to_string_pretty(&seal).unwrap_or_default()) }
        @if !store_metrics.is_empty() {
            h2 { "Shared store and change feed" }
            (facts(&store_metrics.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once(' ')).map(|(k, v)| (k, v.to_owned())).collect::<Vec<_>>()))
        }
        h2 { "Requests by action" }
        (requests_chart(&stats))
        h2 { "Latency of all answers" }
        (latency_chart(&stats))
        h2 { "Errors by code" }
        (errors_chart(&stats))
        p.muted { "The same figures, and more, at " a href="/metrics" { "/metrics" } " for Prometheus." }
    };
    Handled::page("ShowHealth", frame(ctx, "/console/health", "Health", body))
}

fn card(title: &str, big: &str, small: &str) -> Markup {
    html! {
        div.card {
            div.muted { (title) }
            div.big { (big) }
            div.mono.muted { (small) }
        }
    }
}

/// A horizontal bar chart of labelled counts.
fn bars(id: &str, rows: &[(String, u64)], color: &str) -> Markup {
    const ROW: usize = 22;
    const LABEL: usize = 300;
    const WIDTH: usize = 760;
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let height = ROW * rows.len().max(1) + 8;
    html! {
        svg.chart id=(id) xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(height) viewBox={ "0 0 " (WIDTH) " " (height) } role="img" {
            @if rows.is_empty() {
                text x="8" y="18" { "nothing answered yet" }
            }
            @for (i, (label, n)) in rows.iter().enumerate() {
                @let y = 4 + i * ROW;
                @let w = ((WIDTH - LABEL - 80) as u64 * n / max).max(1);
                text x="6" y=(y + 15) { (label) }
                rect x=(LABEL) y=(y + 3) width=(w) height=(ROW - 6) fill=(color) {}
                text x=(LABEL as u64 + w + 6) y=(y + 15) { (n) }
            }
        }
    }
}

fn requests_chart(stats: &[ActionSummary]) -> Markup {
    let mut rows: Vec<(String, u64)> = stats
        .iter()
        .map(|s| (format!("{} {}", s.dialect, s.action), s.count))
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(20);
    bars("requests-chart", &rows, "#0b5cad")
}

fn latency_chart(stats: &[ActionSummary]) -> Markup {
    let mut buckets = [0u64; BUCKETS.len()];
    let mut total = 0;
    for s in stats {
        for (b, n) in buckets.iter_mut().zip(s.buckets) {
            *b += n;
        }
        total += s.count;
    }
    let mut rows: Vec<(String, u64)> = BUCKETS
        .iter()
        .zip(buckets)
        .map(|(bound, n)| (format!("≤ {}", seconds(*bound)), n))
        .collect();
    rows.push((
        format!("> {}", seconds(BUCKETS[BUCKETS.len() - 1])),
        total - buckets.iter().sum::<u64>(),
    ));
    bars("latency-chart", &rows, "#067647")
}

fn errors_chart(stats: &[ActionSummary]) -> Markup {
    let mut by_code: std::collections::BTreeMap<String, u64> = Default::default();
    for s in stats {
        for (code, n) in s.codes.iter().filter(|(c, _)| *c != "ok") {
            *by_code.entry(format!("{} {code}", s.dialect)).or_default() += n;
        }
    }
    let mut rows: Vec<(String, u64)> = by_code.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(20);
    bars("errors-chart", &rows, "#b42318")
}

/// A bucket's bound as people read it.
fn seconds(s: f64) -> String {
    if s < 0.001 {
        format!("{} µs", (s * 1e6).round())
    } else if s < 1.0 {
        format!("{} ms", s * 1e3)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(time: &str, account: u64, action: &str, outcome: &str) -> Value {
        json!({ "time": time, "account": account, "user": null, "action": action, "outcome": outcome })
    }

    #[test]
    fn a_search_filters_by_time_account_action_and_outcome() {
        let r = record("2026-12-07T10:15:30.000001Z", 7, "Encrypt", "ok");
        let s = |f: fn(&mut Search)| {
            let mut s = Search::default();
            f(&mut s);
            s.matches(&r)
        };
        assert!(s(|_| {}));
        assert!(s(|s| s.from = "2026-12-07T10:15".into()));
        assert!(
            s(|s| s.to = "2026-12-07T10:15".into()),
            "the minute given is covered whole"
        );
        assert!(!s(|s| s.to = "2026-12-07T10:14".into()));
        assert!(!s(|s| s.from = "2026-12-07T10:16".into()));
        assert!(s(|s| s.account = "7".into()));
        assert!(!s(|s| s.account = "8".into()));
        assert!(s(|s| s.action = "encrypt".into()));
        assert!(s(|s| s.outcome = "ok".into()));
        assert!(!s(|s| s.outcome = "error".into()));
        assert!(!s(|s| s.user = "u-1".into()));
    }

    #[test]
    fn a_record_of_any_shape_is_matched_without_failing() {
        let s = Search {
            from: "2026".into(),
            to: "2026-12-07T10:15".into(),
            account: "1".into(),
            user: "u".into(),
            action: "a".into(),
            outcome: "error".into(),
        };
        for r in [
            json!(null),
            json!([]),
            json!({ "time": "é2026-12-07T10:15:00Z" }),
            json!({ "time": "ééééééééééééééééé" }),
            json!({ "time": 5, "account": "x", "user": [], "action": {}, "outcome": 1 }),
        ] {
            assert!(!s.matches(&r));
        }
    }

    #[test]
    fn a_search_reads_newest_first_and_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut text = String::new();
        for i in 0..5 {
            text.push_str(
                &record(&format!("2026-12-07T10:0{i}:00Z"), 1, "Encrypt", "ok").to_string(),
            );
            text.push('\n');
        }
        text.push_str("{\"torn\": \n");
        std::fs::write(&path, text).unwrap();
        let (found, more) = search(&path, &Search::default()).unwrap();
        assert!(!more);
        assert_eq!(found.len(), 5);
        assert_eq!(found[0]["time"], "2026-12-07T10:04:00Z");
    }

    #[test]
    fn charts_escape_their_labels() {
        let svg = bars("x", &[("<b>".into(), 3)], "#000").into_string();
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
    }
}
