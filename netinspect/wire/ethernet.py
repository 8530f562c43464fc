"""Ethernet II header with up to two VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8).

Layout as data: 6-byte destination, 6-byte source, 2-byte EtherType; each VLAN tag adds a
2-byte TCI (priority, DEI, 12-bit VLAN id) followed by the next EtherType.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct("!6s6sH")
TAG = struct.Struct("!HH")          # TCI, inner EtherType
HEADER_LEN = 14
TAG_LEN = 4
MAX_TAGS = 2

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_VLAN = 0x8100
ETH_QINQ = 0x88A8
ETH_IPV6 = 0x86DD
VLAN_TYPES = frozenset((ETH_VLAN, ETH_QINQ, 0x9100))


class EthernetHeader(NamedTuple):
    dst: bytes
    src: bytes
    ethertype: int      # after the VLAN tags: the protocol of the payload
    vlans: tuple        # VLAN ids, outermost first
    length: int         # header bytes including tags
    malformed: str


def mac_text(mac: bytes) -> str:
    return mac.hex(":")


def decode(buf, offset: int = 0, end: int | None = None) -> EthernetHeader | None:
    """Decode the Ethernet header at `offset`; None when fewer than 14 bytes remain."""
    if end is None:
        end = len(buf)
    if end - offset < HEADER_LEN:
        return None
    dst, src, ethertype = HEADER.unpack_from(buf, offset)
    length = HEADER_LEN
    vlans = []
    malformed = ""
    while ethertype in VLAN_TYPES:
        if len(vlans) == MAX_TAGS:
            malformed = "more than 2 vlan tags"
            break
        if end - offset - length < TAG_LEN:
            malformed = "truncated vlan tag"
            break
        tci, ethertype = TAG.unpack_from(buf, offset + length)
        vlans.append(tci & 0x0FFF)
        length += TAG_LEN
    return EthernetHeader(dst, src, ethertype, tuple(vlans), length, malformed)
