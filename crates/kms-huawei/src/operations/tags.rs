//! The tag operations: add one tag to a key, add or delete several at once, delete one, show a
//! key's tags, list the project's tags, and list or count keys by tags.
//!
//! Limits and rules are the SDK models' and the vendor's API reference's (TagItem, Tag,
//! ListKmsByTagsRequestBody): at most 10 tags per key, tag keys of 1 to 36 characters and
//! values of at most 43, neither holding ASCII 0-31 nor `*<>\=`; filters of at most 10 tag
//! keys; matches on `resource_name` of 1 to 255 characters; pages of 1 to 1000 (10 by default).

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Value, json};

use kms_core::engine::{KeyStore, TagChange};
use kms_core::{KeyListFilter, KeyRecord, SortOrder, Tag};

use super::keys::{key_details_in, key_stores_of};
use super::{Context, Request, kms, parse, required};
use crate::errors::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOp {
    Create,
    Batch,
    Delete,
    Show,
    ListProjectTags,
    ListByTags,
}

/// Tags one key may carry (the vendor's "a key can have a maximum of 10 tag keys").
const TAGS_PER_KEY: u64 = 10;
/// Characters of a tag key.
const TAG_KEY_CHARS: usize = 36;
/// Characters of a tag value.
const TAG_VALUE_CHARS: usize = 43;
/// Tag keys one filter names, and values one filtered tag key lists.
const FILTER_TAGS: usize = 10;
const FILTER_VALUES: usize = 10;
/// Characters of a `matches` value.
const MATCH_VALUE_CHARS: usize = 255;
/// The one field `matches` may search.
const MATCH_RESOURCE_NAME: &str = "resource_name";
/// Keys one ListKmsByTags page holds, and by default.
const PAGE_MAX: usize = 1000;
const PAGE_DEFAULT: usize = 10;

/// The SDK's `TagItem`.
#[derive(Debug, Default, Deserialize)]
struct TagItem {
    key: Option<String>,
    value: Option<String>,
}

/// The SDK's `Tag` (a filter: one tag key, any of its values).
#[derive(Debug, Default, Deserialize)]
struct TagFilter {
    key: Option<String>,
    values: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct CreateKmsTagRequestBody {
    tag: Option<TagItem>,
}

#[derive(Debug, Default, Deserialize)]
struct BatchCreateKmsTagsRequestBody {
    tags: Option<Vec<TagItem>>,
    action: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ListKmsByTagsRequestBody {
    limit: Option<String>,
    offset: Option<String>,
    action: Option<String>,
    tags: Option<Vec<TagFilter>>,
    matches: Option<Vec<TagItem>>,
}

pub fn run(ctx: &Context<'_>, op: TagOp, req: &Request<'_>) -> Result<Value, HwError> {
    let (engine, caller, body) = (ctx.engine, ctx.caller, req.body);
    match op {
        TagOp::Create => {
            let b: CreateKmsTagRequestBody = parse(body)?;
            let item = b.tag.ok_or_else(|| HwError::missing("tag"))?;
            let change = TagChange::Set(vec![new_tag(item)?]);
            apply(ctx, req, &change)
        }
        TagOp::Batch => {
            let b: BatchCreateKmsTagsRequestBody = parse(body)?;
            let action = required(b.action, "action")?;
            let items = b
                .tags
                .filter(|t| !t.is_empty())
                .ok_or_else(|| HwError::bad(TAG_LIST_EMPTY, "The tag list cannot be empty."))?;
            let change = match action.as_str() {
                "create" => {
                    if items.len() as u64 > TAGS_PER_KEY {
                        return Err(list_size());
                    }
                    let tags = items.into_iter().map(new_tag).collect::<Result<_, _>>()?;
                    TagChange::Set(unique(tags)?)
                }
                // A deletion checks no length or character rule (a tag set through the Tencent
                // dialect may break them and must still be removable); a value, when given,
                // must match; a tag the key does not carry is passed over.
                "delete" => {
                    if items.len() as u64 > *kms_core::engine::TAGS.end() {
                        return Err(list_size());
                    }
                    let names = items
                        .into_iter()
                        .map(|t| {
                            let key = t.key.filter(|k| !k.is_empty()).ok_or_else(|| {
                                HwError::bad(INVALID_TAG_KEY, "A tag key cannot be empty.")
                            })?;
                            Ok((key, t.value.filter(|v| !v.is_empty())))
                        })
                        .collect::<Result<_, HwError>>()?;
                    TagChange::Remove(names)
                }
                _ => {
                    return Err(HwError::bad(
                        INVALID_ACTION,
                        "action must be create or delete.",
                    ));
                }
            };
            apply(ctx, req, &change)
        }
        TagOp::Delete => {
            let key = req
                .path_tag_key
                .filter(|k| !k.is_empty())
                .ok_or_else(|| HwError::missing("key"))?;
            apply(ctx, req, &TagChange::RemoveOne(key.to_owned()))
        }
        TagOp::Show => {
            let key = engine
                .describe_key(caller, path_key_id(req)?)
                .map_err(kms)?;
            Ok(json!({
                "tags": tag_items(&key.tags),
                "existTagsNum": key.tags.len(),
                "sys_tags": [],
            }))
        }
        TagOp::ListProjectTags => {
            let tags = engine.tag_keys(caller).map_err(kms)?;
            let tags: Vec<Value> = tags
                .into_iter()
                .map(|(key, values)| json!({ "key": key, "values": values }))
                .collect();
            Ok(json!({ "tags": tags }))
        }
        TagOp::ListByTags => list_by_tags(ctx, parse(body)?),
    }
}

/// Applies a change to the path's key; the vendor answers 204 with no body.
fn apply(ctx: &Context<'_>, req: &Request<'_>, change: &TagChange) -> Result<Value, HwError> {
    ctx.engine
        .change_tags(ctx.caller, path_key_id(req)?, change, TAGS_PER_KEY)
        .map_err(kms)?;
    Ok(json!({}))
}

fn path_key_id<'a>(req: &Request<'a>) -> Result<&'a str, HwError> {
    req.path_key_id.ok_or_else(|| HwError::missing("key_id"))
}

