//! Keys, data keys and key stores: lists with the dialects' filters and paging, a key's
//! details in both dialects' views, and every change the operator makes (enable,
//! disable, deletion and its cancellation, rotation, aliases, tags, grants, key stores).

use maud::{Markup, html};
use serde_json::{Value, json};

use super::calls::{self, Answered, Refused};
use super::view::{self, button, csrf, facts, when};
use super::{Ctx, Handled};

const PAGE: u64 = 20;

pub fn route(ctx: &Ctx<'_>, get: bool, segments: &[&str]) -> Handled {
    match (get, segments) {
        (true, ["keys"]) => keys(ctx),
        (false, ["keys"]) => create_key(ctx),
        (true, ["keys", id]) => key(ctx, id),
        (false, ["keys", id, op]) => key_change(ctx, id, op),
        (true, ["data-keys"]) => data_keys(ctx),
        (true, ["data-keys", id]) => data_key(ctx, id),
        (false, ["data-keys", id, op]) => data_key_change(ctx, id, op),
        (true, ["key-stores"]) => key_stores(ctx),
        (false, ["key-stores", id, op]) => key_store_change(ctx, id, op),
        _ => Handled::not_found(),
    }
}

/// The frame of a page of the session.
pub fn frame(ctx: &Ctx<'_>, here: &str, title: &str, body: Markup) -> Markup {
    let accounts: Vec<u64> = if ctx.is_operator() {
        calls::accounts(ctx).iter().map(|a| a.uin).collect()
    } else {
        Vec::new()
    };
    let chrome = view::Chrome {
        session: &ctx.session,
        here,
        administrator: calls::administrator(ctx),
        accounts: &accounts,
        regions: &ctx.app.opener.settings.regions,
    };
    view::page(&chrome, title, body)
}

/// A page that could not be had: the refusal's code and words, audited.
pub fn refused_page(ctx: &Ctx<'_>, here: &str, action: &'static str, r: Refused) -> Handled {
    let body = html! {
        div.flash.bad role="alert" { (r.code) ": " (r.message) }
    };
    Handled::page(action, frame(ctx, here, "Refused", body))
        .refused(r.code)
        .with_audit(*r.audit)
}

/// After a change: its outcome for the next page, which is `back`.
pub fn changed(
    ctx: &Ctx<'_>,
    action: &'static str,
    back: String,
    done: &str,
    result: Result<Answered, Refused>,
) -> Handled {
    match result {
        Ok(a) => {
            ctx.flash(true, done);
            Handled::redirect(action, back).with_audit(a.audit)
        }
        Err(r) => {
            ctx.flash(false, format!("{}: {}", r.code, r.message));
            Handled::redirect(action, back)
                .refused(r.code)
                .with_audit(*r.audit)
        }
    }
}

fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap_or_default()
}

fn u64_of(v: &Value, name: &str) -> u64 {
    v[name]
        .as_u64()
        .or_else(|| v[name].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_default()
}

/// Huawei's dates are milliseconds in strings.
fn millis(v: &Value, name: &str) -> String {
    when(u64_of(v, name) / 1000)
}

fn offset(ctx: &Ctx<'_>) -> u64 {
    ctx.query("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0)
}

/// `?name=value&…` of the current filters with `offset` replaced.
fn paged(ctx: &Ctx<'_>, offset: u64) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &ctx.query {
        if k != "offset" && k != "marker" {
            q.append_pair(k, v);
        }
    }
    q.append_pair("offset", &offset.to_string());
    format!("?{}", q.finish())
}

/// Links to the pages before and after this one of a Tencent listing (`Offset`, `Limit`).
fn pager(ctx: &Ctx<'_>, noun: &str, shown: usize, total: u64) -> Markup {
    let offset = offset(ctx);
    html! {
        div.pager {
            span.muted { (shown) " of " (total) " " (noun) " from " (offset + 1) }
            @if offset > 0 { a href=(paged(ctx, offset.saturating_sub(PAGE))) { "← Previous" } }
            @if offset + (shown as u64) < total { a href=(paged(ctx, offset + PAGE)) rel="next" { "Next →" } }
        }
    }
}

/// The parameters every Tencent listing page sends: its page, and the state filter.
fn listing_params(ctx: &Ctx<'_>) -> Value {
    let mut params = json!({ "Offset": offset(ctx), "Limit": PAGE });
    if let Some(state) = ctx
        .query("state")
        .filter(|s| *s != "0")
        .and_then(|s| s.parse::<u64>().ok())
    {
        params["KeyState"] = json!(state);
    }
    params
}

fn select(name: &str, label: &str, options: &[(&str, &str)], chosen: Option<&str>) -> Markup {
    html! {
        label { (label)
            select name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[chosen == Some(*value)] { (text) }
                }
            }
        }
    }
}

