//! The web console at `/console`: pages rendered on the server for the operator (admin token)
//! and for an account (its credential). What a page shows or changes goes through the same
//! code as the APIs: key work through the dialects' own preparation, authorization and
//! handlers (`prepare_authenticated`), accounts, users, credentials and policies through
//! [`crate::admin::Admin`]. Every request is one audit record (dialect `console`).
//!
//! Security: the admin API's transport rule (plain HTTP only from this host); sessions in
//! HttpOnly SameSite=Strict cookies (`Secure` and the `__Host-` prefix under TLS); a CSRF token
//! in every form and the browser's `Origin` and `Sec-Fetch-Site` checked on every POST; failed
//! logins bounded per address; a Content-Security-Policy that allows no script and no inline
//! style; no secret rendered but a new credential's key, once, on a page never cached.

mod calls;
mod identity_pages;
mod key_pages;
mod logins;
mod monitor_pages;
mod seal_pages;
pub mod session;
mod view;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use maud::Markup;

use kms_core::AccountId;
use kms_tencent::AuditFields;

use crate::audit::Outcome;
use crate::server::{App, Begun, begin, read_body};
use crate::service::Service;
use session::{Flash, Session, Who};

/// Where the console lives on the listener.
pub const PREFIX: &str = "/console";
/// What the audit records and metrics name as the console's dialect.
const DIALECT: &str = "console";
/// What the audit record names as the credential of the operator's calls.
const OPERATOR: &str = "operator-token";
/// Longest form a page posts (a policy document is the largest field).
const MAX_FORM_BYTES: usize = 64 * 1024;

const STYLE: &str = include_str!("console.css");
const ICON: &str = include_str!("icon.svg");
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The console's state for the life of the process.
#[derive(Default)]
pub struct Console {
    pub sessions: session::Sessions,
    logins: logins::Logins,
}

/// A request the console serves, as its handlers see it.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub service: Arc<Service>,
    pub session: Session,
    session_id: String,
    pub method: Method,
    /// The path after `/console`, split at `/`.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub client_ip: Option<IpAddr>,
    pub request_id: String,
}

impl Ctx<'_> {
    pub fn query(&self, name: &str) -> Option<&str> {
        pick(&self.query, name)
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        pick(&self.form, name)
    }

    /// A form field, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.field(name).unwrap_or_default().trim().to_owned()
    }

    pub fn is_operator(&self) -> bool {
        self.session.who == Who::Operator
    }

    /// Changes the session (the account or region it shows, the next page's message).
    pub fn update_session(&self, change: impl FnOnce(&mut Session)) {
        self.app.console.sessions.update(&self.session_id, change);
    }

    pub fn flash(&self, ok: bool, text: impl Into<String>) {
        let text = text.into();
        self.update_session(|s| s.flash = Some(Flash { ok, text }));
    }
}

fn pick<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What a handler answers, and what the audit record says of it.
pub struct Handled {
    pub answer: Answer,
    /// The operation, e.g. `DisableKey` or `ListKeys`.
    pub action: &'static str,
    /// The refusal's code; none for success.
    pub code: Option<&'static str>,
    pub audit: AuditFields,
}

pub enum Answer {
    /// A page; like every console answer, never cached (some show a new secret once).
    Page(Markup),
    /// After a change: the page to show next.
    Redirect(String),
    NotFound,
}

impl Handled {
    pub fn page(action: &'static str, page: Markup) -> Self {
        Self {
            answer: Answer::Page(page),
            action,
            code: None,
            audit: AuditFields::default(),
        }
    }

    pub fn redirect(action: &'static str, to: impl Into<String>) -> Self {
        Self {
            answer: Answer::Redirect(to.into()),
            action,
            code: None,
            audit: AuditFields::default(),
        }
    }

    pub fn not_found() -> Self {
        Self {
            answer: Answer::NotFound,
            action: "Console",
            code: Some("NotFound"),
            audit: AuditFields::default(),
        }
    }

