"""decode_frame over every link type, IPv4 and IPv6, malformed frames, and the fast path
(RecordDecoder) giving the same records as the general decoder."""

import struct

import pytest

from netinspect.core.records import ACK, PSH, SYN, Datagram, Frame, IcmpMessage
from netinspect.wire.arp import ArpPacket
from netinspect.wire.decode import DecodeStats, RecordDecoder, decode_frame
from tests.adapters import capgen

V6A = bytes.fromhex("fd770000000000000000000000000001")
V6B = bytes.fromhex("fd770000000000000000000000000002")
SYN_OPTS = bytes.fromhex("020405b4" "0402" "080a" "00000001" "00000000" "01" "030307")
TS_OPTS = bytes.fromhex("0101080a" "00000002" "00000001")


def v4_tcp(flags=ACK | PSH, payload=b"hi", options=TS_OPTS, **ip):
    return capgen.ipv4("10.77.0.1", "10.77.0.2", 6, capgen.tcp(40000, 80, 100, 200, flags, options, payload), **ip)


def v6_tcp(flags=ACK | PSH, payload=b"hi", options=TS_OPTS):
    return capgen.ipv6(V6A, V6B, 6, capgen.tcp(40000, 80, 100, 200, flags, options, payload))


def link(linktype, l3, version=4):
    ethertype = 0x0800 if version == 4 else 0x86DD
    if linktype == 1:
        return capgen.ethernet(l3, ethertype, src=bytes.fromhex("02000000000a"), dst=bytes.fromhex("02000000000b"))
    if linktype == 113:
        return struct.pack("!HHH8sH", 4, 1, 6, bytes.fromhex("02000000000a0000"), ethertype) + l3
    if linktype == 276:
        return struct.pack("!HHIHBB8s", ethertype, 0, 3, 1, 0, 6, bytes.fromhex("02000000000a0000")) + l3
    if linktype in (101, 12, 228, 229):
        return l3
    if linktype == 0:
        return struct.pack("<I", 2 if version == 4 else 30) + l3
    if linktype == 108:
        return struct.pack("!I", 2 if version == 4 else 24) + l3
    raise AssertionError(linktype)


LINKTYPES = [1, 113, 276, 101, 12, 0, 108]


@pytest.mark.parametrize("linktype", LINKTYPES + [228])
def test_ipv4_tcp_on_every_link_type(linktype):
    d = decode_frame(Frame(1_000_000_123, linktype, link(linktype, v4_tcp()), 0, 5, 2))
    s = d.segment
    assert d.malformed == "" and d.version == 4 and (d.src, d.dst, d.protocol, d.ttl) == ("10.77.0.1", "10.77.0.2", 6, 64)
    assert (str(s.src), str(s.dst), s.seq, s.ack, s.flags, s.payload_len, s.payload) == \
        ("10.77.0.1:40000", "10.77.0.2:80", 100, 200, ACK | PSH, 2, b"hi")
    assert (s.ts_ns, s.frame_index, d.interface, s.options.ts_val) == (1_000_000_123, 5, 2, 2)


@pytest.mark.parametrize("linktype", LINKTYPES + [229])
def test_ipv6_tcp_on_every_link_type(linktype):
    d = decode_frame(Frame(7, linktype, link(linktype, v6_tcp(), 6), 0))
    s = d.segment
    assert d.malformed == "" and d.version == 6 and (d.src, d.dst) == ("fd77::1", "fd77::2")
    assert (str(s.src), str(s.dst), s.payload_len) == ("[fd77::1]:40000", "[fd77::2]:80", 2)


def test_ethernet_fields_and_vlans():
    frame = capgen.ethernet(v4_tcp(), 0x0800, src=bytes.fromhex("02000000000a"), dst=bytes.fromhex("ffffffffffff"),
                            vlans=((0x88A8, 5), (0x8100, 10)))
    d = decode_frame(Frame(0, 1, frame, len(frame)))
    assert (d.src_mac, d.dst_mac, d.ethertype, d.vlans, d.malformed) == ("02:00:00:00:00:0a", "ff:ff:ff:ff:ff:ff", 0x0800, (5, 10), "")
    assert d.segment.payload == b"hi"


def test_udp_and_icmp_records():
    dns = capgen.ipv4("10.77.0.1", "10.77.0.2", 17, capgen.udp(5353, 53, b"q" * 12))
    d = decode_frame(Frame(0, 101, dns, len(dns)))
    assert isinstance(d.datagram, Datagram) and (d.datagram.payload_len, d.dst_port) == (12, 53)
    ping = capgen.ipv4("10.77.0.1", "10.77.0.2", 1, struct.pack("!BBHHH", 8, 0, 0, 1, 1))
    d = decode_frame(Frame(0, 101, ping, len(ping)))
    assert isinstance(d.icmp, IcmpMessage) and (d.icmp.type, d.icmp.version) == (8, 4)
    ping6 = capgen.ipv6(V6A, V6B, 58, struct.pack("!BBHHH", 128, 0, 0, 1, 1))
    d = decode_frame(Frame(0, 229, ping6, len(ping6)))
    assert (d.icmp.type, d.icmp.version, d.icmp.src) == (128, 6, "fd77::1")


