//! Aliases as resources of their own: several per key, each unique among every name of the
//! account's region (keys' own aliases included), which the store enforces in the key's
//! transaction. Huawei's alias operations use them; Tencent shows a key's own alias only.

use uuid::Uuid;

use super::{Caller, Engine, check_labels, check_range, parse_key_id, refuse_pending_delete};
use crate::error::{Bounded, KmsError, Operation};
use crate::model::*;

/// Aliases one key may carry besides its own (Huawei's user guide: at most 50 per key).
pub const ALIASES_PER_KEY: std::ops::RangeInclusive<u64> = 0..=50;

impl Engine {
    /// Gives a key one more name; returns the alias as stored.
    pub fn create_alias(
        &self,
        caller: &Caller,
        key_id: &str,
        name: &str,
    ) -> Result<Alias, KmsError> {
        check_name(name)?;
        self.mutate(caller, parse_key_id(key_id)?, |k, now| {
            refuse_pending_delete(k, Operation::UpdateAlias)?;
            add_alias(
                k,
                Alias {
                    name: name.to_owned(),
                    created_at: now,
                    updated_at: now,
                },
            )
        })
    }

    /// Removes an alias from the key it names.
    pub fn delete_alias(&self, caller: &Caller, name: &str) -> Result<(), KmsError> {
        let key_id = self.alias_target(caller, name)?;
        self.mutate(caller, key_id, |k, _| {
            let before = k.aliases.len();
            k.aliases.retain(|a| a.name != name);
            if k.aliases.len() == before {
                return Err(KmsError::AliasNotFound);
            }
            Ok(())
        })
    }

    /// The key an alias names (an alias resource or a key's own alias).
    pub fn key_by_alias(&self, caller: &Caller, name: &str) -> Result<KeyRecord, KmsError> {
        let key_id = self.alias_target(caller, name)?;
        self.load(caller, key_id).map_err(|e| match e {
            KmsError::KeyNotFound => KmsError::AliasNotFound,
            other => other,
        })
    }

    /// The aliases of the caller's region, or of one key, in name order: the total and a page.
    pub fn list_aliases(
        &self,
        caller: &Caller,
        key_id: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<(u64, Vec<(Uuid, Alias)>), KmsError> {
        let key_id = match key_id {
            Some(id) => Some(self.load(caller, parse_key_id(id)?)?.key_id),
            None => None,
        };
        let listed =
            self.store
                .list_aliases(caller.account, &caller.region, key_id, offset, limit)?;
        Ok((listed.total, listed.page))
    }

    fn alias_target(&self, caller: &Caller, name: &str) -> Result<Uuid, KmsError> {
        check_name(name)?;
        self.store
            .key_by_name(caller.account, &caller.region, name)?
            .ok_or(KmsError::AliasNotFound)
    }
}

/// Adds `alias` to `key` within the per-key bound; a name the key already holds is refused
/// here, whatever the store would say of a record that names itself twice.
pub(super) fn add_alias(key: &mut KeyRecord, alias: Alias) -> Result<Alias, KmsError> {
    if key.names().any(|n| n == alias.name) {
        return Err(KmsError::AliasExists);
    }
    check_range(
        Bounded::AliasCount,
        key.aliases.len() as u64 + 1,
        ALIASES_PER_KEY,
    )?;
    key.aliases.push(alias.clone());
    Ok(alias)
}

pub(super) fn check_name(name: &str) -> Result<(), KmsError> {
    if name.is_empty() {
        return Err(KmsError::invalid("alias", "must not be empty"));
    }
    check_labels(name, "", &[])
}
