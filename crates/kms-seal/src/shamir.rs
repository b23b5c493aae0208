//! The Shamir seal's key: the unseal key that wraps the root keyring, split into shares that
//! operators keep, any `threshold` of which rebuild it.
//!
//! Sharing is byte-wise over GF(256) (the `blahaj` crate). A share's text is lowercase hex of
//! `version | threshold | x | y (32 bytes) | check (4 bytes)`, where the check is the first four
//! bytes of SHA-256 over [`CHECK_LABEL`] and the bytes before it: a mistyped share is refused on
//! entry, while a share of another store (well formed, its check right) is found out only when
//! the rebuilt key fails to open the keyring.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use kms_crypto::Aes256GcmKey;

/// The share format this code writes and reads.
const VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const CHECK_LEN: usize = 4;
const SHARE_LEN: usize = 3 + KEY_LEN + CHECK_LEN;
/// Binds the check to its purpose.
const CHECK_LABEL: &[u8] = b"kmsd unseal share v1";
/// GF(256) has 255 non-zero points to hand out.
pub const MAX_SHARES: u8 = 255;

/// Why shares could not be made or taken. Carries nothing of a share.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShareError {
    #[error(
        "shares and threshold must satisfy 1 <= threshold <= shares <= 255, and a threshold of 1 \
         only with one share (one share is then the key itself)"
    )]
    Parameters,
    #[error("the share is malformed: {0}")]
    Malformed(&'static str),
    #[error("the share is for a threshold of {given}, but this store's threshold is {expected}")]
    OtherThreshold { given: u8, expected: u8 },
    #[error("a share with this number was already given")]
    Repeated,
    #[error("the OS random source failed while making the unseal key")]
    Random,
}

/// One operator's share of the unseal key; zeroized on drop.
#[derive(Clone)]
pub struct UnsealShare {
    threshold: u8,
    x: u8,
    y: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for UnsealShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsealShare")
            .field("threshold", &self.threshold)
            .field("x", &self.x)
            .finish_non_exhaustive()
    }
}

fn check_of(body: &[u8]) -> [u8; CHECK_LEN] {
    let mut input = Zeroizing::new(CHECK_LABEL.to_vec());
    input.extend_from_slice(body);
    let digest = kms_crypto::digest::sha256(&input);
    [digest[0], digest[1], digest[2], digest[3]]
}

impl UnsealShare {
    /// The share's number (its x coordinate, 1 to 255).
    pub fn number(&self) -> u8 {
        self.x
    }

    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// The share as operators keep it.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(SHARE_LEN));
        bytes.extend_from_slice(&[VERSION, self.threshold, self.x]);
        bytes.extend_from_slice(&self.y[..]);
        let check = check_of(&bytes);
        bytes.extend_from_slice(&check);
        Zeroizing::new(hex::encode(&bytes[..]))
    }

    /// Reads a share as an operator typed it: surrounding whitespace is ignored, hex digits may
    /// be of either case; anything else, a wrong length, version or check is refused.
    pub fn parse(text: &str) -> Result<Self, ShareError> {
        let text = text.trim_ascii();
        if text.len() != SHARE_LEN * 2 {
            return Err(ShareError::Malformed("it must be 78 hexadecimal digits"));
        }
        let mut bytes = Zeroizing::new([0u8; SHARE_LEN]);
        hex::decode_to_slice(text, &mut bytes[..])
            .map_err(|_| ShareError::Malformed("it must be 78 hexadecimal digits"))?;
        let (body, check) = bytes.split_at(SHARE_LEN - CHECK_LEN);
        if !kms_crypto::constant_time_eq(&check_of(body), check) {
            return Err(ShareError::Malformed(
                "its check digits do not match: it was mistyped or cut",
            ));
        }
        if body[0] != VERSION {
            return Err(ShareError::Malformed(
                "its version is not one this kmsd reads",
            ));
        }
        let (threshold, x) = (body[1], body[2]);
        if threshold == 0 || x == 0 {
            return Err(ShareError::Malformed("its threshold or number is zero"));
        }
        let mut y = Zeroizing::new([0u8; KEY_LEN]);
        y.copy_from_slice(&body[3..]);
        Ok(Self { threshold, x, y })
    }
}

