//! The HTTP listener: routing between dialects, request ids, body limits, logs, metrics and
//! graceful shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use kms_huawei::HuaweiApi;
use kms_tencent::TencentApi;
use kms_tencent::auth::SignedParts;

use crate::audit::{AuditLog, Call, Outcome};
use crate::limits::{Dialect, Limits, Verdict};
use crate::metrics::{Metrics, Refusal};
use crate::seal::NodeSeal;
use crate::service::{Current, Opener, Service};

/// Request ids: UUID-shaped, unique without a random draw (a system call) per request. A random
/// per-process base keeps ids from different processes apart; a counter keeps ours apart.
pub struct RequestIds {
    base: u128,
    counter: std::sync::atomic::AtomicU64,
}

impl RequestIds {
    pub fn new() -> Self {
        Self {
            base: uuid::Uuid::new_v4().as_u128(),
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn next(&self) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        uuid::Builder::from_u128(self.base ^ u128::from(n))
            .with_version(uuid::Version::Random)
            .with_variant(uuid::Variant::RFC4122)
            .into_uuid()
            .to_string()
    }
}

pub struct App {
    pub request_ids: RequestIds,
    /// The dialects, the engine and the account operations: present while the node is
    /// unsealed.
    pub service: Arc<Current>,
    /// How the node unseals and seals.
    pub seal: NodeSeal,
    /// What builds the service from root keys.
    pub opener: Opener,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
    /// How long a request's body may take to arrive once its headers have.
    pub body_read_timeout: Duration,
    pub audit: AuditLog,
    /// Rate limits and fault injection, checked once a call is authenticated.
    pub limits: Limits,
    /// Whether the listener serves TLS (the admin API's transport rule).
    pub https: bool,
    /// Whose `X-Forwarded-For` names the client.
    pub trusted_proxies: kms_policy::TrustedProxies,
    /// Password checks (Huawei IAM tokens) running at once, each about 19 MiB of Argon2
    /// memory: a flood of token requests waits here instead of filling the blocking pool.
    pub password_checks: tokio::sync::Semaphore,
    /// The per-address bound on token requests, checked before any of them waits for a
    /// password check.
    pub token_requests: crate::token_requests::TokenRequests,
    /// In `kmsd dev`, what its reset restores (set once its fixtures are made).
    pub dev: std::sync::OnceLock<crate::dev::DevReset>,
    /// Where keys live, and whether this node's view of it is current enough to serve.
    pub store: crate::store::NodeStore,
    /// The web console's sessions and login bound.
    pub console: crate::console::Console,
    /// Where each call's span goes; `None` (the default) makes none.
    pub traces: Option<crate::otel::Traces>,
}

/// How many password checks may run at once.
pub const PASSWORD_CHECKS: usize = 4;

/// Counts a call refused before it ran.
fn count_refusal(metrics: &Metrics, verdict: Verdict, dialect: &'static str, code: &'static str) {
    let why = match verdict {
        Verdict::Fault(_) => Refusal::Fault,
        Verdict::Unavailable => Refusal::StoreUnavailable,
        _ => Refusal::Throttled,
    };
    metrics.refused(why, dialect, code);
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/admin/v1/{*path}", any(crate::admin_http::serve))
        .route("/console", any(crate::console::serve))
        .route("/console/{*path}", any(crate::console::serve))
        .fallback(dispatch)
        .with_state(app)
}

/// 200 while API calls are accepted; 503 while they are refused because the node is sealed,
/// audit records cannot be written or a shared store's change feed is down, so a load balancer
/// sends clients elsewhere.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    if app.service.get().is_none() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "sealed: unseal with `kmsd admin unseal`",
        )
            .into_response();
    }
    if !app.store.serving() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store or its change feed cannot be reached",
        )
            .into_response();
    }
    if app.audit.refusing() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "audit records cannot be written",
        )
            .into_response();
    }
    "ok".into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], {
        let mut out = app.metrics.render();
        app.store.render_metrics(&mut out);
        out
    })
        .into_response()
}

/// The vendors' SDKs parse an error body only when the content type is exactly this.
const JSON: HeaderValue = HeaderValue::from_static("application/json");

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, JSON);
    r
}

/// The API gateway's code for a path no dialect serves.
const NOT_FOUND_CODE: &str = "APIG.0101";

/// A Huawei-style answer for a path no dialect serves.
fn not_found(request_id: &str) -> Response {
    let body = serde_json::json!({
        "error_code": NOT_FOUND_CODE,
        "error_msg": "The API does not exist or has not been published in the environment",
        "request_id": request_id,
    });
    json_response(StatusCode::NOT_FOUND, body.to_string().into_bytes())
}

