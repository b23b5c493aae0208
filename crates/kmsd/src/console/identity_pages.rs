//! Accounts (the operator's), and an account's users, credentials and policies (the operator's
//! and the account root's), all through [`crate::admin::Admin`], which validates a policy
//! document as the admin API does. A new credential's key is shown once, on a page that is
//! never cached, and is never kept.

use maud::{Markup, html};
use serde_json::{Value, json};

use super::calls::{self, Refused};
use super::key_pages::{frame, refused_page};
use super::view::{button, csrf, when};
use super::{Answer, Ctx, Handled};
use kms_tencent::AuditFields;

pub fn route(ctx: &Ctx<'_>, get: bool, segments: &[&str]) -> Handled {
    let operator_only = matches!(segments.first(), Some(&"accounts"));
    if (operator_only && !ctx.is_operator()) || !calls::administrator(ctx) {
        let body = html! { div.flash.bad role="alert" { "Only the operator or the account's root credential manages this." } };
        return Handled::page("Console", frame(ctx, "/console/identity", "Refused", body))
            .refused("Forbidden");
    }
    match (get, segments) {
        (true, ["accounts"]) => accounts(ctx),
        (false, ["accounts"]) => create_account(ctx),
        (false, ["accounts", uin, verb @ ("enable" | "disable")]) => {
            let action = if *verb == "enable" {
                "EnableAccount"
            } else {
                "DisableAccount"
            };
            let result = calls::admin(ctx, "POST", &format!("/accounts/{uin}/{verb}"), Value::Null);
            done(
                ctx,
                action,
                "/console/accounts",
                &format!("Account {uin} {verb}d."),
                result,
            )
        }
        (true, ["identity"]) => identity(ctx),
        (true, ["identity", "policies", name]) => policy(ctx, name),
        (false, ["identity", rest @ ..]) => change(ctx, rest),
        _ => Handled::not_found(),
    }
}

/// The account the identity pages manage.
fn account(ctx: &Ctx<'_>) -> u64 {
    ctx.session.account.unwrap_or_default()
}

fn audit_of(ctx: &Ctx<'_>) -> AuditFields {
    AuditFields {
        account: ctx.session.account,
        credential_id: Some(match &ctx.session.who {
            super::session::Who::Operator => super::OPERATOR.to_owned(),
            super::session::Who::Credential { secret_id } => {
                kms_core::audit_fields::audit_string(secret_id)
            }
        }),
        ..AuditFields::default()
    }
}

fn done(
    ctx: &Ctx<'_>,
    action: &'static str,
    back: &str,
    text: &str,
    result: Result<Value, Refused>,
) -> Handled {
    match result {
        Ok(_) => {
            ctx.flash(true, text);
            Handled::redirect(action, back).with_audit(audit_of(ctx))
        }
        Err(r) => {
            ctx.flash(false, format!("{}: {}", r.code, r.message));
            Handled::redirect(action, back)
                .refused(r.code)
                .with_audit(audit_of(ctx))
        }
    }
}

fn secret_page(
    ctx: &Ctx<'_>,
    action: &'static str,
    here: &str,
    title: &str,
    lines: &[(&str, String)],
) -> Handled {
    let body = html! {
        div.secret id="new-secret" {
            p { strong { "Copy the secret key now: it is shown this once and cannot be shown again." } }
            @for (name, value) in lines {
                div { span.muted { (name) } code { (value) } }
            }
        }
        p { a href=(here) { "Done" } }
    };
    Handled {
        answer: Answer::Page(frame(ctx, here, title, body)),
        action,
        code: None,
        audit: audit_of(ctx),
    }
}

