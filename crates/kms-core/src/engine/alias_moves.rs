//! Changes to several aliases, or to two keys, that must land whole: deleting a batch of one
//! key's aliases, and moving an alias from its key to another.

use std::cell::RefCell;

use super::aliases::{add_alias, check_name};
use super::{Caller, Engine, parse_key_id, refuse_pending_delete};
use crate::error::{KmsError, Operation};
use crate::model::*;

impl Engine {
    /// Removes every alias of `names` from the key `key_id`: all of them, or none when any is
    /// not one of that key's aliases (a key's own alias is not one).
    pub fn delete_aliases(
        &self,
        caller: &Caller,
        key_id: &str,
        names: &[String],
    ) -> Result<(), KmsError> {
        for name in names {
            check_name(name)?;
        }
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            if !names.iter().all(|n| k.aliases.iter().any(|a| &a.name == n)) {
                return Err(KmsError::AliasNotFound);
            }
            k.aliases.retain(|a| !names.contains(&a.name));
            Ok(())
        })
    }

    /// Moves the alias `name` from the key that holds it to `target_key_id`, in one
    /// transaction over both keys, so the name never names no key and never names two. Returns
    /// the target key's id and the alias as stored (its creation time kept).
    pub fn associate_alias(
        &self,
        caller: &Caller,
        name: &str,
        target_key_id: &str,
    ) -> Result<(uuid::Uuid, Alias), KmsError> {
        check_name(name)?;
        let target = parse_key_id(target_key_id)?;
        let source = self
            .store
            .key_by_name(caller.account, &caller.region, name)?
            .ok_or(KmsError::AliasNotFound)?;
        let now = self.now();
        let moved = |k: &mut KeyRecord| -> Result<Alias, KmsError> {
            let at = k
                .aliases
                .iter()
                .position(|a| a.name == name)
                .ok_or(KmsError::AliasNotFound)?;
            let mut alias = k.aliases.remove(at);
            alias.updated_at = now;
            Ok(alias)
        };
        if source == target {
            let alias = self.mutate(caller, target, |k, _| {
                let alias = moved(k)?;
                k.aliases.push(alias.clone());
                Ok(alias)
            })?;
            return Ok((target, alias));
        }
        let taken = RefCell::new(None);
        // The source goes first, so the store frees the name before the target reserves it.
        self.mutate_resources(caller, &[source, target], |k: &mut KeyRecord| {
            if k.key_id == source {
                *taken.borrow_mut() = Some(moved(k)?);
                return Ok(());
            }
            refuse_pending_delete(k, Operation::UpdateAlias)?;
            let alias = taken.borrow().clone().ok_or(KmsError::AliasNotFound)?;
            add_alias(k, alias).map(drop)
        })?;
        let alias = taken.into_inner().ok_or(KmsError::AliasNotFound)?;
        Ok((target, alias))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::*;
    use crate::engine::ALIASES_PER_KEY;
    use crate::error::Bounded;

    fn aliases_of(f: &Fixture, id: &str) -> Vec<String> {
        let (_, page) = f.engine.list_aliases(&f.caller, Some(id), 0, 100).unwrap();
        page.into_iter().map(|(_, a)| a.name).collect()
    }

    #[test]
    fn a_batch_is_deleted_whole_or_not_at_all() {
        let f = fixture();
        let a = f.key("a");
        let b = f.key("b");
        for n in ["one", "two", "three"] {
            f.engine.create_alias(&f.caller, &a, n).unwrap();
        }
        f.engine.create_alias(&f.caller, &b, "other").unwrap();
        for bad in [vec!["one", "missing"], vec!["one", "other"], vec!["a"]] {
            let names: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                f.engine.delete_aliases(&f.caller, &a, &names).unwrap_err(),
                KmsError::AliasNotFound,
                "{bad:?}"
            );
        }
        assert_eq!(aliases_of(&f, &a), ["one", "three", "two"]);
        let names = vec!["one".to_string(), "two".to_string()];
        f.engine.delete_aliases(&f.caller, &a, &names).unwrap();
        assert_eq!(aliases_of(&f, &a), ["three"]);
        f.engine.create_alias(&f.caller, &b, "one").unwrap();
    }

    #[test]
    fn an_alias_moves_with_its_creation_time() {
        let f = fixture();
        let a = f.key("a");
        let b = f.key("b");
        f.engine.create_alias(&f.caller, &a, "moving").unwrap();
        f.clock.advance(60);
        let (to, alias) = f.engine.associate_alias(&f.caller, "moving", &b).unwrap();
        assert_eq!(to.to_string(), b);
        assert_eq!((alias.created_at, alias.updated_at), (T0, T0 + 60));
        assert!(aliases_of(&f, &a).is_empty());
        assert_eq!(aliases_of(&f, &b), ["moving"]);
        assert_eq!(
            f.engine
                .key_by_alias(&f.caller, "moving")
                .unwrap()
                .key_id
                .to_string(),
            b
        );
        let (to, _) = f.engine.associate_alias(&f.caller, "moving", &b).unwrap();
        assert_eq!(
            to.to_string(),
            b,
            "moving to the key that holds it changes nothing"
        );
        assert_eq!(aliases_of(&f, &b), ["moving"]);
    }

    #[test]
    fn a_move_is_refused_whole() {
        let f = fixture();
        let a = f.key("a");
        let full = f.key("full");
        f.engine.create_alias(&f.caller, &a, "moving").unwrap();
        assert_eq!(
            f.engine.associate_alias(&f.caller, "a", &full).unwrap_err(),
            KmsError::AliasNotFound,
            "a key's own alias does not move"
        );
        assert_eq!(
            f.engine
                .associate_alias(&f.caller, "nothing", &full)
                .unwrap_err(),
            KmsError::AliasNotFound
        );
        for i in 0..*ALIASES_PER_KEY.end() {
            f.engine
                .create_alias(&f.caller, &full, &format!("n{i}"))
                .unwrap();
        }
        assert!(matches!(
            f.engine.associate_alias(&f.caller, "moving", &full),
            Err(KmsError::OutOfRange {
                what: Bounded::AliasCount,
                ..
            })
        ));
        assert_eq!(aliases_of(&f, &a), ["moving"], "the source keeps its alias");
        let doomed = f.key("doomed");
        f.engine
            .schedule_deletion(
                &f.caller,
                &doomed,
                7,
                crate::engine::DeletableFrom::EnabledOrDisabled,
            )
            .unwrap();
        assert!(matches!(
            f.engine.associate_alias(&f.caller, "moving", &doomed),
            Err(KmsError::InvalidKeyState { .. })
        ));
        assert_eq!(
            f.engine
                .associate_alias(&f.caller, "moving", "not-a-key")
                .unwrap_err(),
            KmsError::InvalidKeyId
        );
        assert_eq!(aliases_of(&f, &a), ["moving"]);
    }

    #[test]
    fn a_key_cannot_hold_one_name_twice() {
        let f = fixture();
        let a = f.key("a");
        f.engine.create_alias(&f.caller, &a, "once").unwrap();
        for taken in ["once", "a"] {
            assert_eq!(
                f.engine.create_alias(&f.caller, &a, taken).unwrap_err(),
                KmsError::AliasExists
            );
        }
    }
}
