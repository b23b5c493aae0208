//! Tags of an existing key: set, removed, listed. A change is one read-modify-write of the key
//! (so it is whole or not at all, and concurrent changes of one key never lose each other);
//! the store moves the key's tag index entries in the same transaction, so a listing by tag
//! sees the key as it now stands.

use std::collections::BTreeMap;

use super::{Caller, Engine, TAGS, check_range, check_unique_tags, parse_key_id};
use crate::error::{Bounded, KmsError};
use crate::model::Tag;

/// One change of a key's tags, applied whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagChange {
    /// Adds each tag; a tag key the key already carries takes the new value.
    Set(Vec<Tag>),
    /// Removes each named tag key; with a value, only while the tag has that value. Names the
    /// key does not carry are passed over.
    Remove(Vec<(String, Option<String>)>),
    /// Removes one tag key, which the key must carry ([`KmsError::TagNotFound`] otherwise).
    RemoveOne(String),
}

impl Engine {
    /// Changes a key's tags and returns them as they now stand. `max_tags` is the dialect's
    /// limit of tags per key (within [`TAGS`]): a change that adds tag keys may not leave more;
    /// one that only replaces values or removes tags is allowed on a key already above it (a
    /// key tagged through a dialect with a higher limit).
    pub fn change_tags(
        &self,
        caller: &Caller,
        key_id: &str,
        change: &TagChange,
        max_tags: u64,
    ) -> Result<Vec<Tag>, KmsError> {
        let max_tags = max_tags.min(*TAGS.end());
        if let TagChange::Set(tags) = change {
            check_range(Bounded::TagCount, tags.len() as u64, 0..=max_tags)?;
            check_unique_tags(tags)?;
        }
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            let before = k.tags.len();
            let tags = changed(&k.tags, change)?;
            if tags.len() > before {
                check_range(Bounded::TagCount, tags.len() as u64, 0..=max_tags)?;
            }
            k.tags = tags.clone();
            Ok(tags)
        })
    }

    /// Every tag key the caller's keys carry in the caller's region, each with its distinct
    /// values, in key and value order.
    pub fn tag_keys(&self, caller: &Caller) -> Result<Vec<(String, Vec<String>)>, KmsError> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for tag in self.store.key_tags(caller.account, &caller.region)? {
            out.entry(tag.key).or_default().push(tag.value);
        }
        Ok(out
            .into_iter()
            .map(|(key, mut values)| {
                values.sort_unstable();
                values.dedup();
                (key, values)
            })
            .collect())
    }
}

