//! How a page reaches the engine and the account operations: as the session's principal,
//! through the dialects' own preparation, authorization and handlers, and through
//! [`crate::admin::Admin`], so the console can do nothing its caller could not do through the
//! APIs.

use serde_json::{Map, Value, json};

use kms_core::accounts::Principal;
use kms_core::{Account, AccountId};
use kms_tencent::AuditFields;

use super::Ctx;
use super::session::Who;

/// A refusal of the dialect or the admin API: its code and words.
#[derive(Debug)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
    /// Boxed: a refusal travels in `Err`, which should stay small.
    pub audit: Box<AuditFields>,
}

/// An answer of the dialect: its fields, and what its audit record names.
pub struct Answered {
    pub body: Value,
    pub audit: AuditFields,
}

pub fn accounts(ctx: &Ctx<'_>) -> Vec<Account> {
    ctx.app.store.store.accounts().unwrap_or_default()
}

/// The account the server made at its first start, as the store recorded it (also while
/// sealed), else as the admin API finds it.
pub fn root_account(app: &crate::server::App) -> Option<AccountId> {
    crate::bootstrap::recorded_root_uin(app.store.store.as_ref()).or_else(|| {
        let service = app.service.get()?;
        service.admin.root_account().ok().map(|a| a.uin)
    })
}

/// Who the session acts as in its account, and the credential named for it: a credential's
/// session is that credential; the operator acts as the chosen account's root.
fn principal(ctx: &Ctx<'_>) -> Result<(std::sync::Arc<Principal>, String), Refused> {
    let directory = &ctx.service.directory;
    let secret_id = match &ctx.session.who {
        Who::Credential { secret_id } => secret_id.clone(),
        Who::Operator => {
            let uin = ctx.session.account;
            accounts(ctx)
                .into_iter()
                .find(|a| Some(a.uin) == uin)
                .map(|a| a.secret_id)
                .ok_or_else(|| refused("NotFound", "Choose an account first."))?
        }
    };
    let principal = directory.by_secret_id(&secret_id).ok_or_else(|| {
        refused(
            "AuthFailure.SecretIdNotFound",
            "The credential is disabled or deleted: log in again.",
        )
    })?;
    Ok((principal, secret_id))
}

fn refused(code: &'static str, message: &str) -> Refused {
    Refused {
        code,
        message: message.to_owned(),
        audit: Box::default(),
    }
}

/// The credential the audit record names: the operator's token, or the session's credential.
fn audited(ctx: &Ctx<'_>, mut audit: AuditFields) -> AuditFields {
    if ctx.is_operator() {
        audit.credential_id = Some(super::OPERATOR.to_owned());
    }
    audit
}

/// Runs a Tencent action in the session's account and region.
pub fn tencent(ctx: &Ctx<'_>, action: &str, params: Value) -> Result<Answered, Refused> {
    let (principal, secret_id) = principal(ctx)?;
    let api = &ctx.service.tencent;
    let head = kms_tencent::Head {
        action,
        version: Some(kms_tencent::VERSION),
        region: Some(&ctx.session.region),
    };
    let params = match params {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let reply = match api.prepare_authenticated(
        &principal,
        &secret_id,
        &head,
        params,
        &ctx.request_id,
        ctx.client_ip,
    ) {
        Ok(call) => api.execute(call, &ctx.request_id),
        Err(reply) => *reply,
    };
    let audit = audited(ctx, reply.audit);
    let mut body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let response = body["Response"].take();
    match (reply.error_code, response) {
        (None, fields @ Value::Object(_)) => Ok(Answered {
            body: fields,
            audit,
        }),
        (code, response) => Err(Refused {
            code: code.unwrap_or("InternalError"),
            message: response["Error"]["Message"]
                .as_str()
                .unwrap_or("the call failed")
                .to_owned(),
            audit: Box::new(audit),
        }),
    }
}

/// Runs a Huawei operation (`path` after the project id, e.g. `kms/list-grants`) in the
/// session's account and region.
pub fn huawei(
    ctx: &Ctx<'_>,
    method: &str,
    path: &str,
    query: &str,
    body: Option<Value>,
) -> Result<Answered, Refused> {
    let (principal, secret_id) = principal(ctx)?;
    let project = kms_huawei::projects::project_id(
        &principal.project_id,
        &ctx.app.opener.settings.regions,
        &ctx.session.region,
    );
    let full = format!("/v1.0/{project}/{path}");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let api = &ctx.service.huawei;
    let reply = match api.prepare_authenticated(
        &principal,
        &secret_id,
        method,
        &full,
        query,
        body.as_bytes(),
        ctx.client_ip,
    ) {
        Ok(call) => api.execute(call),
        Err(reply) => *reply,
    };
    let audit = audited(ctx, reply.audit);
    let parsed: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    match (reply.error_code, parsed) {
        (None, body) => Ok(Answered { body, audit }),
        (Some(code), parsed) => Err(Refused {
            code,
            message: parsed["error"]["error_msg"]
                .as_str()
                .unwrap_or("the call failed")
                .to_owned(),
            audit: Box::new(audit),
        }),
    }
}

/// An answer of the admin API for the session: the operator's any account's, an account
/// root's only its own, a user's none.
pub fn admin(ctx: &Ctx<'_>, method: &str, path: &str, body: Value) -> Result<Value, Refused> {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let reply = ctx.service.admin.execute(method, path, &body);
    if reply.status == 200 {
        Ok(reply.body)
    } else {
        Err(Refused {
            code: reply.code.unwrap_or("InternalError"),
            message: reply.message().to_owned(),
            audit: Box::new(AuditFields {
                account: reply.account,
                ..AuditFields::default()
            }),
        })
    }
}

/// Whether the session may manage its account's users, credentials and policies: the
/// operator, or the account's root credential.
pub fn administrator(ctx: &Ctx<'_>) -> bool {
    match &ctx.session.who {
        Who::Operator => true,
        Who::Credential { secret_id } => ctx
            .service
            .directory
            .by_secret_id(secret_id)
            .is_some_and(|p| p.user.is_none()),
    }
}

/// A JSON list of strings from a comma-separated field.
pub fn list(text: &str) -> Value {
    json!(
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_at_commas() {
        assert_eq!(list(" a, b,,c "), json!(["a", "b", "c"]));
    }
}
