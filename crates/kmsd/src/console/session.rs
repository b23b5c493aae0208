//! Console sessions: a random id in an HttpOnly, SameSite=Strict cookie, kept in memory by its
//! SHA-256 (what the map holds opens no session), with a CSRF token that every change must carry.
//! Sessions end on logout, after [`IDLE`] without a request, after [`LIFETIME`] in all, and with
//! the process; the oldest give way when [`MAX_SESSIONS`] are open.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kms_core::AccountId;
use zeroize::Zeroizing;

/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(15 * 60);
/// A session ends this long after login, used or not.
pub const LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);
/// Most sessions open at once; logging in beyond it ends the least recently used.
pub const MAX_SESSIONS: usize = 1024;

/// Who logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// The operator, with the admin token: every account.
    Operator,
    /// An account's credential (its root's or a user's): that account, as its policies allow.
    Credential { secret_id: String },
}

/// One logged-in browser.
#[derive(Clone)]
pub struct Session {
    pub who: Who,
    /// The hidden field every form of this session carries; a change without it is refused.
    pub csrf: String,
    /// The account the pages show: the credential's own, or the one the operator picked.
    pub account: Option<AccountId>,
    /// The region key pages work in.
    pub region: String,
    /// The outcome of the last change, shown once by the next page.
    pub flash: Option<Flash>,
    opened: Instant,
    seen: Instant,
}

/// The outcome of a change, for the page that follows it.
#[derive(Clone, Debug)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("who", &self.who)
            .field("account", &self.account)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

/// A random 32-byte value from the OS, as hex.
fn random_hex() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).expect("the OS random source failed");
    Zeroizing::new(hex::encode(bytes.as_ref()))
}

/// What the map is keyed by: the id's SHA-256, so a lookup compares no secret.
fn key(id: &str) -> String {
    kms_core::identity::hex_sha256(id.as_bytes())
}

impl Sessions {
    /// Opens a session; its id, which only the cookie carries.
    pub fn open(&self, who: Who, account: Option<AccountId>, region: String) -> Zeroizing<String> {
        let id = random_hex();
        let now = Instant::now();
        let session = Session {
            who,
            csrf: random_hex().to_string(),
            account,
            region,
            flash: None,
            opened: now,
            seen: now,
        };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, s| live(s, now));
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.seen)
                .map(|(k, _)| k.clone())
        {
            open.remove(&oldest);
        }
        open.insert(key(&id), session);
        id
    }

    /// The live session with this id, touched; an expired one is ended.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let k = key(id);
        let session = open.get_mut(&k)?;
        if !live(session, now) {
            open.remove(&k);
            return None;
        }
        session.seen = now;
        let copy = session.clone();
        session.flash = None;
        Some(copy)
    }

    /// Changes a live session.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut Session)) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = open.get_mut(&key(id)) {
            change(session);
        }
    }

    pub fn close(&self, id: &str) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(&key(id));
    }

    /// Ends every session of a credential (deleted or disabled from the console).
    pub fn close_credential(&self, secret_id: &str) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, s| {
            s.who
                != Who::Credential {
                    secret_id: secret_id.to_owned(),
                }
        });
    }
}

fn live(session: &Session, now: Instant) -> bool {
    now.duration_since(session.seen) < IDLE && now.duration_since(session.opened) < LIFETIME
}

/// Whether two secrets are equal (and not empty), in time that depends only on their
/// lengths.
pub fn same_token(a: &[u8], b: &[u8]) -> bool {
    !a.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_only() {
        let sessions = Sessions::default();
        let id = sessions.open(Who::Operator, None, "r".into());
        assert_eq!(id.len(), 64);
        let s = sessions.get(&id).expect("open");
        assert_eq!(s.who, Who::Operator);
        assert_eq!(s.csrf.len(), 64);
        assert_ne!(s.csrf.as_str(), id.as_str());
        assert!(
            sessions.get(&key(&id)).is_none(),
            "the map's key opens nothing"
        );
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn a_flash_is_shown_once() {
        let sessions = Sessions::default();
        let id = sessions.open(Who::Operator, None, "r".into());
        sessions.update(&id, |s| {
            s.flash = Some(Flash {
                ok: true,
                text: "done".into(),
            })
        });
        assert_eq!(sessions.get(&id).unwrap().flash.unwrap().text, "done");
        assert!(sessions.get(&id).unwrap().flash.is_none());
    }

    #[test]
    fn the_least_recently_used_session_gives_way() {
        let sessions = Sessions::default();
        let first = sessions.open(Who::Operator, None, "r".into());
        for _ in 1..MAX_SESSIONS {
            sessions.open(Who::Operator, None, "r".into());
        }
        assert!(sessions.get(&first).is_some());
        let second_oldest_survives = sessions.open(Who::Operator, None, "r".into());
        assert!(sessions.get(&first).is_some(), "used last, so kept");
        assert!(sessions.get(&second_oldest_survives).is_some());
        assert_eq!(sessions.open.lock().unwrap().len(), MAX_SESSIONS);
    }

    #[test]
    fn closing_a_credential_ends_its_sessions_only() {
        let sessions = Sessions::default();
        let who = Who::Credential {
            secret_id: "AKID1".into(),
        };
        let a = sessions.open(who, Some(1), "r".into());
        let b = sessions.open(Who::Operator, None, "r".into());
        sessions.close_credential("AKID1");
        assert!(sessions.get(&a).is_none());
        assert!(sessions.get(&b).is_some());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"abc", b"abc"));
        assert!(!same_token(b"abc", b"abd"));
        assert!(!same_token(b"abc", b"ab"));
        assert!(!same_token(b"", b""), "an empty secret matches nothing");
    }
}