const TENCENT_STATES: &[(&str, &str)] = &[
    ("0", "all"),
    ("1", "Enabled"),
    ("2", "Disabled"),
    ("3", "PendingDelete"),
    ("4", "PendingImport"),
    ("5", "Archived"),
];
const ORIGINS: &[(&str, &str)] = &[
    ("ALL", "all"),
    ("TENCENT_KMS", "TENCENT_KMS"),
    ("EXTERNAL", "EXTERNAL"),
];
const USAGES: &[(&str, &str)] = &[
    ("ALL", "all"),
    ("ENCRYPT_DECRYPT", "ENCRYPT_DECRYPT"),
    ("ASYMMETRIC_DECRYPT_RSA_2048", "ASYMMETRIC_DECRYPT_RSA_2048"),
    ("ASYMMETRIC_DECRYPT_SM2", "ASYMMETRIC_DECRYPT_SM2"),
    ("ASYMMETRIC_SIGN_VERIFY_SM2", "ASYMMETRIC_SIGN_VERIFY_SM2"),
    ("ASYMMETRIC_SIGN_VERIFY_ECC", "ASYMMETRIC_SIGN_VERIFY_ECC"),
    (
        "ASYMMETRIC_SIGN_VERIFY_RSA_2048",
        "ASYMMETRIC_SIGN_VERIFY_RSA_2048",
    ),
];
/// Huawei's key states, by the numbers its API uses.
const HUAWEI_STATES: &[(&str, &str)] = &[
    ("", "all"),
    ("2", "2 enabled"),
    ("3", "3 disabled"),
    ("4", "4 pending deletion"),
    ("5", "5 pending import"),
];

fn keys(ctx: &Ctx<'_>) -> Handled {
    let huawei = ctx.query("view") == Some("huawei");
    let listed = if huawei {
        huawei_keys(ctx)
    } else {
        tencent_keys(ctx)
    };
    match listed {
        Ok((table, audit)) => {
            let body = html! {
                p {
                    "View: "
                    a href="/console/keys?view=tencent" { "Tencent (ListKeyDetail)" } " · "
                    a href="/console/keys?view=huawei" { "Huawei (list-keys)" }
                }
                (table)
                h2 { "Create a key" }
                form.block method="post" action="/console/keys" id="create-key" {
                    (csrf(&ctx.session))
                    label { "Alias" input type="text" name="alias" required; }
                    label { "Description" input type="text" name="description"; }
                    (select("usage", "Usage", &USAGES[1..], Some("ENCRYPT_DECRYPT")))
                    button type="submit" { "Create" }
                }
            };
            Handled::page("ListKeys", frame(ctx, "/console/keys", "Keys", body)).with_audit(audit)
        }
        Err(r) => refused_page(ctx, "/console/keys", "ListKeys", r),
    }
}