/// Why a request body could not be had.
pub(crate) enum BodyError {
    TooLarge,
    /// A malformed chunked frame, a body cut short, or another transport failure.
    Unreadable,
    TooSlow,
}

pub(crate) async fn read_body(
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<axum::body::Bytes, BodyError> {
    use http_body_util::BodyExt as _;
    let collect = http_body_util::Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Unreadable),
        Err(_) => Err(BodyError::TooSlow),
    }
}

/// What every request starts with: its clock, id, peer and audit call.
pub(crate) struct Begun {
    pub started: Instant,
    pub request_id: String,
    pub source: Option<std::net::SocketAddr>,
    pub call: Call,
}

pub(crate) fn begin(app: &App, req: &Request) -> Begun {
    let started = Instant::now();
    let request_id = app.request_ids.next();
    let source = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let call = Call::new(
        &request_id,
        source,
        req.method().as_str(),
        req.uri().path(),
        started,
    )
    .traced(app.traces.as_ref().map(|t| t.start(req.headers())));
    Begun {
        started,
        request_id,
        source,
        call,
    }
}

/// The client's address as policies and bounds see it: the peer's, or behind
/// `--trusted-proxies` the nearest untrusted hop of `X-Forwarded-For`.
pub(crate) fn client_ip(
    app: &App,
    source: Option<std::net::SocketAddr>,
    headers: &axum::http::HeaderMap,
) -> Option<std::net::IpAddr> {
    // A value that is not text reads as a malformed entry, which stops the walk.
    app.trusted_proxies.client_ip(source.map(|s| s.ip()), || {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or("?"))
    })
}

/// Counts an answered call and logs it: failures at info, successes at debug.
fn record(
    app: &App,
    dialect: &'static str,
    action: &'static str,
    error_code: Option<&'static str>,
    request_id: &str,
    started: Instant,
) {
    let elapsed = started.elapsed();
    let micros = elapsed.as_micros() as u64;
    app.metrics
        .record(dialect, action, error_code.unwrap_or("ok"), elapsed);
    match error_code {
        Some(code) => {
            tracing::info!(request_id, dialect, action, code, micros, "request failed")
        }
        None => tracing::debug!(request_id, dialect, action, micros, "request served"),
    }
}

