"""rtnetlink neighbour messages (RTM_GETNEIGH / RTM_NEWNEIGH), bytes in, records out.

Layouts from linux/netlink.h, linux/rtnetlink.h and linux/neighbour.h:
  nlmsghdr  = u32 length, u16 type, u16 flags, u32 seq, u32 pid        (16 bytes)
  ndmsg     = u8 family, u8 pad, u16 pad, s32 ifindex, u16 state, u8 flags, u8 type (12 bytes)
  rtattr    = u16 length, u16 type, then the value, padded to 4 bytes
Host byte order throughout (netlink is local). Every length is checked against what is
left of the buffer before it is used.
"""

from __future__ import annotations

import struct
import sys
from typing import Iterator, NamedTuple

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWNEIGH = 28
RTM_GETNEIGH = 30

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH

NDA_DST = 1
NDA_LLADDR = 2

# Neighbour Unreachability Detection states (linux/neighbour.h); `ip neigh` shows these names.
NUD_STATES = (
    (0x01, "INCOMPLETE"),
    (0x02, "REACHABLE"),
    (0x04, "STALE"),
    (0x08, "DELAY"),
    (0x10, "PROBE"),
    (0x20, "FAILED"),
    (0x40, "NOARP"),
    (0x80, "PERMANENT"),
)
NUD_NONE = 0x00

NTF_PROXY = 0x08
NTF_ROUTER = 0x80

AF_UNSPEC = 0
AF_INET = 2
AF_INET6 = 10

_ORDER = "<" if sys.byteorder == "little" else ">"
_NLMSGHDR = struct.Struct(_ORDER + "IHHII")
_NDMSG = struct.Struct(_ORDER + "BBHiHBB")
_RTATTR = struct.Struct(_ORDER + "HH")


class NetlinkError(Exception):
    """The kernel answered with an error code (errno, positive)."""

    def __init__(self, errno: int):
        self.errno = errno
        super().__init__(f"netlink error {errno}")


class NeighMessage(NamedTuple):
    family: int
    ifindex: int
    state: int
    flags: int
    type: int
    dst: bytes          # 4 or 16 bytes, b"" when absent
    lladdr: bytes       # usually 6 bytes, b"" when absent (INCOMPLETE, FAILED)


def state_names(state: int) -> list[str]:
    """NUD bits as `ip -j neigh` lists them, e.g. ['REACHABLE']; ['NONE'] for 0."""
    names = [name for bit, name in NUD_STATES if state & bit]
    return names or ["NONE"]


def _align(n: int) -> int:
    return (n + 3) & ~3


def dump_request(seq: int, family: int = AF_UNSPEC) -> bytes:
    """An RTM_GETNEIGH dump request for one family (AF_UNSPEC: all)."""
    body = _NDMSG.pack(family, 0, 0, 0, 0, 0, 0)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def iter_messages(buf: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, seq, payload) for each netlink message in one received buffer."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(buf):
        length, mtype, flags, seq, _pid = _NLMSGHDR.unpack_from(buf, offset)
        if length < _NLMSGHDR.size or offset + length > len(buf):
            raise ValueError(f"netlink message length {length} at offset {offset} does not fit the {len(buf)}-byte buffer")
        yield mtype, flags, seq, bytes(buf[offset + _NLMSGHDR.size: offset + length])
        offset += _align(length)


def parse_attributes(payload: bytes, offset: int) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while offset + _RTATTR.size <= len(payload):
        length, atype = _RTATTR.unpack_from(payload, offset)
        if length < _RTATTR.size or offset + length > len(payload):
            raise ValueError(f"rtattr length {length} at offset {offset} does not fit the {len(payload)}-byte message")
        attrs[atype & 0x3FFF] = payload[offset + _RTATTR.size: offset + length]   # strip NLA_F_NESTED/BYTEORDER
        offset += _align(length)
    return attrs


def parse_neigh(payload: bytes) -> NeighMessage:
    if len(payload) < _NDMSG.size:
        raise ValueError(f"ndmsg needs {_NDMSG.size} bytes, got {len(payload)}")
    family, _p1, _p2, ifindex, state, flags, ntype = _NDMSG.unpack_from(payload, 0)
    attrs = parse_attributes(payload, _NDMSG.size)
    return NeighMessage(family, ifindex, state, flags, ntype, attrs.get(NDA_DST, b""), attrs.get(NDA_LLADDR, b""))


def parse_error(payload: bytes) -> int:
    """The errno carried by an NLMSG_ERROR (0 is an acknowledgement)."""
    if len(payload) < 4:
        raise ValueError("NLMSG_ERROR shorter than 4 bytes")
    (code,) = struct.unpack_from(_ORDER + "i", payload, 0)
    return -code


class DumpParser:
    """Feed received buffers of one dump; collects neighbours until NLMSG_DONE."""

    def __init__(self, seq: int):
        self.seq = seq
        self.done = False
        self.neighbours: list[NeighMessage] = []

    def feed(self, buf: bytes) -> None:
        for mtype, _flags, seq, payload in iter_messages(buf):
            if seq != self.seq:
                continue           # not an answer to our request
            if mtype == NLMSG_DONE:
                self.done = True
                return
            if mtype == NLMSG_ERROR:
                errno = parse_error(payload)
                if errno:
                    raise NetlinkError(errno)
                continue
            if mtype == RTM_NEWNEIGH:
                self.neighbours.append(parse_neigh(payload))
