"""Interfaces as the OS reports them: netifaces for IPv4 and default gateways, /sys for the
link (index, state, MAC, MTU, speed, flags), /proc/net/if_inet6 for IPv6 with its scope.

Not scapy (it costs most of a second to import) and not psutil (/sys has everything psutil
would read, without the import). Field names follow `ip -j addr` so the output can be
checked against iproute2 field by field.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

SYS_NET = "/sys/class/net"
PROC_IF_INET6 = "/proc/net/if_inet6"
PROC_ROUTE = "/proc/net/route"
PROC_IPV6_ROUTE = "/proc/net/ipv6_route"

# include/uapi/linux/if.h: the flags `ip link` prints from dev->flags.
# In the order `ip link` prints them (<BROADCAST,MULTICAST,UP,LOWER_UP>), not bit order.
_IFF = (
    (0x8, "LOOPBACK"), (0x2, "BROADCAST"), (0x10, "POINTOPOINT"), (0x1000, "MULTICAST"),
    (0x80, "NOARP"), (0x200, "ALLMULTI"), (0x100, "PROMISC"), (0x1, "UP"),
)
# include/net/ipv6.h: IPV6_ADDR_SCOPE_* as /proc/net/if_inet6 prints them (masked to 0xf0).
_V6_SCOPE = {0x00: "global", 0x10: "host", 0x20: "link", 0x40: "site"}
_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")


@dataclass
class Address:
    family: str                 # "inet" or "inet6" (ip's names)
    local: str
    prefixlen: int
    scope: str                  # global, link, host, site
    netmask: str
    broadcast: str | None = None
    peer: str | None = None     # point-to-point remote end (ip's "address")
    label: str | None = None

    def as_json(self) -> dict:
        out = {"family": self.family, "local": self.local, "prefixlen": self.prefixlen,
               "netmask": self.netmask, "scope": self.scope}
        if self.broadcast:
            out["broadcast"] = self.broadcast
        if self.peer:
            out["address"] = self.peer
        if self.label:
            out["label"] = self.label
        return out


@dataclass
class Interface:
    ifname: str
    ifindex: int
    operstate: str              # UP, DOWN, UNKNOWN, ... (ip's upper-case spelling)
    address: str | None         # MAC
    mtu: int | None
    flags: list[str] = field(default_factory=list)
    speed: int | None = None    # Mb/s when the driver knows it
    addr_info: list[Address] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"ifindex": self.ifindex, "ifname": self.ifname, "flags": self.flags, "mtu": self.mtu,
                "operstate": self.operstate, "address": self.address, "speed": self.speed,
                "addr_info": [a.as_json() for a in self.addr_info]}


@dataclass
class Gateway:
    family: str                 # inet / inet6
    gateway: str
    dev: str

    def as_json(self) -> dict:
        return {"family": self.family, "gateway": self.gateway, "dev": self.dev}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _read_int(path: str, base: int = 10) -> int | None:
    text = _read(path)
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None


def interface_names() -> list[str]:
    try:
        return os.listdir(SYS_NET)
    except OSError:
        return []


def _link(name: str) -> Interface:
    base = f"{SYS_NET}/{name}"
    flags_value = _read_int(f"{base}/flags", 16) or 0
    flags = [label for bit, label in _IFF if flags_value & bit]
    # LOWER_UP is not in dev->flags; ip derives it from the carrier, and so do we.
    if flags_value & 0x1 and _read(f"{base}/carrier") == "1":
        flags.append("LOWER_UP")
    speed = _read_int(f"{base}/speed")
    mac = _read(f"{base}/address") or None
    return Interface(
        ifname=name,
        ifindex=_read_int(f"{base}/ifindex") or 0,
        operstate=(_read(f"{base}/operstate") or "unknown").upper(),
        address=mac,
        mtu=_read_int(f"{base}/mtu"),
        flags=flags,
        speed=speed if speed is not None and speed > 0 else None,
    )


def _ipv4_addresses(known: set[str]) -> dict[str, list[Address]]:
    """IPv4 addresses by interface, from getifaddrs (netifaces). Labels (`eth0:1`) are
    folded into their device, as `ip addr` shows them."""
    import netifaces

    out: dict[str, list[Address]] = {}
    for label in netifaces.interfaces():
        device = label.split(":", 1)[0] if ":" in label and label.split(":", 1)[0] in known else label
        for entry in netifaces.ifaddresses(label).get(netifaces.AF_INET, []):
            local = entry.get("addr")
            if not local:
                continue
            mask = entry.get("netmask") or "255.255.255.255"
            try:
                prefixlen = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
            except ValueError:
                prefixlen = 32
            # getifaddrs puts a point-to-point peer in the broadcast slot; netifaces calls
            # it "peer". On a loopback it is just the address itself, which ip does not show.
            peer = entry.get("peer")
            if peer == local:
                peer = None
            # With no broadcast configured (`ip addr add A/N` without `brd`), getifaddrs
            # repeats the local address in the broadcast slot; ip shows no broadcast then.
            broadcast = entry.get("broadcast")
            if broadcast == local and prefixlen < 32:
                broadcast = None
            scope = "host" if ipaddress.IPv4Address(local) in _LOOPBACK_V4 else "global"
            out.setdefault(device, []).append(Address(
                family="inet", local=local, prefixlen=prefixlen, scope=scope, netmask=mask,
                broadcast=broadcast, peer=peer, label=label if label != device else None))
    return out


def _ipv6_addresses() -> dict[str, list[Address]]:
    """IPv6 addresses by interface, with the kernel's scope, from /proc/net/if_inet6."""
    out: dict[str, list[Address]] = {}
    text = _read(PROC_IF_INET6) or ""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6:
            continue
        hex_addr, _index, plen, scope, _flags, name = fields
        try:
            address = ipaddress.IPv6Address(int(hex_addr, 16))
            prefixlen = int(plen, 16)
            scope_name = _V6_SCOPE.get(int(scope, 16) & 0xF0, f"scope-{scope}")
        except ValueError:
            continue
        netmask = str(ipaddress.IPv6Network(f"::/{prefixlen}").netmask)
        out.setdefault(name, []).append(Address(
            family="inet6", local=address.compressed, prefixlen=prefixlen, scope=scope_name, netmask=netmask))
    return out


