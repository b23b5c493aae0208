//! The PostgreSQL store's URL (`--store`, `KMSD_STORE`, the config file) and the change feed's
//! payloads: neither parser may panic, and a password in the URL never appears in what the
//! settings print or in the error a refused URL gives.

use kms_core::store::feed::Change;
use kms_store::PgSettings;

use crate::{fields, text};

/// Stands for the password: text no other part of a URL the fuzzer builds holds by chance.
const PASSWORD: &str = "pw-Zq9pW7xR4k";

pub fn store_url(data: &[u8]) {
    let parts = fields(data, 3);
    let (user, rest, payload) = (text(parts[0]), text(parts[1]), text(parts[2]));
    if let Some(change) = Change::decode(&payload) {
        assert_eq!(Change::decode(&change.encode()), Some(change));
    }
    let url = format!("postgres://{user}:{PASSWORD}@{rest}");
    match PgSettings::parse(&url) {
        Ok(settings) => {
            for shown in [settings.to_string(), format!("{settings:?}")] {
                assert!(!shown.contains(PASSWORD), "the password printed: {shown}");
            }
        }
        Err(e) => assert!(!e.contains(PASSWORD), "the password in an error: {e}"),
    }
}
