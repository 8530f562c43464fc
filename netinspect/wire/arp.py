"""ARP (RFC 826): operation, sender and target hardware and protocol addresses.

Layout as data: hardware type, protocol type, hardware length, protocol length, operation,
then sender hardware/protocol and target hardware/protocol addresses of the stated sizes.
Ethernet/IPv4 (6-byte MACs, 4-byte addresses) is decoded to text; other sizes keep hex.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from netinspect.wire.addresses import ipv4_text

FIXED = struct.Struct("!HHBBH")
FIXED_LEN = 8
REQUEST = 1
REPLY = 2
OP_NAMES = {1: "request", 2: "reply", 3: "rarp-request", 4: "rarp-reply"}


@dataclass(slots=True)
class ArpPacket:
    ts_ns: int
    op: int                 # 1 request (who-has), 2 reply (is-at)
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str
    hw_type: int = 1
    proto_type: int = 0x0800
    frame_index: int = 0
    malformed: str = ""

    @property
    def op_name(self) -> str:
        return OP_NAMES.get(self.op, f"op {self.op}")


def decode(buf, offset: int, end: int, ts_ns: int = 0, frame_index: int = 0) -> ArpPacket | None:
    """None when even the fixed 8 bytes are missing; otherwise a packet, flagged if short."""
    if end - offset < FIXED_LEN:
        return None
    htype, ptype, hlen, plen, op = FIXED.unpack_from(buf, offset)
    need = FIXED_LEN + 2 * (hlen + plen)
    if end - offset < need:
        return ArpPacket(ts_ns, op, "", "", "", "", htype, ptype, frame_index,
                         f"truncated arp ({end - offset} of {need} bytes)")
    p = offset + FIXED_LEN
    sha = bytes(buf[p:p + hlen]); p += hlen
    spa = bytes(buf[p:p + plen]); p += plen
    tha = bytes(buf[p:p + hlen]); p += hlen
    tpa = bytes(buf[p:p + plen])
    ip_text = ipv4_text if (ptype == 0x0800 and plen == 4) else (lambda raw: raw.hex())
    return ArpPacket(ts_ns, op, sha.hex(":"), ip_text(spa), tha.hex(":"), ip_text(tpa),
                     htype, ptype, frame_index, "")