def list_interfaces(name: str | None = None) -> list[Interface]:
    """Every interface (or the one named), ordered by index like `ip addr`."""
    names = interface_names()
    known = set(names)
    if name is not None:
        names = [n for n in names if n == name]
    links = [_link(n) for n in names]
    v4 = _ipv4_addresses(known)
    v6 = _ipv6_addresses()
    for link in links:
        link.addr_info = v4.get(link.ifname, []) + v6.get(link.ifname, [])
    links.sort(key=lambda link: link.ifindex)
    return links


def default_gateways() -> list[Gateway]:
    """Default gateways, IPv4 then IPv6, each with the interface that reaches it."""
    try:
        import netifaces

        found = netifaces.gateways()
        out = []
        for family, family_name in ((netifaces.AF_INET, "inet"), (netifaces.AF_INET6, "inet6")):
            for entry in found.get(family, []):
                gateway, dev = entry[0], entry[1]
                is_default = entry[2] if len(entry) > 2 else True
                if is_default:
                    out.append(Gateway(family_name, gateway.split("%", 1)[0], dev))
        return out
    except Exception:  # noqa: BLE001 - netifaces' netlink read failed: /proc still knows
        return proc_default_gateways()


def proc_default_gateways() -> list[Gateway]:
    """Default routes read from /proc/net/route and /proc/net/ipv6_route."""
    out = []
    for line in (_read(PROC_ROUTE) or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
            gateway = ipaddress.IPv4Address(int(fields[2], 16).to_bytes(4, "little"))
            if int(fields[3], 16) & 0x2:  # RTF_GATEWAY
                out.append(Gateway("inet", str(gateway), fields[0]))
    for line in (_read(PROC_IPV6_ROUTE) or "").splitlines():
        fields = line.split()
        if len(fields) == 10 and fields[0] == "0" * 32 and fields[1] == "00" and int(fields[8], 16) & 0x2:
            if fields[9] == "lo":
                continue  # the unreachable default the kernel keeps on lo
            out.append(Gateway("inet6", ipaddress.IPv6Address(int(fields[4], 16)).compressed, fields[9]))
    return out


def has_default_route() -> bool:
    return bool(proc_default_gateways())
