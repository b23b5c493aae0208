//! The client's address as policy conditions see it (CAM `qcs:ip`, IAM `g:SourceIp`): the
//! connection's peer, or, when the peer is a proxy the operator trusts (`--trusted-proxies`),
//! the nearest address in `X-Forwarded-For` that is not one of those proxies. A client can
//! write anything into that header, so it is read only behind a trusted proxy, and only as far
//! back as trusted proxies vouch for it.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The proxies whose `X-Forwarded-For` is believed: addresses or CIDR blocks.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    blocks: Vec<String>,
}

impl TrustedProxies {
    /// Checks every block (`10.0.0.0/8`, `::1`); none means no proxy is trusted.
    pub fn parse(blocks: &[String]) -> anyhow::Result<Self> {
        for block in blocks {
            anyhow::ensure!(
                kms_policy::parse_block(block).is_some(),
                "--trusted-proxies: {block:?} is not an IP address or CIDR block"
            );
        }
        Ok(Self {
            blocks: blocks.to_vec(),
        })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_string();
        self.blocks.iter().any(|b| kms_policy::ip_in(&ip, b))
    }

    /// The client's address: the peer unless it is trusted; then, walking `X-Forwarded-For`
    /// from its right end, the first address that is not trusted. An entry that is not an
    /// address stops the walk at the last trusted hop, so a malformed header never lets the
    /// client choose. Linear in the headers, which the listener bounds.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut hop = peer?.to_canonical();
        if self.blocks.is_empty() || !self.trusts(hop) {
            return Some(hop);
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for entry in forwarded.into_iter().rev() {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                return Some(hop);
            };
            hop = ip.to_canonical();
            if !self.trusts(hop) {
                return Some(hop);
            }
        }
        Some(hop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let h = headers(&["203.0.113.9"]);
        assert_eq!(none.client_ip(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        assert_eq!(none.client_ip(None, &h), None);
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let p = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let h = headers(&["203.0.113.9"]);
        assert_eq!(p.client_ip(ip("192.0.2.1"), &h), ip("192.0.2.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let p = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        // The client forged the leftmost entry; the proxies appended the rest.
        let h = headers(&["1.1.1.1, 198.51.100.7", "10.0.0.5"]);
        assert_eq!(p.client_ip(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        assert_eq!(p.client_ip(ip("::1"), &h), ip("198.51.100.7"));
        // IPv4-mapped peers are read as IPv4.
        assert_eq!(p.client_ip(ip("::ffff:10.0.0.1"), &h), ip("198.51.100.7"));
        // No header: the proxy itself.
        assert_eq!(
            p.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // Only trusted hops: the farthest of them.
        assert_eq!(
            p.client_ip(ip("10.0.0.1"), &headers(&["10.9.9.9"])),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn a_malformed_entry_stops_at_the_last_trusted_hop() {
        let p = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let h = headers(&["198.51.100.7, not-an-address, 10.0.0.5"]);
        assert_eq!(p.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.5"));
    }

    #[test]
    fn hostile_headers_cost_one_pass_and_never_let_the_client_choose() {
        let p = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        // Thousands of trusted hops: the farthest, found in one walk.
        let many = vec!["10.1.2.3"; 10_000].join(",");
        assert_eq!(
            p.client_ip(ip("10.0.0.1"), &headers(&[&many])),
            ip("10.1.2.3")
        );
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"203.0.113.9, \xff\xfe").unwrap(),
        );
        h.append("x-forwarded-for", ", ,".parse().unwrap());
        // Not text, empty entries, a port: none of them is an address the client chose.
        for hostile in [h, headers(&["203.0.113.9:443"]), headers(&[""])] {
            assert_eq!(p.client_ip(ip("10.0.0.1"), &hostile), ip("10.0.0.1"));
        }
    }

    #[test]
    fn blocks_are_checked() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example".into()]).is_err());
    }
}
