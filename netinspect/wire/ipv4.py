"""IPv4 header (RFC 791): fixed 20 bytes, options, fragments; lengths checked, never trusted.

Layout as data: version/IHL, DSCP/ECN, total length, identification, flags/fragment offset,
TTL, protocol, checksum, source, destination. Checksums are not verified: with offload the
sending host captures them unfilled, so a mismatch means nothing there.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct("!BBHHHBBH4s4s")
MIN_LEN = 20
FLAG_DF = 0x4000
FLAG_MF = 0x2000
OFFSET_MASK = 0x1FFF

OPT_EOL = 0
OPT_NOP = 1


class Ipv4Header(NamedTuple):
    header_len: int
    tos: int
    total_len: int
    ident: int
    dont_fragment: bool
    more_fragments: bool
    frag_offset: int        # in bytes
    ttl: int
    protocol: int
    src: bytes
    dst: bytes
    options: tuple          # option type numbers, in order (NOP/EOL left out)
    payload_end: int        # where this packet's payload ends within the buffer
    malformed: str


def parse_options(buf, start: int, end: int) -> tuple[tuple, str]:
    """Option types in [start, end). Each step advances by at least one byte."""
    found = []
    i = start
    while i < end:
        kind = buf[i]
        if kind == OPT_EOL:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            return tuple(found), "ipv4 option cut off"
        length = buf[i + 1]
        if length < 2 or i + length > end:
            return tuple(found), f"ipv4 option {kind} has bad length {length}"
        found.append(kind)
        i += length
    return tuple(found), ""


def decode(buf, offset: int, end: int, snapped: bool = False) -> Ipv4Header | str:
    """The header at `offset`, or a reason string when not even the header can be read.

    `snapped` says the capture cut the frame short on purpose (caplen < wire length): then a
    total length beyond the captured bytes is expected, not a malformation.
    """
    avail = end - offset
    if avail < MIN_LEN:
        return f"truncated ipv4 header ({avail} of 20 bytes)"
    vihl, tos, total, ident, frag, ttl, proto, _csum, src, dst = HEADER.unpack_from(buf, offset)
    if vihl >> 4 != 4:
        return f"ip version {vihl >> 4} in an ipv4 packet"
    hlen = (vihl & 0x0F) * 4
    if hlen < MIN_LEN:
        return f"ipv4 header length {hlen} below minimum 20"
    if hlen > avail:
        return f"ipv4 header length {hlen} beyond packet ({avail} bytes)"
    malformed = ""
    options: tuple = ()
    if hlen > MIN_LEN:
        options, malformed = parse_options(buf, offset + MIN_LEN, offset + hlen)
    if total < hlen:
        # TSO on the sending host can leave total length 0; use what was captured.
        malformed = malformed or f"ipv4 total length {total} below header length {hlen}"
        payload_end = end
    elif total > avail:
        if not snapped:
            malformed = malformed or f"ipv4 total length {total} beyond capture ({avail} bytes)"
        payload_end = end
    else:
        payload_end = offset + total   # drop Ethernet padding
    return Ipv4Header(hlen, tos, total, ident, bool(frag & FLAG_DF), bool(frag & FLAG_MF),
                      (frag & OFFSET_MASK) * 8, ttl, proto, src, dst, options, payload_end, malformed)