fn list_size() -> HwError {
    HwError::bad(INVALID_TAG_LIST_SIZE, "Invalid tag list size.")
}

/// A character the vendor allows in no tag key or value: ASCII 0-31 and `*<>\=`.
fn forbidden(c: char) -> bool {
    c < ' ' || matches!(c, '*' | '<' | '>' | '\\' | '=')
}

fn check_tag_key(key: &str) -> Result<(), HwError> {
    if key.is_empty() || key.chars().any(forbidden) {
        return Err(HwError::bad(INVALID_TAG_KEY, "Invalid tag key."));
    }
    if key.chars().count() > TAG_KEY_CHARS {
        return Err(HwError::bad(
            INVALID_TAG_KEY_LENGTH,
            format!("A tag key is at most {TAG_KEY_CHARS} characters."),
        ));
    }
    Ok(())
}

fn check_tag_value(value: &str) -> Result<(), HwError> {
    if value.chars().any(forbidden) {
        return Err(HwError::bad(INVALID_TAG_VALUE, "Invalid tag value."));
    }
    if value.chars().count() > TAG_VALUE_CHARS {
        return Err(HwError::bad(
            INVALID_TAG_VALUE_LENGTH,
            format!("A tag value is at most {TAG_VALUE_CHARS} characters."),
        ));
    }
    Ok(())
}

/// A tag to set: a key by the vendor's rules, and a value (empty when absent) by them too.
fn new_tag(item: TagItem) -> Result<Tag, HwError> {
    let key = item.key.unwrap_or_default();
    let value = item.value.unwrap_or_default();
    check_tag_key(&key)?;
    check_tag_value(&value)?;
    Ok(Tag { key, value })
}

/// Refuses a tag key named twice in one request.
fn unique(tags: Vec<Tag>) -> Result<Vec<Tag>, HwError> {
    let mut seen = HashSet::with_capacity(tags.len());
    if tags.iter().all(|t| seen.insert(t.key.as_str())) {
        Ok(tags)
    } else {
        Err(HwError::bad(INVALID_TAG_LIST, "A tag key is listed twice."))
    }
}

fn tag_items(tags: &[Tag]) -> Vec<Value> {
    tags.iter()
        .map(|t| json!({ "key": t.key, "value": t.value }))
        .collect()
}