def test_arp_frame():
    body = bytes.fromhex("0001080006040002" "02000000000b" "0a4d0002" "02000000000a" "0a4d0001")
    frame = capgen.ethernet(body, 0x0806)
    d = decode_frame(Frame(0, 1, frame, len(frame)))
    assert isinstance(d.arp, ArpPacket) and (d.arp.op, d.arp.sender_ip, d.arp.target_mac) == (2, "10.77.0.2", "02:00:00:00:00:0a")
    assert d.record is d.arp


def test_non_first_fragment_has_no_transport():
    frag = capgen.ipv4("10.77.0.1", "10.77.0.2", 6, b"continuation bytes", flags_frag=10)
    d = decode_frame(Frame(0, 101, frag, len(frag)))
    assert (d.fragment, d.frag_offset, d.segment, d.malformed) == (True, 80, None, "")


def test_snapped_frame_is_not_malformed_and_keeps_wire_payload_length():
    full = link(1, v4_tcp(payload=b"x" * 1000))
    d = decode_frame(Frame(0, 1, full[:96], len(full)))
    assert (d.malformed, d.segment.payload_len) == ("", 1000)


@pytest.mark.parametrize("make, reason", [
    (lambda: link(1, v4_tcp())[:10], "truncated ethernet header (10 of 14 bytes)"),
    (lambda: link(1, v4_tcp(ihl=4)), "ipv4 header length 16 below minimum 20"),
    (lambda: link(1, v4_tcp(ihl=15)), "ipv4 header length 60 beyond packet (54 bytes)"),
    (lambda: link(1, v4_tcp(total=3000)), "ipv4 total length 3000 beyond capture (54 bytes)"),
    (lambda: link(1, capgen.ipv4("1.1.1.1", "2.2.2.2", 6, capgen.tcp(1, 2, 3, 4, SYN, data_offset=3))),
     "tcp data offset 12 below minimum 20"),
    (lambda: link(1, capgen.ipv4("1.1.1.1", "2.2.2.2", 6, capgen.tcp(1, 2, 3, 4, SYN)[:12])),
     "truncated tcp header (12 of 20 bytes)"),
    (lambda: link(1, v4_tcp(options=bytes([2, 0, 0, 0]))), "tcp option 2 has length 0"),
    (lambda: link(101, b"\x75" + v4_tcp()[1:]), "ip version 7 in a raw ip frame"),
    (lambda: link(1, capgen.ipv6(V6A, V6B, 43, bytes([43, 0]) + bytes(6) + bytes([43, 0]) + bytes(6)), 6),
     "ipv6 extension header 43 repeated (loop)"),
])
def test_malformed_frames_are_flagged(make, reason):
    data = make()
    d = decode_frame(Frame(0, 1 if reason != "ip version 7 in a raw ip frame" else 101, data, len(data)))
    assert d.malformed == reason


def test_unsupported_link_type_is_flagged():
    assert decode_frame(Frame(0, 147, b"abc", 3)).malformed == "unsupported link type 147"


FAST_CASES = {
    "eth-v4-syn": (1, link(1, v4_tcp(SYN, b"", SYN_OPTS))),
    "eth-v4-data": (1, link(1, v4_tcp())),
    "eth-v4-ack": (1, link(1, v4_tcp(payload=b""))),
    "eth-v4-padded": (1, link(1, v4_tcp(payload=b"")) + bytes(10)),
    "sll-v4": (113, link(113, v4_tcp())),
    "sll2-v4": (276, link(276, v4_tcp())),
    "raw-v4": (101, v4_tcp()),
    "null-v4": (0, link(0, v4_tcp())),
    "loop-v4": (108, link(108, v4_tcp())),
    "eth-v6": (1, link(1, v6_tcp(), 6)),
    "sll-v6": (113, link(113, v6_tcp(), 6)),
    "raw-v6-syn": (229, v6_tcp(SYN, b"", SYN_OPTS)),
    "eth-v4-ihl4": (1, link(1, v4_tcp(ihl=4))),
    "eth-v4-total-beyond": (1, link(1, v4_tcp(total=3000))),
    "eth-v4-bad-option": (1, link(1, v4_tcp(SYN, options=bytes([2, 0, 0, 0])))),
    "eth-v4-udp": (1, link(1, capgen.ipv4("1.1.1.1", "2.2.2.2", 17, capgen.udp(1, 2, b"abc")))),
    "eth-v4-doff4": (1, link(1, capgen.ipv4("10.77.0.1", "10.77.0.2", 6, capgen.tcp(1, 2, 3, 4, SYN, data_offset=4) + bytes(20)))),
    "eth-arp": (1, capgen.ethernet(bytes.fromhex("0001080006040001" "02000000000b" "0a4d0002" "000000000000" "0a4d0001"), 0x0806)),
}


@pytest.mark.parametrize("linktype, data", FAST_CASES.values(), ids=FAST_CASES.keys())
def test_fast_path_matches_general_decoder(linktype, data):
    d = decode_frame(Frame(99, linktype, data, len(data), 4))
    fast = RecordDecoder(DecodeStats(), payload_prefix=64, all_options=True)
    rec = fast.decode(b"pad" + data, 3, len(data), len(data), 99, 4, linktype, 0)
    assert rec == d.record
    assert (fast.stats.malformed > 0) == (d.malformed != "")
