//! The guard after DNS: addresses a plugin may not connect to, whatever name
//! led there, unless the allow-list entry that let the request through names
//! the address (or a network of it) literally, or is `localhost` and the
//! address is loopback. A name, `*.domain` or `*` never unlocks one: DNS is
//! not the operator's word, and a rebinding resolver must not turn an
//! allowed public name into a way to the metadata service or the LAN.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::cidr::Cidr;
use super::entry::{Entry, HostPattern};

/// Why connecting to an address is refused; each names the range, for the
/// log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no allowed_outbound_hosts entry allows this request")]
    NotAllowed,
    #[error("the unspecified address ({0})")]
    Unspecified(Cidr),
    #[error("a \"this network\" address ({0})")]
    ThisNetwork(Cidr),
    #[error("a loopback address ({0})")]
    Loopback(Cidr),
    #[error("a private address ({0})")]
    Private(Cidr),
    #[error("a carrier-grade NAT address ({0})")]
    SharedAddress(Cidr),
    /// Includes the cloud metadata service, 169.254.169.254.
    #[error("a link-local address ({0})")]
    LinkLocal(Cidr),
    #[error("a unique-local address ({0})")]
    UniqueLocal(Cidr),
    #[error("a multicast address ({0})")]
    Multicast(Cidr),
    #[error("the broadcast address ({0})")]
    Broadcast(Cidr),
    /// Never a real destination on the Internet: reaching one means a lab
    /// or a misconfigured network, so it is refused like a private one.
    #[error("a documentation address ({0})")]
    Documentation(Cidr),
    /// Protocol assignments, benchmarking, deprecated and unassigned space:
    /// nothing a webhook plugin has business calling.
    #[error("a reserved address ({0})")]
    Reserved(Cidr),
}

