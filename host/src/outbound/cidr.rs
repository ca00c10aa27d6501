//! An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`): all the
//! allow-list and the address guard need, so no crate is pulled in for it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A network: an address with the bits past `prefix` cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `None` when `prefix` is longer than the address. Host bits are
    /// cleared, as Spin does: `127.0.0.1/24` is `127.0.0.0/24`.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let network = match addr {
            IpAddr::V4(a) if prefix <= 32 => {
                IpAddr::V4(Ipv4Addr::from_bits(a.to_bits() & mask32(prefix)))
            }
            IpAddr::V6(a) if prefix <= 128 => {
                IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() & mask128(prefix)))
            }
            _ => return None,
        };
        Some(Cidr { network, prefix })
    }

    /// For the address guard's tables, whose networks are written already
    /// truncated (a test holds them to it).
    pub(crate) const fn v4(network: Ipv4Addr, prefix: u8) -> Cidr {
        Cidr {
            network: IpAddr::V4(network),
            prefix,
        }
    }

    pub(crate) const fn v6(network: Ipv6Addr, prefix: u8) -> Cidr {
        Cidr {
            network: IpAddr::V6(network),
            prefix,
        }
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// An address of the other family is never contained: `::ffff:10.0.0.1`
    /// is not in `10.0.0.0/8` here; callers that mean the same socket
    /// canonicalise first.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                ip.to_bits() & mask32(self.prefix) == net.to_bits()
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                ip.to_bits() & mask128(self.prefix) == net.to_bits()
            }
            _ => false,
        }
    }

    /// Whether every address of `other` is in `self`.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask32(prefix: u8) -> u32 {
    // A shift by the full width is `None`, which is the empty mask of `/0`.
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(addr: &str, prefix: u8) -> Cidr {
        Cidr::new(addr.parse().unwrap(), prefix).unwrap()
    }

    #[test]
    fn host_bits_are_cleared() {
        for (addr, prefix, shown) in [
            ("127.0.0.1", 24, "127.0.0.0/24"),
            ("10.1.2.3", 8, "10.0.0.0/8"),
            ("10.1.2.3", 32, "10.1.2.3/32"),
            ("10.1.2.3", 0, "0.0.0.0/0"),
            ("fd12:3456::1", 8, "fd00::/8"),
            ("2001:db8::1", 128, "2001:db8::1/128"),
            ("2001:db8::1", 0, "::/0"),
        ] {
            assert_eq!(cidr(addr, prefix).to_string(), shown, "{addr}/{prefix}");
        }
        assert_eq!(Cidr::new("10.0.0.0".parse().unwrap(), 33), None);
        assert_eq!(Cidr::new("::".parse().unwrap(), 129), None);
    }

    #[test]
    fn containment() {
        for (net, ip, inside) in [
            (cidr("10.0.0.0", 8), "10.255.255.255", true),
            (cidr("10.0.0.0", 8), "11.0.0.0", false),
            (cidr("172.16.0.0", 12), "172.31.0.1", true),
            (cidr("172.16.0.0", 12), "172.32.0.1", false),
            (cidr("0.0.0.0", 0), "203.0.113.9", true),
            (cidr("0.0.0.0", 0), "::1", false),
            (cidr("10.0.0.0", 8), "::ffff:10.0.0.1", false),
            (cidr("1.2.3.4", 32), "1.2.3.4", true),
            (cidr("1.2.3.4", 32), "1.2.3.5", false),
            (cidr("fd00::", 8), "fdff::1", true),
            (cidr("fd00::", 8), "fc00::1", false),
            (cidr("::", 0), "2001:db8::1", true),
            (cidr("::", 0), "10.0.0.1", false),
        ] {
            assert_eq!(net.contains(ip.parse().unwrap()), inside, "{net} ∋ {ip}");
        }
    }

    #[test]
    fn covering() {
        assert!(cidr("10.0.0.0", 8).covers(&cidr("10.1.0.0", 16)));
        assert!(cidr("10.0.0.0", 8).covers(&cidr("10.0.0.0", 8)));
        assert!(!cidr("10.0.0.0", 8).covers(&cidr("0.0.0.0", 0)));
        assert!(!cidr("10.0.0.0", 8).covers(&cidr("11.0.0.0", 8)));
        assert!(!cidr("10.0.0.0", 8).covers(&cidr("::", 0)));
        assert!(cidr("fc00::", 7).covers(&cidr("fd00::", 8)));
    }
}