/// The tag filters of ListKmsByTags: each key present, with one of its values when any are
/// listed (an empty list takes any value).
fn tag_filters(filters: Vec<TagFilter>) -> Result<Vec<(String, Vec<String>)>, HwError> {
    if filters.len() > FILTER_TAGS {
        return Err(list_size());
    }
    let mut keys = HashSet::with_capacity(filters.len());
    let mut out = Vec::with_capacity(filters.len());
    for f in filters {
        let key = f.key.unwrap_or_default();
        check_tag_key(&key)?;
        let values = f.values.unwrap_or_default();
        if values.len() > FILTER_VALUES {
            return Err(HwError::bad(TOO_MANY_TAG_VALUES, "Too many tag values."));
        }
        let mut seen = HashSet::with_capacity(values.len());
        for v in &values {
            check_tag_value(v)?;
            if !seen.insert(v.as_str()) {
                return Err(HwError::bad(
                    INVALID_TAG_LIST,
                    "A tag value is listed twice.",
                ));
            }
        }
        if !keys.insert(key.clone()) {
            return Err(HwError::bad(INVALID_TAG_LIST, "A tag key is listed twice."));
        }
        out.push((key, values));
    }
    Ok(out)
}

/// The text `matches` searches key names for, if any.
fn name_match(matches: Vec<TagItem>) -> Result<Option<String>, HwError> {
    let mut found = None;
    for m in matches {
        if m.key.as_deref() != Some(MATCH_RESOURCE_NAME) {
            return Err(HwError::bad(INVALID_MATCH_KEY, "Invalid match key."));
        }
        let value = m
            .value
            .filter(|v| !v.is_empty() && v.chars().count() <= MATCH_VALUE_CHARS)
            .ok_or_else(|| HwError::bad(INVALID_MATCH_VALUE, "Invalid match value."))?;
        if found.replace(value).is_some() {
            return Err(HwError::bad(
                INVALID_MATCHES,
                "resource_name is matched twice.",
            ));
        }
    }
    Ok(found)
}

fn list_by_tags(ctx: &Context<'_>, b: ListKmsByTagsRequestBody) -> Result<Value, HwError> {
    let action = required(b.action, "action")?;
    let count = match action.as_str() {
        "filter" => false,
        "count" => true,
        _ => {
            return Err(HwError::bad(
                INVALID_ACTION,
                "action must be filter or count.",
            ));
        }
    };
    let tags = tag_filters(b.tags.unwrap_or_default())?;
    let search = name_match(b.matches.unwrap_or_default())?;
    let (offset, limit) = if count {
        // A count has no page; the vendor has a code for an offset given to one.
        if b.offset.as_deref().is_some_and(|o| !o.is_empty()) {
            return Err(HwError::bad(
                OFFSET_NOT_REQUIRED,
                "offset is not required when action is count.",
            ));
        }
        (0, 0)
    } else {
        (
            page_offset(b.offset.as_deref())?,
            page_limit(b.limit.as_deref())?,
        )
    };
    let filter = KeyListFilter {
        search,
        tags,
        order: SortOrder::OldestFirst,
        offset,
        limit,
        ..KeyListFilter::default()
    };
    let (total, page) = ctx.engine.list_keys(ctx.caller, &filter).map_err(kms)?;
    let stores = key_stores_of(ctx, &page)?;
    Ok(json!({
        "resources": page.iter().map(|k| resource(k, &stores)).collect::<Vec<_>>(),
        "total_count": total,
    }))
}

fn page_limit(limit: Option<&str>) -> Result<usize, HwError> {
    match limit {
        None | Some("") => Ok(PAGE_DEFAULT),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=PAGE_MAX).contains(l))
            .ok_or_else(|| {
                HwError::bad(INVALID_LIMIT, "The value of limit falls beyond the range.")
            }),
    }
}

fn page_offset(offset: Option<&str>) -> Result<usize, HwError> {
    match offset {
        None | Some("") => Ok(0),
        Some(o) => o.parse::<usize>().map_err(|_| {
            HwError::bad(
                INVALID_OFFSET,
                "The value of offset must be greater than or equal to 0.",
            )
        }),
    }
}

