//! The one mapping between the engine's states, specs, usages and origins and the vendor's names.

use kms_core::{KeySpec, KeyState, KeyUsage, Origin};

/// The vendor's key states: 1 pending activation, 2 enabled, 3 disabled, 4 pending deletion,
/// 5 pending import. An archived key (Tencent's) cannot encrypt, so it shows as disabled.
pub fn state_name(s: KeyState) -> &'static str {
    match s {
        KeyState::Enabled => "2",
        KeyState::Disabled | KeyState::Archived => "3",
        KeyState::PendingDelete => "4",
        KeyState::PendingImport => "5",
    }
}

/// The engine states a vendor state filter selects ("1" selects none: no key here waits for
/// activation).
pub fn state_from_name(s: &str) -> Option<Vec<KeyState>> {
    Some(match s {
        "1" => Vec::new(),
        "2" => vec![KeyState::Enabled],
        "3" => vec![KeyState::Disabled, KeyState::Archived],
        "4" => vec![KeyState::PendingDelete],
        "5" => vec![KeyState::PendingImport],
        _ => return None,
    })
}

/// The vendor's spec names; the post-quantum specs (which the vendor lacks) come last.
const SPECS: &[(KeySpec, &str)] = &[
    (KeySpec::Aes256, "AES_256"),
    (KeySpec::Sm4, "SM4"),
    (KeySpec::Rsa2048, "RSA_2048"),
    (KeySpec::Rsa3072, "RSA_3072"),
    (KeySpec::Rsa4096, "RSA_4096"),
    (KeySpec::EccP256, "EC_P256"),
    (KeySpec::EccP384, "EC_P384"),
    (KeySpec::EccSecp256k1, "SECP256K1"),
    (KeySpec::Sm2, "SM2"),
    (KeySpec::Ed25519, "ED25519"),
    (KeySpec::Hmac256, "HMAC_256"),
    (KeySpec::Hmac384, "HMAC_384"),
    (KeySpec::Hmac512, "HMAC_512"),
    (KeySpec::HmacSm3, "HMAC_SM3"),
    (KeySpec::MlKem768, "ML_KEM_768"),
    (KeySpec::MlDsa65, "ML_DSA_65"),
];

/// How many of [`SPECS`] the vendor names (and this dialect creates).
const VENDOR_SPECS: usize = 14;

/// A spec's name; post-quantum keys made through the Tencent dialect show under our names.
pub fn spec_name(spec: KeySpec) -> &'static str {
    SPECS
        .iter()
        .find(|(s, _)| *s == spec)
        .map_or("", |(_, n)| n)
}

/// A spec the vendor names.
pub fn spec_from_name(name: &str) -> Option<KeySpec> {
    SPECS[..VENDOR_SPECS]
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(s, _)| *s)
}

pub fn usage_name(u: KeyUsage) -> &'static str {
    match u {
        KeyUsage::EncryptDecrypt => "ENCRYPT_DECRYPT",
        KeyUsage::SignVerify => "SIGN_VERIFY",
        KeyUsage::GenerateVerifyMac => "GENERATE_VERIFY_MAC",
        KeyUsage::KeyAgreement => "KEY_AGREEMENT",
    }
}

/// A usage the vendor names; KEY_AGREEMENT is the usage its derive-shared-secret requires.
pub fn usage_from_name(name: &str) -> Option<KeyUsage> {
    Some(match name {
        "ENCRYPT_DECRYPT" => KeyUsage::EncryptDecrypt,
        "SIGN_VERIFY" => KeyUsage::SignVerify,
        "GENERATE_VERIFY_MAC" => KeyUsage::GenerateVerifyMac,
        "KEY_AGREEMENT" => KeyUsage::KeyAgreement,
        _ => return None,
    })
}

/// The usage a key gets when create-key names none.
pub fn default_usage(spec: KeySpec) -> KeyUsage {
    match spec {
        KeySpec::Aes256 | KeySpec::Sm4 => KeyUsage::EncryptDecrypt,
        KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 | KeySpec::HmacSm3 => {
            KeyUsage::GenerateVerifyMac
        }
        _ => KeyUsage::SignVerify,
    }
}

pub fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::Kms => "kms",
        Origin::External => "external",
    }
}

pub fn origin_from_name(name: &str) -> Option<Origin> {
    match name {
        "" | "kms" => Some(Origin::Kms),
        "external" => Some(Origin::External),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (spec, name) in &SPECS[..VENDOR_SPECS] {
            assert_eq!(spec_from_name(name), Some(*spec));
            assert_eq!(spec_name(*spec), *name);
        }
        assert_eq!(spec_from_name("ML_KEM_768"), None);
        assert_eq!(spec_name(KeySpec::MlKem768), "ML_KEM_768");
        for state in [
            KeyState::Enabled,
            KeyState::Disabled,
            KeyState::PendingDelete,
            KeyState::PendingImport,
        ] {
            assert_eq!(state_from_name(state_name(state)).unwrap()[0], state);
        }
        for usage in [
            KeyUsage::EncryptDecrypt,
            KeyUsage::SignVerify,
            KeyUsage::GenerateVerifyMac,
            KeyUsage::KeyAgreement,
        ] {
            assert_eq!(usage_from_name(usage_name(usage)), Some(usage));
        }
        assert_eq!(
            origin_from_name(origin_name(Origin::External)),
            Some(Origin::External)
        );
    }
}
