"""Cast tally and ARP extraction from raw frame bytes, on literals and against tshark."""

import pathlib
import struct
import subprocess

import pytest

from netinspect.adapters.capture_file import iter_frames
from netinspect.adapters.link_scan import survey_file
from netinspect.wire.link_survey import LinkSurvey
from tests.conftest import need_tool

CAPTURES = pathlib.Path(__file__).resolve().parents[2] / "captures"
A = bytes.fromhex("027700070001")
B = bytes.fromhex("027700070002")


def ipv4(dst: str) -> bytes:
    return bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1]) + bytes(int(x) for x in dst.split(".")) + b"\0" * 8


def ipv6(dst: bytes) -> bytes:
    return bytes([0x60, 0, 0, 0, 0, 8, 17, 64]) + b"\0" * 15 + b"\1" + dst + b"\0" * 8


def eth(dst: bytes, ethertype: int, body: bytes, vlan: int | None = None) -> bytes:
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return dst + A + tag + struct.pack("!H", ethertype) + body


def arp(op, sha, spa, tha, tpa):
    ip = lambda t: bytes(int(x) for x in t.split("."))
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + ip(spa) + tha + ip(tpa)


def tally(frames):
    survey = LinkSurvey()
    for i, (linktype, data) in enumerate(frames):
        survey.feed(data, 0, len(data), linktype, i * 1000, i)
    return survey.finish()


def test_ethernet_kinds_and_vlan():
    summary, _ = tally([
        (1, eth(B, 0x0800, ipv4("10.0.0.2"))),
        (1, eth(b"\xff" * 6, 0x0800, ipv4("255.255.255.255"))),
        (1, eth(b"\xff" * 6, 0x0800, ipv4("10.0.0.255"))),                 # directed broadcast
        (1, eth(bytes.fromhex("01005e010203"), 0x0800, ipv4("239.1.2.3"), vlan=7)),
        (1, eth(bytes.fromhex("333300000001"), 0x86DD, ipv6(bytes.fromhex("ff02" + "00" * 13 + "01")))),
        (1, eth(B, 0x86DD, ipv6(bytes.fromhex("fd77" + "00" * 13 + "02")))),
        (1, b"\x01\x00"),                                                  # truncated: no MAC
    ])
    d = summary.as_dict()
    assert d["frames"] == 7
    assert d["layer2"] == {"unicast": 2, "broadcast": 2, "multicast": 2, "unknown": 1}
    assert d["layer3"] == {"unicast": 2, "broadcast": 2, "multicast": 2}
    assert d["multicast_groups"] == {"239.1.2.3": 1, "ff02::1": 1}


def test_cooked_raw_and_loopback():
    sll = lambda pkttype, proto, body: struct.pack("!HHH", pkttype, 1, 6) + A + b"\0\0" + struct.pack("!H", proto) + body
    sll2 = lambda pkttype, proto, body: struct.pack("!HHIHBB", proto, 0, 3, 1, pkttype, 6) + A + b"\0\0" + body
    summary, _ = tally([
        (113, sll(1, 0x0800, ipv4("255.255.255.255"))),
        (113, sll(4, 0x0800, ipv4("10.0.0.2"))),                           # outgoing: cast unknown at L2
        (276, sll2(2, 0x0800, ipv4("224.0.0.251"))),
        (101, ipv4("10.0.0.2")),
        (0, struct.pack("<I", 2) + ipv4("10.0.0.2")),
        (0, struct.pack("<I", 30) + ipv6(bytes.fromhex("ff05" + "00" * 10 + "00010003"))),
    ])
    d = summary.as_dict()
    assert d["layer2"] == {"unicast": 0, "broadcast": 1, "multicast": 1, "unknown": 4}
    assert d["layer3"] == {"unicast": 3, "broadcast": 1, "multicast": 2}
    assert d["multicast_groups"] == {"224.0.0.251": 1, "ff05::1:3": 1}


def test_arp_goes_to_the_watch_with_ethernet_addresses():
    evil = bytes.fromhex("026666666666")
    _, report = tally([
        (1, eth(b"\xff" * 6, 0x0806, arp(1, A, "10.0.0.1", b"\0" * 6, "10.0.0.2"))),
        (1, eth(A, 0x0806, arp(2, B, "10.0.0.2", A, "10.0.0.1"))),
        (1, eth(A, 0x0806, arp(2, evil, "10.0.0.2", A, "10.0.0.1"))),
        (1, eth(b"\xff" * 6, 0x0806, arp(1, A, "10.0.0.1", b"\0" * 6, "10.0.0.9"))),
        (1, eth(b"\xff" * 6, 0x0806, b"\0\1\x08")),                       # truncated ARP: ignored
    ])
    assert (report.packets, report.requests, report.replies) == (4, 2, 2)
    (exchange,) = report.exchanges
    assert exchange.answer_mac == B.hex(":") and exchange.request_eth_dst == "ff:ff:ff:ff:ff:ff"
    assert (exchange.request_frame, exchange.reply_frame) == (1, 2)      # numbered as tshark does
    assert [e.target_ip for e in report.unanswered] == ["10.0.0.9"]
    assert [(c.ip, sorted(c.macs)) for c in report.conflicts] == [("10.0.0.2", sorted([B.hex(":"), evil.hex(":")]))]


@pytest.mark.parametrize("name", ["arp-exchange.pcap", "multicast.pcap", "broadcast.pcap"])
def test_samples_against_tshark(name):
    need_tool("tshark")
    path = CAPTURES / name
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "eth.dst", "-e", "eth.dst.ig",
                          "-e", "ip.dst", "-e", "ipv6.dst"], capture_output=True, text=True, timeout=60, check=True).stdout
    l2 = {"unicast": 0, "broadcast": 0, "multicast": 0}
    groups = {}
    for line in out.splitlines():
        dst, ig, ip4, ip6 = line.split("\t")
        l2["broadcast" if dst == "ff:ff:ff:ff:ff:ff" else "multicast" if ig in ("1", "True") else "unicast"] += 1
        for ip in (ip4, ip6):
            if ip and (ip.startswith("ff") or 224 <= int(ip.split(".")[0] if "." in ip else 0) <= 239):
                groups[ip] = groups.get(ip, 0) + 1
    summary, _ = survey_file(str(path))
    d = summary.as_dict()
    assert d["frames"] == sum(1 for _ in iter_frames(path))
    assert d["layer2"] == l2
    assert d["multicast_groups"] == groups