/// The SDK's `ActionResources`, naming the key store among `stores` that holds the key.
fn resource(k: &KeyRecord, stores: &[KeyStore]) -> Value {
    json!({
        "resource_id": k.key_id.to_string(),
        "resource_detail": key_details_in(k, stores),
        "resource_name": k.alias,
        "tags": tag_items(&k.tags),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, value: &str) -> TagItem {
        TagItem {
            key: Some(key.into()),
            value: Some(value.into()),
        }
    }

    fn code<T: std::fmt::Debug>(r: Result<T, HwError>) -> &'static str {
        r.unwrap_err().code
    }

    #[test]
    fn tags_follow_the_vendors_rules() {
        assert!(new_tag(item("env", "")).is_ok());
        assert!(new_tag(item(&"键".repeat(36), &"值".repeat(43))).is_ok());
        assert!(
            new_tag(TagItem {
                key: Some("k".into()),
                value: None
            })
            .is_ok()
        );
        assert_eq!(code(new_tag(item("", "v"))), INVALID_TAG_KEY);
        assert_eq!(code(new_tag(TagItem::default())), INVALID_TAG_KEY);
        assert_eq!(
            code(new_tag(item(&"k".repeat(37), "v"))),
            INVALID_TAG_KEY_LENGTH
        );
        assert_eq!(
            code(new_tag(item("k", &"v".repeat(44)))),
            INVALID_TAG_VALUE_LENGTH
        );
        for bad in ["a*b", "a<b", "a>b", "a\\b", "a=b", "a\tb", "a\u{1f}"] {
            assert_eq!(code(new_tag(item(bad, "v"))), INVALID_TAG_KEY, "{bad:?}");
            assert_eq!(code(new_tag(item("k", bad))), INVALID_TAG_VALUE, "{bad:?}");
        }
        assert!(new_tag(item("a-b_c.d:e/f@g h", "~!#$%^&()+")).is_ok());
    }

    #[test]
    fn filters_and_matches_are_checked() {
        let f = |key: &str, values: &[&str]| TagFilter {
            key: Some(key.into()),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        assert_eq!(
            tag_filters(vec![f("a", &["1", "2"]), f("b", &[])]).unwrap(),
            [
                ("a".to_string(), vec!["1".to_string(), "2".to_string()]),
                ("b".to_string(), vec![])
            ]
        );
        assert_eq!(
            code(tag_filters(vec![f("a", &[]), f("a", &[])])),
            INVALID_TAG_LIST
        );
        assert_eq!(
            code(tag_filters(vec![f("a", &["1", "1"])])),
            INVALID_TAG_LIST
        );
        let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        assert_eq!(
            code(tag_filters(vec![f("a", &eleven)])),
            TOO_MANY_TAG_VALUES
        );
        let many = eleven.iter().map(|k| f(k, &[])).collect();
        assert_eq!(code(tag_filters(many)), INVALID_TAG_LIST_SIZE);
        assert_eq!(code(tag_filters(vec![f("", &[])])), INVALID_TAG_KEY);

        assert_eq!(name_match(vec![]).unwrap(), None);
        assert_eq!(
            name_match(vec![item("resource_name", "abc")]).unwrap(),
            Some("abc".into())
        );
        assert_eq!(
            code(name_match(vec![item("alias", "abc")])),
            INVALID_MATCH_KEY
        );
        assert_eq!(
            code(name_match(vec![item("resource_name", "")])),
            INVALID_MATCH_VALUE
        );
        assert_eq!(
            code(name_match(vec![item("resource_name", &"n".repeat(256))])),
            INVALID_MATCH_VALUE
        );
        assert_eq!(
            code(name_match(vec![
                item("resource_name", "a"),
                item("resource_name", "b")
            ])),
            INVALID_MATCHES
        );
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page_limit(None).unwrap(), 10);
        assert_eq!(page_limit(Some("1000")).unwrap(), 1000);
        for bad in ["0", "1001", "-1", "x"] {
            assert_eq!(code(page_limit(Some(bad))), INVALID_LIMIT);
        }
        assert_eq!(page_offset(Some("")).unwrap(), 0);
        assert_eq!(page_offset(Some("25")).unwrap(), 25);
        for bad in ["-1", "x", "1.5"] {
            assert_eq!(code(page_offset(Some(bad))), INVALID_OFFSET);
        }
    }
}
