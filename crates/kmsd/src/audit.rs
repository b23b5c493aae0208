//! The audit trail: one JSON line per API call, answered or refused, written before the answer
//! leaves. Never a secret: records carry ids, names and codes, not parameters or answers.
//!
//! When a record cannot be written the operator chooses: `refuse` (the default) answers the call
//! with ServiceUnavailable instead, and refuses later calls before they run until a record can be
//! written again; `log` answers as usual and puts the record in the server log.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use kms_core::AccountId;
use kms_tencent::AuditFields;

use crate::server::{App, json_response};

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    Stdout,
    File(PathBuf),
}

impl AuditTarget {
    /// `-` is standard output; anything else a file path.
    pub fn parse(s: &str) -> Self {
        match s {
            "-" => Self::Stdout,
            path => Self::File(PathBuf::from(path)),
        }
    }
}

/// What happens to a call whose record cannot be written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditFailure {
    /// The call fails with ServiceUnavailable.
    #[default]
    Refuse,
    /// The call is answered; the record goes to the server log.
    Log,
}

/// The Tencent code for a call refused because its record cannot be written: the API's common
/// "service temporarily unavailable".
pub const AUDIT_UNAVAILABLE: &str = "ServiceUnavailable";
/// The Tencent code for a call to a sealed node: the same common code.
pub const SEALED_TENCENT: &str = "ServiceUnavailable";

type Sink = Box<dyn Write + Send>;

/// The open target, and whether a failed write left a record cut short in it.
struct Output {
    sink: Sink,
    torn: bool,
}

impl Output {
    fn new(sink: Sink) -> Self {
        Self { sink, torn: false }
    }

    /// Writes one whole line. After a record was cut short, the next starts on a line of its own
    /// so that only the torn one is unreadable.
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.torn {
            self.sink.write_all(b"\n")?;
            self.torn = false;
        }
        let mut rest = line;
        while !rest.is_empty() {
            let failure = match self.sink.write(rest) {
                Ok(0) => std::io::Error::from(std::io::ErrorKind::WriteZero),
                Ok(n) => {
                    rest = &rest[n..];
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            self.torn = rest.len() < line.len();
            return Err(failure);
        }
        self.sink.flush()
    }
}

pub struct AuditLog {
    output: Option<Mutex<Output>>,
    /// The file records go to, reopened on request (log rotation); none for standard output.
    file: Option<PathBuf>,
    on_failure: AuditFailure,
    /// The last write failed: under `refuse`, calls are turned away before they run.
    failing: AtomicBool,
}

impl AuditLog {
    /// No audit trail.
    pub fn disabled() -> Self {
        Self::to_writer(None, AuditFailure::Refuse)
    }

    /// Opens the target: a file is created with mode 0600 if missing and only ever appended to.
    pub fn open(target: &AuditTarget, on_failure: AuditFailure) -> anyhow::Result<Self> {
        Ok(match target {
            AuditTarget::Stdout => Self::to_writer(Some(Box::new(std::io::stdout())), on_failure),
            AuditTarget::File(path) => Self {
                file: Some(path.clone()),
                ..Self::to_writer(Some(Box::new(open_file(path)?)), on_failure)
            },
        })
    }

    fn to_writer(sink: Option<Sink>, on_failure: AuditFailure) -> Self {
        Self {
            output: sink.map(|s| Mutex::new(Output::new(s))),
            file: None,
            on_failure,
            failing: AtomicBool::new(false),
        }
    }

    /// Opens the audit file again by its path, so records follow a rotation (the old file renamed
    /// away, then this). Until the new file is open, records go to the old one; if it cannot be
    /// opened they keep going there.
    pub fn reopen(&self) -> anyhow::Result<()> {
        let (Some(output), Some(path)) = (&self.output, &self.file) else {
            return Ok(());
        };
        let file = open_file(path)?;
        *output.lock().unwrap_or_else(|p| p.into_inner()) = Output::new(Box::new(file));
        Ok(())
    }

    /// The file records go to, if any (the console searches it).
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// Whether calls are refused before they run: records cannot be written and the operator
    /// chose `refuse`. The refusal's own record is the probe that ends this state.
    pub fn refusing(&self) -> bool {
        self.on_failure == AuditFailure::Refuse && self.failing.load(Ordering::Relaxed)
    }