fn accounts(ctx: &Ctx<'_>) -> Handled {
    let list = match calls::admin(ctx, "GET", "/accounts", Value::Null) {
        Ok(v) => v,
        Err(r) => return refused_page(ctx, "/console/accounts", "ListAccounts", r),
    };
    let s = &ctx.session;
    let body = html! {
        table id="accounts" {
            thead { tr { th { "Account (uin)" } th { "App id" } th { "Project id (Huawei)" } th { "Enabled" } th { "Users" } th { "Credentials" } th { "Created" } th {} } }
            tbody {
                @for a in list["accounts"].as_array().into_iter().flatten() {
                    @let uin = a["uin"].as_u64().unwrap_or_default();
                    tr {
                        td.mono { (uin) }
                        td.mono { (a["app_id"]) }
                        td.mono { (a["project_id"].as_str().unwrap_or_default()) }
                        td { (if a["enabled"].as_bool() == Some(true) { "yes" } else { "no" }) }
                        td { (a["users"]) }
                        td { (a["credentials"]) }
                        td { (when(a["created_at"].as_u64().unwrap_or_default())) }
                        td {
                            @if a["enabled"].as_bool() == Some(true) {
                                (button(s, &format!("/console/accounts/{uin}/disable"), "Disable", true, &[]))
                            } @else {
                                (button(s, &format!("/console/accounts/{uin}/enable"), "Enable", false, &[]))
                            }
                        }
                    }
                }
            }
        }
        h2 { "Create an account" }
        p.muted { "A new account gets a root credential, shown once." }
        (button(s, "/console/accounts", "Create account", false, &[]))
    };
    Handled::page(
        "ListAccounts",
        frame(ctx, "/console/accounts", "Accounts", body),
    )
    .with_audit(audit_of(ctx))
}

fn create_account(ctx: &Ctx<'_>) -> Handled {
    match calls::admin(ctx, "POST", "/accounts", Value::Null) {
        Ok(v) => {
            let uin = v["uin"].as_u64().unwrap_or_default();
            let mut handled = secret_page(
                ctx,
                "CreateAccount",
                "/console/accounts",
                "Account created",
                &[
                    ("Account (uin)", uin.to_string()),
                    (
                        "Project id (Huawei)",
                        v["project_id"].as_str().unwrap_or_default().to_owned(),
                    ),
                    (
                        "SecretId (AK)",
                        v["secret_id"].as_str().unwrap_or_default().to_owned(),
                    ),
                    (
                        "SecretKey (SK)",
                        v["secret_key"].as_str().unwrap_or_default().to_owned(),
                    ),
                ],
            );
            handled.audit.account = Some(uin);
            handled
        }
        Err(r) => done(ctx, "CreateAccount", "/console/accounts", "", Err(r)),
    }
}