async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let Begun {
        started,
        request_id,
        call,
        source,
    } = begin(&app, &req);
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let client_ip = client_ip(&app, source, &parts.headers);
    let tencent = TencentApi::claims(
        parts.method.as_str(),
        parts.uri.path(),
        &parts.headers,
        &query,
    );
    let Some(service) = app.service.get() else {
        let dialect = if tencent {
            "tencent"
        } else if HuaweiApi::claims(parts.method.as_str(), parts.uri.path()) {
            "huawei"
        } else {
            let outcome = Outcome::unclaimed(NOT_FOUND_CODE);
            return call.answer(&app.audit, outcome, not_found(&request_id));
        };
        let code = if tencent {
            crate::audit::SEALED_TENCENT
        } else {
            kms_huawei::errors::KMS_ERROR
        };
        app.metrics.refused(Refusal::Sealed, dialect, code);
        return call.refuse_sealed(&app.audit, dialect);
    };
    if !tencent {
        if HuaweiApi::claims(parts.method.as_str(), parts.uri.path()) {
            // Boxed so the Huawei path's larger state does not widen `dispatch`'s own future,
            // which every Tencent request would otherwise build and move.
            let request = HuaweiRequest {
                service,
                call,
                parts,
                body,
                query,
                request_id,
                started,
                client_ip,
            };
            return Box::pin(huawei(app, request)).await;
        }
        let outcome = Outcome::unclaimed(NOT_FOUND_CODE);
        return call.answer(&app.audit, outcome, not_found(&request_id));
    }
    let body = match read_body(body, app.max_body_bytes, app.body_read_timeout).await {
        Ok(b) => b,
        Err(e) => {
            let (code, message) = match e {
                BodyError::TooLarge => (
                    "RequestSizeLimitExceeded",
                    format!("The request body exceeds {} bytes.", app.max_body_bytes),
                ),
                BodyError::Unreadable => (
                    "InvalidParameter",
                    "The request body could not be read: it is cut short or its chunked \
                     encoding is malformed."
                        .to_owned(),
                ),
                BodyError::TooSlow => (
                    "InvalidParameter",
                    format!(
                        "The request body did not arrive within {} seconds.",
                        app.body_read_timeout.as_secs()
                    ),
                ),
            };
            let body = kms_tencent::error_body(code, &message, &request_id);
            app.metrics
                .record("tencent", "unknown", code, started.elapsed());
            let answer = json_response(StatusCode::OK, body);
            return call.answer(&app.audit, Outcome::tencent(code), answer);
        }
    };
    // While audit records cannot be written, calls are refused before they change anything.
    if app.audit.refusing() {
        return call.refuse(&app.audit, "tencent");
    }
    let signed = SignedParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        headers: &parts.headers,
        body: &body,
    };
    // Reading, authenticating and validating are linear in the request and quick, so they run
    // here. Quick actions (reads of one key, crypto) also run here: handing them to the
    // blocking pool would cost more in thread switches than the work. The authenticated,
    // validated action decides: commits, key generation and region scans go to the blocking
    // pool, and so does a quick action that meets a due transition it must persist (the engine
    // refuses to block here and hands it back). The dialect never panics on any input; should
    // a bug make it, the request still gets the vendor's InternalError and the server keeps
    // serving.
    let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        service.tencent.prepare(&signed, &request_id, client_ip)
    }));
    let reply = match prepared {
        Err(_) => None,
        Ok(Err(reply)) => Some(*reply),
        Ok(Ok(ready)) => {
            // Only an authenticated caller reaches a budget, so a flood of unsigned or
            // wrongly signed requests cannot spend an account's.
            let verdict = if app.store.serving() {
                app.limits
                    .check(Dialect::Tencent, ready.action(), ready.caller())
            } else {
                Verdict::Unavailable
            };
            let inline = if let Some((code, message)) = crate::limits::tencent_answer(verdict) {
                count_refusal(&app.metrics, verdict, "tencent", code);
                Ok(Some(ready.refusal(code, &message, &request_id)))
            } else if ready.blocking {
                Err(Box::new(ready))
            } else {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    service.tencent.execute_inline(ready, &request_id)
                })) {
                    Ok(answered) => answered.map(Some),
                    Err(_) => Ok(None),
                }
            };
            match inline {
                Ok(reply) => reply,
                Err(ready) => {
                    let worker = service.clone();
                    let rid = request_id.clone();
                    tokio::task::spawn_blocking(move || worker.tencent.execute(*ready, &rid))
                        .await
                        .ok()
                }
            }
        }
    };
    let Some(mut reply) = reply else {
        tracing::error!(request_id, "request handler panicked");
        let message = format!("An internal error occurred; quote request id {request_id}.");
        let body = kms_tencent::error_body("InternalError", &message, &request_id);
        let outcome = Outcome::tencent("InternalError");
        return call.answer(&app.audit, outcome, json_response(StatusCode::OK, body));
    };
    record(
        &app,
        "tencent",
        reply.action,
        reply.error_code,
        &request_id,
        started,
    );
    let answer = json_response(StatusCode::OK, std::mem::take(&mut reply.body));
    call.answer(&app.audit, Outcome::tencent_reply(&reply), answer)
}

