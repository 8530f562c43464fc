"""UDP header (RFC 768): ports, length, checksum (8 bytes). The length field is checked."""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct("!HHHH")
HEADER_LEN = 8


class UdpHeader(NamedTuple):
    src_port: int
    dst_port: int
    length: int
    payload_len: int
    malformed: str


def decode(buf, offset: int, end: int, ip_payload_len: int, snapped: bool = False) -> UdpHeader | str:
    """`ip_payload_len` is what the IP header says follows it; the UDP length must fit in it."""
    avail = end - offset
    if avail < HEADER_LEN:
        return f"truncated udp header ({avail} of 8 bytes)"
    sport, dport, length, _csum = HEADER.unpack_from(buf, offset)
    malformed = ""
    if length < HEADER_LEN:
        # Zero is legal only for IPv6 jumbograms; either way trust the IP length.
        if length != 0:
            malformed = f"udp length {length} below minimum 8"
        payload_len = max(ip_payload_len - HEADER_LEN, 0)
    elif length > ip_payload_len:
        malformed = f"udp length {length} beyond ip payload ({ip_payload_len} bytes)"
        payload_len = max(ip_payload_len - HEADER_LEN, 0)
    else:
        payload_len = length - HEADER_LEN
    return UdpHeader(sport, dport, length, payload_len, malformed)
