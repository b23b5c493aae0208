//! The one load / change / store path for every kind of stored resource (keys and hosted data
//! keys): the access check, time-driven transitions applied on read, the write lock held across
//! read-modify-write, the revision check between nodes with its bounded retry, and batches that
//! commit in one transaction.

use uuid::Uuid;

use super::writes::WriteLocks;
use super::{Caller, Engine, access, nonblocking};
use crate::error::KmsError;
use crate::store::{Indexed, Store, StoreError};

/// What applying due transitions did to a record.
pub(super) enum Due {
    /// The record is up to date (possibly after a persisted transition).
    Current,
    /// The record was past its deletion date and is gone.
    Purged,
    /// Another writer changed the record first: read it again.
    Raced,
}

/// A kind of resource the engine stores.
pub(super) trait Resource: Indexed {
    /// The answer for an id that names nothing the caller may use (absent, another account's,
    /// purged): the same, so callers learn nothing about others' resources.
    fn not_found() -> KmsError;
    /// Whether grants can open this kind of resource to principals other than its owner.
    const GRANTABLE: bool;
    /// Refuses a caller whose policies do not allow the call on the resource `id`, before it
    /// is read.
    fn authorize(caller: &Caller, id: &Uuid) -> Result<(), KmsError>;
    fn locks(engine: &Engine) -> &WriteLocks;
    fn get(store: &dyn Store, id: &Uuid) -> Result<Option<Self>, StoreError>;
    /// Commits records whose revisions were bumped, all in one transaction or none.
    fn update(engine: &Engine, records: &[Self]) -> Result<(), StoreError>;
    /// The engine error for a store refusal of this kind (names and limits differ per kind).
    fn store_error(e: StoreError) -> KmsError;
    fn bump_revision(&mut self);
    /// Applies and persists the time-driven transitions due now.
    fn apply_due(engine: &Engine, record: &mut Self) -> Result<Due, KmsError>;
}

impl Engine {
    /// A resource the caller may use (its own, or a key granted to it for the request's
    /// operation) as stored, with no transition applied.
    pub(super) fn fetch<R: Resource>(&self, caller: &Caller, id: Uuid) -> Result<R, KmsError> {
        R::authorize(caller, &id)?;
        let record = R::get(&*self.store, &id)?.ok_or_else(R::not_found)?;
        if access::may_use(caller, &record)
            || (R::GRANTABLE && access::granted(&*self.store, caller, &record)?)
        {
            Ok(record)
        } else {
            Err(R::not_found())
        }
    }

    /// Loads a resource of the caller's, applying whatever is due. Takes the resource's write
    /// lock only when something is due, so reads of a current resource never wait.
    pub(super) fn load_resource<R: Resource>(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<R, KmsError> {
        let record = self.fetch::<R>(caller, id)?;
        if record.due_time().is_none_or(|t| self.now() < t) {
            return Ok(record);
        }
        nonblocking::may_block()?;
        let _lock = R::locks(self).lock(id);
        self.load_resource_locked(caller, id)
    }

    /// [`Engine::load_resource`] for a caller that holds the resource's write lock.
    fn load_resource_locked<R: Resource>(&self, caller: &Caller, id: Uuid) -> Result<R, KmsError> {
        let mut retry = self.retry();
        loop {
            let mut record = self.fetch::<R>(caller, id)?;
            if record.due_time().is_none_or(|t| self.now() < t) {
                return Ok(record);
            }
            match R::apply_due(self, &mut record)? {
                Due::Current => return Ok(record),
                Due::Purged => return Err(R::not_found()),
                Due::Raced => retry.wait()?,
            }
        }
    }

    /// [`Engine::load_resource_locked`] for a write: grants never let a caller change a
    /// resource, only its owner does.
    fn owned_locked<R: Resource>(&self, caller: &Caller, id: Uuid) -> Result<R, KmsError> {
        let record = self.load_resource_locked::<R>(caller, id)?;
        if access::may_use(caller, &record) {
            Ok(record)
        } else {
            Err(R::not_found())
        }
    }

    /// Read-modify-write of one resource under its write lock.
    pub(super) fn mutate_resource<R: Resource, T>(
        &self,
        caller: &Caller,
        id: Uuid,
        f: impl Fn(&mut R, u64) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let _lock = R::locks(self).lock(id);
        let mut retry = self.retry();
        loop {
            let mut record = self.owned_locked::<R>(caller, id)?;
            let out = f(&mut record, self.now())?;
            record.bump_revision();
            match R::update(self, std::slice::from_ref(&record)) {
                Ok(()) => return Ok(out),
                Err(StoreError::Conflict) => retry.wait()?,
                Err(e) => return Err(R::store_error(e)),
            }
        }
    }

    /// Read-modify-write of several resources under their write locks, committed in one store
    /// transaction: every one changes, or none does.
    pub(super) fn mutate_resources<R: Resource>(
        &self,
        caller: &Caller,
        ids: &[Uuid],
        f: impl Fn(&mut R) -> Result<(), KmsError>,
    ) -> Result<(), KmsError> {
        let _locks = R::locks(self).lock_all(ids);
        let mut retry = self.retry();
        loop {
            let mut records = Vec::with_capacity(ids.len());
            for id in ids {
                let mut record = self.owned_locked::<R>(caller, *id)?;
                f(&mut record)?;
                record.bump_revision();
                records.push(record);
            }
            match R::update(self, &records) {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => retry.wait()?,
                Err(e) => return Err(R::store_error(e)),
            }
        }
    }
}
