//! The aliases operations: create, delete (a batch of one key's aliases), list (paged, of the
//! region or of one key) and associate (move an alias to another key).
//!
//! Aliases share one namespace per account and region with every key's own alias (its
//! `key_alias`, Tencent's one alias), which the store keeps unique: a name held either way
//! cannot be taken the other way. Listings show alias resources only, as the vendor's do.
//! Other operations take key ids only: the API reference pins every `key_id` to the UUID form.

use serde::Deserialize;
use serde_json::{Value, json};

use kms_core::engine::ALIASES_PER_KEY;
use kms_core::{Alias, utc_date_time};

use super::{Context, Request, follows_alias_pattern, kms, page_limit, parse, required};
use crate::errors::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasOp {
    Create,
    Delete,
    List,
    Associate,
}

/// Most aliases one list-aliases page holds, and the page size when none is asked for.
const LIST_LIMIT_MAX: usize = 1000;

/// The suffix the vendor reserves for its services' default keys.
const RESERVED_SUFFIX: &str = "/default";

#[derive(Debug, Default, Deserialize)]
struct CreateAliasRequestBody {
    key_id: Option<String>,
    alias: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DeleteAliasRequestBody {
    aliases: Option<Vec<String>>,
    key_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AssociateAliasRequestBody {
    alias: Option<String>,
    target_key_id: Option<String>,
}

pub fn run(ctx: &Context<'_>, op: AliasOp, req: &Request<'_>) -> Result<Value, HwError> {
    let (engine, caller) = (ctx.engine, ctx.caller);
    match op {
        AliasOp::Create => {
            let b: CreateAliasRequestBody = parse(req.body)?;
            let key_id = required(b.key_id, "key_id")?;
            let name = alias_name(b.alias)?;
            let alias = engine.create_alias(caller, &key_id, &name).map_err(kms)?;
            Ok(alias_entity(ctx, &key_id, &alias))
        }
        AliasOp::Delete => {
            let b: DeleteAliasRequestBody = parse(req.body)?;
            let key_id = required(b.key_id, "key_id")?;
            let names = b
                .aliases
                .filter(|a| !a.is_empty())
                .ok_or_else(|| HwError::missing("aliases"))?;
            // No key holds more, so a longer list cannot all be one key's.
            if names.len() as u64 > *ALIASES_PER_KEY.end() {
                return Err(HwError::invalid("aliases"));
            }
            let names = names
                .into_iter()
                .map(|n| alias_name(Some(n)))
                .collect::<Result<Vec<_>, _>>()?;
            engine
                .delete_aliases(caller, &key_id, &names)
                .map_err(kms)?;
            Ok(json!({}))
        }
        AliasOp::List => list_aliases(ctx, req),
        AliasOp::Associate => {
            let b: AssociateAliasRequestBody = parse(req.body)?;
            let name = alias_name(b.alias)?;
            let target = required(b.target_key_id, "target_key_id")?;
            let (key_id, alias) = engine
                .associate_alias(caller, &name, &target)
                .map_err(kms)?;
            Ok(alias_entity(ctx, &key_id.to_string(), &alias))
        }
    }
}

/// ListAliases answers the SDK's `list[ListAliasResponseBody]`: one page, in an array, as the
/// SDKs' models (generated from the vendor's definition) read it.
fn list_aliases(ctx: &Context<'_>, req: &Request<'_>) -> Result<Value, HwError> {
    let present = |name| req.query(name).filter(|v| !v.is_empty());
    let limit = page_limit(present("limit"), LIST_LIMIT_MAX)?;
    let offset = match present("marker") {
        None => 0,
        Some(m) => m.parse::<usize>().map_err(|_| {
            HwError::bad(
                INVALID_MARKER,
                "The value of marker must be greater than or equal to 0.",
            )
        })?,
    };
    let (total, page) = ctx
        .engine
        .list_aliases(ctx.caller, present("key_id"), offset, limit)
        .map_err(kms)?;
    let next = offset.saturating_add(page.len());
    let more = (next as u64) < total;
    let aliases: Vec<Value> = page
        .iter()
        .map(|(key_id, alias)| alias_entity(ctx, &key_id.to_string(), alias))
        .collect();
    Ok(json!([{
        "aliases": aliases,
        "page_info": {
            "next_marker": if more { next.to_string() } else { String::new() },
            "current_count": page.len(),
        },
    }]))
}

/// An alias as the request names it: the vendor's `key_alias` pattern
/// (`^[a-zA-Z0-9:/_-]{1,255}$`), without the suffix reserved for default keys.
fn alias_name(name: Option<String>) -> Result<String, HwError> {
    let name = required(name, "alias")?;
    if !follows_alias_pattern(&name) || name.ends_with(RESERVED_SUFFIX) {
        return Err(HwError::bad(INVALID_ALIAS, "Invalid alias."));
    }
    Ok(name)
}

/// The SDK's `AliasEntity` (also CreateAlias's and AssociateAlias's answer).
fn alias_entity(ctx: &Context<'_>, key_id: &str, alias: &Alias) -> Value {
    let domain_id = ctx.caller.account.to_string();
    json!({
        "domain_id": domain_id,
        "key_id": key_id,
        "alias": alias.name,
        "alias_urn": format!("kms:{}:{domain_id}:alias:{}", ctx.caller.region, alias.name),
        "create_time": utc_date_time(alias.created_at),
        "update_time": utc_date_time(alias.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names_follow_the_vendors_pattern() {
        for ok in ["kms-1234", "a", "alias/app:prod_1", &"x".repeat(255)] {
            assert_eq!(alias_name(Some(ok.to_string())).unwrap(), ok);
        }
        for bad in [
            "with space",
            "ünicode",
            "a.b",
            "svc/default",
            &"x".repeat(256),
        ] {
            let e = alias_name(Some(bad.to_string())).unwrap_err();
            assert_eq!((e.status, e.code), (400, INVALID_ALIAS), "{bad}");
        }
        for missing in [None, Some(String::new())] {
            assert_eq!(alias_name(missing).unwrap_err().code, MISSING_PARAMETER);
        }
    }

    #[test]
    fn times_are_the_vendors_utc_form() {
        assert_eq!(utc_date_time(1_711_929_600), "2024-04-01T00:00:00Z");
        assert_eq!(utc_date_time(1_711_929_600 + 3661), "2024-04-01T01:01:01Z");
        assert_eq!(utc_date_time(0), "1970-01-01T00:00:00Z");
    }
}
