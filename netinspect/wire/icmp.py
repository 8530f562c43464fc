"""ICMP (RFC 792) and ICMPv6 (RFC 4443): type and code, plus echo identifier and sequence."""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct("!BBHHH")
MIN_LEN = 4          # type, code, checksum: the part every message has

ICMP_ECHO_REPLY = 0
ICMP_UNREACHABLE = 3
ICMP_ECHO_REQUEST = 8
ICMP_TIME_EXCEEDED = 11
ICMP6_UNREACHABLE = 1
ICMP6_TIME_EXCEEDED = 3
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129
ICMP6_NEIGHBOR_SOLICIT = 135
ICMP6_NEIGHBOR_ADVERT = 136

ICMP_NAMES = {0: "echo-reply", 3: "unreachable", 4: "source-quench", 5: "redirect", 8: "echo-request",
              11: "time-exceeded", 12: "parameter-problem", 13: "timestamp", 14: "timestamp-reply"}
ICMP6_NAMES = {1: "unreachable", 2: "packet-too-big", 3: "time-exceeded", 4: "parameter-problem",
               128: "echo-request", 129: "echo-reply", 133: "router-solicitation",
               134: "router-advertisement", 135: "neighbor-solicitation", 136: "neighbor-advertisement",
               137: "redirect"}
_ECHO = {(4, 0), (4, 8), (6, 128), (6, 129)}


class IcmpHeader(NamedTuple):
    type: int
    code: int
    ident: int      # echo identifier and sequence, 0 for other types
    sequence: int
    malformed: str


def decode(buf, offset: int, end: int, version: int = 4) -> IcmpHeader | str:
    avail = end - offset
    if avail < MIN_LEN:
        return f"truncated icmp header ({avail} of 4 bytes)"
    if avail >= 8:
        icmp_type, code, _csum, ident, seq = HEADER.unpack_from(buf, offset)
    else:
        icmp_type, code = buf[offset], buf[offset + 1]
        ident = seq = 0
    malformed = ""
    if (version, icmp_type) in _ECHO:
        if avail < 8:
            malformed = f"truncated icmp echo ({avail} of 8 bytes)"
    else:
        ident = seq = 0
    return IcmpHeader(icmp_type, code, ident, seq, malformed)


def type_name(version: int, icmp_type: int) -> str:
    names = ICMP_NAMES if version == 4 else ICMP6_NAMES
    return names.get(icmp_type, f"type {icmp_type}")