/// Whether `shares` shares with `threshold` are allowed: Vault's rule, a threshold of 1 only
/// when there is one share (the key itself), since a threshold of 1 among several shares would
/// only hand the key out several times.
pub fn check_parameters(shares: u8, threshold: u8) -> Result<(), ShareError> {
    let valid = (1..=shares).contains(&threshold) && (threshold > 1 || shares == 1);
    if valid {
        Ok(())
    } else {
        Err(ShareError::Parameters)
    }
}

/// Makes a fresh unseal key from the OS random source.
pub fn generate_unseal_key() -> Result<Aes256GcmKey, ShareError> {
    Aes256GcmKey::generate().map_err(|_| ShareError::Random)
}

/// Splits `key` into `shares` shares, any `threshold` of which rebuild it.
pub fn split(
    key: &Aes256GcmKey,
    shares: u8,
    threshold: u8,
) -> Result<Vec<UnsealShare>, ShareError> {
    check_parameters(shares, threshold)?;
    blahaj::Sharks(threshold)
        .dealer(key.expose())
        .take(usize::from(shares))
        .map(|share| {
            let bytes = Zeroizing::new(Vec::from(&share));
            let (x, y) = bytes.split_first().ok_or(ShareError::Random)?;
            let mut owned = Zeroizing::new([0u8; KEY_LEN]);
            owned.copy_from_slice(y);
            Ok(UnsealShare {
                threshold,
                x: *x,
                y: owned,
            })
        })
        .collect()
}

/// Rebuilds a key from shares with distinct numbers. Fewer than the threshold, or shares of
/// another key, rebuild a wrong key: only opening the keyring tells.
fn combine(shares: &[&UnsealShare]) -> Result<Aes256GcmKey, ShareError> {
    let points: Vec<blahaj::Share> = shares
        .iter()
        .map(|share| {
            let mut bytes = Zeroizing::new(Vec::with_capacity(1 + KEY_LEN));
            bytes.push(share.x);
            bytes.extend_from_slice(&share.y[..]);
            blahaj::Share::try_from(&bytes[..]).map_err(ShareError::Malformed)
        })
        .collect::<Result<_, _>>()?;
    let count = u8::try_from(points.len()).map_err(|_| ShareError::Parameters)?;
    let sharks = blahaj::Sharks(count);
    let key = Zeroizing::new(
        sharks
            .recover(&points)
            .map_err(|_| ShareError::Malformed("the shares cannot be combined"))?,
    );
    Aes256GcmKey::from_bytes(&key).map_err(|_| ShareError::Malformed("the shares differ in length"))
}

/// The shares given so far towards unsealing, by number; zeroized when dropped or cleared.
pub struct UnsealProgress {
    threshold: u8,
    shares: BTreeMap<u8, UnsealShare>,
}

/// What a share given to [`UnsealProgress::submit`] brought.
pub enum Submitted {
    /// More shares are needed.
    Needed { have: u8, threshold: u8 },
    /// The threshold was reached: the rebuilt key, which the caller tries on the keyring. The
    /// progress is cleared either way.
    Complete(Aes256GcmKey),
}

impl UnsealProgress {
    pub fn new(threshold: u8) -> Self {
        Self {
            threshold,
            shares: BTreeMap::new(),
        }
    }

    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// How many shares were given so far.
    pub fn have(&self) -> u8 {
        // At most threshold - 1 are ever kept.
        self.shares.len() as u8
    }

    /// Forgets every share given.
    pub fn clear(&mut self) {
        self.shares.clear();
    }