/// A Huawei answer: the vendor's status and body, the request id in `X-Request-Id`. A 204
/// carries no body (nor a length or type for one), as HTTP requires.
fn huawei_response(status: u16, body: Vec<u8>, request_id: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = if status == StatusCode::NO_CONTENT {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = status;
        r
    } else {
        json_response(status, body)
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

/// A request the Huawei dialect claimed, as [`dispatch`] hands it over.
struct HuaweiRequest {
    service: Arc<Service>,
    call: Call,
    parts: axum::http::request::Parts,
    body: Body,
    query: String,
    request_id: String,
    started: Instant,
    /// The client's address (through trusted proxies), which policy conditions test and
    /// token requests are bounded by.
    client_ip: Option<std::net::IpAddr>,
}

/// Serves a request of the Huawei dialect, as [`dispatch`] serves Tencent's: prepare inline,
/// run quick operations inline and writes on the blocking pool, never panic on any input.
async fn huawei(app: Arc<App>, request: HuaweiRequest) -> Response {
    use kms_huawei::errors::{HwError, KMS_ERROR};
    let HuaweiRequest {
        service,
        call,
        parts,
        body,
        query,
        request_id,
        started,
        client_ip,
    } = request;
    let refuse = kms_huawei::Reply::refusal;
    if kms_huawei::iam::issues_token(parts.method.as_str(), parts.uri.path()) {
        if app.audit.refusing() {
            return call.refuse(&app.audit, "huawei");
        }
        let reply = issue_token(&app, &service, body, query, client_ip).await;
        return finish_huawei(&app, call, reply, &request_id, started);
    }
    let body = match read_body(body, app.max_body_bytes, app.body_read_timeout).await {
        Ok(b) => b,
        Err(e) => {
            let e = match e {
                BodyError::TooLarge => HwError::bad(
                    kms_huawei::errors::TOO_LONG,
                    "The request message length has exceeded the upper limit.",
                ),
                BodyError::Unreadable | BodyError::TooSlow => HwError::bad(
                    kms_huawei::errors::INVALID_JSON,
                    "The request body could not be read in time or whole.",
                ),
            };
            return finish_huawei(&app, call, refuse(e), &request_id, started);
        }
    };
    if app.audit.refusing() {
        return call.refuse(&app.audit, "huawei");
    }
    let signed = kms_huawei::auth::SignedParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        headers: &parts.headers,
        body: &body,
    };
    let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        service.huawei.prepare(&signed, client_ip)
    }));
    let reply = match prepared {
        Err(_) => None,
        Ok(Err(reply)) => Some(*reply),
        Ok(Ok(ready)) => {
            let verdict = if app.store.serving() {
                app.limits
                    .check(Dialect::Huawei, ready.name(), ready.caller())
            } else {
                Verdict::Unavailable
            };
            let inline = if let Some(e) = crate::limits::huawei_answer(verdict) {
                count_refusal(&app.metrics, verdict, "huawei", e.code);
                Ok(Some(ready.refusal(e)))
            } else if ready.blocking {
                Err(Box::new(ready))
            } else {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    service.huawei.execute_inline(ready)
                })) {
                    Ok(answered) => answered.map(Some),
                    Err(_) => Ok(None),
                }
            };
            match inline {
                Ok(reply) => reply,
                Err(ready) => {
                    let worker = service.clone();
                    tokio::task::spawn_blocking(move || worker.huawei.execute(*ready))
                        .await
                        .ok()
                }
            }
        }
    };
    let reply = reply.unwrap_or_else(|| {
        tracing::error!(request_id, "request handler panicked");
        refuse(HwError::new(500, KMS_ERROR, "KMS error."))
    });
    finish_huawei(&app, call, reply, &request_id, started)
}

/// IAM's `POST /v3/auth/tokens`: nobody is authenticated yet, so the source address must be
/// within its bound (`token_requests.rs`), the body is bounded tightly and the password check
/// (Argon2, on the blocking pool) waits for one of a few permits.
async fn issue_token(
    app: &Arc<App>,
    service: &Arc<Service>,
    body: Body,
    query: String,
    client_ip: Option<std::net::IpAddr>,
) -> kms_huawei::Reply {
    use kms_huawei::iam::{IamError, MAX_BODY_BYTES};
    // The small body is read first, even from an address about to be refused, so the
    // connection stays usable for the client's next request.
    let body = match read_body(body, MAX_BODY_BYTES, app.body_read_timeout).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return kms_huawei::Reply::iam_refusal(&IamError::TOO_LARGE),
        Err(_) => {
            return kms_huawei::Reply::iam_refusal(&IamError {
                status: 400,
                message: "The request body could not be read in time or whole.",
            });
        }
    };
    // The listener always knows the peer; were it ever unknown, such requests share one bound.
    let address = client_ip.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let Ok(_admitted) = app.token_requests.admit(address, Instant::now()) else {
        app.metrics
            .refused(Refusal::Throttled, "huawei", IamError::TOO_MANY.code());
        return kms_huawei::Reply::iam_refusal(&IamError::TOO_MANY);
    };
    let Ok(_permit) = app.password_checks.acquire().await else {
        return kms_huawei::Reply::iam_refusal(&IamError::INTERNAL);
    };
    let worker = service.clone();
    tokio::task::spawn_blocking(move || worker.huawei.issue_token(&body, &query))
        .await
        .unwrap_or_else(|_| {
            tracing::error!("token request handler panicked");
            kms_huawei::Reply::iam_refusal(&IamError::INTERNAL)
        })
}

fn finish_huawei(
    app: &App,
    call: Call,
    mut reply: kms_huawei::Reply,
    request_id: &str,
    started: Instant,
) -> Response {
    record(
        app,
        "huawei",
        reply.action,
        reply.error_code,
        request_id,
        started,
    );
    let mut answer = huawei_response(reply.status, std::mem::take(&mut reply.body), request_id);
    if let Some(token) = reply.subject_token.take()
        && let Ok(mut value) = HeaderValue::from_str(&token)
    {
        value.set_sensitive(true);
        answer.headers_mut().insert("x-subject-token", value);
    }
    call.answer(&app.audit, Outcome::huawei_reply(&reply), answer)
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_distinct_uuids() {
        let ids = super::RequestIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version(), Some(uuid::Version::Random));
        assert_ne!(
            super::RequestIds::new().next(),
            a,
            "processes draw different bases"
        );
    }
}