    pub fn refused(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_audit(mut self, audit: AuditFields) -> Self {
        self.audit = audit;
        self
    }
}

pub async fn serve(State(app): State<Arc<App>>, req: Request) -> Response {
    let Begun {
        started,
        request_id,
        source,
        call,
    } = begin(&app, &req);
    let (handled, response) = answer(&app, source, &request_id, req).await;
    // The style sheet and icon are files, not operations: neither counted nor audited.
    let Some(handled) = handled else {
        return response;
    };
    let fields = handled.audit;
    let code = handled.code.unwrap_or("ok");
    let outcome = Outcome {
        dialect: Some(DIALECT),
        action: Some(handled.action),
        code,
        fields: Some(&fields),
    };
    app.metrics
        .record(DIALECT, handled.action, code, started.elapsed());
    call.answer(&app.audit, outcome, response)
}

/// The response with the console's security headers.
fn respond(status: StatusCode, answer: &Answer, https: bool) -> Response {
    let (status, body, location): (StatusCode, String, Option<String>) = match answer {
        Answer::Page(m) => (status, m.clone().into_string(), None),
        Answer::Redirect(to) => (StatusCode::SEE_OTHER, String::new(), Some(to.clone())),
        Answer::NotFound => (
            StatusCode::NOT_FOUND,
            view::bare("Not found", "No console page is here.").into_string(),
            None,
        ),
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(h, https);
    if let Some(to) = location
        && let Ok(v) = HeaderValue::from_str(&to)
    {
        h.insert(header::LOCATION, v);
    }
    r
}

fn secure_headers(h: &mut HeaderMap, https: bool) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: under it Chromium sends `Origin: null` with a form, which the
    // same-origin check must refuse. Nothing leaves for another site either way.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

/// The session cookie's name: under TLS with the `__Host-` prefix, which browsers accept only
/// `Secure`, for the whole host and from it alone.
fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-kmsd-console"
    } else {
        "kmsd-console"
    }
}

fn set_cookie(id: &str, https: bool) -> HeaderValue {
    session_cookie(id, https, "")
}

/// The cookie that ends the browser's session.
fn clear_cookie(https: bool) -> HeaderValue {
    session_cookie("", https, "; Max-Age=0")
}