    /// Writes one record; `false` when it could not be written and the call must fail.
    fn write(&self, record: &Record<'_>) -> bool {
        let Some(output) = &self.output else {
            return true;
        };
        let mut line = serde_json::to_vec(record).unwrap_or_default();
        line.push(b'\n');
        let written = output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_line(&line);
        match written {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::warn!("audit records are being written again");
                }
                true
            }
            Err(e) => {
                let first = !self.failing.swap(true, Ordering::Relaxed);
                let record = String::from_utf8_lossy(&line[..line.len() - 1]);
                match self.on_failure {
                    AuditFailure::Refuse => {
                        if first {
                            tracing::error!(error = %e, "cannot write audit records: refusing API calls until it works again");
                        }
                        false
                    }
                    AuditFailure::Log => {
                        tracing::error!(error = %e, audit = %record, "cannot write the audit record; it is logged here instead");
                        true
                    }
                }
            }
        }
    }
}

fn open_file(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("opening audit log {}: {e}", path.display()))
}

/// Reopens the audit file whenever the process gets SIGHUP, for as long as the server runs.
pub fn reopen_on_hangup(app: Arc<App>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match app.audit.reopen() {
                Ok(()) => tracing::info!("reopened the audit log"),
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    "cannot reopen the audit log; records still go to the file open before"
                ),
            }
        }
    });
    Ok(())
}

/// One call as it arrived: what every record of it names whatever the outcome.
pub struct Call {
    request_id: String,
    source: Option<SocketAddr>,
    method: String,
    path: String,
    started: Instant,
    /// The call's span, when traces are exported; boxed so that a call without one (the
    /// default) moves one word, not the tracer and the caller's context.
    trace: Option<Box<crate::otel::Pending>>,
}

/// How a call ended, as far as the audit trail is concerned.
pub struct Outcome<'a> {
    /// `tencent` or `huawei`, or none when no dialect claimed the request.
    pub dialect: Option<&'static str>,
    pub action: Option<&'a str>,
    /// The vendor's error code, or `ok`.
    pub code: &'a str,
    pub fields: Option<&'a AuditFields>,
}

impl<'a> Outcome<'a> {
    /// An answer given without a dialect: a path none serves, a body too large to read.
    pub fn unclaimed(code: &'a str) -> Self {
        Self {
            dialect: None,
            action: None,
            code,
            fields: None,
        }
    }

    /// A Tencent answer given before (or instead of) the dialect's own.
    pub fn tencent(code: &'a str) -> Self {
        Self {
            dialect: Some("tencent"),
            ..Self::unclaimed(code)
        }
    }

    /// The Huawei dialect's answer.
    pub fn huawei_reply(reply: &'a kms_huawei::Reply) -> Self {
        Self {
            dialect: Some("huawei"),
            action: Some(reply.action),
            code: reply.error_code.unwrap_or("ok"),
            fields: Some(&reply.audit),
        }
    }

    /// The Tencent dialect's answer.
    pub fn tencent_reply(reply: &'a kms_tencent::Reply) -> Self {
        Self {
            dialect: Some("tencent"),
            action: Some(reply.action),
            code: reply.error_code.unwrap_or("ok"),
            fields: Some(&reply.audit),
        }
    }
}

/// Longest request path a record keeps.
const PATH_MAX: usize = 256;

impl Call {
    pub fn new(
        request_id: &str,
        source: Option<SocketAddr>,
        method: &str,
        path: &str,
        started: Instant,
    ) -> Self {
        Self {
            request_id: request_id.to_owned(),
            source,
            method: method.to_owned(),
            path: path[..path.floor_char_boundary(PATH_MAX)].to_owned(),
            started,
            trace: None,
        }
    }

    /// Gives the call a span, ended with its answer.
    pub fn traced(self, trace: Option<Box<crate::otel::Pending>>) -> Self {
        Self { trace, ..self }
    }

