"""UDP, ICMP/ICMPv6 and ARP on byte literals."""

import struct

from netinspect.wire import arp, icmp, udp


def test_udp_good_and_bad_lengths():
    raw = struct.pack("!HHHH", 5353, 53, 13, 0) + b"hello"
    h = udp.decode(raw, 0, len(raw), 13)
    assert (h.src_port, h.dst_port, h.length, h.payload_len, h.malformed) == (5353, 53, 13, 5, "")
    short = struct.pack("!HHHH", 1, 2, 4, 0)
    assert udp.decode(short, 0, 8, 8).malformed == "udp length 4 below minimum 8"
    long = struct.pack("!HHHH", 1, 2, 500, 0) + b"x"
    h = udp.decode(long, 0, 9, 9)
    assert (h.malformed, h.payload_len) == ("udp length 500 beyond ip payload (9 bytes)", 1)
    assert udp.decode(raw, 0, 7, 13) == "truncated udp header (7 of 8 bytes)"


def test_icmp_echo_and_unreachable():
    echo = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 7) + b"ping"
    h = icmp.decode(echo, 0, len(echo), 4)
    assert (h.type, h.code, h.ident, h.sequence, h.malformed) == (8, 0, 0x1234, 7, "")
    unreach = struct.pack("!BBHI", 3, 3, 0, 0) + bytes(28)
    h = icmp.decode(unreach, 0, len(unreach), 4)
    assert (h.type, h.code, h.ident) == (3, 3, 0)
    assert icmp.type_name(4, 3) == "unreachable"
    assert icmp.decode(echo, 0, 3, 4) == "truncated icmp header (3 of 4 bytes)"
    assert icmp.decode(echo, 0, 6, 4).malformed == "truncated icmp echo (6 of 8 bytes)"


def test_icmpv6_echo_and_neighbor_solicitation():
    echo = struct.pack("!BBHHH", 128, 0, 0, 1, 2)
    h = icmp.decode(echo, 0, 8, 6)
    assert (h.type, h.ident, h.sequence) == (128, 1, 2)
    ns = struct.pack("!BBHI", 135, 0, 0, 0) + bytes(16)
    h = icmp.decode(ns, 0, len(ns), 6)
    assert (h.type, h.ident) == (135, 0)
    assert icmp.type_name(6, 135) == "neighbor-solicitation"


def test_arp_request_and_reply():
    request = bytes.fromhex("0001" "0800" "06" "04" "0001" "02000000000a" "0a4d0001" "000000000000" "0a4d0002")
    p = arp.decode(request, 0, len(request), ts_ns=5, frame_index=3)
    assert (p.op, p.op_name, p.sender_mac, p.sender_ip, p.target_mac, p.target_ip) == \
        (1, "request", "02:00:00:00:00:0a", "10.77.0.1", "00:00:00:00:00:00", "10.77.0.2")
    assert (p.ts_ns, p.frame_index, p.malformed) == (5, 3, "")
    reply = request[:6] + b"\x00\x02" + request[8:]
    assert arp.decode(reply, 0, len(reply)).op_name == "reply"


def test_arp_truncated():
    request = bytes.fromhex("0001" "0800" "06" "04" "0001" "02000000000a")
    assert arp.decode(request, 0, len(request)).malformed == "truncated arp (14 of 28 bytes)"
    assert arp.decode(request, 0, 7) is None
