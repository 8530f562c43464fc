"""The neighbour table (ARP for IPv4, neighbour discovery for IPv6) as records.

Two sources feed it: rtnetlink (both families, with NUD states as `ip neigh` names
them) and /proc/net/arp (IPv4 only; its flags say only complete, permanent or
incomplete). Parsing is here, pure; reading is in adapters/neighbors.py.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

# /proc/net/arp flags (linux/if_arp.h)
ATF_COM = 0x02        # completed entry (MAC known)
ATF_PERM = 0x04       # permanent entry
ATF_PUBL = 0x08       # published (proxy ARP)


class Neighbor(NamedTuple):
    ip: str
    mac: str                  # "" when not (yet) known
    state: tuple              # e.g. ("REACHABLE",) from netlink, ("COMPLETE",) from /proc/net/arp
    dev: str
    family: int               # 4 or 6
    router: bool = False
    source: str = "netlink"   # netlink | proc

    def as_dict(self) -> dict:
        return {"ip": self.ip, "mac": self.mac or None, "state": list(self.state), "dev": self.dev,
                "family": self.family, "router": self.router, "source": self.source}


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def proc_arp_state(flags: int) -> tuple:
    if flags & ATF_PERM:
        return ("PERMANENT",)
    if flags & ATF_COM:
        return ("COMPLETE",)
    return ("INCOMPLETE",)


def parse_proc_arp(text: str) -> list[Neighbor]:
    """Parse /proc/net/arp: 'IP address  HW type  Flags  HW address  Mask  Device' rows."""
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6:
            continue
        ip, _hwtype, flags_text, mac, _mask, dev = parts[:6]
        try:
            ipaddress.IPv4Address(ip)
            flags = int(flags_text, 16)
        except ValueError:
            continue
        known = bool(flags & (ATF_COM | ATF_PERM)) and mac != "00:00:00:00:00:00"
        rows.append(Neighbor(ip, mac.lower() if known else "", proc_arp_state(flags), dev, 4, source="proc"))
    return rows


def sort_key(n: Neighbor):
    return (n.dev, n.family, ipaddress.ip_address(n.ip))
