//! Work that must not block the calling thread.
//!
//! The server runs quick actions (reads of one key, cryptography) on its async workers, where a
//! commit (an fsync), a scrub or a wait for a write lock would stall every other request of that
//! worker. Such an action only blocks when it meets a time-driven transition that is due on its
//! key (a purge, an expiry, a scheduled rotation), which reads apply and persist, or when it
//! uses a key of an HSM cluster, whose PKCS#11 library may wait on the device. Under
//! [`without_blocking`] the engine refuses that step instead, and the caller runs the action
//! again where blocking is fine. The mode belongs to the thread, so no engine signature
//! carries it.

use std::cell::Cell;

use crate::error::KmsError;

thread_local! {
    static NO_BLOCKING: Cell<bool> = const { Cell::new(false) };
    static REFUSED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with blocking work refused; `None` when `f` needed some, so its result (an error
/// from the refusal) is not the answer: run it again elsewhere.
pub fn without_blocking<T>(f: impl FnOnce() -> T) -> Option<T> {
    /// Clears the mode even when `f` unwinds, so the thread is not left refusing.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            NO_BLOCKING.set(false);
        }
    }
    NO_BLOCKING.set(true);
    REFUSED.set(false);
    let reset = Reset;
    let out = f();
    drop(reset);
    (!REFUSED.replace(false)).then_some(out)
}

/// Called where the engine is about to block: in the non-blocking mode it records the refusal
/// and answers the error the caller returns (never seen by a client, who is served again on a
/// thread that may block).
pub(crate) fn may_block() -> Result<(), KmsError> {
    if NO_BLOCKING.get() {
        REFUSED.set(true);
        return Err(KmsError::Contended);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_work_is_refused_only_inside() {
        assert!(may_block().is_ok());
        assert_eq!(without_blocking(|| may_block().is_err()), None);
        assert_eq!(without_blocking(|| 7), Some(7));
        assert!(may_block().is_ok(), "the mode ends with the call");
    }

    #[test]
    fn a_panic_does_not_leave_the_mode_on() {
        let caught = std::panic::catch_unwind(|| without_blocking(|| panic!("boom")));
        assert!(caught.is_err());
        assert!(may_block().is_ok());
    }
}
