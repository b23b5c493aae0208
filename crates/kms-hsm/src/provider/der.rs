//! The few DER encodings (ITU-T X.690) a token's keys need in the forms the engine uses, where
//! PKCS#11 gives raw values: the SubjectPublicKeyInfo of an EC point (RFC 5480) and of an RSA
//! modulus and exponent (RFC 8017 A.1.1), the ECDSA-Sig-Value of `r || s` (RFC 3279), and the
//! DigestInfo a PKCS #1 v1.5 signature covers (RFC 8017 9.2).

/// id-ecPublicKey, 1.2.840.10045.2.1 (RFC 5480).
const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// secp256r1, 1.2.840.10045.3.1.7 (RFC 5480).
pub const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34 (RFC 5480).
pub const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// rsaEncryption, 1.2.840.113549.1.1.1, with its NULL parameters (RFC 8017 A.1).
const RSA_ENCRYPTION: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// A tag and its contents, with the length in the short form or in one or two bytes.
fn tlv(tag: u8, contents: &[u8]) -> Option<Vec<u8>> {
    let len = contents.len();
    let mut out = Vec::with_capacity(4 + len);
    out.push(tag);
    match len {
        0..0x80 => out.push(len as u8),
        0x80..0x100 => out.extend_from_slice(&[0x81, len as u8]),
        0x100..0x10000 => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => return None,
    }
    out.extend_from_slice(contents);
    Some(out)
}

/// The uncompressed point of CKA_EC_POINT, which tokens give as a DER OCTET STRING (PKCS#11
/// 2.40) or, some of them, bare; `point_len` is the curve's `1 + 2 * field bytes`.
pub fn ec_point(attribute: &[u8], point_len: usize) -> Option<&[u8]> {
    let point = match attribute {
        [0x04, len, point @ ..] if usize::from(*len) == point_len && point.len() == point_len => {
            point
        }
        point if point.len() == point_len => point,
        _ => return None,
    };
    (point[0] == 0x04).then_some(point)
}

/// The SubjectPublicKeyInfo DER of an uncompressed `point` on the curve `curve_oid`.
pub fn ec_spki(curve_oid: &[u8], point: &[u8]) -> Option<Vec<u8>> {
    let algorithm = tlv(0x30, &[EC_PUBLIC_KEY, curve_oid].concat())?;
    let key = tlv(0x03, &[&[0x00], point].concat())?;
    tlv(0x30, &[algorithm, key].concat())
}

/// A non-negative INTEGER from big-endian bytes: leading zeros dropped, one zero put back when
/// the first bit is set.
fn integer(big_endian: &[u8]) -> Option<Vec<u8>> {
    let first = big_endian.iter().position(|b| *b != 0);
    let trimmed = first.map_or(&[0u8][..], |at| &big_endian[at..]);
    if trimmed[0] & 0x80 != 0 {
        tlv(0x02, &[&[0x00], trimmed].concat())
    } else {
        tlv(0x02, trimmed)
    }
}

/// The SubjectPublicKeyInfo DER of the RSA public key (`modulus`, `exponent`), each big-endian.
pub fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Option<Vec<u8>> {
    let algorithm = tlv(0x30, RSA_ENCRYPTION)?;
    let key = tlv(0x30, &[integer(modulus)?, integer(exponent)?].concat())?;
    let key = tlv(0x03, &[&[0x00], &key[..]].concat())?;
    tlv(0x30, &[algorithm, key].concat())
}

/// The DigestInfo prefixes of SHA-256, SHA-384 and SHA-512, by digest length (RFC 8017 9.2,
/// note 1).
pub fn digest_info(digest: &[u8]) -> Option<Vec<u8>> {
    let prefix: &[u8] = match digest.len() {
        32 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        48 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        64 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
        _ => return None,
    };
    Some([prefix, digest].concat())
}

/// ECDSA-Sig-Value DER of a PKCS#11 signature, `r || s` of equal lengths.
pub fn ecdsa_signature(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    tlv(0x30, &[integer(r)?, integer(s)?].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodings worked out by X.690's rules: a high first bit gains a zero byte, leading zeros
    /// go, zero is one zero byte.
    #[test]
    fn signatures_follow_the_integer_rules() {
        assert_eq!(
            ecdsa_signature(&[0x80, 0x01, 0x00, 0x7f]).unwrap(),
            [0x30, 0x08, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x01, 0x7f]
        );
        assert_eq!(
            ecdsa_signature(&[0x00, 0x00, 0x00, 0x05]).unwrap(),
            [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x05]
        );
        assert_eq!(ecdsa_signature(&[1, 2, 3]), None);
        assert_eq!(ecdsa_signature(&[]), None);
        let long = ecdsa_signature(&[0x01; 200]).unwrap();
        assert_eq!(
            long[..6],
            [0x30, 0x81, 0xcc, 0x02, 0x64, 0x01],
            "long length form"
        );
    }

    /// An RSA key of modulus 0xC5 (high bit set, so a zero byte is added) and exponent 65537.
    #[test]
    fn an_rsa_spki_by_the_rules() {
        assert_eq!(
            rsa_spki(&[0xc5], &[0x01, 0x00, 0x01]).unwrap(),
            [
                0x30, 0x1d, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
                0x01, 0x05, 0x00, 0x03, 0x0c, 0x00, 0x30, 0x09, 0x02, 0x02, 0x00, 0xc5, 0x02, 0x03,
                0x01, 0x00, 0x01
            ]
        );
        assert_eq!(digest_info(&[0; 32]).unwrap().len(), 19 + 32);
        assert_eq!(digest_info(&[0; 20]), None);
    }

    #[test]
    fn points_come_wrapped_or_bare() {
        let mut point = vec![0x04];
        point.extend_from_slice(&[0xab; 64]);
        let mut wrapped = vec![0x04, 65];
        wrapped.extend_from_slice(&point);
        assert_eq!(ec_point(&wrapped, 65), Some(&point[..]));
        assert_eq!(ec_point(&point, 65), Some(&point[..]));
        assert_eq!(ec_point(&point[..64], 65), None);
        let mut compressed = point.clone();
        compressed[0] = 0x02;
        assert_eq!(ec_point(&compressed, 65), None);
    }

    /// The P-256 SPKI prefix of RFC 5480's layout, as every P-256 public key in DER starts.
    #[test]
    fn a_p256_spki_has_the_standard_prefix() {
        let mut point = vec![0x04];
        point.extend_from_slice(&[0x11; 64]);
        let spki = ec_spki(P256, &point).unwrap();
        let prefix = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        assert_eq!(spki[..prefix.len()], prefix);
        assert_eq!(&spki[prefix.len()..], &point[..]);
    }
}