    /// Records the call and returns its answer, or, when the record cannot be written and the
    /// operator chose `refuse`, the refusal in the call's dialect instead.
    pub fn answer(mut self, log: &AuditLog, outcome: Outcome<'_>, answer: Response) -> Response {
        let answer = self.record(log, &outcome, answer);
        if let Some(trace) = self.trace.take() {
            trace.end(&crate::otel::Answered {
                request_id: &self.request_id,
                dialect: outcome.dialect,
                action: outcome.action,
                code: outcome.code,
                fields: outcome.fields,
                method: &self.method,
                path: &self.path,
                status: answer.status().as_u16(),
            });
        }
        answer
    }

    fn record(&self, log: &AuditLog, outcome: &Outcome<'_>, answer: Response) -> Response {
        // Without an audit trail there is no record to build: keep the request path lean.
        if log.output.is_none() {
            return answer;
        }
        let none = AuditFields::default();
        let fields = outcome.fields.unwrap_or(&none);
        let record = Record {
            time: rfc3339(SystemTime::now()),
            request_id: &self.request_id,
            dialect: outcome.dialect,
            action: outcome.action,
            account: fields.account,
            user: fields.user.as_deref(),
            credential_id: fields.credential_id.as_deref(),
            region: fields.region.as_deref(),
            source: self.source.map(|s| s.to_string()),
            method: &self.method,
            path: &self.path,
            resources: &fields.resources,
            outcome: outcome.code,
            status: answer.status().as_u16(),
            latency_us: micros(self.started.elapsed()),
        };
        if log.write(&record) {
            answer
        } else {
            self.unavailable(outcome.dialect)
        }
    }

    /// Refuses a call before it runs because records cannot be written; the refusal is recorded
    /// when that works again.
    pub fn refuse(self, log: &AuditLog, dialect: &'static str) -> Response {
        let answer = self.unavailable(Some(dialect));
        let outcome = Outcome {
            dialect: Some(dialect),
            ..Outcome::unclaimed(AUDIT_UNAVAILABLE)
        };
        self.answer(log, outcome, answer)
    }

    /// Refuses a call to a sealed node before anything reads it: Tencent's
    /// `ServiceUnavailable` in its envelope (HTTP 200), Huawei's 503 `KMS.0101`.
    pub fn refuse_sealed(self, log: &AuditLog, dialect: &'static str) -> Response {
        const SEALED: &str = "The service is sealed: an operator must unseal it first.";
        let (answer, code) = if dialect == "huawei" {
            let e = kms_huawei::errors::HwError::new(503, kms_huawei::errors::KMS_ERROR, SEALED);
            let mut answer = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                kms_huawei::errors::error_body(&e),
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&self.request_id) {
                answer.headers_mut().insert("x-request-id", v);
            }
            (answer, kms_huawei::errors::KMS_ERROR)
        } else {
            let body = kms_tencent::error_body(SEALED_TENCENT, SEALED, &self.request_id);
            (json_response(StatusCode::OK, body), SEALED_TENCENT)
        };
        let outcome = Outcome {
            dialect: Some(dialect),
            ..Outcome::unclaimed(code)
        };
        self.answer(log, outcome, answer)
    }

    fn unavailable(&self, dialect: Option<&str>) -> Response {
        match dialect {
            Some("huawei") => {
                let e = kms_huawei::errors::HwError::new(
                    500,
                    kms_huawei::errors::KMS_ERROR,
                    format!(
                        "The service cannot record this call in its audit trail; quote request id {}.",
                        self.request_id
                    ),
                );
                let mut answer = json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    kms_huawei::errors::error_body(&e),
                );
                if let Ok(v) = axum::http::HeaderValue::from_str(&self.request_id) {
                    answer.headers_mut().insert("x-request-id", v);
                }
                answer
            }
            Some(_) => {
                let message = format!(
                    "The service cannot record this call in its audit trail; quote request id {}.",
                    self.request_id
                );
                let body = kms_tencent::error_body(AUDIT_UNAVAILABLE, &message, &self.request_id);
                json_response(StatusCode::OK, body)
            }
            None => json_response(StatusCode::SERVICE_UNAVAILABLE, Vec::new()),
        }
    }
}

/// The serialized record; field names are the documented format.
#[derive(Serialize)]
struct Record<'a> {
    time: String,
    request_id: &'a str,
    dialect: Option<&'a str>,
    action: Option<&'a str>,
    account: Option<AccountId>,
    /// The user inside the account who signed; null for the account's root.
    user: Option<&'a str>,
    credential_id: Option<&'a str>,
    region: Option<&'a str>,
    source: Option<String>,
    method: &'a str,
    path: &'a str,
    resources: &'a [String],
    outcome: &'a str,
    status: u16,
    latency_us: u64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `time` as RFC 3339 UTC with microseconds, e.g. `2026-11-24T08:57:03.123456Z`.