fn identity(ctx: &Ctx<'_>) -> Handled {
    let uin = account(ctx);
    let shown = match calls::admin(ctx, "GET", &format!("/accounts/{uin}"), Value::Null) {
        Ok(v) => v,
        Err(r) => return refused_page(ctx, "/console/identity", "ShowAccount", r),
    };
    let s = &ctx.session;
    let policies: Vec<&str> = shown["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    let body = html! {
        h2 { "Users" }
        table id="users" {
            thead { tr { th { "Id" } th { "Name" } th { "Enabled" } th { "Policies" } th { "Created" } th {} } }
            tbody {
                @for u in shown["users"].as_array().into_iter().flatten() {
                    @let id = u["id"].as_str().unwrap_or_default();
                    @let base = format!("/console/identity/users/{id}");
                    tr {
                        td.mono { (id) }
                        td { (u["name"].as_str().unwrap_or_default()) }
                        td { (if u["enabled"].as_bool() == Some(true) { "yes" } else { "no" }) }
                        td {
                            @for p in u["policies"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                                (p) " " (button(s, &format!("{base}/detach"), "Detach", true, &[("policy", p)]))
                            }
                            (attach_form(s, &base, &policies))
                        }
                        td { (when(u["created_at"].as_u64().unwrap_or_default())) }
                        td {
                            @if u["enabled"].as_bool() == Some(true) {
                                (button(s, &format!("{base}/disable"), "Disable", false, &[]))
                            } @else {
                                (button(s, &format!("{base}/enable"), "Enable", false, &[]))
                            }
                            (button(s, &format!("{base}/delete"), "Delete", true, &[]))
                        }
                    }
                }
            }
        }
        form.inline method="post" action="/console/identity/users" id="create-user" {
            (csrf(s))
            input type="text" name="name" placeholder="user name" aria-label="user name" required;
            button type="submit" { "Create user" }
        }
        h2 { "Credentials" }
        table id="credentials" {
            thead { tr { th { "SecretId (AK)" } th { "User" } th { "Enabled" } th { "Created" } th {} } }
            tbody {
                @for c in shown["credentials"].as_array().into_iter().flatten() {
                    @let id = c["secret_id"].as_str().unwrap_or_default();
                    @let base = format!("/console/identity/credentials/{id}");
                    tr {
                        td.mono { (id) }
                        td.mono { (c["user"].as_str().unwrap_or("(account root)")) }
                        td { (if c["enabled"].as_bool() == Some(true) { "yes" } else { "no" }) }
                        td { (when(c["created_at"].as_u64().unwrap_or_default())) }
                        td {
                            @if c["enabled"].as_bool() == Some(true) {
                                (button(s, &format!("{base}/disable"), "Disable", false, &[]))
                            } @else {
                                (button(s, &format!("{base}/enable"), "Enable", false, &[]))
                            }
                            (button(s, &format!("{base}/rotate"), "Rotate", false, &[]))
                            (button(s, &format!("{base}/delete"), "Delete", true, &[]))
                        }
                    }
                }
            }
        }
        form.inline method="post" action="/console/identity/credentials" id="create-credential" {
            (csrf(s))
            input type="text" name="user" placeholder="user name or id (empty: account root)" aria-label="user";
            button type="submit" { "Create credential" }
        }
        h2 { "Policies" }
        table id="policies" {
            thead { tr { th { "Name" } th { "Language" } th { "Created" } th {} } }
            tbody {
                @for p in shown["policies"].as_array().into_iter().flatten() {
                    @let name = p["name"].as_str().unwrap_or_default();
                    tr {
                        td { a href={ "/console/identity/policies/" (name) } { (name) } }
                        td { (p["language"].as_str().unwrap_or_default()) }
                        td { (when(p["created_at"].as_u64().unwrap_or_default())) }
                        td { (button(s, &format!("/console/identity/policies/{name}/delete"), "Delete", true, &[])) }
                    }
                }
            }
        }
        h2 { "Create a policy" }
        form.block method="post" action="/console/identity/policies" id="create-policy" {
            (csrf(s))
            label { "Name" input type="text" name="name" required; }
            label { "Language"
                select name="language" {
                    option value="cam" { "cam (Tencent CAM)" }
                    option value="iam" { "iam (Huawei IAM)" }
                }
            }
            label { "Document (JSON)" textarea name="document" required {} }
            button type="submit" { "Create policy" }
        }
    };
    let title = format!("Users & policies of account {uin}");
    Handled::page("ShowAccount", frame(ctx, "/console/identity", &title, body))
        .with_audit(audit_of(ctx))
}

fn attach_form(s: &super::session::Session, base: &str, policies: &[&str]) -> Markup {
    html! {
        form.inline method="post" action={ (base) "/attach" } {
            (csrf(s))
            select name="policy" aria-label="policy" {
                @for p in policies { option value=(p) { (p) } }
            }
            button.plain type="submit" { "Attach" }
        }
    }
}

fn policy(ctx: &Ctx<'_>, name: &str) -> Handled {
    let uin = account(ctx);
    let shown = match calls::admin(
        ctx,
        "GET",
        &format!("/accounts/{uin}/policies/{name}"),
        Value::Null,
    ) {
        Ok(v) => v,
        Err(r) => return refused_page(ctx, "/console/identity", "ShowPolicy", r),
    };
    let pretty = serde_json::from_str::<Value>(shown["document"].as_str().unwrap_or_default())
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default();
    let body = html! {
        p { "Language: " (shown["language"].as_str().unwrap_or_default()) }
        pre.mono id="policy-document" { (pretty) }
        p { a href="/console/identity" { "Back" } }
    };
    let title = format!("Policy {name}");
    Handled::page("ShowPolicy", frame(ctx, "/console/identity", &title, body))
        .with_audit(audit_of(ctx))
}

