//! The admin API on the listener: the transport rule, the operator token, then [`Admin`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::admin::{AdminReply, PREFIX};
use crate::audit::Outcome;
use crate::server::{App, Begun, begin, json_response, read_body};

/// The path of the store's backup (`kmsd backup --endpoint`).
const BACKUP_PATH: &str = "/admin/v1/backup";

/// What the audit record names as the credential of an operator's call.
const OPERATOR: &str = "operator-token";

pub async fn serve(State(app): State<Arc<App>>, req: Request) -> Response {
    let Begun {
        started,
        request_id,
        source,
        call,
    } = begin(&app, &req);
    let (reply, mut answer) = match admit(&app, source, req).await {
        Admitted::Answered(reply) => {
            let status =
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut answer = json_response(status, reply.body.to_string().into_bytes());
            if status == StatusCode::UNAUTHORIZED {
                answer
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            (reply, answer)
        }
        Admitted::Backup => {
            let body = crate::backup::stream(app.store.store.clone(), app.store.source());
            let mut answer = Response::new(body);
            answer.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            (
                AdminReply::ok("Backup", None, serde_json::Value::Null),
                answer,
            )
        }
    };
    let fields = kms_tencent::AuditFields {
        account: reply.account,
        credential_id: (!matches!(reply.code, Some("Unauthorized" | "TransportRefused")))
            .then(|| OPERATOR.to_owned()),
        ..Default::default()
    };
    let outcome = Outcome {
        dialect: Some("admin"),
        action: Some(reply.action),
        code: reply.code.unwrap_or("ok"),
        fields: Some(&fields),
    };
    app.metrics.record(
        "admin",
        reply.action,
        reply.code.unwrap_or("ok"),
        started.elapsed(),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        answer.headers_mut().insert("x-request-id", v);
    }
    call.answer(&app.audit, outcome, answer)
}

/// What an admitted request gets: an answer of [`crate::admin::Admin`], or the store's backup,
/// which is streamed rather than answered as one JSON value.
enum Admitted {
    Answered(AdminReply),
    Backup,
}

/// Checks how and by whom the request came before its body is read, then runs it.
async fn admit(app: &Arc<App>, source: Option<std::net::SocketAddr>, req: Request) -> Admitted {
    // Over plain HTTP the token would cross the network readable; only a client on this host
    // may send it so. With TLS configured every connection is encrypted.
    if !app.https && !source.is_some_and(|s| s.ip().is_loopback()) {
        return Admitted::Answered(AdminReply::error(
            403,
            "TransportRefused",
            "The admin API is served over plain HTTP only to clients on this host; configure \
             --tls-cert and --tls-key to reach it over the network.",
        ));
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return Admitted::Answered(AdminReply::error(
            401,
            "Unauthorized",
            "The admin API needs the operator token as `Authorization: Bearer <token>` (the \
             token is in the data directory's admin-token file).",
        ));
    };
    match crate::admin::authenticate(app.store.store.as_ref(), token) {
        Ok(true) => {}
        Ok(false) => {
            return Admitted::Answered(AdminReply::error(
                401,
                "Unauthorized",
                "The operator token is not valid.",
            ));
        }
        Err(e) => return Admitted::Answered(e.into()),
    }
    if app.audit.refusing() {
        return Admitted::Answered(AdminReply::error(
            503,
            "ServiceUnavailable",
            "audit records cannot be written",
        ));
    }
    if req.method() == axum::http::Method::GET && req.uri().path() == BACKUP_PATH {
        return Admitted::Backup;
    }
    let method = req.method().as_str().to_owned();
    let path = req
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .unwrap_or_default()
        .to_owned();
    let body: Body = req.into_body();
    let Ok(body) = read_body(body, app.max_body_bytes, app.body_read_timeout).await else {
        return Admitted::Answered(AdminReply::error(
            400,
            "InvalidRequest",
            "The request body could not be read whole, in time and within the size limit.",
        ));
    };
    let worker = app.clone();
    let reply = tokio::task::spawn_blocking(move || execute(&worker, &method, &path, &body))
        .await
        .unwrap_or_else(|_| AdminReply::error(500, "InternalError", "the operation failed"));
    Admitted::Answered(reply)
}

/// The seal's own operations work sealed or not; every other one needs the unsealed service.
fn execute(app: &App, method: &str, path: &str, body: &[u8]) -> AdminReply {
    let (action, reply) = match (method, path.trim_matches('/')) {
        ("GET", "seal-status") => (
            "SealStatus",
            AdminReply::ok("SealStatus", None, app.seal.status(&app.service)),
        ),
        ("POST", "seal") => ("Seal", app.seal.seal(&app.service)),
        ("POST", "unseal") => {
            let reply = match unseal_request(body) {
                Ok(request) => {
                    let share = request.share.as_deref().map(|s| s.as_str());
                    app.seal.unseal(share, &app.service, &app.opener)
                }
                Err(refusal) => refusal,
            };
            if app.service.get().is_some() {
                app.store.reload_directory();
            }
            ("Unseal", reply)
        }
        ("POST", "dev/reset") => match app.dev.get() {
            Some(dev) => ("DevReset", dev.reset(app)),
            None => (
                "DevReset",
                AdminReply::error(404, "NotFound", "Only `kmsd dev` resets its store."),
            ),
        },
        _ => match app.service.get() {
            Some(service) => return service.admin.execute(method, path, body),
            None => (
                "unknown",
                AdminReply::error(
                    503,
                    "Sealed",
                    "The server is sealed: unseal it first (`kmsd admin unseal`).",
                ),
            ),
        },
    };
    AdminReply { action, ..reply }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsealRequest {
    #[serde(default)]
    share: Option<zeroize::Zeroizing<String>>,
}

fn unseal_request(body: &[u8]) -> Result<UnsealRequest, AdminReply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(UnsealRequest { share: None });
    }
    // The parser's message could quote the share; say only what is wrong.
    serde_json::from_slice(body).map_err(|_| {
        AdminReply::error(
            400,
            "InvalidRequest",
            "the request body must be {\"share\": \"...\"} or empty",
        )
    })
}