fn session_cookie(value: &str, https: bool, suffix: &str) -> HeaderValue {
    let name = cookie_name(https);
    let scope = if https {
        "Path=/; HttpOnly; Secure".to_owned()
    } else {
        format!("Path={PREFIX}; HttpOnly")
    };
    let text = format!("{name}={value}; {scope}; SameSite=Strict{suffix}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session id the request's cookie carries.
fn cookie(headers: &HeaderMap, https: bool) -> Option<String> {
    let name = cookie_name(https);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether a POST came from a page of this console: the browser's own `Sec-Fetch-Site` and
/// `Origin`, where it sends them, must say so. (The CSRF token is checked besides.)
fn same_origin(headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    origin_host.is_some() && origin_host == host
}

fn plain(
    status: StatusCode,
    action: &'static str,
    code: &'static str,
    page: Markup,
) -> (Handled, StatusCode) {
    (Handled::page(action, page).refused(code), status)
}

async fn answer(
    app: &Arc<App>,
    source: Option<SocketAddr>,
    request_id: &str,
    req: Request,
) -> (Option<Handled>, Response) {
    let https = app.https;
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let asset = match path {
        "/console/static/console.css" => Some((STYLE, "text/css; charset=utf-8")),
        "/console/static/icon.svg" => Some((ICON, "image/svg+xml")),
        _ => None,
    };
    if parts.method == Method::GET
        && let Some((asset, kind)) = asset
    {
        let mut r = Response::new(Body::from(asset));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        secure_headers(r.headers_mut(), https);
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=300"),
        );
        return (None, r);
    }
    let (handled, status, cookie_change) = admit(app, source, request_id, &parts, body).await;
    let mut response = respond(status, &handled.answer, https);
    if let Some(c) = cookie_change {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    (Some(handled), response)
}

/// Checks transport, method, session and CSRF, then runs the page's handler.
async fn admit(
    app: &Arc<App>,
    source: Option<SocketAddr>,
    request_id: &str,
    parts: &axum::http::request::Parts,
    body: Body,
) -> (Handled, StatusCode, Option<HeaderValue>) {
    let https = app.https;
    // As for the admin API: over plain HTTP a token or key would cross the network readable.
    if !https && !source.is_some_and(|s| s.ip().is_loopback()) {
        let (h, s) = plain(
            StatusCode::FORBIDDEN,
            "Console",
            "TransportRefused",
            view::bare(
                "Refused",
                "The console is served over plain HTTP only to browsers on this host; \
                 configure --tls-cert and --tls-key to reach it over the network.",
            ),
        );
        return (h, s, None);
    }
    if parts.method != Method::GET && parts.method != Method::POST {
        let (h, s) = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "Console",
            "MethodNotAllowed",
            view::bare("Refused", "The console answers GET and POST only."),
        );
        return (h, s, None);
    }
    let post = parts.method == Method::POST;
    if post && !same_origin(&parts.headers) {
        let (h, s) = plain(
            StatusCode::FORBIDDEN,
            "Console",
            "CrossSiteRequest",
            view::bare("Refused", "The form was not posted from this console."),
        );
        return (h, s, None);
    }
    let form = if post {
        let limit = MAX_FORM_BYTES.min(app.max_body_bytes);
        match read_body(body, limit, app.body_read_timeout).await {
            Ok(bytes) => form_urlencoded::parse(&bytes).into_owned().collect(),
            Err(_) => {
                let (h, s) = plain(
                    StatusCode::BAD_REQUEST,
                    "Console",
                    "InvalidRequest",
                    view::bare(
                        "Refused",
                        "The form could not be read whole, in time and within 64 KiB.",
                    ),
                );
                return (h, s, None);
            }
        }
    } else {
        Vec::new()
    };
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let client_ip = crate::server::client_ip(app, source, &parts.headers);
    let rest = parts
        .uri
        .path()
        .strip_prefix(PREFIX)
        .unwrap_or_default()
        .trim_matches('/')
        .to_owned();
    let service = app.service.get();
    if app.audit.refusing() {
        let (h, s) = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Console",
            "ServiceUnavailable",
            view::bare(
                "Unavailable",
                "Audit records cannot be written, so nothing is served.",
            ),
        );
        return (h, s, None);
    }
    if rest == "login" {
        return logins::serve(app, service.as_deref(), &parts.method, &form, client_ip).await;
    }
    let Some((id, session)) =
        cookie(&parts.headers, https).and_then(|id| app.console.sessions.get(&id).map(|s| (id, s)))
    else {
        let h = Handled::redirect("Console", "/console/login").refused("NoSession");
        return (h, StatusCode::SEE_OTHER, None);
    };
    if post
        && !pick(&form, "csrf")
            .is_some_and(|t| session::same_token(t.as_bytes(), session.csrf.as_bytes()))
    {
        let (h, s) = plain(
            StatusCode::FORBIDDEN,
            "Console",
            "InvalidCsrfToken",
            view::bare(
                "Refused",
                "The form's token is not this session's: reload the page and try again.",
            ),
        );
        return (h, s, None);
    }
    if rest == "logout" && post {
        app.console.sessions.close(&id);
        let h = Handled::redirect("ConsoleLogout", "/console/login");
        return (h, StatusCode::SEE_OTHER, Some(clear_cookie(https)));
    }
    if rest == "seal" || rest.starts_with("seal/") {
        if session.who != Who::Operator {
            let (h, s) = plain(
                StatusCode::FORBIDDEN,
                "Console",
                "Forbidden",
                view::bare("Refused", "Only the operator seals and unseals the server."),
            );
            return (h, s, None);
        }
        // Unsealing opens the root of trust and builds the service: blocking work.
        let app = app.clone();
        let handled = tokio::task::spawn_blocking(move || {
            seal_pages::serve(&app, &session, &id, post, &rest, &form)
        })
        .await
        .unwrap_or_else(|_| Handled::redirect("Console", "/console/seal").refused("InternalError"));
        let status = match handled.answer {
            Answer::Redirect(_) => StatusCode::SEE_OTHER,
            _ => StatusCode::OK,
        };
        return (handled, status, None);
    }
    let Some(service) = service else {
        if session.who == Who::Operator {
            let h = Handled::redirect("Console", "/console/seal").refused("Sealed");
            return (h, StatusCode::SEE_OTHER, None);
        }
        let (h, s) = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Console",
            "Sealed",
            view::bare(
                "Sealed",
                "The server is sealed: an operator must unseal it first.",
            ),
        );
        return (h, s, None);
    };
    let ctx = Ctx {
        app,
        service,
        session,
        session_id: id,
        method: parts.method.clone(),
        segments: rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        query,
        form,
        client_ip,
        request_id: request_id.to_owned(),
    };
    // Key work may block (a commit, an HSM): off the async workers.
    let app = app.clone();
    let handled = tokio::task::spawn_blocking(move || {
        let ctx = Ctx { app: &app, ..ctx };
        route(&ctx)
    })
    .await
    .unwrap_or_else(|_| {
        Handled::page(
            "Console",
            view::bare("Failed", "The page failed; the server log says why."),
        )
        .refused("InternalError")
    });
    let status = match (&handled.answer, handled.code) {
        (Answer::Redirect(_), _) => StatusCode::SEE_OTHER,
        (Answer::NotFound, _) => StatusCode::NOT_FOUND,
        (_, Some("Forbidden")) => StatusCode::FORBIDDEN,
        _ => StatusCode::OK,
    };
    (handled, status, None)
}

