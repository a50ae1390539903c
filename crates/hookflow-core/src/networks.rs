//! Which networks may call a route (`allow_ips`) and which address is the caller's behind
//! proxies (`trusted_proxies`): CIDR lists parsed once when the flow compiles, and the caller's
//! address found from the peer and the `Forwarded` / `X-Forwarded-For` headers the trusted
//! proxies added, per call, without allocating.

use std::net::IpAddr;

use ipnet::IpNet;

/// A list of networks: CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// Parses `items`; the first that is not a CIDR or an address is named with its index.
    pub fn parse(items: &[String]) -> Result<Networks, (usize, String)> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_one(item).ok_or_else(|| (i, bad(item))))
            .collect::<Result<Vec<_>, _>>()
            .map(Networks)
    }

    /// Whether `ip` is in one of the networks (an IPv4 address written as IPv6, `::ffff:a.b.c.d`,
    /// is the IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn bad(item: &str) -> String {
    format!("`{item}` is not an IP address or a CIDR (`10.0.0.0/8`, `2001:db8::/32`)")
}

fn parse_one(item: &str) -> Option<IpNet> {
    let item = item.trim();
    match item.parse::<IpNet>() {
        Ok(net) => Some(net.trunc()),
        Err(_) => item.parse::<IpAddr>().ok().map(|ip| IpNet::from(canonical(ip))),
    }
}

/// `ip`, with an IPv4-mapped IPv6 address as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The caller's address. A call from a peer that is not a trusted proxy is that peer's. From a
/// trusted proxy, the hops the proxies recorded (`Forwarded`'s `for=` when the call has that
/// header, else `X-Forwarded-For`) are walked from the nearest: the first hop that is not a
/// trusted proxy is the caller; a hop that cannot be read stops the walk at the proxy that wrote
/// it. When every hop is trusted, the farthest is the caller.
pub fn caller(
    peer: IpAddr,
    forwarded: Option<&str>,
    forwarded_for: Option<&str>,
    trusted: &Networks,
) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let mut current = peer;
    let hops: &mut dyn Iterator<Item = Option<IpAddr>> = match (forwarded, forwarded_for) {
        (Some(header), _) => &mut header.rsplit(',').map(forwarded_hop),
        (None, Some(header)) => &mut header.rsplit(',').map(|hop| hop.trim().parse().ok()),
        (None, None) => return peer,
    };
    for hop in hops {
        let Some(hop) = hop.map(canonical) else { return current };
        current = hop;
        if !trusted.contains(hop) {
            return hop;
        }
    }
    current
}

/// The address of one element of `Forwarded` (RFC 7239): its `for=` parameter, quoted or not,
/// with a port and IPv6 brackets taken off. `None` for an obfuscated or missing one.
fn forwarded_hop(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then_some(value.trim())
    })?;
    let value = value.trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    match value.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => value.rsplit_once(':')?.0.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(items: &[&str]) -> Networks {
        Networks::parse(&items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_and_addresses_of_both_families_match_and_bad_ones_are_named() {
        let allowed = nets(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"]);
        for yes in ["10.1.2.3", "192.0.2.7", "2001:db8:1::5", "::1", "::ffff:10.9.9.9"] {
            assert!(allowed.contains(ip(yes)), "{yes}");
        }
        for no in ["11.0.0.1", "192.0.2.8", "2001:db9::1", "127.0.0.1"] {
            assert!(!allowed.contains(ip(no)), "{no}");
        }
        assert!(nets(&["10.1.2.3/8"]).contains(ip("10.200.0.1")), "host bits are dropped");
        let err = Networks::parse(&["10.0.0.0/8".into(), "10.0.0.0/33".into()]).unwrap_err();
        assert_eq!(err, (1, bad("10.0.0.0/33")));
        assert!(Networks::parse(&["example.com".into()]).is_err());
    }

    #[test]
    fn the_caller_is_the_first_untrusted_hop_from_the_nearest() {
        let trusted = nets(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.2");
        // Not from a trusted proxy: the header is not believed.
        assert_eq!(caller(ip("203.0.113.9"), None, Some("1.2.3.4"), &trusted), ip("203.0.113.9"));
        assert_eq!(
            caller(peer, None, Some("198.51.100.1, 10.0.0.5"), &trusted),
            ip("198.51.100.1")
        );
        // A spoofed leftmost entry does not win over the first untrusted hop.
        assert_eq!(
            caller(peer, None, Some("6.6.6.6, 198.51.100.1, 10.0.0.5"), &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(caller(peer, None, Some("10.0.0.9, 10.0.0.5"), &trusted), ip("10.0.0.9"));
        assert_eq!(caller(peer, None, Some("garbage, 10.0.0.5"), &trusted), ip("10.0.0.5"));
        assert_eq!(caller(peer, None, None, &trusted), peer);
        let forwarded =
            r#"for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711", for=10.0.0.7:80"#;
        assert_eq!(
            caller(peer, Some(forwarded), Some("1.1.1.1"), &trusted),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(caller(peer, Some("for=unknown"), None, &trusted), peer);
        assert_eq!(forwarded_hop("proto=https;For=\"192.0.2.1:8080\""), Some(ip("192.0.2.1")));
    }
}
