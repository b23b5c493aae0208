//! Unseal shares as operators type them (`kmsd admin unseal`), fields separated by 0xFF: each
//! is parsed, and those that parse are given in order to one unseal progress. Asserts that no
//! text panics the parser or the progress, that a share that parses writes back as the same
//! text (lower case, trimmed), and that the progress never holds a threshold's worth of shares.

use kms_seal::shamir::{Submitted, UnsealProgress, UnsealShare};

use crate::{fields, text};

pub fn unseal_share(data: &[u8]) {
    let mut progress: Option<UnsealProgress> = None;
    for field in fields(data, 8) {
        let typed = text(field);
        let Ok(share) = UnsealShare::parse(&typed) else {
            continue;
        };
        assert_eq!(
            *share.to_text(),
            typed.trim_ascii().to_ascii_lowercase(),
            "a share that parses writes back as typed"
        );
        let progress = progress.get_or_insert_with(|| UnsealProgress::new(share.threshold()));
        if let Ok(Submitted::Needed { have, threshold }) = progress.submit(share) {
            assert!(have < threshold);
        }
        assert!(progress.have() < progress.threshold());
    }
}