fn change(ctx: &Ctx<'_>, rest: &[&str]) -> Handled {
    let uin = account(ctx);
    let back = "/console/identity";
    let path = |tail: &str| format!("/accounts/{uin}/{tail}");
    match rest {
        ["users"] => {
            let name = ctx.text("name");
            let r = calls::admin(ctx, "POST", &path("users"), json!({ "name": name }));
            done(ctx, "CreateUser", back, &format!("User {name} created."), r)
        }
        ["users", id, verb @ ("enable" | "disable")] => {
            let action = if *verb == "enable" {
                "EnableUser"
            } else {
                "DisableUser"
            };
            let r = calls::admin(
                ctx,
                "POST",
                &path(&format!("users/{id}/{verb}")),
                Value::Null,
            );
            done(ctx, action, back, &format!("User {id} {verb}d."), r)
        }
        ["users", id, "delete"] => {
            let r = calls::admin(ctx, "DELETE", &path(&format!("users/{id}")), Value::Null);
            done(ctx, "DeleteUser", back, &format!("User {id} deleted."), r)
        }
        ["users", id, verb @ ("attach" | "detach")] => {
            let policy = ctx.text("policy");
            let method = if *verb == "attach" { "PUT" } else { "DELETE" };
            let action = if *verb == "attach" {
                "AttachUserPolicy"
            } else {
                "DetachUserPolicy"
            };
            let r = calls::admin(
                ctx,
                method,
                &path(&format!("users/{id}/policies/{policy}")),
                Value::Null,
            );
            done(ctx, action, back, &format!("Policy {policy} {verb}ed."), r)
        }
        ["credentials"] => {
            let user = ctx.text("user");
            let body = if user.is_empty() {
                json!({})
            } else {
                json!({ "user": user })
            };
            match calls::admin(ctx, "POST", &path("credentials"), body) {
                Ok(v) => secret_page(
                    ctx,
                    "CreateCredential",
                    back,
                    "Credential created",
                    &[
                        (
                            "SecretId (AK)",
                            v["secret_id"].as_str().unwrap_or_default().to_owned(),
                        ),
                        (
                            "SecretKey (SK)",
                            v["secret_key"].as_str().unwrap_or_default().to_owned(),
                        ),
                    ],
                ),
                Err(r) => done(ctx, "CreateCredential", back, "", Err(r)),
            }
        }
        ["credentials", id, "rotate"] => match calls::admin(
            ctx,
            "POST",
            &path(&format!("credentials/{id}/rotate")),
            Value::Null,
        ) {
            Ok(v) => {
                ctx.app.console.sessions.close_credential(id);
                secret_page(
                    ctx,
                    "RotateCredential",
                    back,
                    "Credential rotated",
                    &[
                        (
                            "SecretId (AK)",
                            v["secret_id"].as_str().unwrap_or_default().to_owned(),
                        ),
                        (
                            "SecretKey (SK)",
                            v["secret_key"].as_str().unwrap_or_default().to_owned(),
                        ),
                    ],
                )
            }
            Err(r) => done(ctx, "RotateCredential", back, "", Err(r)),
        },
        ["credentials", id, verb @ ("enable" | "disable")] => {
            let action = if *verb == "enable" {
                "EnableCredential"
            } else {
                "DisableCredential"
            };
            let r = calls::admin(
                ctx,
                "POST",
                &path(&format!("credentials/{id}/{verb}")),
                Value::Null,
            );
            if r.is_ok() && *verb == "disable" {
                ctx.app.console.sessions.close_credential(id);
            }
            done(ctx, action, back, &format!("Credential {id} {verb}d."), r)
        }
        ["credentials", id, "delete"] => {
            let r = calls::admin(
                ctx,
                "DELETE",
                &path(&format!("credentials/{id}")),
                Value::Null,
            );
            if r.is_ok() {
                ctx.app.console.sessions.close_credential(id);
            }
            done(
                ctx,
                "DeleteCredential",
                back,
                &format!("Credential {id} deleted."),
                r,
            )
        }
        ["policies"] => {
            let name = ctx.text("name");
            let body = json!({
                "name": name,
                "language": ctx.text("language"),
                "document": ctx.field("document").unwrap_or_default(),
            });
            let r = calls::admin(ctx, "POST", &path("policies"), body);
            done(
                ctx,
                "CreatePolicy",
                back,
                &format!("Policy {name} created."),
                r,
            )
        }
        ["policies", name, "delete"] => {
            let r = calls::admin(
                ctx,
                "DELETE",
                &path(&format!("policies/{name}")),
                Value::Null,
            );
            done(
                ctx,
                "DeletePolicy",
                back,
                &format!("Policy {name} deleted."),
                r,
            )
        }
        _ => Handled::not_found(),
    }
}
