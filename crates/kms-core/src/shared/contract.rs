//! The behavioural test suite every [`SharedState`] implementation must pass, so that a node
//! over a shared store refuses exactly what a single node refuses from memory. Each
//! implementation's tests call [`check`] with a constructor of empty states; other crates reach
//! it through the `testing` feature.

use crate::shared::SharedState;

/// Runs every case of the contract, each on a fresh state from `new_state`.
pub fn check<S: SharedState>(mut new_state: impl FnMut() -> S) {
    an_id_is_refused_until_it_expires(&new_state());
    rooms_and_ids_are_apart(&new_state());
    failures_count_within_their_window(&new_state());
    a_success_forgets_the_failures(&new_state());
    forgetting_keeps_what_is_live(&new_state());
}

const ID: [u8; 16] = [7; 16];
const LOGIN: [u8; 32] = [9; 32];
const WINDOW: u64 = 900;

fn an_id_is_refused_until_it_expires(state: &dyn SharedState) {
    assert_eq!(state.first_use("room", &ID, 1000, 1300), Ok(true));
    assert_eq!(state.first_use("room", &ID, 1000, 1300), Ok(false));
    // Live through its expiry second, as in the in-memory cache.
    assert_eq!(state.first_use("room", &ID, 1300, 1600), Ok(false));
    assert_eq!(state.first_use("room", &ID, 1301, 1601), Ok(true));
    assert_eq!(state.first_use("room", &ID, 1500, 1800), Ok(false));
    // At time 0 too (a first use is never mistaken for an entry that expires at 0).
    assert_eq!(state.first_use("zero", &ID, 0, 300), Ok(true));
    assert_eq!(state.first_use("zero", &ID, 0, 300), Ok(false));
}

fn rooms_and_ids_are_apart(state: &dyn SharedState) {
    assert_eq!(
        state.first_use("tencent-legacy:AKID", &ID, 10, 100),
        Ok(true)
    );
    assert_eq!(state.first_use("tencent-tc3:AKID", &ID, 10, 100), Ok(true));
    assert_eq!(
        state.first_use("tencent-legacy:AKID2", &ID, 10, 100),
        Ok(true)
    );
    assert_eq!(
        state.first_use("tencent-legacy:AKID", &[8; 16], 10, 100),
        Ok(true)
    );
    assert_eq!(
        state.first_use("tencent-legacy:AKID", &ID, 10, 100),
        Ok(false)
    );
}

fn failures_count_within_their_window(state: &dyn SharedState) {
    assert_eq!(state.login_failures(&LOGIN, 1000, WINDOW), Ok(0));
    for n in 1..=10 {
        assert_eq!(state.login_failed(&LOGIN, 1000 + n as u64, WINDOW), Ok(n));
    }
    assert_eq!(
        state.login_failures(&LOGIN, 1000 + WINDOW - 1, WINDOW),
        Ok(10)
    );
    // The window runs from the first failure; it closes at its end whatever came later.
    assert_eq!(
        state.login_failures(&LOGIN, 1001 + WINDOW - 1, WINDOW),
        Ok(10)
    );
    assert_eq!(state.login_failures(&LOGIN, 1001 + WINDOW, WINDOW), Ok(0));
    assert_eq!(state.login_failed(&LOGIN, 1001 + WINDOW, WINDOW), Ok(1));
    assert_eq!(state.login_failures(&LOGIN, 1001 + WINDOW, WINDOW), Ok(1));
    // Another login counts apart.
    assert_eq!(state.login_failures(&[1; 32], 1001 + WINDOW, WINDOW), Ok(0));
    assert_eq!(state.login_failed(&[1; 32], 1001 + WINDOW, WINDOW), Ok(1));
    assert_eq!(state.login_failures(&LOGIN, 1001 + WINDOW, WINDOW), Ok(1));
}

fn a_success_forgets_the_failures(state: &dyn SharedState) {
    for n in 1..=5 {
        assert_eq!(state.login_failed(&LOGIN, 50, WINDOW), Ok(n));
    }
    assert_eq!(state.login_succeeded(&LOGIN), Ok(()));
    assert_eq!(state.login_failures(&LOGIN, 51, WINDOW), Ok(0));
    assert_eq!(state.login_failed(&LOGIN, 52, WINDOW), Ok(1));
    // Forgetting a login with no failures is no error.
    assert_eq!(state.login_succeeded(&[2; 32]), Ok(()));
}

fn forgetting_keeps_what_is_live(state: &dyn SharedState) {
    assert_eq!(state.first_use("room", &ID, 10, 100), Ok(true));
    assert_eq!(state.first_use("room", &[1; 16], 10, 500), Ok(true));
    assert_eq!(state.login_failed(&LOGIN, 10, WINDOW), Ok(1));
    assert_eq!(state.login_failed(&[1; 32], 400, WINDOW), Ok(1));
    assert_eq!(state.forget_expired(100, WINDOW), Ok(()));
    assert_eq!(state.first_use("room", &ID, 100, 400), Ok(false));
    assert_eq!(state.forget_expired(101, WINDOW), Ok(()));
    assert_eq!(state.first_use("room", &[1; 16], 101, 600), Ok(false));
    assert_eq!(state.first_use("room", &ID, 101, 400), Ok(true));
    assert_eq!(state.forget_expired(10 + WINDOW, WINDOW), Ok(()));
    assert_eq!(state.login_failures(&LOGIN, 10 + WINDOW, WINDOW), Ok(0));
    assert_eq!(state.login_failures(&[1; 32], 10 + WINDOW, WINDOW), Ok(1));
    assert_eq!(state.login_failed(&[1; 32], 10 + WINDOW, WINDOW), Ok(2));
}
