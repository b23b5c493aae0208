//! Logging in to the console: the operator's token, checked as the admin API checks it, or an
//! account's credential, whose key is compared in constant time with the one the directory
//! holds. Failures are bounded per address, so the login form cannot be used to guess.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, Method, StatusCode};
use zeroize::Zeroizing;

use kms_tencent::AuditFields;

use super::session::{Who, same_token};
use super::{Handled, pick, set_cookie, view};
use crate::server::App;
use crate::service::Service;

/// Failed logins an address may make in [`WINDOW`] before it must wait.
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(5 * 60);
/// Addresses remembered at most; beyond, the one whose window began first is forgotten.
const MAX_ADDRESSES: usize = 4096;

/// Failed logins by address, each counted from the first failure of its window.
#[derive(Default)]
pub struct Logins {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Logins {
    /// Whether the address has failed too often to try again yet.
    fn barred(&self, ip: IpAddr, now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(&ip)
            .is_some_and(|(since, n)| now.duration_since(*since) < WINDOW && *n >= MAX_FAILURES)
    }

    fn failed(&self, ip: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&ip) {
            failures.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
            if failures.len() >= MAX_ADDRESSES
                && let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, (s, _))| *s)
                    .map(|(k, _)| *k)
            {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ip);
    }
}

/// The address failures are counted by; an unknown one counts as the unspecified address.
fn address(ip: Option<IpAddr>) -> IpAddr {
    ip.map_or(IpAddr::from([0u8; 4]), |ip| ip.to_canonical())
}

pub async fn serve(
    app: &App,
    service: Option<&Service>,
    method: &Method,
    form: &[(String, String)],
    client_ip: Option<IpAddr>,
) -> (Handled, StatusCode, Option<HeaderValue>) {
    if method == Method::GET {
        return (
            Handled::page("ConsoleLoginPage", view::login(None)),
            StatusCode::OK,
            None,
        );
    }
    let ip = address(client_ip);
    let now = Instant::now();
    if app.console.logins.barred(ip, now) {
        return refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyAttempts",
            "Too many failed logins from this address: wait five minutes.",
            AuditFields::default(),
        );
    }
    let mut audit = AuditFields::default();
    let who = match pick(form, "kind") {
        Some("operator") => {
            let token = Zeroizing::new(pick(form, "token").unwrap_or_default().trim().to_owned());
            let ok = !token.is_empty()
                && crate::admin::authenticate(app.store.store.as_ref(), &token).unwrap_or(false);
            if ok {
                audit.credential_id = Some(super::OPERATOR.to_owned());
            }
            ok.then(|| (Who::Operator, super::calls::root_account(app)))
        }
        Some("credential") if service.is_none() => {
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sealed",
                "The server is sealed: only the operator can log in, to unseal it.",
                audit,
            );
        }
        Some("credential") => {
            let secret_id = pick(form, "secret_id").unwrap_or_default().trim();
            let secret_key =
                Zeroizing::new(pick(form, "secret_key").unwrap_or_default().to_owned());
            let principal = service.and_then(|s| s.directory.by_secret_id(secret_id));
            // An unknown SecretId and a wrong key get the same answer.
            match principal {
                Some(p) if same_token(p.secret_key(), secret_key.as_bytes()) => {
                    audit.credential_id = Some(kms_core::audit_fields::audit_string(secret_id));
                    audit.account = Some(p.account);
                    audit.user = p.user.clone();
                    let who = Who::Credential {
                        secret_id: secret_id.to_owned(),
                    };
                    Some((who, Some(p.account)))
                }
                _ => None,
            }
        }
        _ => None,
    };
    let Some((who, account)) = who else {
        app.console.logins.failed(ip, now);
        return refusal(
            StatusCode::UNAUTHORIZED,
            "AuthFailure",
            "The token or credential is not valid.",
            audit,
        );
    };
    app.console.logins.succeeded(ip);
    let region = app
        .opener
        .settings
        .regions
        .first()
        .cloned()
        .unwrap_or_default();
    let id = app.console.sessions.open(who, account, region);
    (
        Handled::redirect("ConsoleLogin", "/console/keys").with_audit(audit),
        StatusCode::SEE_OTHER,
        Some(set_cookie(&id, app.https)),
    )
}

/// The login page again, saying why the login was refused.
fn refusal(
    status: StatusCode,
    code: &'static str,
    why: &str,
    audit: AuditFields,
) -> (Handled, StatusCode, Option<HeaderValue>) {
    let page = view::login(Some(why));
    let handled = Handled::page("ConsoleLogin", page)
        .refused(code)
        .with_audit(audit);
    (handled, status, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_barred_after_too_many_failures_for_the_window() {
        let logins = Logins::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(!logins.barred(ip, t0));
            logins.failed(ip, t0);
        }
        assert!(logins.barred(ip, t0));
        assert!(!logins.barred(other, t0));
        assert!(!logins.barred(ip, t0 + WINDOW), "the window ends");
        logins.failed(ip, t0 + WINDOW);
        assert!(
            !logins.barred(ip, t0 + WINDOW),
            "a new window counts afresh"
        );
    }

    #[test]
    fn remembered_addresses_are_bounded() {
        let logins = Logins::default();
        let t0 = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 10) {
            logins.failed(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(logins.failures.lock().unwrap().len() <= MAX_ADDRESSES);
    }
}
