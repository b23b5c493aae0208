//! Addresses as conditions see them: CIDR blocks (`IpAddress` / `ip_equal` values), and the
//! client's address (CAM `qcs:ip`, IAM `g:SourceIp`), which is the connection's peer or, when
//! the peer is a proxy the operator trusts, the nearest address in `X-Forwarded-For` that is
//! not one of those proxies. A client can write anything into that header, so it is read only
//! behind a trusted proxy, and only as far back as trusted proxies vouch for it.

use std::net::IpAddr;

/// An address or a CIDR block: a network and its prefix length in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u32,
}

impl IpBlock {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a single address; `None` for anything else.
    pub fn parse(block: &str) -> Option<Self> {
        let (addr, prefix) = match block.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (block, None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
                p.parse::<u32>().ok().filter(|&n| n <= max)?
            }
            Some(_) => return None,
            None => max,
        };
        Some(Self { network, prefix })
    }

    /// Whether `address` lies in the block (an IPv4 address never in an IPv6 block).
    pub fn contains(&self, address: IpAddr) -> bool {
        let prefix_eq = |a: u128, b: u128| self.prefix == 0 || (a ^ b) >> (128 - self.prefix) == 0;
        match (address, self.network) {
            (IpAddr::V4(a), IpAddr::V4(n)) => {
                prefix_eq(u128::from(a.to_bits()) << 96, u128::from(n.to_bits()) << 96)
            }
            (IpAddr::V6(a), IpAddr::V6(n)) => prefix_eq(a.to_bits(), n.to_bits()),
            _ => false,
        }
    }
}

/// Whether `address` lies in `block`. Condition values were checked when stored; an
/// unparsable request address is in no block.
pub(crate) fn ip_in(address: &str, block: &str) -> bool {
    match (address.parse::<IpAddr>(), IpBlock::parse(block)) {
        (Ok(address), Some(block)) => block.contains(address),
        _ => false,
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    blocks: Vec<IpBlock>,
}

impl TrustedProxies {
    /// Checks every block (`10.0.0.0/8`, `::1`), answering the first that is none; an empty
    /// list trusts no proxy.
    pub fn parse(blocks: &[String]) -> Result<Self, String> {
        let blocks = blocks
            .iter()
            .map(|b| IpBlock::parse(b).ok_or_else(|| b.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Self { blocks })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The client's address: the peer unless it is trusted; then, walking the
    /// `X-Forwarded-For` values (in the order the header lines came) from their right end, the
    /// first address that is not trusted. An entry that is not an address stops the walk at
    /// the last trusted hop, so a malformed header never lets the client choose. The values
    /// are read only behind a trusted peer, so a server without trusted proxies never looks
    /// for the header. Linear in the values.
    pub fn client_ip<'a, I: IntoIterator<Item = &'a str>>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl FnOnce() -> I,
    ) -> Option<IpAddr> {
        let mut hop = peer?.to_canonical();
        if self.blocks.is_empty() || !self.trusts(hop) {
            return Some(hop);
        }
        let entries: Vec<&str> = forwarded_for()
            .into_iter()
            .flat_map(|v| v.split(','))
            .collect();
        for entry in entries.into_iter().rev() {
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

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn trusted(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&blocks.iter().map(|b| b.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let block = IpBlock::parse("10.0.0.0/8").unwrap();
        assert!(block.contains("10.200.0.1".parse().unwrap()));
        assert!(!block.contains("11.0.0.1".parse().unwrap()));
        assert!(
            !block.contains("::ffff:10.0.0.1".parse().unwrap()),
            "IPv6 is not IPv4"
        );
        assert!(
            IpBlock::parse("0.0.0.0/0")
                .unwrap()
                .contains("192.0.2.1".parse().unwrap())
        );
        assert!(
            IpBlock::parse("2001:db8::/32")
                .unwrap()
                .contains("2001:db8::7".parse().unwrap())
        );
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "proxy.example",
            "::/129",
            "",
        ] {
            assert_eq!(IpBlock::parse(bad), None, "{bad}");
        }
        assert!(ip_in("10.1.2.3", "10.0.0.0/8"));
        assert!(!ip_in("not an address", "10.0.0.0/8"));
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("127.0.0.1"), || ["203.0.113.9"]),
            ip("127.0.0.1")
        );
        assert_eq!(none.client_ip(None, || ["203.0.113.9"]), None);
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let p = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            p.client_ip(ip("192.0.2.1"), || ["203.0.113.9"]),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let p = trusted(&["10.0.0.0/8", "::1"]);
        // The client forged the leftmost entry; the proxies appended the rest.
        let h = ["1.1.1.1, 198.51.100.7", "10.0.0.5"];
        assert_eq!(p.client_ip(ip("10.0.0.1"), || h), ip("198.51.100.7"));
        assert_eq!(p.client_ip(ip("::1"), || h), ip("198.51.100.7"));
        // IPv4-mapped peers are read as IPv4.
        assert_eq!(p.client_ip(ip("::ffff:10.0.0.1"), || h), ip("198.51.100.7"));
        // No header: the proxy itself.
        assert_eq!(p.client_ip(ip("10.0.0.1"), || []), ip("10.0.0.1"));
        // Only trusted hops: the farthest of them.
        assert_eq!(p.client_ip(ip("10.0.0.1"), || ["10.9.9.9"]), ip("10.9.9.9"));
    }

    #[test]
    fn a_malformed_entry_stops_at_the_last_trusted_hop() {
        let p = trusted(&["10.0.0.0/8"]);
        let h = ["198.51.100.7, not-an-address, 10.0.0.5"];
        assert_eq!(p.client_ip(ip("10.0.0.1"), || h), ip("10.0.0.5"));
    }

    #[test]
    fn hostile_headers_cost_one_pass_and_never_let_the_client_choose() {
        let p = trusted(&["10.0.0.0/8"]);
        // Thousands of trusted hops: the farthest, found in one walk.
        let many = vec!["10.1.2.3"; 10_000].join(",");
        assert_eq!(
            p.client_ip(ip("10.0.0.1"), || [many.as_str()]),
            ip("10.1.2.3")
        );
        // Empty entries, a port: none of them is an address the client chose.
        for hostile in [&[", ,"][..], &["203.0.113.9:443"], &[""]] {
            assert_eq!(
                p.client_ip(ip("10.0.0.1"), || hostile.iter().copied()),
                ip("10.0.0.1")
            );
        }
    }

    #[test]
    fn a_bad_block_is_named() {
        let blocks = ["10.0.0.0/8".to_string(), "proxy.example".to_string()];
        assert_eq!(TrustedProxies::parse(&blocks).unwrap_err(), "proxy.example");
    }
}
