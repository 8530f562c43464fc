"""Unicast, broadcast or multicast: the cast of a frame at layer 2 and at layer 3.

Layer 2: the least significant bit of the destination MAC's first octet is the I/G
(individual/group) bit. 0 means one receiver (unicast); 1 means a group (multicast),
and the all-ones address ff:ff:ff:ff:ff:ff is the broadcast group. The next bit is U/L
(universal or locally administered).

Layer 3: IPv4 broadcast is 255.255.255.255 (limited) or the directed broadcast of a
known subnet; 224.0.0.0/4 is multicast. IPv6 has no broadcast; ff00::/8 is multicast,
with a scope in the low nibble of the second octet.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Iterable, NamedTuple

from netinspect.core.special_ranges import ASSIGNED_MULTICAST_SCOPES_V6

UNICAST = "unicast"
BROADCAST = "broadcast"
MULTICAST = "multicast"
KINDS = (UNICAST, BROADCAST, MULTICAST)

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"

# Well-known layer-2 group prefixes, so the answer can name what the group is for.
_MAC_GROUPS = (
    ("01:00:5e", "IPv4 multicast (01:00:5e + low 23 bits of the group address)"),
    ("33:33", "IPv6 multicast (33:33 + low 32 bits of the group address)"),
    ("01:80:c2:00:00:00", "spanning tree (STP bridge group)"),
    ("01:80:c2:00:00:0e", "LLDP"),
    ("01:80:c2", "IEEE 802.1 reserved group (bridges do not forward)"),
    ("01:00:0c:cc:cc:cc", "Cisco CDP/VTP"),
)

_IPV4_GROUPS = {
    "224.0.0.1": "all hosts",
    "224.0.0.2": "all routers",
    "224.0.0.5": "OSPF routers",
    "224.0.0.6": "OSPF designated routers",
    "224.0.0.9": "RIPv2 routers",
    "224.0.0.13": "PIM routers",
    "224.0.0.18": "VRRP",
    "224.0.0.22": "IGMPv3 reports",
    "224.0.0.251": "mDNS",
    "224.0.0.252": "LLMNR",
    "224.0.1.1": "NTP",
    "239.255.255.250": "SSDP (UPnP)",
}

_IPV6_GROUPS = {
    "ff02::1": "all nodes",
    "ff02::2": "all routers",
    "ff02::5": "OSPFv3 routers",
    "ff02::6": "OSPFv3 designated routers",
    "ff02::9": "RIPng routers",
    "ff02::d": "PIM routers",
    "ff02::16": "MLDv2 reports",
    "ff02::fb": "mDNS",
    "ff02::1:2": "DHCPv6 servers and relays",
    "ff02::1:3": "LLMNR",
    "ff05::1:3": "DHCPv6 servers (site)",
    "ff02::c": "SSDP (UPnP)",
    "ff05::c": "SSDP (UPnP, site)",
}

_SOLICITED_NODE = ipaddress.IPv6Network("ff02::1:ff00:0/104")
_IPV4_MULTICAST = ipaddress.IPv4Network("224.0.0.0/4")
_IPV4_LOCAL_CONTROL = ipaddress.IPv4Network("224.0.0.0/24")
_IPV4_INTERNETWORK_CONTROL = ipaddress.IPv4Network("224.0.1.0/24")
_IPV4_SSM = ipaddress.IPv4Network("232.0.0.0/8")
_IPV4_ADMIN = ipaddress.IPv4Network("239.0.0.0/8")
_IPV4_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class Cast(NamedTuple):
    """The cast of one address: kind, plus the group and scope where there is one."""

    layer: int              # 2 or 3
    kind: str               # unicast | broadcast | multicast
    address: str
    group: str = ""         # multicast: the group (layer 3) or what the MAC group is for
    scope: str = ""         # multicast scope, or "limited"/"directed" for IPv4 broadcast
    why: str = ""           # one line: the bit or range that decided it

    def as_dict(self) -> dict:
        return self._asdict()


def normalize_mac(mac: str | bytes) -> str:
    """'02:77:00:03:00:01' from bytes or from any case/separator form of six octets."""
    if isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"a MAC address has 6 bytes, got {len(mac)}")
        return ":".join(f"{b:02x}" for b in mac)
    text = mac.strip().lower().replace("-", ":").replace(".", "")
    if ":" not in text and len(text) == 12:
        text = ":".join(text[i:i + 2] for i in range(0, 12, 2))
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) in (1, 2) and all(c in "0123456789abcdef" for c in p) for p in parts):
        raise ValueError(f"not a MAC address: {mac!r}")
    return ":".join(p.zfill(2) for p in parts)


def ig_bit(mac: str | bytes) -> int:
    """The I/G bit: 0 individual (unicast), 1 group (multicast or broadcast)."""
    return int(normalize_mac(mac)[:2], 16) & 0x01


def ul_bit(mac: str | bytes) -> int:
    """The U/L bit: 0 universally administered (vendor OUI), 1 locally administered."""
    return (int(normalize_mac(mac)[:2], 16) >> 1) & 0x01


def l2_cast(dst_mac: str | bytes) -> Cast:
    mac = normalize_mac(dst_mac)
    first = int(mac[:2], 16)
    if mac == BROADCAST_MAC:
        return Cast(2, BROADCAST, mac, why="all-ones destination MAC (I/G bit 1)")
    if first & 0x01:
        group = next((name for prefix, name in _MAC_GROUPS if mac.startswith(prefix)), "")
        return Cast(2, MULTICAST, mac, group=group,
                    why=f"I/G bit of the first octet 0x{first:02x} is 1 (group address)")
    return Cast(2, UNICAST, mac, why=f"I/G bit of the first octet 0x{first:02x} is 0 (individual address)")


def l2_cast_from_sll(pkttype: int, address: str = "") -> Cast | None:
    """Linux cooked captures keep no destination MAC; the packet type says the cast instead.

    0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us (cast unknown).
    """
    if pkttype == 1:
        return Cast(2, BROADCAST, address, why="cooked capture packet type 1 (broadcast)")
    if pkttype == 2:
        return Cast(2, MULTICAST, address, why="cooked capture packet type 2 (multicast)")
    if pkttype in (0, 3):
        return Cast(2, UNICAST, address, why=f"cooked capture packet type {pkttype} (to {'us' if pkttype == 0 else 'another host'})")
    return None


def l3_cast(dst_ip: str, subnet: str | None = None) -> Cast:
    """Cast of a destination IP; `subnet` (e.g. '10.77.3.0/24') lets a directed broadcast be recognised."""
    addr = ipaddress.ip_address(dst_ip)
    text = str(addr)
    if addr.version == 4:
        if addr == _IPV4_LIMITED_BROADCAST:
            return Cast(3, BROADCAST, text, scope="limited", why="255.255.255.255: limited broadcast, never routed")
        if subnet:
            net = ipaddress.ip_network(subnet, strict=False)
            if net.version == 4 and net.prefixlen < 31 and addr == net.broadcast_address:
                return Cast(3, BROADCAST, text, scope="directed", why=f"broadcast address of {net}")
        if addr in _IPV4_MULTICAST:
            return Cast(3, MULTICAST, text, group=_IPV4_GROUPS.get(text, text), scope=_ipv4_scope(addr),
                        why="in 224.0.0.0/4 (class D, multicast)")
        return Cast(3, UNICAST, text, why="one destination host")
    if addr.is_multicast:
        scope_nibble = addr.packed[1] & 0x0F
        scope = ASSIGNED_MULTICAST_SCOPES_V6.get(scope_nibble, f"scope {scope_nibble:x}")
        group = _IPV6_GROUPS.get(text)
        if group is None and addr in _SOLICITED_NODE:
            low = addr.packed
            group = f"solicited-node (neighbour discovery for addresses ending in {low[13]:02x}:{low[14]:02x}{low[15]:02x})"
        return Cast(3, MULTICAST, text, group=group or text, scope=scope, why="in ff00::/8 (IPv6 multicast)")
    return Cast(3, UNICAST, text, why="one destination host (IPv6 has no broadcast)")


def _ipv4_scope(addr: ipaddress.IPv4Address) -> str:
    if addr in _IPV4_LOCAL_CONTROL:
        return "link-local (224.0.0.0/24, TTL 1, never routed)"
    if addr in _IPV4_INTERNETWORK_CONTROL:
        return "internetwork control (224.0.1.0/24)"
    if addr in _IPV4_SSM:
        return "source-specific (232.0.0.0/8)"
    if addr in _IPV4_ADMIN:
        return "administratively scoped (239.0.0.0/8, organization-local)"
    return "global"


def multicast_mac(group_ip: str) -> str:
    """The destination MAC an IP multicast group maps to (RFC 1112 section 6.4, RFC 2464 section 7)."""
    addr = ipaddress.ip_address(group_ip)
    if not addr.is_multicast:
        raise ValueError(f"{group_ip} is not a multicast address")
    packed = addr.packed
    if addr.version == 4:
        low = bytes([packed[1] & 0x7F, packed[2], packed[3]])
        return normalize_mac(b"\x01\x00\x5e" + low)
    return normalize_mac(b"\x33\x33" + packed[12:])


def consistency(l2: Cast | None, l3: Cast | None) -> str:
    """'' when the two layers agree, else one line saying how they differ."""
    if l2 is None or l3 is None or not l2.address:
        return ""
    if l3.kind == MULTICAST and l2.kind == MULTICAST:
        expected = multicast_mac(l3.address)
        if l2.address != expected:
            return f"multicast group {l3.address} maps to {expected}, but the frame went to {l2.address}"
        return ""
    if l3.kind == BROADCAST and l2.kind != BROADCAST:
        return f"IP broadcast {l3.address} sent to {l2.kind} MAC {l2.address}"
    if l3.kind == UNICAST and l2.kind != UNICAST:
        return f"IP unicast {l3.address} sent to {l2.kind} MAC {l2.address}"
    return ""


class CastSummary:
    """Counts of frames per cast at layer 2 and layer 3, plus the multicast groups seen."""

    def __init__(self) -> None:
        self.l2: Counter = Counter()
        self.l3: Counter = Counter()
        self.groups: Counter = Counter()
        self.frames = 0

    def feed(self, l2: Cast | None, l3: Cast | None = None) -> None:
        self.frames += 1
        self.l2[l2.kind if l2 else "unknown"] += 1
        if l3 is not None:
            self.l3[l3.kind] += 1
            if l3.kind == MULTICAST:
                self.groups[l3.address] += 1

    def feed_addresses(self, dst_mac: str | bytes | None, dst_ip: str | None = None, subnet: str | None = None) -> None:
        """Feed raw addresses; a frame without a MAC (raw IP, cooked) counts as 'unknown' at layer 2."""
        l2 = l2_cast(dst_mac) if dst_mac else None
        l3 = l3_cast(dst_ip, subnet) if dst_ip else None
        self.feed(l2, l3)

    def as_dict(self) -> dict:
        return {
            "frames": self.frames,
            "layer2": {kind: self.l2.get(kind, 0) for kind in (*KINDS, "unknown") if kind in KINDS or self.l2.get(kind)},
            "layer3": {kind: self.l3.get(kind, 0) for kind in KINDS},
            "multicast_groups": dict(sorted(self.groups.items())),
        }


def summarize(pairs: Iterable[tuple[str | bytes | None, str | None]]) -> CastSummary:
    summary = CastSummary()
    for mac, ip in pairs:
        summary.feed_addresses(mac, ip)
    return summary
