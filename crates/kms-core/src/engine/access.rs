//! Who may use what: the one place the engine decides whether a caller reaches a resource.
//!
//! Today a resource is reachable by its owning account, in the region it lives in; anything else
//! is answered as not found, so a caller learns nothing about other accounts' resources. Grants
//! and permission policies plug in here.

use super::Caller;
use crate::store::Indexed;

/// Whether `caller` may use `resource`.
pub(super) fn may_use(caller: &Caller, resource: &impl Indexed) -> bool {
    resource.account() == caller.account && resource.region() == caller.region
}

/// The engine itself acting for a resource's owner, as background work (purges, rotation) does.
pub(super) fn owner_of(resource: &impl Indexed) -> Caller {
    Caller {
        account: resource.account(),
        user: None,
        credential: String::new(),
        region: resource.region().to_owned(),
    }
}
