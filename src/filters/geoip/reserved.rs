//! Addresses no geo database places anywhere: private networks, loopback, link-local,
//! multicast, documentation and other special-purpose blocks (the IANA IPv4 and IPv6
//! special-purpose registries, less the blocks that are routed on the internet such as 6to4 and
//! Teredo). The filter skips them without a failure tag: a private address in a log is normal,
//! not a lookup failure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// (network, prefix length) pairs.
const V4: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0A00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 shared address space (carrier-grade NAT)
    (0x7F00_0000, 8),  // 127.0.0.0/8 loopback
    (0xA9FE_0000, 16), // 169.254.0.0/16 link-local
    (0xAC10_0000, 12), // 172.16.0.0/12 private
    (0xC000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xC000_0200, 24), // 192.0.2.0/24 documentation (TEST-NET-1)
    (0xC0A8_0000, 16), // 192.168.0.0/16 private
    (0xC612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xC633_6400, 24), // 198.51.100.0/24 documentation (TEST-NET-2)
    (0xCB00_7100, 24), // 203.0.113.0/24 documentation (TEST-NET-3)
    (0xE000_0000, 4),  // 224.0.0.0/4 multicast
    (0xF000_0000, 4),  // 240.0.0.0/4 reserved, and the broadcast address
];

const V6: &[(u128, u8)] = &[
    (0, 96),                                         // ::/96 unspecified, loopback, IPv4-compatible (deprecated)
    (0x0064_ff9b_0001_0000_0000_0000_0000_0000, 48), // 64:ff9b:1::/48 local-use IPv4/IPv6 translation
    (0x0100_0000_0000_0000_0000_0000_0000_0000, 64), // 100::/64 discard-only
    (0x2001_0002_0000_0000_0000_0000_0000_0000, 48), // 2001:2::/48 benchmarking
    (0x2001_0010_0000_0000_0000_0000_0000_0000, 28), // 2001:10::/28 ORCHID (deprecated)
    (0x2001_0020_0000_0000_0000_0000_0000_0000, 28), // 2001:20::/28 ORCHIDv2
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // 2001:db8::/32 documentation
    (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20), // 3fff::/20 documentation
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7),  // fc00::/7 unique local
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10), // fe80::/10 link-local
    (0xfec0_0000_0000_0000_0000_0000_0000_0000, 10), // fec0::/10 site-local (deprecated)
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8),  // ff00::/8 multicast
];

/// True for an address in a special-purpose block. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
/// is judged by its IPv4 address.
pub fn is_reserved(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_reserved_v4(v4),
        IpAddr::V6(v6) => is_reserved_v6(v6),
    }
}

fn is_reserved_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    V4.iter().any(|&(net, len)| bits & mask32(len) == net)
}

fn is_reserved_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    V6.iter().any(|&(net, len)| bits & mask128(len) == net)
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> bool {
        is_reserved(s.parse().unwrap())
    }

    #[test]
    fn reserved_v4_blocks_and_their_edges() {
        for ip in [
            "0.0.0.0",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.10.20",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.44",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.251",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(r(ip), "{ip} is reserved");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.0.3.1",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert!(!r(ip), "{ip} is public");
        }
    }

    #[test]
    fn reserved_v6_blocks_and_their_edges() {
        for ip in [
            "::",
            "::1",
            "::8.8.8.8",
            "64:ff9b:1::1",
            "100::1",
            "2001:2::1",
            "2001:db8::1",
            "2001:db8:ffff::1",
            "3fff::1",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:10.1.2.3",
            "::ffff:127.0.0.1",
        ] {
            assert!(r(ip), "{ip} is reserved");
        }
        for ip in [
            "2001:4860:4860::8888",
            "2a00:1450::1",
            "2001:db7:ffff::1",
            "2001:db9::1",
            "2002::1",
            "2001::1",
            "64:ff9b::808:808",
            "fbff::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!r(ip), "{ip} is public");
        }
    }
}
