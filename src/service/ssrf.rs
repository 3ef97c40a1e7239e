//! Where webhook deliveries may go: the SSRF guard. Unless WEBHOOK_ALLOW_PRIVATE, no delivery
//! reaches a loopback, private, link-local (cloud metadata), unique-local or other
//! special-purpose address; endpoints are checked when added (`webhooks`) and every connection
//! again when made (`jobs`), since a name can change what it resolves to.

use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]), len)
}

/// IPv4 blocks no delivery goes to: every block of the IANA IPv4 Special-Purpose Address
/// Registry (also the few marked globally reachable: anycast relays and DNS sinks are no
/// webhook receivers, and a whole block is easier to get right than its exceptions), multicast,
/// and the reserved 240/4 with the broadcast address.
const REFUSED_V4: [Ipv4Net; 18] = [
    v4(0, 0, 0, 0, 8),       // "this network"
    v4(10, 0, 0, 0, 8),      // private
    v4(100, 64, 0, 0, 10),   // shared address space (carrier-grade NAT)
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local, where cloud metadata services answer
    v4(172, 16, 0, 0, 12),   // private
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    v4(192, 0, 2, 0, 24),    // documentation (TEST-NET-1)
    v4(192, 31, 196, 0, 24), // AS112
    v4(192, 52, 193, 0, 24), // AMT
    v4(192, 88, 99, 0, 24),  // 6to4 relay anycast (deprecated)
    v4(192, 168, 0, 0, 16),  // private
    v4(192, 175, 48, 0, 24), // AS112 direct delegation
    v4(198, 18, 0, 0, 15),   // benchmarking
    v4(198, 51, 100, 0, 24), // documentation (TEST-NET-2)
    v4(203, 0, 113, 0, 24),  // documentation (TEST-NET-3)
    v4(224, 0, 0, 0, 4),     // multicast
    v4(240, 0, 0, 0, 4),     // reserved, with 255.255.255.255 (broadcast)
];

/// Global unicast: the only IPv6 space the internet routes. Everything outside it is refused,
/// which covers what the registries add there later.
const GLOBAL_V6: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// IPv6 blocks no delivery goes to: the IANA IPv6 Special-Purpose Address Registry (as for IPv4,
/// whole blocks), site-local and multicast. Those outside global unicast are refused by that
/// rule too; they are listed so the list can be read against the registry.
const REFUSED_V6: [Ipv6Net; 14] = [
    v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), // NAT64: reaches any IPv4 address through a gateway
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // NAT64 for local use
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),     // discard-only
    v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64),     // dummy prefix
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),    // IETF protocol assignments: Teredo, benchmarking, ORCHID
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48), // AS112 direct delegation
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),    // documentation
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),    // segment routing (SRv6) SIDs
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),     // unique local, incl. fd00:ec2::254 (AWS metadata)
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),    // link-local
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),    // site-local (deprecated, still routed inside sites)
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),     // multicast
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128),        // loopback (also refused as ::0.0.0.1)
];

/// The IPv4 address an IPv6 address carries, where a host or a relay may deliver to that IPv4
/// address: IPv4-mapped (::ffff:0:0/96), IPv4-translated (::ffff:0:0:0/96), IPv4-compatible
/// (::/96, deprecated; `::` and `::1` are 0.0.0.0 and 0.0.0.1 there) and 6to4 (2002::/16, the
/// relay's IPv4 address in bits 16 to 48).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0xffff, 0, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => {
            v4(hi, lo)
        }
        [0x2002, hi, lo, ..] => v4(hi, lo),
        _ => None,
    }
}

/// Whether deliveries may go to `ip` when private addresses are not allowed: not in any block of
/// the IANA special-purpose registries (loopback, private, link-local where cloud metadata lives,
/// unique-local, shared, documentation, benchmarking, ...), multicast, broadcast or reserved; an
/// IPv6 address that carries an IPv4 one is judged by that; other IPv6 only in global unicast.
pub fn address_allowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !REFUSED_V4.iter().any(|net| net.contains(&v4)),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => address_allowed(IpAddr::V4(v4)),
            None => GLOBAL_V6.contains(&v6) && !REFUSED_V6.iter().any(|net| net.contains(&v6)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_refused() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "192.0.0.170",
        ] {
            assert!(!address_allowed(bad.parse().unwrap()), "{bad}");
        }
        for good in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"] {
            assert!(address_allowed(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn every_special_purpose_range_is_refused_and_embedded_ipv4_is_judged_as_ipv4() {
        // Each range of issue 20, finding 11, and the rest of the IANA special-purpose
        // registries: an address inside each, and its first and last address.
        for bad in [
            // The finding's own addresses.
            "::127.0.0.1",     // IPv4-compatible, ::/96
            "::ffff:0:7f00:1", // IPv4-translated, ::ffff:0:0:0/96
            "2002:7f00:1::1",  // 6to4 of 127.0.0.1
            "fec0::1",         // site-local
            "198.18.0.1",      // benchmarking
            // IPv4 special-purpose registry.
            "0.1.2.3",
            "0.255.255.255",
            "10.255.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "127.255.255.254",
            "169.254.0.1",
            "172.31.255.255",
            "192.0.0.0",
            "192.0.0.9",
            "192.0.0.255",
            "192.0.2.1",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.168.255.255",
            "192.175.48.1",
            "198.18.0.0",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.200",
            "224.0.0.0",
            "239.255.255.250",
            "240.0.0.1",
            "254.1.2.3",
            "255.255.255.255",
            // The same behind every IPv6 form that carries an IPv4 address.
            "::ffff:198.18.0.1",
            "::ffff:0:a00:1",
            "::10.0.0.1",
            "::0.0.0.0",
            "2002:a9fe:a9fe::1",
            "2002:c612:1::",
            "2002:0:1::1",
            // IPv6 special-purpose registry, and what lies outside global unicast.
            "64:ff9b::101:101",
            "64:ff9b::ffff:ffff",
            "64:ff9b:1::1",
            "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "100:0:0:1::1",
            "2001::1",            // Teredo
            "2001:0:4136:e378::", // Teredo
            "2001:2::1",          // benchmarking
            "2001:20::1",         // ORCHIDv2
            "2001:1ff:ffff::1",
            "2001:db8::1",
            "2001:db8:ffff:ffff::1",
            "2620:4f:8000::1",
            "3fff::1",
            "3fff:fff::1",
            "5f00::1",
            "fc00::",
            "fdff:ffff::1",
            "fe80::",
            "febf:ffff::1",
            "fec0::",
            "feff:ffff::1",
            "ff00::",
            "ff02::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "4000::1",
            "1000::1",
        ] {
            assert!(!address_allowed(bad.parse().unwrap()), "{bad} must be refused");
        }
        for good in [
            "8.8.8.8",
            "1.0.0.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "192.0.1.1",
            "192.0.3.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.254",
            "::ffff:8.8.8.8",
            "::ffff:0:808:808",
            "2002:808:808::1", // 6to4 of 8.8.8.8
            "2001:200::1",     // just past 2001::/23
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "2620:4f:8001::1",
        ] {
            assert!(address_allowed(good.parse().unwrap()), "{good} must be allowed");
        }
    }
}