fn rfc3339(time: SystemTime) -> String {
    use std::fmt::Write as _;
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut text = kms_core::utc_date_time(since.as_secs());
    text.truncate(text.len() - 1);
    let _ = write!(text, ".{:06}Z", since.subsec_micros());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that can be made to fail, and whose bytes the test reads back.
    #[derive(Clone, Default)]
    struct Recorder {
        bytes: Arc<Mutex<Vec<u8>>>,
        broken: Arc<AtomicBool>,
        /// When set, how many more bytes are taken before the device is full.
        room: Arc<Mutex<Option<usize>>>,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut room = self.room.lock().unwrap();
            let n = buf.len().min(room.unwrap_or(usize::MAX));
            if self.broken.load(Ordering::Relaxed) || n == 0 {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            if let Some(room) = room.as_mut() {
                *room -= n;
            }
            self.bytes.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Recorder {
        fn lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.bytes.lock().unwrap();
            std::str::from_utf8(&bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    fn call() -> Call {
        Call::new(
            "req-1",
            Some("192.0.2.7:4242".parse().unwrap()),
            "POST",
            "/",
            Instant::now(),
        )
    }

    fn ok_answer() -> Response {
        json_response(StatusCode::OK, b"{\"Response\":{}}".to_vec())
    }

    async fn body(r: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_record_names_the_call_and_its_outcome() {
        let sink = Recorder::default();
        let log = AuditLog::to_writer(Some(Box::new(sink.clone())), AuditFailure::Refuse);
        let fields = AuditFields {
            account: Some(100_000),
            user: Some("100000000001".into()),
            credential_id: Some("AKIDexample".into()),
            region: Some("ap-guangzhou".into()),
            resources: vec!["key-1".into()],
        };
        let outcome = Outcome {
            dialect: Some("tencent"),
            action: Some("Encrypt"),
            code: "ok",
            fields: Some(&fields),
        };
        let answer = call().answer(&log, outcome, ok_answer());
        assert_eq!(body(answer).await, serde_json::json!({ "Response": {} }));
        let lines = sink.lines();
        assert_eq!(lines.len(), 1);
        let mut record = lines[0].as_object().unwrap().clone();
        let time = record.remove("time").unwrap();
        let time = time.as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == 27, "{time}");
        assert!(record.remove("latency_us").unwrap().is_u64());
        assert_eq!(
            serde_json::Value::Object(record),
            serde_json::json!({
                "request_id": "req-1",
                "dialect": "tencent",
                "action": "Encrypt",
                "account": 100_000,
                "user": "100000000001",
                "credential_id": "AKIDexample",
                "region": "ap-guangzhou",
                "source": "192.0.2.7:4242",
                "method": "POST",
                "path": "/",
                "resources": ["key-1"],
                "outcome": "ok",
                "status": 200,
            })
        );

        let unclaimed = Outcome {
            dialect: None,
            action: None,
            code: "APIG.0101",
            fields: None,
        };
        call().answer(
            &log,
            unclaimed,
            json_response(StatusCode::NOT_FOUND, Vec::new()),
        );
        let record = &sink.lines()[1];
        assert_eq!(record["dialect"], serde_json::Value::Null);
        assert_eq!(record["account"], serde_json::Value::Null);
        assert_eq!(record["resources"], serde_json::json!([]));
        assert_eq!(record["status"], 404);
    }

    #[tokio::test]
    async fn an_unwritable_trail_refuses_calls_until_it_works_again() {
        let sink = Recorder::default();
        let log = AuditLog::to_writer(Some(Box::new(sink.clone())), AuditFailure::Refuse);
        let outcome = || Outcome {
            dialect: Some("tencent"),
            action: Some("Encrypt"),
            code: "ok",
            fields: None,
        };
        sink.broken.store(true, Ordering::Relaxed);
        let answer = call().answer(&log, outcome(), ok_answer());
        let answer = body(answer).await;
        assert_eq!(answer["Response"]["Error"]["Code"], AUDIT_UNAVAILABLE);
        assert_eq!(answer["Response"]["RequestId"], "req-1");
        assert!(
            log.refusing(),
            "later calls are turned away before they run"
        );
        let refused = body(call().refuse(&log, "tencent")).await;
        assert_eq!(refused["Response"]["Error"]["Code"], AUDIT_UNAVAILABLE);
        assert!(sink.lines().is_empty());

        sink.broken.store(false, Ordering::Relaxed);
        let refused = body(call().refuse(&log, "tencent")).await;
        assert_eq!(refused["Response"]["Error"]["Code"], AUDIT_UNAVAILABLE);
        assert!(!log.refusing(), "a written record ends the refusal");
        assert_eq!(sink.lines()[0]["outcome"], AUDIT_UNAVAILABLE);
        let answer = call().answer(&log, outcome(), ok_answer());
        assert_eq!(body(answer).await, serde_json::json!({ "Response": {} }));
    }

    #[tokio::test]
    async fn a_record_cut_short_leaves_the_next_on_its_own_line() {
        let sink = Recorder::default();
        let log = AuditLog::to_writer(Some(Box::new(sink.clone())), AuditFailure::Refuse);
        *sink.room.lock().unwrap() = Some(10);
        let answer = call().answer(&log, Outcome::unclaimed("APIG.0101"), ok_answer());
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        *sink.room.lock().unwrap() = None;
        call().answer(&log, Outcome::unclaimed("APIG.0101"), ok_answer());
        call().answer(&log, Outcome::unclaimed("APIG.0101"), ok_answer());
        let bytes = sink.bytes.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0].len(), 10, "the torn record");
        for line in &lines[1..] {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(record["outcome"], "APIG.0101");
        }
    }

    #[tokio::test]
    async fn the_log_choice_answers_when_the_trail_is_unwritable() {
        let sink = Recorder::default();
        sink.broken.store(true, Ordering::Relaxed);
        let log = AuditLog::to_writer(Some(Box::new(sink.clone())), AuditFailure::Log);
        let outcome = Outcome {
            dialect: Some("tencent"),
            action: Some("Encrypt"),
            code: "ok",
            fields: None,
        };
        let answer = call().answer(&log, outcome, ok_answer());
        assert_eq!(body(answer).await, serde_json::json!({ "Response": {} }));
        assert!(!log.refusing());
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let at = |secs, micros| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        assert_eq!(at(1_764_000_000, 123_456), "2025-11-24T16:00:00.123456Z");
        assert_eq!(at(4_102_444_799, 999_999), "2099-12-31T23:59:59.999999Z");
    }

    #[test]
    fn reopening_follows_a_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let rotated = dir.path().join("audit.jsonl.1");
        let log = AuditLog::open(&AuditTarget::File(path.clone()), AuditFailure::Refuse).unwrap();
        let record = || {
            call().answer(&log, Outcome::unclaimed("APIG.0101"), ok_answer());
        };
        record();
        std::fs::rename(&path, &rotated).unwrap();
        record();
        log.reopen().unwrap();
        record();
        let lines = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
        assert_eq!((lines(&rotated), lines(&path)), (2, 1));

        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            log.reopen().is_err(),
            "a file that cannot be made is reported"
        );
        AuditLog::open(&AuditTarget::Stdout, AuditFailure::Refuse)
            .unwrap()
            .reopen()
            .unwrap();
    }

    #[test]
    fn a_new_file_is_private_and_appended_to() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&AuditTarget::File(path.clone()), AuditFailure::Refuse).unwrap();
        let missing_dir = AuditTarget::File(dir.path().join("absent/audit.jsonl"));
        assert!(AuditLog::open(&missing_dir, AuditFailure::Refuse).is_err());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(log);
        std::fs::write(&path, b"earlier\n").unwrap();
        let log = AuditLog::open(&AuditTarget::File(path.clone()), AuditFailure::Refuse).unwrap();
        let outcome = Outcome {
            dialect: None,
            action: None,
            code: "APIG.0101",
            fields: None,
        };
        call().answer(&log, outcome, ok_answer());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("earlier\n{\""), "{text}");
        assert_eq!(text.lines().count(), 2);
    }
}
