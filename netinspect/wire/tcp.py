"""TCP header (RFC 9293) and options: MSS, window scale, SACK-permitted, SACK blocks, timestamps.

Layout as data: ports, sequence, acknowledgment, data offset, flags, window, checksum,
urgent pointer (20 bytes), then options up to data offset * 4. The option walk advances at
least one byte per step; a length below 2 or past the header stops it with a flag.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from netinspect.core.records import TcpOptions

HEADER = struct.Struct("!HHIIBBHHH")
MIN_LEN = 20
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_TS = struct.Struct("!II")
_SACK = struct.Struct("!II")

OPT_EOL = 0
OPT_NOP = 1
OPT_MSS = 2
OPT_WSCALE = 3
OPT_SACK_PERMITTED = 4
OPT_SACK = 5
OPT_TIMESTAMP = 8
_EXPECTED_LEN = {OPT_MSS: 4, OPT_WSCALE: 3, OPT_SACK_PERMITTED: 2, OPT_TIMESTAMP: 10}


class TcpHeader(NamedTuple):
    src_port: int
    dst_port: int
    seq: int
    ack: int
    header_len: int
    flags: int          # the 8 flag bits (CWR..FIN); NS (AE) is the low bit of the offset byte
    window: int
    urgent: int
    options_start: int  # buffer offsets of the options area
    options_end: int
    malformed: str


def decode(buf, offset: int, end: int) -> TcpHeader | str:
    avail = end - offset
    if avail < MIN_LEN:
        return f"truncated tcp header ({avail} of 20 bytes)"
    sport, dport, seq, ack, off_byte, flags, window, _csum, urg = HEADER.unpack_from(buf, offset)
    hlen = (off_byte >> 4) * 4
    if hlen < MIN_LEN:
        return f"tcp data offset {hlen} below minimum 20"
    malformed = ""
    opt_end = offset + hlen
    if hlen > avail:
        malformed = f"tcp header length {hlen} beyond packet ({avail} bytes)"
        opt_end = end
    return TcpHeader(sport, dport, seq, ack, hlen, flags, window, urg, offset + MIN_LEN, opt_end, malformed)


# The options Linux puts on SYN and SYN-ACK, in its order: MSS, SACK-permitted, timestamps,
# NOP, window scale (20 bytes). Recognised in one comparison and one unpack, since every
# connection starts with two of them.
LINUX_SYN = struct.Struct("!BBHHBBII3sB")
_LINUX_SYN_SIGNATURE = (2, 4, 0x0402, 8, 10, b"\x01\x03\x03")


def parse_options(buf, start: int, end: int) -> tuple[TcpOptions, str]:
    if end - start == 20:
        k_mss, l_mss, mss, sackp, k_ts, l_ts, ts_val, ts_ecr, nop_ws, wscale = LINUX_SYN.unpack_from(buf, start)
        if (k_mss, l_mss, sackp, k_ts, l_ts, nop_ws) == _LINUX_SYN_SIGNATURE:
            return TcpOptions(mss, wscale, True, (), ts_val, ts_ecr), ""
    opts = TcpOptions()
    malformed = ""
    sacks = []
    i = start
    while i < end:
        kind = buf[i]
        if kind == OPT_EOL:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            malformed = f"tcp option {kind} cut off"
            break
        length = buf[i + 1]
        if length < 2:
            malformed = f"tcp option {kind} has length {length}"
            break
        if i + length > end:
            malformed = f"tcp option {kind} length {length} beyond header"
            break
        expected = _EXPECTED_LEN.get(kind)
        if expected is not None and length != expected:
            malformed = malformed or f"tcp option {kind} has length {length}, expected {expected}"
        elif kind == OPT_MSS:
            opts.mss = _U16.unpack_from(buf, i + 2)[0]
        elif kind == OPT_WSCALE:
            opts.wscale = buf[i + 2]
        elif kind == OPT_SACK_PERMITTED:
            opts.sack_permitted = True
        elif kind == OPT_TIMESTAMP:
            opts.ts_val, opts.ts_ecr = _TS.unpack_from(buf, i + 2)
        elif kind == OPT_SACK:
            if (length - 2) % 8:
                malformed = malformed or f"tcp sack option has length {length}"
            else:
                for j in range(i + 2, i + length, 8):
                    sacks.append(_SACK.unpack_from(buf, j))
        i += length
    if sacks:
        opts.sack_blocks = tuple(sacks)
    return opts, malformed
