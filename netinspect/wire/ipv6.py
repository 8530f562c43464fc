"""IPv6 header (RFC 8200) and its extension-header chain, walked with a bound.

Layout as data: version/traffic class/flow label, payload length, next header, hop limit,
source, destination (40 bytes). Extension headers are walked at most MAX_EXTENSIONS deep;
each is at least 8 bytes, so the walk always advances. A header type repeated beyond what
RFC 8200 section 4.1 allows (destination options twice, the others once) is flagged as a
loop, and so is a hop-by-hop header that is not first.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct("!IHBB16s16s")
HEADER_LEN = 40
EXT = struct.Struct("!BB")
FRAG = struct.Struct("!BxHI")
MAX_EXTENSIONS = 8

HOP_BY_HOP = 0
ROUTING = 43
FRAGMENT = 44
ESP = 50
AUTH = 51
NO_NEXT = 59
DEST_OPTS = 60
MOBILITY = 135
HIP = 139
SHIM6 = 140
EXTENSIONS = frozenset((HOP_BY_HOP, ROUTING, FRAGMENT, AUTH, DEST_OPTS, MOBILITY, HIP, SHIM6))
ALLOWED_REPEATS = {DEST_OPTS: 2}


class Ipv6Header(NamedTuple):
    traffic_class: int
    flow_label: int
    payload_len: int
    hop_limit: int
    src: bytes
    dst: bytes
    extensions: tuple       # extension header numbers walked, in order
    protocol: int           # the upper-layer protocol after the chain (59 none)
    frag_offset: int        # from a fragment header, in bytes
    more_fragments: bool
    fragmented: bool
    transport_offset: int   # where the upper-layer header starts
    payload_end: int
    malformed: str


def decode(buf, offset: int, end: int, snapped: bool = False) -> Ipv6Header | str:
    avail = end - offset
    if avail < HEADER_LEN:
        return f"truncated ipv6 header ({avail} of 40 bytes)"
    vtf, plen, nxt, hops, src, dst = HEADER.unpack_from(buf, offset)
    if vtf >> 28 != 6:
        return f"ip version {vtf >> 28} in an ipv6 packet"
    malformed = ""
    if HEADER_LEN + plen > avail:
        # A jumbogram (payload length 0 with hop-by-hop) or TSO also lands here.
        if not snapped and plen != 0:
            malformed = f"ipv6 payload length {plen} beyond capture ({avail - HEADER_LEN} bytes)"
        payload_end = end
    elif plen == 0:
        payload_end = end
    else:
        payload_end = offset + HEADER_LEN + plen
    p = offset + HEADER_LEN
    exts: list = []
    seen: dict = {}
    frag_offset = 0
    more = False
    fragmented = False
    while nxt in EXTENSIONS:
        if len(exts) == MAX_EXTENSIONS:
            malformed = malformed or f"ipv6 extension chain longer than {MAX_EXTENSIONS}"
            break
        count = seen.get(nxt, 0) + 1
        if count > ALLOWED_REPEATS.get(nxt, 1):
            malformed = malformed or f"ipv6 extension header {nxt} repeated (loop)"
            break
        if nxt == HOP_BY_HOP and exts:
            malformed = malformed or "ipv6 hop-by-hop header not first"
            break
        seen[nxt] = count
        if payload_end - p < 8:
            malformed = malformed or f"truncated ipv6 extension header {nxt}"
            break
        if nxt == FRAGMENT:
            following, offmf, _ident = FRAG.unpack_from(buf, p)
            frag_offset = (offmf >> 3) * 8
            more = bool(offmf & 1)
            fragmented = True
            length = 8
        else:
            following, hdr_len = EXT.unpack_from(buf, p)
            length = (hdr_len + 2) * 4 if nxt == AUTH else (hdr_len + 1) * 8
        if p + length > payload_end:
            malformed = malformed or f"ipv6 extension header {nxt} length {length} beyond packet"
            break
        exts.append(nxt)
        p += length
        nxt = following
    return Ipv6Header((vtf >> 20) & 0xFF, vtf & 0xFFFFF, plen, hops, src, dst, tuple(exts), nxt,
                      frag_offset, more, fragmented, p, payload_end, malformed)
