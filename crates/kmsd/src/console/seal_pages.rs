//! The seal, from the browser: a sealed node still serves the operator's login and this page,
//! where operators give their Shamir shares one by one (or unseal a node whose seal needs
//! none), and an unsealed node can be sealed. The seal's own code runs it, as for
//! `kmsd admin unseal` and `kmsd admin seal`.

use maud::{Markup, html};
use serde_json::Value;
use zeroize::Zeroizing;

use super::session::Session;
use super::view::{self, button, csrf};
use super::{Handled, OPERATOR};
use crate::admin::AdminReply;
use crate::server::App;
use kms_tencent::AuditFields;

const HERE: &str = "/console/seal";

fn audit() -> AuditFields {
    AuditFields {
        credential_id: Some(OPERATOR.to_owned()),
        ..AuditFields::default()
    }
}

/// `GET /console/seal`, `POST /console/seal/unseal` and `POST /console/seal/seal`.
pub fn serve(
    app: &App,
    session: &Session,
    session_id: &str,
    post: bool,
    rest: &str,
    form: &[(String, String)],
) -> Handled {
    let flash = |ok: bool, text: String| {
        app.console.sessions.update(session_id, |s| {
            s.flash = Some(super::session::Flash { ok, text })
        });
    };
    match (post, rest) {
        (false, "seal") => Handled::page("SealStatus", page(app, session)).with_audit(audit()),
        (true, "seal/unseal") => {
            let share = Zeroizing::new(
                super::pick(form, "share")
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            );
            let share = (!share.is_empty()).then_some(share.as_str());
            let reply = app.seal.unseal(share, &app.service, &app.opener);
            if app.service.get().is_some() {
                app.store.reload_directory();
            }
            let (ok, text) = outcome(&reply, app);
            flash(ok, text);
            answered(
                reply,
                "Unseal",
                if app.service.get().is_some() {
                    "/console/keys"
                } else {
                    HERE
                },
            )
        }
        (true, "seal/seal") => {
            let reply = app.seal.seal(&app.service);
            flash(
                reply.status == 200,
                "Sealed: API calls are refused until the server is unsealed.".into(),
            );
            answered(reply, "Seal", HERE)
        }
        _ => Handled::redirect("Console", HERE).refused("Sealed"),
    }
}

fn answered(reply: AdminReply, action: &'static str, to: &str) -> Handled {
    let handled = Handled::redirect(action, to).with_audit(audit());
    match reply.code {
        Some(code) => handled.refused(code),
        None => handled,
    }
}

fn outcome(reply: &AdminReply, app: &App) -> (bool, String) {
    if reply.status != 200 {
        return (
            false,
            format!("{}: {}", reply.code.unwrap_or("Refused"), reply.message()),
        );
    }
    if app.service.get().is_some() {
        return (true, "Unsealed: the server serves API calls.".into());
    }
    let b = &reply.body;
    (
        true,
        format!(
            "Share accepted: {} of {} given.",
            b["progress"].as_u64().unwrap_or_default(),
            b["threshold"].as_u64().unwrap_or_default()
        ),
    )
}

fn page(app: &App, session: &Session) -> Markup {
    let status: Value = app.seal.status(&app.service);
    let sealed = status["sealed"].as_bool() == Some(true);
    let chrome = view::Chrome {
        session,
        here: HERE,
        administrator: true,
        accounts: &[],
        regions: &app.opener.settings.regions,
    };
    let body = html! {
        (view::facts(&[
            ("State", if sealed { "sealed".into() } else { "unsealed".into() }),
            ("Seal", status["seal"].as_str().unwrap_or_default().to_owned()),
            ("Shares given", status.get("progress").map_or("—".into(), |p| format!("{p} of {}", status["threshold"]))),
        ]))
        @if sealed {
            h2 { "Unseal" }
            form.block method="post" action="/console/seal/unseal" id="unseal" {
                (csrf(session))
                @if status.get("threshold").is_some() {
                    label { "One operator's share" input type="password" name="share" autocomplete="off" required; }
                } @else {
                    p.muted { "This seal needs no share: unsealing opens the root of trust again." }
                }
                button type="submit" { "Unseal" }
            }
        } @else {
            h2 { "Seal" }
            p.muted { "Sealing drops the root keys from memory: every API call is refused until operators unseal the server." }
            (button(session, "/console/seal/seal", "Seal the server", true, &[]))
        }
    };
    view::page(&chrome, "Seal", body)
}
