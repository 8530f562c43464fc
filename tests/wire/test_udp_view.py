"""wire.udp_view: payload bytes and the datagram an ICMP error quotes, read from real-shaped frames.

Frames are built with the struct module and checked against tshark where it matters
(tests/cli/test_serve_connect_trace_udp.py); here the edge cases: VLAN tags, IPv4
options in the outer and the quoted header, raw-IP link, IPv6, truncation, non-errors.
"""

import struct

import pytest

from netinspect.core.records import Endpoint, Frame
from netinspect.wire.udp_view import udp_frames

A4, B4 = bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])
A6, B6 = bytes.fromhex("fd77" + "00" * 13 + "01"), bytes.fromhex("fd77" + "00" * 13 + "02")


def ipv4(proto, payload, src=A4, dst=B4, ihl=5):
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(payload), 1, 0, 64, proto, 0, src, dst) \
        + b"\x01" * (4 * ihl - 20) + payload


def ipv6(nh, payload, src=A6, dst=B6):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64, src, dst) + payload


def udp(sport, dport, body):
    return struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body


def icmp(type_, code, quoted):
    return struct.pack("!BBHI", type_, code, 0, 0) + quoted


def eth(packet, vlan=False):
    tag = struct.pack("!HH", 0x8100, 5) if vlan else b""
    return b"\x02" * 6 + b"\x04" * 6 + tag + struct.pack("!H", 0x86DD if packet[0] >> 4 == 6 else 0x0800) + packet


def frames(*datas, linktype=1):
    return [Frame(ts_ns=1000 * i, linktype=linktype, data=d, orig_len=len(d), index=i) for i, d in enumerate(datas)]


@pytest.mark.parametrize("wrap, linktype", [(eth, 1), (lambda p: eth(p, vlan=True), 1), (lambda p: p, 101)])
def test_payload_and_quoted_datagram(wrap, linktype):
    body = b"hello, datagram"
    packets, errors = udp_frames(frames(
        wrap(ipv4(17, udp(40000, 9000, body), ihl=7)),
        wrap(ipv4(1, icmp(3, 3, ipv4(17, udp(40000, 9000, body), src=B4, dst=A4, ihl=6)), src=A4, dst=B4, ihl=6)),
        wrap(ipv6(17, udp(40001, 9001, b"six"))),
        wrap(ipv6(58, icmp(1, 4, ipv6(17, udp(40001, 9001, b"six"), src=B6, dst=A6)))),
        wrap(ipv4(1, icmp(8, 0, b"\x00" * 20))),                                   # echo: not an error
        wrap(ipv4(1, icmp(3, 3, ipv4(6, udp(1, 2, b""))))),                         # quotes TCP
        wrap(ipv4(1, icmp(3, 3, ipv4(17, udp(40000, 9000, b"")))[:24])),           # quote cut short
        linktype=linktype))
    assert [(p.payload, p.udp_length, p.datagram.dst.port) for p in packets] == [
        (body, 8 + len(body), 9000), (b"six", 11, 9001)]
    assert [(e.version, e.type, e.code, e.quoted_src, e.quoted_dst, e.port_unreachable) for e in errors] == [
        (4, 3, 3, Endpoint("10.77.0.2", 40000), Endpoint("10.77.0.1", 9000), True),
        (6, 1, 4, Endpoint("fd77::2", 40001), Endpoint("fd77::1", 9001), True),
    ]


def test_payload_preview_is_capped_and_ethernet_padding_ignored():
    from netinspect.wire.udp_view import PREVIEW_BYTES

    packets, _ = udp_frames(frames(eth(ipv4(17, udp(1, 2, b"x" * 500))), eth(ipv4(17, udp(1, 2, b"a"))) + b"\x00" * 20))
    assert packets[0].payload == b"x" * PREVIEW_BYTES and packets[0].datagram.payload_len == 500
    assert packets[1].payload == b"a"      # the Ethernet minimum-size padding is not payload
