//! Erasing a scope at once: `kmsd dev`'s reset, which empties the root account's regions
//! before making its fixtures again. No API action reaches it: a customer's keys are deleted
//! only through a pending window.

use super::*;
use crate::store::DataKeyListFilter;

/// Records read per page while erasing.
const PAGE: usize = 1000;

impl Engine {
    /// Deletes every key (with its grants) and every hosted data key of the caller's account in
    /// the caller's region, whatever their state; how many keys and data keys.
    pub fn erase_scope(&self, caller: &Caller) -> Result<(usize, usize), KmsError> {
        let (account, region) = (caller.account, caller.region.as_str());
        let keys = KeyListFilter {
            limit: PAGE,
            ..Default::default()
        };
        let mut erased_keys = 0;
        loop {
            let page = self.store.list_keys(account, region, &keys)?.page;
            if page.is_empty() {
                break;
            }
            for key in page {
                self.erase(
                    key.key_id,
                    |id| self.store.get_key(id),
                    |k| self.store.delete_key(k),
                )?;
                self.forget_material(key.key_id);
                self.destroy_outside_material(&key);
                erased_keys += 1;
            }
        }
        let data_keys = DataKeyListFilter {
            limit: PAGE,
            ..Default::default()
        };
        let mut erased_data_keys = 0;
        loop {
            let page = self.store.list_data_keys(account, region, &data_keys)?.page;
            if page.is_empty() {
                break;
            }
            for dk in page {
                self.erase(
                    dk.data_key_id,
                    |id| self.store.get_data_key(id),
                    |d| self.store.delete_data_key(d),
                )?;
                erased_data_keys += 1;
            }
        }
        if erased_keys + erased_data_keys > 0 {
            self.owe_scrub();
        }
        Ok((erased_keys, erased_data_keys))
    }

    /// Deletes the record `id` as it is now: a write racing the erase changes its revision, so
    /// the record is read again.
    fn erase<R>(
        &self,
        id: Uuid,
        get: impl Fn(&Uuid) -> Result<Option<R>, StoreError>,
        delete: impl Fn(&R) -> Result<(), StoreError>,
    ) -> Result<(), KmsError> {
        let mut retry = self.retry();
        while let Some(current) = get(&id)? {
            match delete(&current) {
                Err(StoreError::Conflict) => retry.wait()?,
                done => return Ok(done?),
            }
        }
        Ok(())
    }
}
