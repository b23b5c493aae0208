//! Who may use what: the one place the engine decides whether a caller reaches a resource.
//!
//! A resource is reachable by its owning account, in the region it lives in. A key is also
//! reachable by a principal that one of its grants names, in the key's region, for the
//! operation the request performs when the grant allows it (see [`with_grant_operation`]).
//! Anything else is answered as not found, so a caller learns nothing about other accounts'
//! resources.
//!
//! A user's policies are asked here too, about the key id as the engine parsed or resolved it
//! (from a parameter in any spelling, an alias, a ciphertext's header, a grant), before the key
//! is read: what is authorized is what executes, and the refusal does not tell whether the
//! key exists.

use std::cell::Cell;

use uuid::Uuid;

use super::Caller;
use crate::KmsError;
use crate::grants::GrantOperation;
use crate::store::{Indexed, Store, StoreError};

thread_local! {
    static GRANT_OPERATION: Cell<Option<GrantOperation>> = const { Cell::new(None) };
}

/// Runs `f` as the request's operation `op`, as grants name operations: inside, a key reaches
/// a grantee whose grant allows `op`. Outside (and for every request of a dialect without
/// grants), only the owner reaches it. The operation belongs to the thread, as the engine's
/// non-blocking mode does, so no engine signature carries it.
pub fn with_grant_operation<T>(op: GrantOperation, f: impl FnOnce() -> T) -> T {
    /// Restores the outer value even when `f` unwinds.
    struct Restore(Option<GrantOperation>);
    impl Drop for Restore {
        fn drop(&mut self) {
            GRANT_OPERATION.set(self.0);
        }
    }
    let _restore = Restore(GRANT_OPERATION.replace(Some(op)));
    f()
}

/// Refuses a caller whose policies do not allow the call on the key `id`.
pub(super) fn authorize_key(caller: &Caller, id: &Uuid) -> Result<(), KmsError> {
    match &caller.authority {
        Some(authority) if !authority.allows_key(id) => Err(KmsError::Unauthorized),
        _ => Ok(()),
    }
}

/// Whether `caller` owns `resource`: its account, in its region.
pub(super) fn may_use(caller: &Caller, resource: &impl Indexed) -> bool {
    resource.account() == caller.account && resource.region() == caller.region
}

/// Whether a grant of the key lets `caller` perform the request's operation on it.
pub(super) fn granted(
    store: &dyn Store,
    caller: &Caller,
    key: &impl Indexed,
) -> Result<bool, StoreError> {
    let Some(op) = GRANT_OPERATION.get() else {
        return Ok(false);
    };
    if key.region() != caller.region {
        return Ok(false);
    }
    Ok(store
        .key_grants(&key.id())?
        .iter()
        .any(|g| g.allows(caller, op)))
}

/// The engine itself acting for a resource's owner, as background work (purges, rotation) does.
pub(super) fn owner_of(resource: &impl Indexed) -> Caller {
    Caller {
        account: resource.account(),
        user: None,
        credential: String::new(),
        region: resource.region().to_owned(),
        authority: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_is_scoped_to_the_call() {
        assert_eq!(GRANT_OPERATION.get(), None);
        with_grant_operation(GrantOperation::DecryptData, || {
            assert_eq!(GRANT_OPERATION.get(), Some(GrantOperation::DecryptData));
            with_grant_operation(GrantOperation::DescribeKey, || {
                assert_eq!(GRANT_OPERATION.get(), Some(GrantOperation::DescribeKey));
            });
            assert_eq!(GRANT_OPERATION.get(), Some(GrantOperation::DecryptData));
        });
        assert_eq!(GRANT_OPERATION.get(), None);
        let caught = std::panic::catch_unwind(|| {
            with_grant_operation(GrantOperation::EncryptData, || panic!("boom"))
        });
        assert!(caught.is_err());
        assert_eq!(GRANT_OPERATION.get(), None, "a panic does not leave it set");
    }
}
