"""Linux cooked capture headers: SLL v1 (LINKTYPE 113) and SLL2 (LINKTYPE 276).

SLL v1 (16 bytes): packet type, ARPHRD type, address length, 8-byte address, protocol.
SLL2 (20 bytes): protocol, reserved, interface index, ARPHRD type, packet type, address
length, 8-byte address.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

SLL_HEADER = struct.Struct("!HHH8sH")
SLL_LEN = 16
SLL2_HEADER = struct.Struct("!HHIHBB8s")
SLL2_LEN = 20

# Packet types (the capture's point of view).
PACKET_HOST = 0        # to us
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4    # from us
PKTTYPE_NAMES = {0: "host", 1: "broadcast", 2: "multicast", 3: "otherhost", 4: "outgoing"}

ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772


class SllHeader(NamedTuple):
    pkttype: int
    hatype: int
    address: bytes      # link-layer source address, trimmed to its stated length (max 8)
    protocol: int       # EtherType of the payload
    ifindex: int        # 0 for SLL v1, which does not record it
    length: int


def decode_v1(buf, offset: int = 0, end: int | None = None) -> SllHeader | None:
    if end is None:
        end = len(buf)
    if end - offset < SLL_LEN:
        return None
    pkttype, hatype, alen, addr, protocol = SLL_HEADER.unpack_from(buf, offset)
    return SllHeader(pkttype, hatype, addr[:min(alen, 8)], protocol, 0, SLL_LEN)


def decode_v2(buf, offset: int = 0, end: int | None = None) -> SllHeader | None:
    if end is None:
        end = len(buf)
    if end - offset < SLL2_LEN:
        return None
    protocol, _reserved, ifindex, hatype, pkttype, alen, addr = SLL2_HEADER.unpack_from(buf, offset)
    return SllHeader(pkttype, hatype, addr[:min(alen, 8)], protocol, ifindex, SLL2_LEN)