fn tencent_keys(ctx: &Ctx<'_>) -> Result<(Markup, kms_tencent::AuditFields), Refused> {
    let mut params = listing_params(ctx);
    if let Some(a) = ctx.query("alias").filter(|a| !a.is_empty()) {
        params["SearchKeyAlias"] = json!(a);
    }
    if let Some(o) = ctx.query("origin").filter(|o| !o.is_empty()) {
        params["Origin"] = json!(o);
    }
    // The vendor lists only ENCRYPT_DECRYPT keys when no usage is named; a console shows all.
    let usage = ctx
        .query("usage")
        .filter(|u| !u.is_empty())
        .unwrap_or("ALL");
    params["KeyUsage"] = json!(usage);
    let a = calls::tencent(ctx, "ListKeyDetail", params)?;
    let total = u64_of(&a.body, "TotalCount");
    let empty = Vec::new();
    let keys = a.body["KeyMetadatas"].as_array().unwrap_or(&empty);
    let table = html! {
        form.filters method="get" action="/console/keys" {
            input type="hidden" name="view" value="tencent";
            (select("state", "State", TENCENT_STATES, ctx.query("state")))
            (select("origin", "Origin", ORIGINS, ctx.query("origin")))
            (select("usage", "Usage", USAGES, ctx.query("usage")))
            label { "Alias contains" input type="text" name="alias" value=(ctx.query("alias").unwrap_or_default()); }
            button type="submit" { "Filter" }
        }
        table id="keys" {
            thead { tr { th { "Key id" } th { "Alias" } th { "State" } th { "Usage" } th { "Origin" } th { "Rotation" } th { "Created" } } }
            tbody {
                @for k in keys {
                    tr {
                        td.mono { a href={ "/console/keys/" (str_of(k, "KeyId")) } { (str_of(k, "KeyId")) } }
                        td { (str_of(k, "Alias")) }
                        td class={ "state-" (str_of(k, "KeyState")) } { (str_of(k, "KeyState")) }
                        td { (str_of(k, "KeyUsage")) }
                        td { (str_of(k, "Origin")) }
                        td { (if k["KeyRotationEnabled"].as_bool() == Some(true) { "on" } else { "off" }) }
                        td { (when(u64_of(k, "CreateTime"))) }
                    }
                }
            }
        }
        (pager(ctx, "keys", keys.len(), total))
    };
    Ok((table, a.audit))
}

fn huawei_keys(ctx: &Ctx<'_>) -> Result<(Markup, kms_tencent::AuditFields), Refused> {
    let mut body = json!({ "limit": PAGE.to_string() });
    if let Some(m) = ctx.query("marker").filter(|m| !m.is_empty()) {
        body["marker"] = json!(m);
    }
    if let Some(s) = ctx.query("key_state").filter(|s| !s.is_empty()) {
        body["key_state"] = json!(s);
    }
    let a = calls::huawei(ctx, "POST", "kms/list-keys", "", Some(body))?;
    let empty = Vec::new();
    let keys = a.body["key_details"].as_array().unwrap_or(&empty);
    let next = str_of(&a.body, "next_marker");
    let more = str_of(&a.body, "truncated") == "true";
    let next_page = {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("view", "huawei");
        if let Some(s) = ctx.query("key_state") {
            q.append_pair("key_state", s);
        }
        q.append_pair("marker", next);
        format!("?{}", q.finish())
    };
    let table = html! {
        form.filters method="get" action="/console/keys" {
            input type="hidden" name="view" value="huawei";
            (select("key_state", "key_state", HUAWEI_STATES, ctx.query("key_state")))
            button type="submit" { "Filter" }
        }
        table id="keys" {
            thead { tr { th { "key_id" } th { "key_alias" } th { "key_state" } th { "key_spec" } th { "key_usage" } th { "origin" } th { "creation_date" } } }
            tbody {
                @for k in keys {
                    tr {
                        td.mono { a href={ "/console/keys/" (str_of(k, "key_id")) } { (str_of(k, "key_id")) } }
                        td { (str_of(k, "key_alias")) }
                        td { (str_of(k, "key_state")) }
                        td { (str_of(k, "key_spec")) }
                        td { (str_of(k, "key_usage")) }
                        td { (str_of(k, "origin")) }
                        td { (millis(k, "creation_date")) }
                    }
                }
            }
        }
        div.pager {
            span.muted { (keys.len()) " keys on this page of " (str_of(&a.body, "total")) }
            @if more { a href=(next_page) rel="next" { "Next →" } }
        }
    };
    Ok((table, a.audit))
}

fn create_key(ctx: &Ctx<'_>) -> Handled {
    let mut params = json!({
        "Alias": ctx.text("alias"),
        "KeyUsage": ctx.text("usage"),
    });
    let description = ctx.text("description");
    if !description.is_empty() {
        params["Description"] = json!(description);
    }
    match calls::tencent(ctx, "CreateKey", params) {
        Ok(a) => {
            let id = str_of(&a.body, "KeyId").to_owned();
            ctx.flash(true, format!("Key {id} created."));
            Handled::redirect("CreateKey", format!("/console/keys/{id}")).with_audit(a.audit)
        }
        Err(r) => changed(ctx, "CreateKey", "/console/keys".into(), "", Err(r)),
    }
}