impl Refused {
    /// The range the address fell in (`None` for [`Refused::NotAllowed`]).
    pub fn range(&self) -> Option<Cidr> {
        match *self {
            Refused::NotAllowed => None,
            Refused::Unspecified(r)
            | Refused::ThisNetwork(r)
            | Refused::Loopback(r)
            | Refused::Private(r)
            | Refused::SharedAddress(r)
            | Refused::LinkLocal(r)
            | Refused::UniqueLocal(r)
            | Refused::Multicast(r)
            | Refused::Broadcast(r)
            | Refused::Documentation(r)
            | Refused::Reserved(r) => Some(r),
        }
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
    Cidr::v4(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(a: u16, b: u16, c: u16, prefix: u8) -> Cidr {
    Cidr::v6(Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0), prefix)
}

/// First match wins, so a narrower row comes before one holding it.
const V4_RANGES: &[Refused] = &[
    Refused::Unspecified(v4(0, 0, 0, 0, 32)),
    Refused::ThisNetwork(v4(0, 0, 0, 0, 8)),
    Refused::Private(v4(10, 0, 0, 0, 8)),
    Refused::SharedAddress(v4(100, 64, 0, 0, 10)),
    Refused::Loopback(v4(127, 0, 0, 0, 8)),
    Refused::LinkLocal(v4(169, 254, 0, 0, 16)),
    Refused::Private(v4(172, 16, 0, 0, 12)),
    // IETF protocol assignments: DS-Lite, NAT64 discovery and the like.
    Refused::Reserved(v4(192, 0, 0, 0, 24)),
    Refused::Documentation(v4(192, 0, 2, 0, 24)),
    // The deprecated 6to4 relay anycast (RFC 7526).
    Refused::Reserved(v4(192, 88, 99, 0, 24)),
    Refused::Private(v4(192, 168, 0, 0, 16)),
    // Benchmarking (RFC 2544); some networks number their insides from it.
    Refused::Reserved(v4(198, 18, 0, 0, 15)),
    Refused::Documentation(v4(198, 51, 100, 0, 24)),
    Refused::Documentation(v4(203, 0, 113, 0, 24)),
    Refused::Multicast(v4(224, 0, 0, 0, 4)),
    Refused::Broadcast(v4(255, 255, 255, 255, 32)),
    Refused::Reserved(v4(240, 0, 0, 0, 4)),
];

const V6_UNSPECIFIED: Refused = Refused::Unspecified(v6(0, 0, 0, 128));
const V6_LOOPBACK: Refused = Refused::Loopback(Cidr::v6(Ipv6Addr::LOCALHOST, 128));

/// Checked after loopback, unspecified and the forms that embed an IPv4
/// address; first match wins.
const V6_RANGES: &[Refused] = &[
    // Local-use NAT64 (RFC 8215): a translator of the network's own.
    Refused::Reserved(v6(0x64, 0xff9b, 1, 48)),
    // Discard-only (RFC 6666).
    Refused::Reserved(v6(0x100, 0, 0, 64)),
    // IETF protocol assignments: Teredo, ORCHID and the like.
    Refused::Reserved(v6(0x2001, 0, 0, 23)),
    Refused::Documentation(v6(0x2001, 0xdb8, 0, 32)),
    Refused::Documentation(v6(0x3fff, 0, 0, 20)),
    Refused::UniqueLocal(v6(0xfc00, 0, 0, 7)),
    Refused::LinkLocal(v6(0xfe80, 0, 0, 10)),
    // Deprecated site-local (RFC 3879), still routed inside some networks.
    Refused::Reserved(v6(0xfec0, 0, 0, 10)),
    Refused::Multicast(v6(0xff00, 0, 0, 8)),
    // Everything outside 2000::/3, the only space handed out for global
    // unicast.
    Refused::Reserved(v6(0, 0, 0, 3)),
    Refused::Reserved(v6(0x4000, 0, 0, 2)),
    Refused::Reserved(v6(0x8000, 0, 0, 1)),
];

/// IPv6 forms that carry an IPv4 address, which is where the packet ends up.
const IPV4_COMPATIBLE: Cidr = v6(0, 0, 0, 96);
const NAT64: Cidr = v6(0x64, 0xff9b, 0, 96);
const SIX_TO_FOUR: Cidr = v6(0x2002, 0, 0, 16);

/// Why `ip` is refused unless an entry names it, or `None` for an address
/// any allowed request may reach.
pub fn special_range(ip: IpAddr) -> Option<Refused> {
    match ip {
        IpAddr::V4(ip) => special_v4(ip),
        IpAddr::V6(ip) => special_v6(ip),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<Refused> {
    find(V4_RANGES, IpAddr::V4(ip))
}

fn special_v6(ip: Ipv6Addr) -> Option<Refused> {
    if ip.is_unspecified() {
        return Some(V6_UNSPECIFIED);
    }
    if ip.is_loopback() {
        return Some(V6_LOOPBACK);
    }
    // `::ffff:127.0.0.1` is 127.0.0.1 to a dual-stack socket.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return special_v4(v4);
    }
    let octets = ip.octets();
    let wide = IpAddr::V6(ip);
    // The last 32 bits, where both forms below carry the IPv4 address.
    let last = Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    if IPV4_COMPATIBLE.contains(wide) {
        // Deprecated (RFC 4291) and never a way to a public host either.
        return special_v4(last).or(Some(Refused::Reserved(IPV4_COMPATIBLE)));
    }
    if NAT64.contains(wide) {
        // A DNS64 resolver synthesises these for IPv4-only names; the
        // translator delivers to the embedded address.
        return special_v4(last);
    }
    if SIX_TO_FOUR.contains(wide) {
        let v4 = Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]);
        return special_v4(v4);
    }
    find(V6_RANGES, wide)
}

fn find(table: &[Refused], ip: IpAddr) -> Option<Refused> {
    table
        .iter()
        .copied()
        .find(|r| r.range().is_some_and(|net| net.contains(ip)))
}

/// Whether a plugin may connect to `ip`, which a request allowed by `entry`
/// resolved to.
pub fn check_address(ip: IpAddr, entry: &Entry) -> Result<(), Refused> {
    match special_range(ip) {
        None => Ok(()),
        Some(refused) if unlocks(entry.host(), ip, refused) => Ok(()),
        Some(refused) => Err(refused),
    }
}

fn unlocks(host: &HostPattern, ip: IpAddr, refused: Refused) -> bool {
    // A mapped address and its IPv4 form reach the same socket; other
    // embeddings go through a translator, so only the literal unlocks them.
    let canonical = ip.to_canonical();
    match host {
        HostPattern::Ip(named) => named.to_canonical() == canonical,
        // A network wider than the refused range (`0.0.0.0/0`, `::/0`) is
        // "anything", as `*` is, and unlocks nothing: the operator has to
        // name the private network or a part of it.
        HostPattern::Cidr(net) => {
            (net.contains(ip) || net.contains(canonical))
                && refused.range().is_some_and(|range| range.covers(net))
        }
        HostPattern::Name(name) => name == "localhost" && canonical.is_loopback(),
        HostPattern::Any | HostPattern::Subdomains(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn entry(text: &str) -> Entry {
        Entry::parse(text).unwrap()
    }

    #[test]
    fn special_ranges_and_their_reasons() {
        for (addr, why) in [
            ("0.0.0.0", "the unspecified address (0.0.0.0/32)"),
            ("0.1.2.3", "a \"this network\" address (0.0.0.0/8)"),
            ("10.0.0.1", "a private address (10.0.0.0/8)"),
            ("10.255.255.255", "a private address (10.0.0.0/8)"),
            ("100.64.0.1", "a carrier-grade NAT address (100.64.0.0/10)"),
            (
                "100.127.255.255",
                "a carrier-grade NAT address (100.64.0.0/10)",
            ),
            ("127.0.0.1", "a loopback address (127.0.0.0/8)"),
            ("127.255.255.254", "a loopback address (127.0.0.0/8)"),
            ("169.254.169.254", "a link-local address (169.254.0.0/16)"),
            ("169.254.0.1", "a link-local address (169.254.0.0/16)"),
            ("172.16.0.1", "a private address (172.16.0.0/12)"),
            ("172.31.255.255", "a private address (172.16.0.0/12)"),
            ("192.0.0.170", "a reserved address (192.0.0.0/24)"),
            ("192.0.2.1", "a documentation address (192.0.2.0/24)"),
            ("192.88.99.1", "a reserved address (192.88.99.0/24)"),
            ("192.168.1.1", "a private address (192.168.0.0/16)"),
            ("198.18.0.1", "a reserved address (198.18.0.0/15)"),
            ("198.19.255.255", "a reserved address (198.18.0.0/15)"),
            ("198.51.100.1", "a documentation address (198.51.100.0/24)"),
            ("203.0.113.1", "a documentation address (203.0.113.0/24)"),
            ("224.0.0.1", "a multicast address (224.0.0.0/4)"),
            ("239.255.255.250", "a multicast address (224.0.0.0/4)"),
            ("240.0.0.1", "a reserved address (240.0.0.0/4)"),
            ("255.255.255.254", "a reserved address (240.0.0.0/4)"),
            (
                "255.255.255.255",
                "the broadcast address (255.255.255.255/32)",
            ),
            ("::", "the unspecified address (::/128)"),
            ("::1", "a loopback address (::1/128)"),
            // IPv4-mapped: the same socket as the IPv4 address.
            ("::ffff:127.0.0.1", "a loopback address (127.0.0.0/8)"),
            ("::ffff:7f00:1", "a loopback address (127.0.0.0/8)"),
            ("::ffff:10.0.0.1", "a private address (10.0.0.0/8)"),
            (
                "::ffff:169.254.169.254",
                "a link-local address (169.254.0.0/16)",
            ),
            ("::ffff:0.0.0.0", "the unspecified address (0.0.0.0/32)"),
            (
                "::ffff:100.64.0.1",
                "a carrier-grade NAT address (100.64.0.0/10)",
            ),
            (
                "::ffff:255.255.255.255",
                "the broadcast address (255.255.255.255/32)",
            ),
            // IPv4-compatible, deprecated: refused even with a public address.
            ("::127.0.0.1", "a loopback address (127.0.0.0/8)"),
            ("::192.168.0.1", "a private address (192.168.0.0/16)"),
            ("::2", "a \"this network\" address (0.0.0.0/8)"),
            ("::8.8.8.8", "a reserved address (::/96)"),
            // NAT64 well-known prefix: the translator delivers to the IPv4.
            ("64:ff9b::127.0.0.1", "a loopback address (127.0.0.0/8)"),
            ("64:ff9b::a00:1", "a private address (10.0.0.0/8)"),
            (
                "64:ff9b::169.254.169.254",
                "a link-local address (169.254.0.0/16)",
            ),
            ("64:ff9b:1::1", "a reserved address (64:ff9b:1::/48)"),
            // 6to4 carries its relay's IPv4 address.
            ("2002:7f00:1::", "a loopback address (127.0.0.0/8)"),
            ("2002:c0a8:101::1", "a private address (192.168.0.0/16)"),
            ("100::1", "a reserved address (100::/64)"),
            ("2001::1", "a reserved address (2001::/23)"),
            ("2001:db8::1", "a documentation address (2001:db8::/32)"),
            ("3fff::1", "a documentation address (3fff::/20)"),
            ("fc00::1", "a unique-local address (fc00::/7)"),
            ("fd12:3456::1", "a unique-local address (fc00::/7)"),
            ("fe80::1", "a link-local address (fe80::/10)"),
            ("febf::1", "a link-local address (fe80::/10)"),
            ("fec0::1", "a reserved address (fec0::/10)"),
            ("ff02::1", "a multicast address (ff00::/8)"),
            ("ff0e::1", "a multicast address (ff00::/8)"),
            ("1::1", "a reserved address (::/3)"),
            ("4000::1", "a reserved address (4000::/2)"),
            ("9000::1", "a reserved address (8000::/1)"),
        ] {
            let got = special_range(ip(addr)).map(|r| r.to_string());
            assert_eq!(got.as_deref(), Some(why), "{addr}");
        }
    }

    #[test]
    fn public_addresses_are_not_special() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.3.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2001:200::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
        ] {
            assert_eq!(special_range(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn rows_are_truncated_and_none_is_shadowed() {
        for row in V4_RANGES.iter().chain(V6_RANGES) {
            let net = row.range().unwrap();
            assert_eq!(Cidr::new(net.network(), net.prefix()), Some(net), "{net}");
            let last = match net.network() {
                IpAddr::V4(a) => {
                    let host = u32::MAX.checked_shr(u32::from(net.prefix())).unwrap_or(0);
                    IpAddr::V4(Ipv4Addr::from_bits(a.to_bits() | host))
                }
                IpAddr::V6(a) => {
                    let host = u128::MAX.checked_shr(u32::from(net.prefix())).unwrap_or(0);
                    IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() | host))
                }
            };
            let reached = [net.network(), last]
                .into_iter()
                .any(|addr| special_range(addr) == Some(*row));
            assert!(reached, "{net} is shadowed by an earlier row");
        }
    }

    /// (entry, address, allowed)
    fn check(cases: &[(&str, &str, bool)]) {
        for &(text, addr, want) in cases {
            assert_eq!(
                check_address(ip(addr), &entry(text)).is_ok(),
                want,
                "{text} → {addr}"
            );
        }
    }

    #[test]
    fn public_addresses_pass_any_entry() {
        check(&[
            ("https://*", "8.8.8.8", true),
            ("*://*:*", "2606:4700:4700::1111", true),
            ("https://*.example.com", "93.184.216.34", true),
            ("http://localhost", "93.184.216.34", true),
            ("http://10.0.0.0/8", "8.8.8.8", true),
        ]);
    }

    #[test]
    fn names_and_wildcards_never_unlock() {
        for text in [
            "https://*",
            "*://*:*",
            "https://*.example.com",
            "https://internal.example.com",
            "http://metadata.google.internal",
            "http://localhost.example.com",
        ] {
            for addr in [
                "127.0.0.1",
                "10.0.0.5",
                "172.20.0.1",
                "192.168.0.10",
                "169.254.169.254",
                "100.64.0.1",
                "0.0.0.0",
                "255.255.255.255",
                "224.0.0.251",
                "::1",
                "::",
                "fd00::1",
                "fe80::1",
                "ff02::1",
                "::ffff:127.0.0.1",
                "::ffff:169.254.169.254",
                "::127.0.0.1",
                "64:ff9b::a9fe:a9fe",
                "2002:a00:1::",
                "192.0.2.1",
                "2001:db8::1",
            ] {
                assert!(
                    check_address(ip(addr), &entry(text)).is_err(),
                    "{text} must not unlock {addr}"
                );
            }
        }
    }

    #[test]
    fn literal_addresses_unlock_themselves() {
        check(&[
            ("http://127.0.0.1:9000", "127.0.0.1", true),
            ("http://127.0.0.1:9000", "::ffff:127.0.0.1", true),
            ("http://127.0.0.1:9000", "127.0.0.2", false),
            ("http://127.0.0.1:9000", "::1", false),
            ("http://[::1]", "::1", true),
            ("http://[::1]", "127.0.0.1", false),
            ("http://[::ffff:10.0.0.1]", "10.0.0.1", true),
            ("http://169.254.169.254", "169.254.169.254", true),
            ("http://192.0.2.10", "192.0.2.10", true),
            ("http://[fe80::1]", "fe80::1", true),
            ("http://[fe80::1]", "fe80::2", false),
            ("http://[64:ff9b::a00:1]", "64:ff9b::a00:1", true),
            ("http://10.0.0.1", "64:ff9b::a00:1", false),
            ("http://127.0.0.1", "::127.0.0.1", false),
        ]);
    }

    #[test]
    fn networks_unlock_what_they_contain_if_no_wider_than_the_range() {
        check(&[
            ("http://10.0.0.0/8", "10.1.2.3", true),
            ("http://10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("http://10.0.0.0/8", "192.168.0.1", false),
            ("http://10.1.0.0/16", "10.1.2.3", true),
            ("http://10.1.0.0/16", "10.2.0.1", false),
            ("http://192.168.1.0/24", "192.168.1.77", true),
            ("http://127.0.0.0/8", "127.9.9.9", true),
            ("http://100.64.0.0/10", "100.100.100.100", true),
            ("http://fd00::/8", "fd12::1", true),
            ("http://[fd00::]/8", "fd12::1", true),
            ("http://fd00::/8", "fc00::1", false),
            ("http://fd00::/8", "fe80::1", false),
            ("http://fc00::/7", "fdff::1", true),
            // "Anything" spelled as a network is `*` and unlocks nothing.
            ("http://0.0.0.0/0:*", "10.0.0.1", false),
            ("http://0.0.0.0/0:*", "127.0.0.1", false),
            ("http://0.0.0.0/0:*", "169.254.169.254", false),
            ("http://::/0:*", "::1", false),
            ("http://::/0:*", "fd00::1", false),
            // Wider than 172.16.0.0/12, so not a name for it.
            ("http://172.0.0.0/8", "172.16.0.1", false),
            ("http://169.0.0.0/8", "169.254.169.254", false),
            // NAT64 goes through a translator: only the literal unlocks.
            ("http://10.0.0.0/8", "64:ff9b::a00:1", false),
            ("http://64:ff9b::/96", "64:ff9b::a00:1", false),
        ]);
    }

    #[test]
    fn localhost_unlocks_loopback_only() {
        check(&[
            ("http://localhost:3000", "127.0.0.1", true),
            ("http://localhost:3000", "127.5.5.5", true),
            ("http://localhost:3000", "::1", true),
            ("http://localhost:3000", "::ffff:127.0.0.1", true),
            ("http://LOCALHOST", "127.0.0.1", true),
            ("http://localhost", "10.0.0.1", false),
            ("http://localhost", "169.254.169.254", false),
            ("http://localhost", "0.0.0.0", false),
            ("http://localhost", "::", false),
            ("http://localhost", "fe80::1", false),
            ("http://localhost", "::127.0.0.1", false),
            ("http://localhost", "64:ff9b::127.0.0.1", false),
            ("http://localhost", "2002:7f00:1::", false),
            ("http://*.localhost", "127.0.0.1", false),
        ]);
    }
}
