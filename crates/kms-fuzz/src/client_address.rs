//! The client address behind trusted proxies (`kms_policy::TrustedProxies::client_ip`), read
//! before authentication from the `X-Forwarded-For` header lines. Fields split at 0xFF: the
//! peer's address, the trusted blocks (one per line) and the header lines (one per line).
//! Asserts the rule as a specification: an untrusted peer is the client; behind trusted ones,
//! the answer is the first entry from the right that is not trusted, every entry to its right
//! being a trusted address, or the last trusted hop where an entry is not an address.

use std::net::IpAddr;

use kms_policy::{IpBlock, TrustedProxies};

use crate::{fields, text};

pub fn client_address(data: &[u8]) {
    let parts = fields(data, 3);
    let (peer, blocks, lines) = (text(parts[0]), text(parts[1]), text(parts[2]));
    let blocks: Vec<String> = blocks.lines().map(str::to_owned).collect();
    let Ok(proxies) = TrustedProxies::parse(&blocks) else {
        return;
    };
    let values: Vec<&str> = lines.lines().collect();
    let Ok(peer) = peer.trim().parse::<IpAddr>() else {
        assert_eq!(proxies.client_ip(None, || values.iter().copied()), None);
        return;
    };
    let answer = proxies
        .client_ip(Some(peer), || values.iter().copied())
        .expect("a known peer gives an address");
    let parsed: Vec<IpBlock> = blocks.iter().filter_map(|b| IpBlock::parse(b)).collect();
    let trusted = |ip: IpAddr| parsed.iter().any(|b| b.contains(ip));
    // The specification, walked from the right.
    let mut expected = peer.to_canonical();
    if trusted(expected) {
        for entry in values.iter().flat_map(|v| v.split(',')).rev() {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                break;
            };
            expected = ip.to_canonical();
            if !trusted(expected) {
                break;
            }
        }
    }
    assert_eq!(answer, expected);
}