fn key(ctx: &Ctx<'_>, id: &str) -> Handled {
    let described = match calls::tencent(ctx, "DescribeKey", json!({ "KeyId": id })) {
        Ok(a) => a,
        Err(r) => return refused_page(ctx, "/console/keys", "DescribeKey", r),
    };
    let m = &described.body["KeyMetadata"];
    let key_id = str_of(m, "KeyId").to_owned();
    // The Huawei view and the parts only Huawei's API has; a refusal there (a user's policy
    // allowing only Tencent actions) shows as such, the page still renders.
    let hw = calls::huawei(
        ctx,
        "POST",
        "kms/describe-key",
        "",
        Some(json!({ "key_id": key_id })),
    );
    let aliases = calls::huawei(
        ctx,
        "GET",
        "kms/aliases",
        &format!("key_id={key_id}&limit=100"),
        None,
    );
    let tags = calls::huawei(ctx, "GET", &format!("kms/{key_id}/tags"), "", None);
    let grants = calls::huawei(
        ctx,
        "POST",
        "kms/list-grants",
        "",
        Some(json!({ "key_id": key_id, "limit": "100" })),
    );
    let s = &ctx.session;
    let base = format!("/console/keys/{key_id}");
    let state = str_of(m, "KeyState");
    let body = html! {
        h2 { "Tencent view (DescribeKey)" }
        (facts(&[
            ("KeyId", key_id.clone()),
            ("Alias", str_of(m, "Alias").to_owned()),
            ("Description", str_of(m, "Description").to_owned()),
            ("KeyState", state.to_owned()),
            ("KeyUsage", str_of(m, "KeyUsage").to_owned()),
            ("Origin", str_of(m, "Origin").to_owned()),
            ("CreateTime", when(u64_of(m, "CreateTime"))),
            ("KeyRotationEnabled", m["KeyRotationEnabled"].to_string()),
            ("RotateDays", u64_of(m, "RotateDays").to_string()),
            ("LastRotateTime", when(u64_of(m, "LastRotateTime"))),
            ("NextRotateTime", when(u64_of(m, "NextRotateTime"))),
            ("DeletionDate", when(u64_of(m, "DeletionDate"))),
            ("ValidTo", when(u64_of(m, "ValidTo"))),
            ("HsmClusterId", str_of(m, "HsmClusterId").to_owned()),
            ("ResourceId", str_of(m, "ResourceId").to_owned()),
        ]))
        h2 { "Huawei view (describe-key)" }
        @match &hw {
            Ok(a) => {
                @let k = &a.body["key_info"];
                (facts(&[
                    ("key_id", str_of(k, "key_id").to_owned()),
                    ("key_alias", str_of(k, "key_alias").to_owned()),
                    ("key_state", str_of(k, "key_state").to_owned()),
                    ("key_spec", str_of(k, "key_spec").to_owned()),
                    ("key_usage", str_of(k, "key_usage").to_owned()),
                    ("origin", str_of(k, "origin").to_owned()),
                    ("creation_date", millis(k, "creation_date")),
                    ("scheduled_deletion_date", millis(k, "scheduled_deletion_date")),
                    ("keystore_id", str_of(k, "keystore_id").to_owned()),
                    ("realm", str_of(k, "realm").to_owned()),
                ]))
            }
            Err(r) => { p.muted { (r.code) ": " (r.message) } }
        }
        h2 { "State" }
        div id="key-actions" {
            @if state == "Disabled" { (button(s, &format!("{base}/enable"), "Enable", false, &[])) }
            @if state == "Enabled" { (button(s, &format!("{base}/disable"), "Disable", true, &[])) }
            @if state == "PendingDelete" { (button(s, &format!("{base}/cancel-deletion"), "Cancel deletion", false, &[])) }
            @if state == "Disabled" || state == "PendingImport" {
                form.inline method="post" action={ (base) "/schedule-deletion" } {
                    (csrf(s))
                    label { "Delete after (days, 7–30) " input type="number" name="days" min="7" max="30" value="7" required; }
                    button.danger type="submit" { "Schedule deletion" }
                }
            }
        }
        h2 { "Rotation" }
        div {
            @if m["KeyRotationEnabled"].as_bool() == Some(true) {
                (button(s, &format!("{base}/rotation-off"), "Turn automatic rotation off", false, &[]))
            } @else {
                (button(s, &format!("{base}/rotation-on"), "Turn automatic rotation on", false, &[]))
            }
            (button(s, &format!("{base}/rotate"), "Rotate now", false, &[]))
        }
        h2 { "Alias and description" }
        form.inline method="post" action={ (base) "/alias" } {
            (csrf(s))
            input type="text" name="alias" value=(str_of(m, "Alias")) aria-label="alias" required;
            button type="submit" { "Rename (UpdateAlias)" }
        }
        form.inline method="post" action={ (base) "/description" } {
            (csrf(s))
            input type="text" name="description" value=(str_of(m, "Description")) aria-label="description";
            button type="submit" { "Update description" }
        }
        h2 { "Aliases (Huawei)" }
        @match &aliases {
            Ok(a) => {
                table id="aliases" {
                    thead { tr { th { "alias" } th { "created" } th {} } }
                    tbody {
                        @for alias in a.body[0]["aliases"].as_array().into_iter().flatten() {
                            tr {
                                td.mono { (str_of(alias, "alias")) }
                                td { (str_of(alias, "create_time")) }
                                td { (button(s, &format!("{base}/alias-delete"), "Delete", true, &[("alias", str_of(alias, "alias"))])) }
                            }
                        }
                    }
                }
                form.inline method="post" action={ (base) "/alias-add" } {
                    (csrf(s))
                    input type="text" name="alias" placeholder="alias/name" aria-label="new alias" required;
                    button type="submit" { "Add alias" }
                }
            }
            Err(r) => { p.muted { (r.code) ": " (r.message) } }
        }
        h2 { "Tags" }
        @match &tags {
            Ok(a) => {
                table id="tags" {
                    thead { tr { th { "key" } th { "value" } th {} } }
                    tbody {
                        @for tag in a.body["tags"].as_array().into_iter().flatten() {
                            tr {
                                td { (str_of(tag, "key")) }
                                td { (str_of(tag, "value")) }
                                td { (button(s, &format!("{base}/tag-delete"), "Delete", true, &[("key", str_of(tag, "key"))])) }
                            }
                        }
                    }
                }
                form.inline method="post" action={ (base) "/tag-add" } {
                    (csrf(s))
                    input type="text" name="key" placeholder="key" aria-label="tag key" required;
                    input type="text" name="value" placeholder="value" aria-label="tag value";
                    button type="submit" { "Add tag" }
                }
            }
            Err(r) => { p.muted { (r.code) ": " (r.message) } }
        }
        h2 { "Grants (Huawei)" }
        @match &grants {
            Ok(a) => {
                table id="grants" {
                    thead { tr { th { "grant_id" } th { "name" } th { "grantee" } th { "operations" } th { "created" } th {} } }
                    tbody {
                        @for g in a.body["grants"].as_array().into_iter().flatten() {
                            tr {
                                td.mono { (str_of(g, "grant_id")) }
                                td { (str_of(g, "name")) }
                                td.mono { (str_of(g, "grantee_principal")) " (" (str_of(g, "grantee_principal_type")) ")" }
                                td { (g["operations"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")) }
                                td { (millis(g, "creation_date")) }
                                td { (button(s, &format!("{base}/grant-revoke"), "Revoke", true, &[("grant_id", str_of(g, "grant_id"))])) }
                            }
                        }
                    }
                }
                form.block method="post" action={ (base) "/grant-add" } id="create-grant" {
                    (csrf(s))
                    label { "Grantee (a user id, or an account id with type domain)" input type="text" name="grantee" required; }
                    (select("grantee_type", "Grantee type", &[("user", "user"), ("domain", "domain")], Some("user")))
                    label { "Operations (comma-separated, e.g. encrypt-data, decrypt-data)" input type="text" name="operations" required; }
                    label { "Name" input type="text" name="name"; }
                    button type="submit" { "Create grant" }
                }
            }
            Err(r) => { p.muted { (r.code) ": " (r.message) } }
        }
    };
    let title = format!("Key {key_id}");
    Handled::page("DescribeKey", frame(ctx, "/console/keys", &title, body))
        .with_audit(described.audit)
}

/// The changes that are one Tencent action on the resource: the form's operation, the action,
/// and what the page says when it is done.
const KEY_CHANGES: &[(&str, &str, &str)] = &[
    ("enable", "EnableKey", "Key enabled."),
    ("disable", "DisableKey", "Key disabled."),
    (
        "cancel-deletion",
        "CancelKeyDeletion",
        "Deletion cancelled; the key is disabled.",
    ),
    (
        "rotation-on",
        "EnableKeyRotation",
        "Automatic rotation is on.",
    ),
    (
        "rotation-off",
        "DisableKeyRotation",
        "Automatic rotation is off.",
    ),
    (
        "schedule-deletion",
        "ScheduleKeyDeletion",
        "Key scheduled for deletion.",
    ),
];
const DATA_KEY_CHANGES: &[(&str, &str, &str)] = &[
    ("enable", "EnableDataKey", "Data key enabled."),
    ("disable", "DisableDataKey", "Data key disabled."),
    (
        "cancel-deletion",
        "CancelDataKeyDeletion",
        "Deletion cancelled.",
    ),
    (
        "schedule-deletion",
        "ScheduleDataKeyDeletion",
        "Data key scheduled for deletion.",
    ),
];

/// One of `changes` on the resource whose id is the parameter `id_param`; a deletion takes the
/// form's days.
fn tencent_change(
    ctx: &Ctx<'_>,
    changes: &[(&str, &'static str, &'static str)],
    id_param: &str,
    id: &str,
    op: &str,
    back: String,
) -> Option<Handled> {
    let &(_, action, done) = changes.iter().find(|(name, _, _)| *name == op)?;
    let mut params = json!({ id_param: id });
    if op == "schedule-deletion" {
        params["PendingWindowInDays"] = json!(ctx.text("days").parse::<u64>().unwrap_or(0));
    }
    Some(changed(
        ctx,
        action,
        back,
        done,
        calls::tencent(ctx, action, params),
    ))
}

fn key_change(ctx: &Ctx<'_>, id: &str, op: &str) -> Handled {
    let back = format!("/console/keys/{id}");
    if let Some(handled) = tencent_change(ctx, KEY_CHANGES, "KeyId", id, op, back.clone()) {
        return handled;
    }
    let (action, done, result): (&'static str, String, _) = match op {
        "rotate" => (
            "RotateOnDemand",
            "Key rotated: new material encrypts from now on.".into(),
            calls::huawei(
                ctx,
                "POST",
                "kms/rotate-on-demand",
                "",
                Some(json!({ "key_id": id })),
            ),
        ),
        "alias" => (
            "UpdateAlias",
            "Alias changed.".into(),
            calls::tencent(
                ctx,
                "UpdateAlias",
                json!({ "KeyId": id, "Alias": ctx.text("alias") }),
            ),
        ),
        "description" => (
            "UpdateKeyDescription",
            "Description changed.".into(),
            calls::tencent(
                ctx,
                "UpdateKeyDescription",
                json!({ "KeyId": id, "Description": ctx.text("description") }),
            ),
        ),
        "alias-add" => (
            "CreateAlias",
            "Alias added.".into(),
            calls::huawei(
                ctx,
                "POST",
                "kms/aliases",
                "",
                Some(json!({ "key_id": id, "alias": ctx.text("alias") })),
            ),
        ),
        "alias-delete" => (
            "DeleteAlias",
            "Alias deleted.".into(),
            calls::huawei(
                ctx,
                "DELETE",
                "kms/aliases",
                "",
                Some(json!({ "key_id": id, "aliases": [ctx.text("alias")] })),
            ),
        ),
        "tag-add" => (
            "CreateKmsTag",
            "Tag added.".into(),
            calls::huawei(
                ctx,
                "POST",
                &format!("kms/{id}/tags"),
                "",
                Some(json!({ "tag": { "key": ctx.text("key"), "value": ctx.text("value") } })),
            ),
        ),
        "tag-delete" => {
            let tag: String = form_urlencoded::byte_serialize(ctx.text("key").as_bytes()).collect();
            (
                "DeleteTag",
                "Tag deleted.".into(),
                calls::huawei(ctx, "DELETE", &format!("kms/{id}/tags/{tag}"), "", None),
            )
        }
        "grant-add" => {
            let mut body = json!({
                "key_id": id,
                "grantee_principal": ctx.text("grantee"),
                "grantee_principal_type": ctx.text("grantee_type"),
                "operations": calls::list(&ctx.text("operations")),
            });
            let name = ctx.text("name");
            if !name.is_empty() {
                body["name"] = json!(name);
            }
            (
                "CreateGrant",
                "Grant created.".into(),
                calls::huawei(ctx, "POST", "kms/create-grant", "", Some(body)),
            )
        }
        "grant-revoke" => (
            "CancelGrant",
            "Grant revoked.".into(),
            calls::huawei(
                ctx,
                "POST",
                "kms/revoke-grant",
                "",
                Some(json!({ "key_id": id, "grant_id": ctx.text("grant_id") })),
            ),
        ),
        _ => return Handled::not_found(),
    };
    changed(ctx, action, back, &done, result)
}

fn data_keys(ctx: &Ctx<'_>) -> Handled {
    let mut params = listing_params(ctx);
    if let Some(k) = ctx.query("key_id").filter(|k| !k.is_empty()) {
        params["KeyId"] = json!(k);
    }
    let a = match calls::tencent(ctx, "ListDataKeyDetail", params) {
        Ok(a) => a,
        Err(r) => return refused_page(ctx, "/console/data-keys", "ListDataKeyDetail", r),
    };
    let total = u64_of(&a.body, "TotalCount");
    let empty = Vec::new();
    let list = a.body["DataKeyMetadatas"].as_array().unwrap_or(&empty);
    let body = html! {
        form.filters method="get" action="/console/data-keys" {
            (select("state", "State", &TENCENT_STATES[..4], ctx.query("state")))
            label { "CMK key id" input type="text" name="key_id" value=(ctx.query("key_id").unwrap_or_default()); }
            button type="submit" { "Filter" }
        }
        table id="data-keys" {
            thead { tr { th { "Data key id" } th { "Name" } th { "State" } th { "CMK" } th { "Bytes" } th { "Origin" } th { "Created" } } }
            tbody {
                @for d in list {
                    tr {
                        td.mono { a href={ "/console/data-keys/" (str_of(d, "DataKeyId")) } { (str_of(d, "DataKeyId")) } }
                        td { (str_of(d, "DataKeyName")) }
                        td class={ "state-" (str_of(d, "KeyState")) } { (str_of(d, "KeyState")) }
                        td.mono { a href={ "/console/keys/" (str_of(d, "KeyId")) } { (str_of(d, "KeyId")) } }
                        td { (u64_of(d, "NumberOfBytes")) }
                        td { (str_of(d, "Origin")) }
                        td { (when(u64_of(d, "CreateTime"))) }
                    }
                }
            }
        }
        (pager(ctx, "data keys", list.len(), total))
    };
    Handled::page(
        "ListDataKeyDetail",
        frame(ctx, "/console/data-keys", "Data keys", body),
    )
    .with_audit(a.audit)
}

fn data_key(ctx: &Ctx<'_>, id: &str) -> Handled {
    let a = match calls::tencent(ctx, "DescribeDataKey", json!({ "DataKeyId": id })) {
        Ok(a) => a,
        Err(r) => return refused_page(ctx, "/console/data-keys", "DescribeDataKey", r),
    };
    let d = &a.body["DataKeyMetadata"];
    let data_key_id = str_of(d, "DataKeyId").to_owned();
    let base = format!("/console/data-keys/{data_key_id}");
    let state = str_of(d, "KeyState");
    let s = &ctx.session;
    let body = html! {
        (facts(&[
            ("DataKeyId", data_key_id.clone()),
            ("DataKeyName", str_of(d, "DataKeyName").to_owned()),
            ("Description", str_of(d, "Description").to_owned()),
            ("KeyState", state.to_owned()),
            ("KeyId (CMK)", str_of(d, "KeyId").to_owned()),
            ("NumberOfBytes", u64_of(d, "NumberOfBytes").to_string()),
            ("Origin", str_of(d, "Origin").to_owned()),
            ("CreateTime", when(u64_of(d, "CreateTime"))),
            ("DeletionDate", when(u64_of(d, "DeletionDate"))),
            ("HsmClusterId", str_of(d, "HsmClusterId").to_owned()),
        ]))
        h2 { "State" }
        div id="data-key-actions" {
            @if state == "Disabled" { (button(s, &format!("{base}/enable"), "Enable", false, &[])) }
            @if state == "Enabled" { (button(s, &format!("{base}/disable"), "Disable", true, &[])) }
            @if state == "PendingDelete" { (button(s, &format!("{base}/cancel-deletion"), "Cancel deletion", false, &[])) }
            @if state == "Disabled" {
                form.inline method="post" action={ (base) "/schedule-deletion" } {
                    (csrf(s))
                    label { "Delete after (days, 7–30) " input type="number" name="days" min="7" max="30" value="7" required; }
                    button.danger type="submit" { "Schedule deletion" }
                }
            }
        }
    };
    let title = format!("Data key {data_key_id}");
    Handled::page(
        "DescribeDataKey",
        frame(ctx, "/console/data-keys", &title, body),
    )
    .with_audit(a.audit)
}

fn data_key_change(ctx: &Ctx<'_>, id: &str, op: &str) -> Handled {
    let back = format!("/console/data-keys/{id}");
    tencent_change(ctx, DATA_KEY_CHANGES, "DataKeyId", id, op, back)
        .unwrap_or_else(Handled::not_found)
}

fn key_stores(ctx: &Ctx<'_>) -> Handled {
    let a = match calls::huawei(ctx, "GET", "keystores", "limit=100", None) {
        Ok(a) => a,
        Err(r) => return refused_page(ctx, "/console/key-stores", "ListKeyStores", r),
    };
    let s = &ctx.session;
    let body = html! {
        p.muted { "Huawei key stores over the HSM clusters this node serves (" code { "--hsm-cluster" } ")." }
        table id="key-stores" {
            thead { tr { th { "keystore_id" } th { "alias" } th { "state" } th { "HSM cluster" } th { "created" } th {} } }
            tbody {
                @for k in a.body["keystores"].as_array().into_iter().flatten() {
                    @let id = str_of(k, "keystore_id");
                    tr {
                        td.mono { (id) }
                        td { (str_of(k, "keystore_alias")) }
                        td { (str_of(k, "keystore_state")) }
                        td.mono { (str_of(k, "hsm_cluster_id")) }
                        td { (str_of(k, "create_time")) }
                        td {
                            (button(s, &format!("/console/key-stores/{id}/enable"), "Enable", false, &[]))
                            (button(s, &format!("/console/key-stores/{id}/disable"), "Disable", false, &[]))
                            (button(s, &format!("/console/key-stores/{id}/delete"), "Delete", true, &[]))
                        }
                    }
                }
            }
        }
    };
    Handled::page(
        "ListKeyStores",
        frame(ctx, "/console/key-stores", "Key stores", body),
    )
    .with_audit(a.audit)
}

fn key_store_change(ctx: &Ctx<'_>, id: &str, op: &str) -> Handled {
    let back = "/console/key-stores".to_owned();
    let (action, done, result): (&'static str, &str, _) = match op {
        "enable" => (
            "EnableKeyStore",
            "Key store enabled.",
            calls::huawei(ctx, "POST", &format!("keystores/{id}/enable"), "", None),
        ),
        "disable" => (
            "DisableKeyStore",
            "Key store disabled.",
            calls::huawei(ctx, "POST", &format!("keystores/{id}/disable"), "", None),
        ),
        "delete" => (
            "DeleteKeyStore",
            "Key store deleted.",
            calls::huawei(ctx, "DELETE", &format!("keystores/{id}"), "", None),
        ),
        _ => return Handled::not_found(),
    };
    changed(ctx, action, back, done, result)
}