fn route(ctx: &Ctx<'_>) -> Handled {
    let segments: Vec<&str> = ctx.segments.iter().map(String::as_str).collect();
    let get = ctx.method == Method::GET;
    match (get, segments.as_slice()) {
        (true, []) => Handled::redirect("Console", "/console/keys"),
        (false, ["scope"]) => scope(ctx),
        (_, ["keys", ..]) | (_, ["data-keys", ..]) | (_, ["key-stores", ..]) => {
            key_pages::route(ctx, get, &segments)
        }
        (_, ["accounts", ..]) | (_, ["identity", ..]) => identity_pages::route(ctx, get, &segments),
        (true, ["audit"]) | (true, ["health"]) => monitor_pages::route(ctx, &segments),
        _ => Handled::not_found(),
    }
}

/// Switches the account (the operator's) and region the pages show.
fn scope(ctx: &Ctx<'_>) -> Handled {
    let region = ctx
        .field("region")
        .filter(|r| {
            ctx.app
                .opener
                .settings
                .regions
                .iter()
                .any(|known| known == r)
        })
        .map(str::to_owned);
    let account: Option<AccountId> = match ctx.field("account") {
        Some(a) if ctx.is_operator() => match a.parse() {
            Ok(uin) if calls::accounts(ctx).iter().any(|known| known.uin == uin) => Some(uin),
            _ => {
                ctx.flash(false, "No such account.");
                return Handled::redirect("SwitchScope", "/console/keys").refused("NotFound");
            }
        },
        _ => None,
    };
    ctx.update_session(|s| {
        if let Some(r) = region {
            s.region = r;
        }
        if account.is_some() {
            s.account = account;
        }
    });
    Handled::redirect("SwitchScope", "/console/keys")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_cross_site_post_is_told_apart() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8740")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8740"),
            ("origin", "http://127.0.0.1:8740"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8740"),
            ("origin", "http://evil.example"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8740"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8740"),
            ("origin", "null"),
        ])));
    }

    #[test]
    fn only_a_well_formed_session_cookie_is_read() {
        let id = "a".repeat(64);
        let h = headers(&[("cookie", &format!("x=1; kmsd-console={id}"))]);
        assert_eq!(cookie(&h, false).as_deref(), Some(id.as_str()));
        assert_eq!(
            cookie(&h, true),
            None,
            "under TLS only the __Host- cookie counts"
        );
        let h = headers(&[("cookie", "kmsd-console=short")]);
        assert_eq!(cookie(&h, false), None);
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let plain = set_cookie(&"a".repeat(64), false);
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        let tls = set_cookie(&"a".repeat(64), true);
        let tls = tls.to_str().unwrap();
        assert!(tls.starts_with("__Host-") && tls.contains("; Secure;") && tls.contains("Path=/;"));
    }
}
