"""Read the kernel's neighbour table: rtnetlink dump, or /proc/net/arp for IPv4.

No scapy and no external command: a raw AF_NETLINK socket sends one RTM_GETNEIGH dump
request and reads until NLMSG_DONE, with a deadline so a silent kernel cannot hang us.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time

from netinspect.core.errors import RuntimeFailure
from netinspect.core.neighbor import Neighbor, mac_text, parse_proc_arp, sort_key
from netinspect.wire import netlink

PROC_ARP = "/proc/net/arp"
DEADLINE_S = 3.0
MAX_BUFFERS = 10_000


def _ifname(index: int, cache: dict) -> str:
    if index not in cache:
        try:
            cache[index] = socket.if_indextoname(index)
        except OSError:
            cache[index] = f"if{index}"
    return cache[index]


def from_netlink(family: int = netlink.AF_UNSPEC, deadline_s: float = DEADLINE_S) -> list[Neighbor]:
    """Every neighbour entry of the given family (AF_UNSPEC: IPv4 and IPv6)."""
    seq = int(time.time()) & 0x7FFFFFFF or 1
    parser = netlink.DumpParser(seq)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        sock.sendto(netlink.dump_request(seq, family), (0, 0))
        end = time.monotonic() + deadline_s
        for _ in range(MAX_BUFFERS):
            left = end - time.monotonic()
            if left <= 0:
                raise RuntimeFailure(f"neighbour table: no complete netlink answer within {deadline_s:g} s")
            sock.settimeout(left)
            try:
                buf = sock.recv(65536)
            except socket.timeout:
                continue
            try:
                parser.feed(buf)
            except netlink.NetlinkError as error:
                raise RuntimeFailure(f"neighbour table: kernel refused the netlink dump: {os.strerror(error.errno)}") from None
            if parser.done:
                break
    names: dict[int, str] = {}
    rows = []
    for msg in parser.neighbours:
        if msg.family not in (netlink.AF_INET, netlink.AF_INET6) or len(msg.dst) not in (4, 16):
            continue
        ip = str(ipaddress.ip_address(msg.dst))
        rows.append(Neighbor(ip, mac_text(msg.lladdr) if msg.lladdr else "", tuple(netlink.state_names(msg.state)),
                             _ifname(msg.ifindex, names), 4 if msg.family == netlink.AF_INET else 6,
                             router=bool(msg.flags & netlink.NTF_ROUTER), source="netlink"))
    return sorted(rows, key=sort_key)


def from_proc(path: str = PROC_ARP) -> list[Neighbor]:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read(4 * 1024 * 1024)
    except OSError as error:
        raise RuntimeFailure(f"{path}: cannot read the ARP table: {error.strerror}") from None
    return sorted(parse_proc_arp(text), key=sort_key)


def read_table(source: str = "auto", family: int | None = None) -> tuple[list[Neighbor], str]:
    """(neighbours, how they were read). `source`: auto (netlink, else /proc/net/arp), netlink, proc."""
    if source == "proc":
        rows, how = from_proc(), "proc"
    else:
        try:
            rows, how = from_netlink(), "netlink"
        except OSError as error:
            if source == "netlink":
                raise RuntimeFailure(f"neighbour table: netlink socket failed: {error.strerror or error}") from None
            # Without netlink there is still /proc/net/arp, but only for IPv4.
            rows, how = from_proc(), "proc (netlink unavailable: IPv4 only)"
    if family is not None:
        rows = [n for n in rows if n.family == family]
    return rows, how
