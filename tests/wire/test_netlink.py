"""rtnetlink neighbour parsing on byte literals, and against the kernel's own dump."""

import socket
import struct
import sys

import pytest
from hypothesis import given, strategies as st

from netinspect.wire import netlink

O = "<" if sys.byteorder == "little" else ">"


def attr(atype, value):
    length = 4 + len(value)
    return struct.pack(O + "HH", length, atype) + value + b"\0" * ((-length) % 4)


def message(mtype, seq, body, flags=netlink.NLM_F_MULTI):
    return struct.pack(O + "IHHII", 16 + len(body), mtype, flags, seq, 0) + body


def neigh(family, ifindex, state, flags, dst, lladdr=None):
    body = struct.pack(O + "BBHiHBB", family, 0, 0, ifindex, state, flags, 1) + attr(netlink.NDA_DST, dst)
    if lladdr is not None:
        body += attr(netlink.NDA_LLADDR, lladdr)
    body += attr(3, b"\0" * 16)   # NDA_CACHEINFO, ignored
    return body


def test_dump_request_layout():
    req = netlink.dump_request(7, netlink.AF_INET6)
    length, mtype, flags, seq, pid = struct.unpack_from(O + "IHHII", req)
    assert (length, mtype, seq, pid) == (28, netlink.RTM_GETNEIGH, 7, 0)
    assert flags == netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP
    assert req[16] == netlink.AF_INET6


def test_parse_a_dump_with_two_entries_and_done():
    v4 = neigh(netlink.AF_INET, 3, 0x02, 0, socket.inet_aton("10.77.3.2"), bytes.fromhex("027700030002"))
    v6 = neigh(netlink.AF_INET6, 3, 0x20, netlink.NTF_ROUTER, socket.inet_pton(socket.AF_INET6, "fd77::2"))
    buf = message(netlink.RTM_NEWNEIGH, 9, v4) + message(netlink.RTM_NEWNEIGH, 9, v6)
    other = message(netlink.RTM_NEWNEIGH, 8, v4)          # another request's answer: ignored
    parser = netlink.DumpParser(9)
    parser.feed(buf + other)
    assert not parser.done
    parser.feed(message(netlink.NLMSG_DONE, 9, b"\0\0\0\0"))
    assert parser.done
    first, second = parser.neighbours
    assert (first.family, first.ifindex, first.dst, first.lladdr) == (2, 3, bytes([10, 77, 3, 2]), bytes.fromhex("027700030002"))
    assert netlink.state_names(first.state) == ["REACHABLE"]
    assert second.lladdr == b"" and netlink.state_names(second.state) == ["FAILED"]
    assert second.flags & netlink.NTF_ROUTER


def test_state_names():
    assert netlink.state_names(0) == ["NONE"]
    assert netlink.state_names(0x80) == ["PERMANENT"]
    assert netlink.state_names(0x04 | 0x40) == ["STALE", "NOARP"]


def test_error_message_raises_with_errno():
    parser = netlink.DumpParser(1)
    with pytest.raises(netlink.NetlinkError) as caught:
        parser.feed(message(netlink.NLMSG_ERROR, 1, struct.pack(O + "i", -1) + b"\0" * 16))
    assert caught.value.errno == 1
    parser.feed(message(netlink.NLMSG_ERROR, 1, struct.pack(O + "i", 0) + b"\0" * 16))   # an ack is not an error


@pytest.mark.parametrize("buf", [
    struct.pack(O + "IHHII", 8, 28, 0, 1, 0),                 # length shorter than the header
    struct.pack(O + "IHHII", 400, 28, 0, 1, 0) + b"\0" * 12,  # length beyond the buffer
    message(netlink.RTM_NEWNEIGH, 1, b"\0" * 5),              # ndmsg cut short
    message(netlink.RTM_NEWNEIGH, 1, struct.pack(O + "BBHiHBB", 2, 0, 0, 1, 2, 0, 1) + struct.pack(O + "HH", 99, 1)),
])
def test_malformed_is_value_error(buf):
    with pytest.raises(ValueError):
        netlink.DumpParser(1).feed(buf)


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_value_error(data):
    try:
        netlink.DumpParser(0).feed(data)
    except (ValueError, netlink.NetlinkError):
        pass


def test_against_the_kernel():
    from netinspect.adapters import neighbors
    rows = neighbors.from_netlink()
    for row in rows:
        assert row.family in (4, 6) and row.dev and row.state
