//! [`SharedState`] in PostgreSQL: each call one statement, so one round trip.
//!
//! A statement that is its own transaction commits as it runs, so a connection lost while it
//! was in flight leaves its outcome unknown. Each writing call therefore carries a nonce it
//! stores in the row it writes: a rerun that finds its own nonce knows the first run landed
//! and answers as that run would have, so these calls are rerun like reads.

use uuid::Uuid;

use kms_core::StoreError;
use kms_core::shared::SharedState;

use super::{Call, PgStore, i64_of};

/// The start of the oldest window still open at `now`: a window is open while
/// `now < start + window_secs`, that is while `start > now - window_secs`.
fn open_after(now: u64, window_secs: u64) -> i64 {
    i64_of(now).saturating_sub(i64_of(window_secs))
}

impl SharedState for PgStore {
    /// An unexpired entry refuses the id; an expired one is replaced, as a first use.
    fn first_use(
        &self,
        room: &str,
        id: &[u8; 16],
        now: u64,
        expires: u64,
    ) -> Result<bool, StoreError> {
        let nonce = Uuid::new_v4();
        self.timed(Call::FirstUse, || {
            self.read(|conn| {
                let row = conn.query_opt(
                    "INSERT INTO replay AS r (room, digest, expires, nonce) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (room, digest) DO UPDATE
                     SET expires = EXCLUDED.expires, nonce = EXCLUDED.nonce
                     WHERE r.expires < $5 OR r.nonce = EXCLUDED.nonce
                     RETURNING 1",
                    &[
                        &room,
                        &id.as_slice(),
                        &i64_of(expires),
                        &nonce,
                        &i64_of(now),
                    ],
                )?;
                Ok(row.is_some())
            })
        })
    }

    fn login_failed(
        &self,
        login: &[u8; 32],
        now: u64,
        window_secs: u64,
    ) -> Result<u32, StoreError> {
        let nonce = Uuid::new_v4();
        self.timed(Call::LoginFailed, || {
            self.read(|conn| {
                let failures: i32 = conn
                    .query_one(
                        "INSERT INTO login_failures AS f (login, failures, window_start, nonce)
                         VALUES ($1, 1, $2, $4)
                         ON CONFLICT (login) DO UPDATE SET
                             failures = CASE WHEN f.nonce = EXCLUDED.nonce THEN f.failures
                                             WHEN f.window_start <= $3 THEN 1
                                             ELSE f.failures + 1 END,
                             window_start = CASE WHEN f.nonce = EXCLUDED.nonce THEN f.window_start
                                                 WHEN f.window_start <= $3 THEN $2
                                                 ELSE f.window_start END,
                             nonce = EXCLUDED.nonce
                         RETURNING failures",
                        &[
                            &login.as_slice(),
                            &i64_of(now),
                            &open_after(now, window_secs),
                            &nonce,
                        ],
                    )?
                    .get(0);
                Ok(u32::try_from(failures).unwrap_or(0))
            })
        })
    }

    fn login_failures(
        &self,
        login: &[u8; 32],
        now: u64,
        window_secs: u64,
    ) -> Result<u32, StoreError> {
        self.timed(Call::LoginFailures, || {
            self.read(|conn| {
                let row = conn.query_opt(
                    "SELECT failures FROM login_failures WHERE login = $1 AND window_start > $2",
                    &[&login.as_slice(), &open_after(now, window_secs)],
                )?;
                Ok(row.map_or(0, |r| u32::try_from(r.get::<_, i32>(0)).unwrap_or(0)))
            })
        })
    }

    fn login_succeeded(&self, login: &[u8; 32]) -> Result<(), StoreError> {
        self.timed(Call::LoginSucceeded, || {
            self.read(|conn| {
                conn.execute(
                    "DELETE FROM login_failures WHERE login = $1",
                    &[&login.as_slice()],
                )?;
                Ok(())
            })
        })
    }

    fn forget_expired(&self, now: u64, window_secs: u64) -> Result<(), StoreError> {
        self.timed(Call::ForgetExpired, || {
            self.read(|conn| {
                conn.execute(
                    "WITH r AS (DELETE FROM replay WHERE expires < $1),
                          l AS (DELETE FROM login_failures WHERE window_start <= $2)
                     SELECT 1",
                    &[&i64_of(now), &open_after(now, window_secs)],
                )?;
                Ok(())
            })
        })
    }
}
