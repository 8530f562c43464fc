"""netinspect's own table of special-purpose address ranges, each with its RFC.

Kept as data here rather than taken from `ipaddress.is_private`/`is_global`, whose
answers have changed between Python patch releases. Sources: the IANA IPv4 and IPv6
Special-Purpose Address Registries (RFC 6890 and its updates), the multicast address
registries, and the RFCs named on each row. The most specific row containing an
address wins, so a /32 inside a /24 inside a /8 is described by the /32.

Each row: (range, kind, label, phrase, rfc)
  kind    stable identifier used in JSON
  label   short human name
  phrase  the noun used in the one-line summary ("a host in the <phrase> 10.0.0.0/24")
  rfc     the defining document
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecialRange:
    version: int
    network: int
    prefixlen: int
    kind: str
    label: str
    phrase: str
    rfc: str
    # True when an address here names a group, a placeholder or nothing usable, so the
    # summary says "an address in" rather than "a host in".
    not_a_host: bool = False

    @property
    def size(self) -> int:
        return 1 << ((32 if self.version == 4 else 128) - self.prefixlen)

    def contains(self, version: int, value: int) -> bool:
        return version == self.version and self.network <= value < self.network + self.size


# (cidr, kind, label, phrase, rfc, not_a_host)
_IPV4_ROWS = [
    ("0.0.0.0/8", "this-network", '"this network"', '"this network" block', "RFC 791", True),
    ("0.0.0.0/32", "unspecified", "unspecified, this host on this network", "unspecified address", "RFC 1122", True),
    ("10.0.0.0/8", "private-use", "private-use", "private network", "RFC 1918", False),
    ("100.64.0.0/10", "shared-address-space", "shared address space (carrier-grade NAT)",
     "shared address space (carrier-grade NAT)", "RFC 6598", False),
    ("127.0.0.0/8", "loopback", "loopback", "loopback network", "RFC 1122", False),
    ("169.254.0.0/16", "link-local", "link-local", "link-local network", "RFC 3927", False),
    ("172.16.0.0/12", "private-use", "private-use", "private network", "RFC 1918", False),
    ("192.0.0.0/24", "ietf-protocol-assignments", "IETF protocol assignments",
     "IETF protocol assignments block", "RFC 6890", False),
    ("192.0.0.0/29", "ipv4-service-continuity", "IPv4 service continuity prefix (DS-Lite)",
     "IPv4 service continuity prefix (DS-Lite)", "RFC 7335", False),
    ("192.0.0.8/32", "ipv4-dummy", "IPv4 dummy address", "IPv4 dummy address", "RFC 7600", False),
    ("192.0.0.9/32", "pcp-anycast", "Port Control Protocol anycast", "Port Control Protocol anycast address",
     "RFC 7723", False),
    ("192.0.0.10/32", "turn-anycast", "TURN anycast", "TURN anycast address", "RFC 8155", False),
    ("192.0.0.170/31", "nat64-discovery", "NAT64/DNS64 discovery", "NAT64/DNS64 discovery addresses",
     "RFC 8880", False),
    ("192.0.2.0/24", "documentation", "documentation (TEST-NET-1)", "documentation network TEST-NET-1",
     "RFC 5737", False),
    ("192.31.196.0/24", "as112", "AS112 DNS sink", "AS112 DNS sink network", "RFC 7535", False),
    ("192.52.193.0/24", "amt", "Automatic Multicast Tunneling", "AMT network", "RFC 7450", False),
    ("192.88.99.0/24", "6to4-relay-anycast", "deprecated 6to4 relay anycast", "deprecated 6to4 relay anycast network",
     "RFC 7526", False),
    ("192.168.0.0/16", "private-use", "private-use", "private network", "RFC 1918", False),
    ("192.175.48.0/24", "as112-direct-delegation", "AS112 direct delegation", "AS112 direct delegation network",
     "RFC 7534", False),
    ("198.18.0.0/15", "benchmarking", "benchmarking", "benchmarking network", "RFC 2544", False),
    ("198.51.100.0/24", "documentation", "documentation (TEST-NET-2)", "documentation network TEST-NET-2",
     "RFC 5737", False),
    ("203.0.113.0/24", "documentation", "documentation (TEST-NET-3)", "documentation network TEST-NET-3",
     "RFC 5737", False),
    ("224.0.0.0/4", "multicast", "multicast", "multicast range", "RFC 5771", True),
    ("224.0.0.0/24", "multicast-local-control", "multicast, local network control block (never routed)",
     "local network control multicast block", "RFC 5771", True),
    ("224.0.1.0/24", "multicast-internetwork-control", "multicast, internetwork control block",
     "internetwork control multicast block", "RFC 5771", True),
    ("232.0.0.0/8", "multicast-source-specific", "source-specific multicast", "source-specific multicast block",
     "RFC 4607", True),
    ("233.0.0.0/8", "multicast-glop", "GLOP multicast", "GLOP multicast block", "RFC 3180", True),
    ("233.252.0.0/24", "multicast-documentation", "multicast documentation (MCAST-TEST-NET)",
     "multicast documentation block MCAST-TEST-NET", "RFC 6676", True),
    ("239.0.0.0/8", "multicast-admin-scoped", "administratively scoped multicast",
     "administratively scoped multicast block", "RFC 2365", True),
    ("240.0.0.0/4", "reserved", "reserved (former class E)", "reserved range", "RFC 1112", True),
    ("255.255.255.255/32", "limited-broadcast", "limited broadcast", "limited broadcast address", "RFC 919", True),
]

_IPV6_ROWS = [
    ("::/128", "unspecified", "unspecified", "unspecified address", "RFC 4291", True),
    ("::1/128", "loopback", "loopback", "loopback address", "RFC 4291", False),
    ("::/96", "ipv4-compatible", "deprecated IPv4-compatible", "deprecated IPv4-compatible range", "RFC 4291", False),
    ("::ffff:0:0/96", "ipv4-mapped", "IPv4-mapped", "IPv4-mapped range", "RFC 4291", False),
    ("64:ff9b::/96", "ipv4-ipv6-translation", "IPv4/IPv6 translation (well-known prefix)",
     "IPv4/IPv6 translation prefix", "RFC 6052", False),
    ("64:ff9b:1::/48", "ipv4-ipv6-translation-local", "local-use IPv4/IPv6 translation",
     "local-use IPv4/IPv6 translation prefix", "RFC 8215", False),
    ("100::/64", "discard-only", "discard-only", "discard-only prefix", "RFC 6666", False),
    ("2000::/3", "global-unicast", "global unicast", "global unicast network", "RFC 4291", False),
    ("2001::/23", "ietf-protocol-assignments", "IETF protocol assignments",
     "IETF protocol assignments block", "RFC 2928", False),
    ("2001::/32", "teredo", "Teredo", "Teredo prefix", "RFC 4380", False),
    ("2001:1::1/128", "pcp-anycast", "Port Control Protocol anycast", "Port Control Protocol anycast address",
     "RFC 7723", False),
    ("2001:1::2/128", "turn-anycast", "TURN anycast", "TURN anycast address", "RFC 8155", False),
    ("2001:2::/48", "benchmarking", "benchmarking", "benchmarking network", "RFC 5180", False),
    ("2001:3::/32", "amt", "Automatic Multicast Tunneling", "AMT prefix", "RFC 7450", False),
    ("2001:4:112::/48", "as112", "AS112-v6 DNS sink", "AS112-v6 DNS sink network", "RFC 7535", False),
    ("2001:10::/28", "orchid", "deprecated ORCHID", "deprecated ORCHID prefix", "RFC 4843", False),
    ("2001:20::/28", "orchid-v2", "ORCHIDv2", "ORCHIDv2 prefix", "RFC 7343", False),
    ("2001:30::/28", "drip", "Drone Remote ID Protocol entity tags", "DRIP prefix", "RFC 9374", False),
    ("2001:db8::/32", "documentation", "documentation", "documentation network", "RFC 3849", False),
    ("2002::/16", "6to4", "6to4", "6to4 network", "RFC 3056", False),
    ("2620:4f:8000::/48", "as112-direct-delegation", "AS112 direct delegation", "AS112 direct delegation network",
     "RFC 7534", False),
    ("3fff::/20", "documentation", "documentation", "documentation network", "RFC 9637", False),
    ("5f00::/16", "srv6-sid", "SRv6 segment identifiers", "SRv6 SID block", "RFC 9602", False),
    ("fc00::/7", "unique-local", "unique local (private)", "unique local network", "RFC 4193", False),
    ("fe80::/10", "link-local", "link-local unicast", "link-local network", "RFC 4291", False),
    ("fec0::/10", "site-local", "deprecated site-local", "deprecated site-local network", "RFC 3879", False),
    ("ff00::/8", "multicast", "multicast", "multicast range", "RFC 4291", True),
    ("ff02::1/128", "multicast-all-nodes", "all-nodes multicast (link-local scope)", "all-nodes multicast address",
     "RFC 4291", True),
    ("ff02::2/128", "multicast-all-routers", "all-routers multicast (link-local scope)",
     "all-routers multicast address", "RFC 4291", True),
    ("ff02::1:ff00:0/104", "multicast-solicited-node", "solicited-node multicast (neighbour discovery)",
     "solicited-node multicast range", "RFC 4291", True),
]

# When no row matches: IPv4 is ordinary public unicast; IPv6 outside 2000::/3 and the
# rows above is space the IETF has not assigned.
PUBLIC_V4 = SpecialRange(4, 0, 0, "public", "public unicast (no special-purpose range)", "public network",
                         "RFC 791")
UNASSIGNED_V6 = SpecialRange(6, 0, 0, "ietf-reserved", "IETF reserved (not yet assigned)", "reserved range",
                             "RFC 4291")

# IPv6 multicast scope: the fourth hex digit of ff0X:: (RFC 4291 section 2.7, RFC 7346).
ASSIGNED_MULTICAST_SCOPES_V6 = {
    0x1: "interface-local",
    0x2: "link-local",
    0x3: "realm-local",
    0x4: "admin-local",
    0x5: "site-local",
    0x8: "organization-local",
    0xE: "global",
}
MULTICAST_SCOPES_V6 = {**ASSIGNED_MULTICAST_SCOPES_V6, 0x0: "reserved", 0xF: "reserved"}


def _build() -> tuple[SpecialRange, ...]:
    # Parsing here goes through netinspect's own strict parser, imported lazily to
    # avoid a cycle (subnet.py imports this module for classification).
    from netinspect.core.subnet import parse_network_text

    rows = []
    for version, table in ((4, _IPV4_ROWS), (6, _IPV6_ROWS)):
        for cidr, kind, label, phrase, rfc, not_a_host in table:
            parsed = parse_network_text(cidr)
            if parsed.version != version or parsed.address != parsed.network:
                raise ValueError(f"special-range table row {cidr} is not a network")
            rows.append(SpecialRange(version, parsed.network, parsed.prefixlen, kind, label, phrase, rfc,
                                     not_a_host))
    # Most specific first, so the first hit is the answer.
    rows.sort(key=lambda row: -row.prefixlen)
    return tuple(rows)


_TABLE: tuple[SpecialRange, ...] | None = None


def table() -> tuple[SpecialRange, ...]:
    global _TABLE
    if _TABLE is None:
        _TABLE = _build()
    return _TABLE


def classify(version: int, value: int) -> SpecialRange:
    """The most specific special range containing the address, or the default row."""
    for row in table():
        if row.contains(version, value):
            return row
    return PUBLIC_V4 if version == 4 else UNASSIGNED_V6


def multicast_scope_v6(value: int) -> str | None:
    """Scope name of an IPv6 multicast address (ff00::/8), else None."""
    if value >> 120 != 0xFF:
        return None
    scope = (value >> 112) & 0xF
    return MULTICAST_SCOPES_V6.get(scope, "unassigned")


def inside(version: int, network: int, prefixlen: int) -> list[SpecialRange]:
    """Rows lying wholly inside the given network and smaller than it, widest first."""
    bits = 32 if version == 4 else 128
    last = network + (1 << (bits - prefixlen)) - 1
    rows = [row for row in table()
            if row.version == version and row.prefixlen > prefixlen and network <= row.network <= last]
    return sorted(rows, key=lambda row: (row.prefixlen, row.network))
