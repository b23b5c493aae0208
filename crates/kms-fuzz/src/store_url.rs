//! The PostgreSQL store's URL (`--store`, `KMSD_STORE`, the config file) and the change feed's
//! payloads: neither parser may panic, and a password in the URL never shows in what the
//! settings print or in the error a refused URL gives.

use kms_core::store::feed::Change;
use kms_store::PgSettings;

use crate::{fields, text};

/// Two passwords: whatever a URL prints must not depend on which one it carries.
const PASSWORDS: [&str; 2] = ["pw-Zq9pW7xR4k", "pw-Lm3tV8yB2c"];

/// What parsing `url` shows: the settings as printed (Display and Debug), or the error.
fn shown(url: &str) -> String {
    match PgSettings::parse(url) {
        Ok(settings) => format!("{settings} {settings:?}"),
        Err(e) => e,
    }
}

pub fn store_url(data: &[u8]) {
    let parts = fields(data, 3);
    let (user, rest, payload) = (text(parts[0]), text(parts[1]), text(parts[2]));
    if let Some(change) = Change::decode(&payload) {
        assert_eq!(Change::decode(&change.encode()), Some(change));
    }
    // Only where the password's place in the URL is unambiguous: the user holds no delimiter
    // and the rest no second `@` before its path.
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if user.contains(['@', ':', '/', '?', '#']) || authority.contains('@') {
        return;
    }
    // Anything of the password that showed would differ between the two.
    let [first, second] = PASSWORDS.map(|p| shown(&format!("postgres://{user}:{p}@{rest}")));
    assert_eq!(first, second, "what the URL shows depends on its password");
}
