//! Which peer addresses a relay may talk to. Secure by default: every address that reaches
//! the server's own network or special-purpose space is refused unless configured.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address range such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a range could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    #[error("invalid address in range {0:?}")]
    BadAddress(String),
    #[error("invalid prefix length in range {0:?}")]
    BadPrefix(String),
}

impl Cidr {
    /// A range; the address is masked to the prefix.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return None;
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(prefix))),
        };
        Some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::BadAddress(s.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| CidrError::BadPrefix(s.to_owned()))?,
        };
        Cidr::new(addr, prefix).ok_or_else(|| CidrError::BadPrefix(s.to_owned()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Ranges refused by default (RFC 6890 special-purpose space and the server's own networks).
const DEFAULT_DENY: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// RFC 8656 §21.3 / §17: the server's peer address filter. Addresses are canonicalised
/// (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96 and 6to4 2002::/16 all become the IPv4
/// address they carry) before checking, so no encoding slips through. `allow` ranges win over
/// the default and configured deny ranges.
#[derive(Debug, Clone)]
pub struct PeerPolicy {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
}

/// Why a peer policy could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("allowed peer range: {0}")]
    Allow(CidrError),
    #[error("denied peer range: {0}")]
    Deny(CidrError),
}

impl PeerPolicy {
    /// The default deny list plus `deny`, with `allow` overriding both.
    pub fn new<A: AsRef<str>, D: AsRef<str>>(
        allow: &[A],
        deny: &[D],
    ) -> Result<PeerPolicy, PolicyError> {
        let allow = allow
            .iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<Cidr>, _>>()
            .map_err(PolicyError::Allow)?;
        let mut deny_ranges: Vec<Cidr> = DEFAULT_DENY
            .iter()
            .map(|s| s.parse().expect("built-in ranges parse"))
            .collect();
        for d in deny {
            deny_ranges.push(d.as_ref().parse().map_err(PolicyError::Deny)?);
        }
        Ok(PeerPolicy {
            allow,
            deny: deny_ranges,
        })
    }

    /// A policy that allows everything (for tests of other features).
    pub fn allow_all() -> PeerPolicy {
        PeerPolicy {
            allow: vec![
                Cidr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).expect("valid"),
                Cidr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).expect("valid"),
            ],
            deny: Vec::new(),
        }
    }

    /// Whether a relay may exchange data with `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let canonical = canonical_ip(ip);
        let matches = |ranges: &[Cidr]| {
            ranges
                .iter()
                .any(|r| r.contains(canonical) || r.contains(ip))
        };
        if matches(&self.allow) {
            return true;
        }
        !matches(&self.deny)
    }
}

/// The IPv4 address an IPv6 address carries, if it is one of the IPv4 embeddings, else the
/// address itself. `::` and `::1` stay IPv6 (they are not IPv4-compatible addresses).
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    let v6 = match ip {
        IpAddr::V4(_) => return ip,
        IpAddr::V6(v6) => v6,
    };
    let bits = u128::from(v6);
    let low32 = Ipv4Addr::from(bits as u32);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    // IPv4-compatible ::a.b.c.d (deprecated, RFC 4291 §2.5.5.1).
    if bits >> 32 == 0 && bits > 1 {
        return IpAddr::V4(low32);
    }
    // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return IpAddr::V4(low32);
    }
    // 6to4 2002:aabb:ccdd::/48 (RFC 3056).
    if bits >> 112 == 0x2002 {
        return IpAddr::V4(Ipv4Addr::from((bits >> 80) as u32));
    }
    ip
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const NONE: &[&str] = &[];

    #[test]
    fn default_denies_every_special_range_in_every_encoding() {
        let p = PeerPolicy::new(NONE, NONE).unwrap();
        let denied = [
            "127.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            // IPv4 carried in IPv6
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
        ];
        for a in denied {
            assert!(!p.permits(ip(a)), "{a} must be denied by default");
        }
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(p.permits(ip(a)), "{a} must be allowed");
        }
        assert_eq!(canonical_ip(ip("2002:c0a8:101::1")), ip("192.168.1.1"));
        assert_eq!(canonical_ip(ip("::1")), ip("::1"));
    }

    #[test]
    fn allow_overrides_and_deny_adds() {
        let p = PeerPolicy::new(
            &["127.0.0.0/8", "::1/128", "203.0.113.0/24", "fe80::/10"],
            &["8.8.8.0/24"],
        )
        .unwrap();
        for a in [
            "127.0.0.1",
            "::ffff:127.0.0.1",
            "::127.0.0.2",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::1",
            "203.0.113.5",
            "fe80::1",
        ] {
            assert!(p.permits(ip(a)), "{a} must be allowed by allow_peers");
        }
        assert!(!p.permits(ip("8.8.8.8")));
        assert!(!p.permits(ip("::ffff:8.8.8.8")));
        assert!(!p.permits(ip("10.0.0.1")));
        assert!(p.permits(ip("8.8.4.4")));
    }

    #[test]
    fn invalid_ranges_are_typed_errors() {
        assert!(matches!(
            PeerPolicy::new(&["10.0.0.0/33"], NONE),
            Err(PolicyError::Allow(CidrError::BadPrefix(_)))
        ));
        assert!(matches!(
            PeerPolicy::new(NONE, &["nonsense"]),
            Err(PolicyError::Deny(CidrError::BadAddress(_)))
        ));
        assert!(matches!(
            PeerPolicy::new(&["::1/129"], NONE),
            Err(PolicyError::Allow(CidrError::BadPrefix(_)))
        ));
        assert!(matches!(
            PeerPolicy::new(&["1.2.3.4/x"], NONE),
            Err(PolicyError::Allow(CidrError::BadPrefix(_)))
        ));
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        assert!(!all.contains(ip("::1")));
    }

    proptest::proptest! {
        #[test]
        fn mapped_and_plain_agree(a: u32) {
            let p = PeerPolicy::new(NONE, NONE).unwrap();
            let v4 = Ipv4Addr::from(a);
            proptest::prop_assert_eq!(p.permits(IpAddr::V4(v4)), p.permits(IpAddr::V6(v4.to_ipv6_mapped())));
            let nat64 = Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(a));
            proptest::prop_assert_eq!(p.permits(IpAddr::V4(v4)), p.permits(IpAddr::V6(nat64)));
        }
    }
}
