"""`layers` on every frame of a real mixed capture (ARP, TCP refused, DNS query and the ICMP
error quoting it, IPv6 neighbour discovery, ICMPv6 error, MLD with hop-by-hop options),
each frame checked against tshark's fields."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import need_tool

TSHARK_NAMES = {"eth": "Ethernet", "arp": "ARP", "ip": "IPv4", "ipv6": "IPv6", "udp": "UDP", "tcp": "TCP",
                "icmp": "ICMP", "icmpv6": "ICMPv6", "dns": "DNS", "ipv6.hopopts": "IPv6 extension",
                "data": "Payload", "echo": "Payload"}

TRAFFIC = """
import socket, sys
b4, b6 = sys.argv[1], sys.argv[2]
s = socket.socket(); s.settimeout(2)
try:
    s.connect((b4, 9))          # nothing listens: SYN, then RST
except OSError:
    pass
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(bytes.fromhex('123401000001000000000000076578616d706c6503636f6d0000010001'), (b4, 53))
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u6.sendto(b'v6', (b6, 7))
"""


@pytest.fixture
def mixed_capture(lab_pair, tmp_path):
    need_tool("tcpdump")
    a, b = lab_pair
    pcap = tmp_path / "mixed.pcap"
    dump = a.popen("tcpdump", "-i", a.ifname, "-U", "--immediate-mode", "-n", "-w", str(pcap))
    try:
        line = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"listening on" not in line:
            line = dump.stderr.readline()
            if not line:
                break
        assert b"listening on" in line, line
        a.run(sys.executable, "-c", TRAFFIC, b.ip4, b.ip6)
        time.sleep(1.0)
    finally:
        dump.terminate()
        dump.wait(timeout=10)
    return pcap, a, b


def _tshark(pcap, *fields):
    argv = ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    return [dict(zip(fields, line.split("\t"))) for line in out.splitlines()]


def test_every_frame_against_tshark(cli, mixed_capture):
    need_tool("tshark")
    pcap, a, b = mixed_capture
    rows = _tshark(pcap, "frame.protocols", "ip.dst", "ipv6.dst", "tcp.flags", "icmp.type", "icmpv6.type",
                   "dns.qry.name", "eth.dst")
    assert len(rows) >= 6
    seen = set()
    for number, t in enumerate(rows, start=1):
        result = cli("layers", str(pcap), "--frame", str(number), "--json")
        assert result.status == 0, result.err
        doc = json.loads(result.out)
        ours = [layer["protocol"] for layer in doc["layers"] if layer["protocol"] not in ("ICMPv6 option", "Padding")]
        theirs = [TSHARK_NAMES[p] for p in t["frame.protocols"].split(":") if p != "ethertype"]
        assert ours == theirs, number
        seen.update(ours)
        first = {}
        for layer in doc["layers"]:
            for f in layer["fields"]:
                first.setdefault((layer["protocol"], f["name"]), f["raw"])
        assert doc["cast"]["layer2"]["address"] == t["eth.dst"]
        dst = t["ip.dst"] or t["ipv6.dst"]
        if dst:
            assert doc["cast"]["layer3"]["address"] == dst
        if t["tcp.flags"]:
            assert doc["summary"] and "TCP" in ours
            flags = int(t["tcp.flags"], 16)
            tcp = next(layer for layer in doc["layers"] if layer["protocol"] == "TCP")
            shown = next(f["value"] for f in tcp["fields"] if f["name"] == "flags")
            letters = {"S": 0x02, "A": 0x10, "R": 0x04, "F": 0x01, "P": 0x08}
            assert sum(bit for ch, bit in letters.items() if ch in shown) == flags & 0x1F
        if t["icmp.type"]:
            assert first[("ICMP", "type")] == int(t["icmp.type"])
        if t["icmpv6.type"]:
            assert first[("ICMPv6", "type")] == int(t["icmpv6.type"])
        if t["dns.qry.name"]:
            dns = next(layer for layer in doc["layers"] if layer["protocol"] == "DNS")
            assert any(t["dns.qry.name"] in f["value"] for f in dns["fields"] if f["name"] == "qd")
            assert dns["osi_layer"] == 7 and dns["tcpip_name"] == "Application"
        quoted = [layer["protocol"] for layer in doc["layers"] if layer["quoted"]]
        if "ICMP" in ours and t["icmp.type"] == "3":
            assert quoted == ["IPv4", "UDP", "DNS"]
    assert {"ARP", "TCP", "DNS", "ICMP", "ICMPv6"} <= seen


def test_live_without_privilege_is_one_line(lab_pair):
    need_tool("setpriv")
    import pathlib

    a, _b = lab_pair
    root = str(pathlib.Path(__file__).resolve().parents[2])
    result = a.run("setpriv", "--inh-caps=-all", "--bounding-set=-net_raw", "env", f"PYTHONPATH={root}",
                   sys.executable, "-m", "netinspect", "layers", "--live", "-i", a.ifname, "--timeout", "1", check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "needs root or the CAP_NET_RAW capability" in result.stderr


def test_live_bad_filter_is_bad_input(cli):
    result = cli("layers", "--live", "-i", "lo", "--filter", "nonsense((", "--timeout", "1")
    assert result.status == 2
    assert result.err.count("\n") == 1 and "'nonsense(('" in result.err


def test_live_nothing_arrives_is_exit_1(lab_pair):
    import pathlib

    a, _b = lab_pair
    root = str(pathlib.Path(__file__).resolve().parents[2])
    result = a.run("env", f"PYTHONPATH={root}", sys.executable, "-m", "netinspect", "layers", "--live", "-i", a.ifname,
                   "--filter", "udp port 5999", "--timeout", "0.5", check=False)
    assert result.returncode == 1
    assert f"no frame on {a.ifname} within 0.5 s" in result.stderr


def test_samples_can_be_made_again(lab, tmp_path):
    """tests/lab/make_samples.py remakes captures/ with the same frames (times and ports aside)."""
    need_tool("tcpdump")
    import pathlib

    from netinspect.adapters.capture_file import iter_frames
    from tests.lab.make_samples import make_samples

    captures = pathlib.Path(__file__).resolve().parents[2] / "captures"
    made = make_samples(tmp_path)
    assert sorted(made) == ["arp-exchange", "broadcast", "multicast"]
    for name, path in made.items():
        fresh = list(iter_frames(path))
        kept = list(iter_frames(captures / f"{name}.pcap"))
        assert len(fresh) == len(kept) == 2
        for new, old in zip(fresh, kept):
            assert new.linktype == old.linktype == 1
            assert new.data[:12] == old.data[:12]            # destination and source MAC
            assert len(new.data) == len(old.data)