/// `tags` after `change`: existing tags keep their order, new ones follow in the given order.
fn changed(tags: &[Tag], change: &TagChange) -> Result<Vec<Tag>, KmsError> {
    let mut out = tags.to_vec();
    match change {
        TagChange::Set(set) => {
            for tag in set {
                match out.iter_mut().find(|t| t.key == tag.key) {
                    Some(t) => t.value.clone_from(&tag.value),
                    None => out.push(tag.clone()),
                }
            }
        }
        TagChange::Remove(names) => out.retain(|t| {
            !names
                .iter()
                .any(|(key, value)| *key == t.key && value.as_ref().is_none_or(|v| *v == t.value))
        }),
        TagChange::RemoveOne(key) => {
            let at = out
                .iter()
                .position(|t| t.key == *key)
                .ok_or(KmsError::TagNotFound)?;
            out.remove(at);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;
    use crate::engine::test_fixture::{fixture, new_key};
    use crate::engine::{KeyListFilter, SortOrder};

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    fn set(tags: &[(&str, &str)]) -> TagChange {
        TagChange::Set(tags.iter().map(|(k, v)| tag(k, v)).collect())
    }

    fn pairs(tags: &[Tag]) -> Vec<(&str, &str)> {
        tags.iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect()
    }

    #[test]
    fn set_adds_and_replaces_and_removal_takes_away() {
        let f = fixture();
        let id = f.key("tagged");
        let tags = f
            .engine
            .change_tags(&f.caller, &id, &set(&[("env", "dev"), ("team", "a")]), 10)
            .unwrap();
        assert_eq!(pairs(&tags), [("env", "dev"), ("team", "a")]);
        let tags = f
            .engine
            .change_tags(&f.caller, &id, &set(&[("owner", "x"), ("env", "prod")]), 10)
            .unwrap();
        assert_eq!(
            pairs(&tags),
            [("env", "prod"), ("team", "a"), ("owner", "x")]
        );
        let stored = f.engine.describe_key(&f.caller, &id).unwrap().tags;
        assert_eq!(stored, tags);

        // A removal with a value takes the tag only while it has that value; absent names pass.
        let remove = TagChange::Remove(vec![
            ("env".into(), Some("dev".into())),
            ("team".into(), Some("a".into())),
            ("nope".into(), None),
        ]);
        let tags = f.engine.change_tags(&f.caller, &id, &remove, 10).unwrap();
        assert_eq!(pairs(&tags), [("env", "prod"), ("owner", "x")]);
        let tags = f
            .engine
            .change_tags(&f.caller, &id, &TagChange::RemoveOne("env".into()), 10)
            .unwrap();
        assert_eq!(pairs(&tags), [("owner", "x")]);
        assert_eq!(
            f.engine
                .change_tags(&f.caller, &id, &TagChange::RemoveOne("env".into()), 10),
            Err(KmsError::TagNotFound)
        );
    }

    #[test]
    fn a_refused_change_changes_nothing() {
        let f = fixture();
        let id = f.key("tagged");
        f.engine
            .change_tags(&f.caller, &id, &set(&[("a", "1"), ("b", "2")]), 3)
            .unwrap();
        let revision = f.engine.describe_key(&f.caller, &id).unwrap().revision;
        assert_eq!(
            f.engine
                .change_tags(&f.caller, &id, &set(&[("c", "3"), ("d", "4")]), 3),
            Err(KmsError::OutOfRange {
                what: Bounded::TagCount,
                min: 0,
                max: 3
            })
        );
        assert_eq!(
            f.engine
                .change_tags(&f.caller, &id, &set(&[("c", "3"), ("c", "4")]), 3),
            Err(KmsError::DuplicatedTagKey)
        );
        let key = f.engine.describe_key(&f.caller, &id).unwrap();
        assert_eq!(pairs(&key.tags), [("a", "1"), ("b", "2")]);
        assert_eq!(key.revision, revision);
    }

    #[test]
    fn a_key_above_the_dialects_limit_may_change_values_and_shed_tags() {
        let f = fixture();
        let mut new = new_key("many");
        new.tags = (0..12).map(|i| tag(&format!("k{i}"), "v")).collect();
        let id = f
            .engine
            .create_key(&f.caller, new)
            .unwrap()
            .key_id
            .to_string();
        let tags = f
            .engine
            .change_tags(&f.caller, &id, &set(&[("k0", "w")]), 10)
            .unwrap();
        assert_eq!(tags.len(), 12);
        assert!(matches!(
            f.engine
                .change_tags(&f.caller, &id, &set(&[("k99", "w")]), 10),
            Err(KmsError::OutOfRange { max: 10, .. })
        ));
        let tags = f
            .engine
            .change_tags(&f.caller, &id, &TagChange::RemoveOne("k1".into()), 10)
            .unwrap();
        assert_eq!(tags.len(), 11);
        // No dialect limit lifts the engine's own.
        assert!(matches!(
            f.engine.change_tags(
                &f.caller,
                &id,
                &TagChange::Set((0..40).map(|i| tag(&format!("n{i}"), "v")).collect()),
                1000
            ),
            Err(KmsError::OutOfRange { max: 50, .. })
        ));
    }

    #[test]
    fn only_the_owner_may_tag_and_ids_are_checked() {
        let f = fixture();
        let id = f.key("mine");
        let stranger = Caller {
            account: 999,
            ..f.caller.clone()
        };
        assert_eq!(
            f.engine
                .change_tags(&stranger, &id, &set(&[("a", "b")]), 10),
            Err(KmsError::KeyNotFound)
        );
        assert_eq!(
            f.engine
                .change_tags(&f.caller, "not-a-key", &set(&[("a", "b")]), 10),
            Err(KmsError::InvalidKeyId)
        );
        assert!(
            f.engine
                .describe_key(&f.caller, &id)
                .unwrap()
                .tags
                .is_empty()
        );
    }

    #[test]
    fn listings_by_tag_follow_changes() {
        let f = fixture();
        let a = f.key("a");
        let b = f.key("b");
        f.engine
            .change_tags(&f.caller, &a, &set(&[("team", "x")]), 10)
            .unwrap();
        f.engine
            .change_tags(&f.caller, &b, &set(&[("team", "y"), ("env", "")]), 10)
            .unwrap();
        let listed = |key: &str, values: &[&str]| {
            let filter = KeyListFilter {
                tags: vec![(key.into(), values.iter().map(|v| v.to_string()).collect())],
                order: SortOrder::OldestFirst,
                limit: 10,
                ..KeyListFilter::default()
            };
            let (_, page) = f.engine.list_keys(&f.caller, &filter).unwrap();
            page.iter()
                .map(|k| k.key_id.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(listed("team", &["x", "y"]), [a.clone(), b.clone()]);
        f.engine
            .change_tags(&f.caller, &a, &TagChange::RemoveOne("team".into()), 10)
            .unwrap();
        assert_eq!(listed("team", &[]), [b]);
        assert_eq!(
            f.engine.tag_keys(&f.caller).unwrap(),
            [
                ("env".to_string(), vec![String::new()]),
                ("team".to_string(), vec!["y".to_string()]),
            ]
        );
        let stranger = Caller {
            account: 999,
            ..f.caller.clone()
        };
        assert!(f.engine.tag_keys(&stranger).unwrap().is_empty());
    }

    #[test]
    fn concurrent_taggers_of_one_key_lose_nothing() {
        let f = fixture();
        let id = f.key("busy");
        thread::scope(|s| {
            for i in 0..8 {
                let (f, id) = (&f, &id);
                s.spawn(move || {
                    f.engine
                        .change_tags(&f.caller, id, &set(&[(&format!("t{i}"), "v")]), 10)
                        .unwrap();
                });
            }
        });
        let mut keys: Vec<String> = f
            .engine
            .describe_key(&f.caller, &id)
            .unwrap()
            .tags
            .into_iter()
            .map(|t| t.key)
            .collect();
        keys.sort();
        assert_eq!(keys, (0..8).map(|i| format!("t{i}")).collect::<Vec<_>>());
    }
}