    /// Takes one share. A share for another threshold or a number already given is refused and
    /// changes nothing.
    pub fn submit(&mut self, share: UnsealShare) -> Result<Submitted, ShareError> {
        if share.threshold != self.threshold {
            return Err(ShareError::OtherThreshold {
                given: share.threshold,
                expected: self.threshold,
            });
        }
        if self.shares.contains_key(&share.x) {
            return Err(ShareError::Repeated);
        }
        self.shares.insert(share.x, share);
        if self.have() < self.threshold {
            return Ok(Submitted::Needed {
                have: self.have(),
                threshold: self.threshold,
            });
        }
        let key = combine(&self.shares.values().collect::<Vec<_>>());
        self.clear();
        key.map(Submitted::Complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::Keyring;
    use crate::{KeyRoot, RootOfTrust as _};

    /// Shares of the secret 00 01 .. 1f under threshold 3, made by an implementation of our own
    /// apart from the crate (GF(256) with the polynomial 0x11d, the field `blahaj` uses; the
    /// coefficients of byte i are a1 = 0xa0 + i and a2 = 0x5c ^ i; SHA-256 check).
    const VECTOR_SHARES: [&str; 5] = [
        "010301fcfdfefff8f9fafbf4f5f6f7f0f1f2f3ecedeeefe8e9eaebe4e5e6e7e0e1e2e3730cce1f",
        "01030230373e392c2b2225080f060114131a1d40474e495c5b5255787f767164636a6d40347e40",
        "010303cccbc2c5d0d7ded9f4f3fafde8efe6e1bcbbb2b5a0a7aea984838a8d989f96913161891c",
        "0103041306392c47526d78bbae9184effac5d05e4b74610a1f2035f6e3dcc9a2b7889d2ec23080",
        "010305effac5d0bbae918447526d781306392ca2b7889df6e3dcc90a1f20355e4b7461a7db4305",
    ];

    fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
        (0u32..1 << n)
            .filter(|mask| mask.count_ones() as usize == k)
            .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
            .collect()
    }

    fn rebuild(shares: &[UnsealShare], pick: &[usize]) -> Option<Aes256GcmKey> {
        let mut progress = UnsealProgress::new(shares[0].threshold);
        let mut rebuilt = None;
        for &i in pick {
            if let Submitted::Complete(key) = progress.submit(shares[i].clone()).unwrap() {
                rebuilt = Some(key);
            }
        }
        rebuilt
    }

    #[test]
    fn every_threshold_subset_rebuilds_and_fewer_do_not() {
        for (n, t) in [(1, 1), (2, 2), (3, 2), (5, 3), (6, 4), (5, 5)] {
            let key = generate_unseal_key().unwrap();
            let wrapped = KeyRoot::new(key.clone())
                .wrap(&Keyring::generate().unwrap().to_bytes())
                .unwrap();
            let shares = split(&key, n, t).unwrap();
            assert_eq!(shares.len(), usize::from(n));
            for pick in subsets(n.into(), t.into()) {
                let rebuilt = rebuild(&shares, &pick).expect("threshold reached");
                assert_eq!(rebuilt.expose(), key.expose(), "{n}/{t} {pick:?}");
            }
            if t > 1 {
                for pick in subsets(n.into(), usize::from(t) - 1) {
                    assert!(rebuild(&shares, &pick).is_none(), "{n}/{t} {pick:?}");
                    let refs: Vec<&UnsealShare> = pick.iter().map(|&i| &shares[i]).collect();
                    let wrong = combine(&refs).unwrap();
                    assert_ne!(
                        wrong.expose(),
                        key.expose(),
                        "t-1 shares never give the key"
                    );
                    assert!(
                        KeyRoot::new(wrong).unwrap(&wrapped).is_err(),
                        "the key t-1 shares give opens no keyring"
                    );
                }
            }
        }
    }

    #[test]
    fn fixed_vector_rebuilds_its_secret_from_every_three() {
        let shares: Vec<UnsealShare> = VECTOR_SHARES
            .iter()
            .map(|text| UnsealShare::parse(text).unwrap())
            .collect();
        let secret: Vec<u8> = (0..32).collect();
        for pick in subsets(5, 3) {
            assert_eq!(rebuild(&shares, &pick).unwrap().expose(), &secret[..]);
        }
        for (share, text) in shares.iter().zip(VECTOR_SHARES) {
            assert_eq!(*share.to_text(), text, "our writer gives the same text");
        }
    }

    /// The crate's own vector (its evaluator test): 3x^2 + 2x + 5 is 4 at x = 1 and 13 at
    /// x = 2; at x = 3 it is 12 (computed by hand in the same field). Three points give 5.
    #[test]
    fn the_crates_evaluator_vector_interpolates_to_its_constant() {
        let points: Vec<blahaj::Share> = [[1u8, 4], [2, 13], [3, 12]]
            .iter()
            .map(|p| blahaj::Share::try_from(&p[..]).unwrap())
            .collect();
        assert_eq!(blahaj::Sharks(3).recover(&points).unwrap(), [5]);
    }

    #[test]
    fn parameters_follow_vaults_rule() {
        for (n, t) in [(1, 1), (2, 2), (5, 3), (255, 255), (255, 2)] {
            assert_eq!(check_parameters(n, t), Ok(()), "{n}/{t}");
        }
        for (n, t) in [(0, 0), (1, 0), (3, 1), (2, 3), (5, 6)] {
            assert_eq!(
                check_parameters(n, t),
                Err(ShareError::Parameters),
                "{n}/{t}"
            );
        }
        let key = generate_unseal_key().unwrap();
        let one = split(&key, 1, 1).unwrap();
        assert_eq!(&one[0].y[..], key.expose(), "one share is the key itself");
        assert_eq!(split(&key, 255, 200).unwrap().len(), 255);
    }

    #[test]
    fn malformed_shares_are_refused() {
        let good = VECTOR_SHARES[0];
        let parse = |text: &str| UnsealShare::parse(text).err();
        assert!(UnsealShare::parse(&format!("  {}\n", good.to_uppercase())).is_ok());
        let mut typo = good.to_owned();
        typo.replace_range(10..11, "0");
        let cases = [
            String::new(),
            good[..76].to_owned(),
            format!("{good}00"),
            typo,
            good.replacen('0', "g", 1),
            good.replacen('0', "é", 1),
            format!("{good:?}"),
            "0".repeat(78),
        ];
        for case in cases {
            assert!(
                matches!(parse(&case), Some(ShareError::Malformed(_))),
                "{case:?}"
            );
        }
        let with_check = |body: &[u8]| {
            let mut bytes = body.to_vec();
            bytes.extend_from_slice(&check_of(body));
            hex::encode(bytes)
        };
        let mut body = [7u8; SHARE_LEN - CHECK_LEN];
        body[0] = 2;
        assert!(parse(&with_check(&body)).is_some(), "another version");
        body[0] = VERSION;
        body[2] = 0;
        assert!(
            parse(&with_check(&body)).is_some(),
            "x = 0 is the secret itself"
        );
        body[1] = 0;
        body[2] = 1;
        assert!(parse(&with_check(&body)).is_some(), "threshold 0");
    }

    #[test]
    fn progress_refuses_repeats_and_other_thresholds_and_clears() {
        let key = generate_unseal_key().unwrap();
        let shares = split(&key, 5, 3).unwrap();
        let mut progress = UnsealProgress::new(3);
        assert!(matches!(
            progress.submit(shares[0].clone()),
            Ok(Submitted::Needed {
                have: 1,
                threshold: 3
            })
        ));
        assert_eq!(
            progress.submit(shares[0].clone()).err(),
            Some(ShareError::Repeated)
        );
        let other = split(&key, 5, 2).unwrap();
        assert_eq!(
            progress.submit(other[1].clone()).err(),
            Some(ShareError::OtherThreshold {
                given: 2,
                expected: 3
            })
        );
        assert_eq!(progress.have(), 1);
        progress.clear();
        assert_eq!(progress.have(), 0);
        assert!(matches!(
            progress.submit(shares[0].clone()),
            Ok(Submitted::Needed { have: 1, .. })
        ));
    }

    #[test]
    fn debug_shows_no_share_bytes() {
        let share = UnsealShare::parse(VECTOR_SHARES[0]).unwrap();
        let shown = format!("{share:?}");
        assert!(shown.contains("x: 1") && !shown.contains("252"), "{shown}");
    }
}
