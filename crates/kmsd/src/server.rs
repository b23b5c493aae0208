//! The HTTP listener: routing between dialects, request ids, body limits, logs, metrics and
//! graceful shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use kms_core::Engine;
use kms_tencent::TencentApi;
use kms_tencent::auth::SignedParts;

use crate::metrics::Metrics;

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

    fn next(&self) -> String {
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
    pub tencent: TencentApi,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .fallback(dispatch)
        .with_state(app)
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

/// The vendors' SDKs parse an error body only when the content type is exactly this.
const JSON: HeaderValue = HeaderValue::from_static("application/json");

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, JSON);
    r
}

/// A Huawei-style answer for a path no dialect serves (the API gateway's code for it).
fn not_found(request_id: &str) -> Response {
    let body = serde_json::json!({
        "error_code": "APIGW.0101",
        "error_msg": "The API does not exist or has not been published in the environment",
        "request_id": request_id,
    });
    json_response(StatusCode::NOT_FOUND, body.to_string().into_bytes())
}

async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let request_id = app.request_ids.next();
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let tencent_by_head =
        parts.uri.path() == "/" && TencentApi::claims(&parts.headers, &query, None);
    let body = match axum::body::to_bytes(body, app.max_body_bytes).await {
        Ok(b) => b,
        Err(_) if tencent_by_head => {
            let message = format!("The request body exceeds {} bytes.", app.max_body_bytes);
            let body = kms_tencent::error_body("RequestSizeLimitExceeded", &message, &request_id);
            app.metrics.record(
                "tencent",
                "unknown",
                "RequestSizeLimitExceeded",
                started.elapsed(),
            );
            return json_response(StatusCode::OK, body);
        }
        Err(_) => return json_response(StatusCode::PAYLOAD_TOO_LARGE, Vec::new()),
    };
    let is_tencent = parts.uri.path() == "/"
        && (tencent_by_head || TencentApi::claims(&parts.headers, &query, Some(&body)));
    if !is_tencent {
        return not_found(&request_id);
    }
    // Quick actions (reads of one key, crypto) finish in microseconds, so they run on the async
    // worker: handing them to the blocking pool would cost more in thread switches than the work.
    // Actions that commit (an fsync) or scan a region go to the blocking pool.
    let inline = parts
        .headers
        .get("x-tc-action")
        .and_then(|v| v.to_str().ok())
        .is_some_and(kms_tencent::actions::runs_inline);
    let rid = request_id.clone();
    let serve = move |app: &App| {
        let signed = SignedParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: &query,
            headers: &parts.headers,
            body: &body,
        };
        app.tencent.handle(&signed, &rid)
    };
    // The dialect never panics on any input; should a bug make it, the request still gets the
    // vendor's InternalError and the server keeps serving.
    let reply = if inline {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve(&app))).ok()
    } else {
        let worker_app = app.clone();
        tokio::task::spawn_blocking(move || serve(&worker_app))
            .await
            .ok()
    };
    let Some(reply) = reply else {
        tracing::error!(request_id, "request handler panicked");
        let message = format!("An internal error occurred; quote request id {request_id}.");
        let body = kms_tencent::error_body("InternalError", &message, &request_id);
        return json_response(StatusCode::OK, body);
    };
    let elapsed = started.elapsed();
    let code = reply.error_code.unwrap_or("ok");
    app.metrics.record("tencent", reply.action, code, elapsed);
    if reply.error_code.is_some() {
        tracing::info!(
            request_id,
            dialect = "tencent",
            action = reply.action,
            code,
            micros = elapsed.as_micros() as u64,
            "request failed"
        );
    } else {
        tracing::debug!(
            request_id,
            dialect = "tencent",
            action = reply.action,
            micros = elapsed.as_micros() as u64,
            "request served"
        );
    }
    json_response(StatusCode::OK, reply.body)
}

/// How often the scrubber looks for erasures owed a scrub of the store's free space.
const SCRUB_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// After a scrub the scrubber rests this many times as long as the scrub took, so however often
/// tenants erase material, scrubbing a large store takes at most a tenth of the store's time.
const SCRUB_REST_FACTOR: u32 = 9;

/// Runs time-driven key transitions (purges, scheduled rotations, material expiry) every few
/// seconds, and expires the in-memory material cache so no node keeps erased material for long.
/// A second task scrubs the store after erasures, off every request's path: one scrub for all
/// the erasures owed when it starts, begun within [`SCRUB_CHECK_INTERVAL`] of an erasure (or,
/// right after a scrub, once the rest that follows it is over).
pub fn spawn_due_work(engine: Arc<Engine>) {
    let scrubber = engine.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let engine = engine.clone();
            engine.expire_cached_material();
            match tokio::task::spawn_blocking(move || engine.run_due_work()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "background key work failed"),
                Err(e) => tracing::warn!(error = %e, "background key work panicked"),
            }
        }
    });
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SCRUB_CHECK_INTERVAL).await;
            if !scrubber.scrub_owed() {
                continue;
            }
            let started = Instant::now();
            let engine = scrubber.clone();
            match tokio::task::spawn_blocking(move || engine.run_owed_scrub()).await {
                Ok(Ok(_)) => tracing::debug!(
                    millis = started.elapsed().as_millis() as u64,
                    "scrubbed the store's free space"
                ),
                Ok(Err(e)) => tracing::warn!(error = %e, "scrubbing the store failed"),
                Err(e) => tracing::warn!(error = %e, "scrubbing the store panicked"),
            }
            tokio::time::sleep(started.elapsed() * SCRUB_REST_FACTOR).await;
        }
    });
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
