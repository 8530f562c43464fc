"""`layers`: one frame dissected and placed in the OSI/TCP-IP models, checked against tshark."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest

from netinspect.adapters.capture_file import iter_frames
from tests.conftest import need_tool

CAPTURES = pathlib.Path(__file__).resolve().parents[2] / "captures"
SAMPLES = ["arp-exchange.pcap", "multicast.pcap", "broadcast.pcap"]

# tshark's frame.protocols names -> ours (tshark's "ethertype" and "data" are not headers)
TSHARK_NAMES = {"eth": "Ethernet", "arp": "ARP", "ip": "IPv4", "ipv6": "IPv6", "udp": "UDP", "tcp": "TCP",
                "icmp": "ICMP", "icmpv6": "ICMPv6", "vlan": "802.1Q", "sll": "Linux cooked", "dns": "DNS",
                "mdns": "mDNS", "igmp": "IGMP", "data": "Payload", "http": "HTTP", "ssdp": "SSDP"}


def layers_json(cli, *argv):
    result = cli("layers", *argv, "--json")
    assert result.status == 0, result.err
    return json.loads(result.out)


def tshark_fields(path, number, *fields):
    argv = ["tshark", "-n", "-r", str(path), "-Y", f"frame.number == {number}", "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    return dict(zip(fields, out.rstrip("\n").split("\t")))


def frame_numbers():
    for name in SAMPLES:
        count = sum(1 for _ in iter_frames(CAPTURES / name))
        for number in range(1, count + 1):
            yield name, number


@pytest.mark.parametrize("name,number", list(frame_numbers()))
def test_frame_agrees_with_tshark(cli, name, number):
    need_tool("tshark")
    path = CAPTURES / name
    doc = layers_json(cli, str(path), "--frame", str(number))
    t = tshark_fields(path, number, "frame.protocols", "frame.len", "frame.cap_len", "eth.dst", "eth.src",
                      "eth.dst.ig", "ip.dst", "ipv6.dst", "arp.opcode", "udp.dstport", "ip.ttl", "ipv6.hlim",
                      "udp.length")
    protocols = [TSHARK_NAMES[p] for p in t["frame.protocols"].split(":") if p != "ethertype"]
    ours = [layer["protocol"] for layer in doc["layers"] if layer["protocol"] != "Padding"]
    assert ours == protocols
    assert doc["captured_bytes"] == int(t["frame.cap_len"]) and doc["wire_bytes"] == int(t["frame.len"])
    fields = {(layer["protocol"], f["name"]): f["raw"] for layer in doc["layers"] for f in layer["fields"]}
    assert fields[("Ethernet", "dst")] == t["eth.dst"]
    assert fields[("Ethernet", "src")] == t["eth.src"]
    l2 = doc["cast"]["layer2"]
    assert l2["address"] == t["eth.dst"]
    # tshark's I/G bit: 1 for group addresses (multicast and broadcast), 0 for individual
    assert (l2["kind"] != "unicast") == (t["eth.dst.ig"] in ("1", "True"))
    if t["ip.dst"]:
        assert doc["cast"]["layer3"]["address"] == t["ip.dst"] == fields[("IPv4", "dst")]
        assert fields[("IPv4", "ttl")] == int(t["ip.ttl"])
    elif t["ipv6.dst"]:
        assert doc["cast"]["layer3"]["address"] == t["ipv6.dst"]
        assert fields[("IPv6", "hlim")] == int(t["ipv6.hlim"])
    else:
        assert doc["cast"]["layer3"] is None and "ARP has no IP header" in doc["cast"]["layer3_note"]
    if t["arp.opcode"]:
        assert fields[("ARP", "op")] == int(t["arp.opcode"])
    if t["udp.dstport"]:
        assert fields[("UDP", "dport")] == int(t["udp.dstport"])
        assert fields[("UDP", "len")] == int(t["udp.length"])
    # the headers tile the frame: each starts where the one before it ended
    offset = 0
    for layer in doc["layers"]:
        assert layer["offset"] == offset
        offset += layer["length"]
    assert offset == doc["captured_bytes"]


def test_tcp_options_are_words_not_scapy_reprs(cli):
    need_tool("tshark")
    path = CAPTURES / "scenarios.pcap"
    facts = tshark_fields(path, 1, "tcp.options.mss_val", "tcp.options.wscale.shift",
                          "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr")
    doc = layers_json(cli, str(path), "--frame", "1")
    (tcp,) = [layer for layer in doc["layers"] if layer["protocol"] == "TCP"]
    options = next(f["value"] for f in tcp["fields"] if f["name"] == "options")
    assert "(" not in options and "[" not in options, options
    assert f"mss {facts['tcp.options.mss_val']}" in options
    assert f"wscale {facts['tcp.options.wscale.shift']}" in options and "sack_perm" in options
    assert f"ts {facts['tcp.options.timestamp.tsval']}/{facts['tcp.options.timestamp.tsecr']}" in options


def test_one_byte_payload_is_one_byte(cli, tmp_path):
    import struct
    udp = struct.pack("!HHHH", 40000, 5000, 9, 0) + b"x"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([10, 77, 7, 1]), bytes([10, 77, 7, 2])) + udp
    frame = bytes.fromhex("027700070002" "027700070001" "0800") + ip
    frame += bytes(60 - len(frame))          # Ethernet minimum: padding after the payload
    path = tmp_path / "one.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                     + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame)
    out = cli("layers", str(path)).out
    assert "payload: 1 byte (" in out, out


def test_ipv6_summary_brackets_the_address_before_the_port(cli):
    need_tool("tshark")
    path = CAPTURES / "scenarios.pcap"
    number = next(int(n) for n in subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "ipv6 && tcp", "-T", "fields", "-e", "frame.number"],
        capture_output=True, text=True, timeout=60, check=True).stdout.split())
    facts = tshark_fields(path, number, "ipv6.src", "tcp.srcport", "ipv6.dst", "tcp.dstport")
    doc = layers_json(cli, str(path), "--frame", str(number))
    assert (f"[{facts['ipv6.src']}]:{facts['tcp.srcport']} > [{facts['ipv6.dst']}]:{facts['tcp.dstport']}"
            in doc["summary"]), doc["summary"]


def test_arp_exchange_cast(cli):
    request = layers_json(cli, str(CAPTURES / "arp-exchange.pcap"))
    reply = layers_json(cli, str(CAPTURES / "arp-exchange.pcap"), "--frame", "2")
    assert request["cast"]["layer2"]["kind"] == "broadcast"
    assert reply["cast"]["layer2"]["kind"] == "unicast"
    assert [(lay["protocol"], lay["osi_layer"], lay["tcpip_name"]) for lay in request["layers"]] == [
        ("Ethernet", 2, "Data Link"), ("ARP", 2, "Data Link")]


def test_multicast_groups_and_scopes(cli):
    v4 = layers_json(cli, str(CAPTURES / "multicast.pcap"), "--frame", "1")
    v6 = layers_json(cli, str(CAPTURES / "multicast.pcap"), "--frame", "2")
    assert v4["cast"]["layer2"]["kind"] == "multicast" and v4["cast"]["layer2"]["address"] == "01:00:5e:01:02:03"
    assert v4["cast"]["layer3"]["kind"] == "multicast" and v4["cast"]["layer3"]["group"] == "239.1.2.3"
    assert "administratively scoped" in v4["cast"]["layer3"]["scope"]
    assert v4["cast"]["mismatch"] == ""
    assert v6["cast"]["layer3"]["group"] == "all nodes" and v6["cast"]["layer3"]["scope"] == "link-local"
    assert v6["cast"]["layer2"]["address"] == "33:33:00:00:00:01"
    assert [(lay["protocol"], lay["osi_layer"], lay["tcpip_layer"]) for lay in v6["layers"]] == [
        ("Ethernet", 2, 2), ("IPv6", 3, 3), ("UDP", 4, 4), ("Payload", 7, 5)]
    assert bytes.fromhex(v6["payload"]["hex"]) == b"hello ff02::1 all nodes"
    assert v6["payload"]["text"] == "hello ff02::1 all nodes"


def test_broadcast_directed_and_limited(cli):
    path = str(CAPTURES / "broadcast.pcap")
    directed = layers_json(cli, path, "--frame", "1")
    limited = layers_json(cli, path, "--frame", "2")
    assert directed["cast"]["layer2"]["kind"] == limited["cast"]["layer2"]["kind"] == "broadcast"
    assert directed["cast"]["layer3"]["kind"] == "broadcast"
    assert directed["cast"]["layer3"]["scope"] == "directed (inferred)"
    checked = layers_json(cli, path, "--frame", "1", "--subnet", "10.77.7.0/24")
    assert checked["cast"]["layer3"]["scope"] == "directed"
    assert limited["cast"]["layer3"]["scope"] == "limited"


def test_text_output(cli):
    result = cli("layers", str(CAPTURES / "multicast.pcap"))
    assert result.status == 0, result.err
    out = result.out
    assert "layer 2: multicast 01:00:5e:01:02:03" in out
    assert "layer 3: multicast 239.1.2.3" in out
    for row in ("2 Data Link    2 Data Link     Ethernet", "3 Network      3 Network       IPv4",
                "4 Transport    4 Transport     UDP", "7 Application  5 Application   Payload"):
        assert row in out
    assert "hello 239.1.2.3 " in out and "multicast\n" in out   # the hex dump, 16 bytes a line
    assert "ttl" in out and "time to live" in out


def _rewrite(src: pathlib.Path, dst: pathlib.Path, linktype: int, convert) -> None:
    """Write a classic pcap of `src`'s frames with a new link-layer header made by `convert`."""
    import struct

    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for frame in iter_frames(src):
        data = convert(frame.data)
        sec, ns = divmod(frame.ts_ns, 1_000_000_000)
        out.append(struct.pack("<IIII", sec, ns // 1000, len(data), len(data)) + data)
    dst.write_bytes(b"".join(out))


def _sll(eth: bytes) -> bytes:
    dst, src, ethertype = eth[0:6], eth[6:12], eth[12:14]
    pkttype = 1 if dst == b"\xff" * 6 else 2 if dst[0] & 1 else 0
    import struct

    return struct.pack("!HHH", pkttype, 1, 6) + src + b"\0\0" + ethertype + eth[14:]


@pytest.mark.parametrize("name", ["multicast.pcap", "broadcast.pcap"])
@pytest.mark.parametrize("linktype,first,tshark_first", [(113, "Linux cooked", "sll"), (101, None, None)])
def test_cooked_and_raw_link_types(cli, tmp_path, name, linktype, first, tshark_first):
    """The sample frames rewritten as Linux cooked (SLL) and as raw IP dissect the same above the link."""
    need_tool("tshark")
    src = CAPTURES / name
    out = tmp_path / f"{linktype}-{name}"
    _rewrite(src, out, linktype, _sll if linktype == 113 else (lambda eth: eth[14:]))
    for number in (1, 2):
        original = layers_json(cli, str(src), "--frame", str(number))
        doc = layers_json(cli, str(out), "--frame", str(number))
        t = tshark_fields(out, number, "frame.protocols")
        protocols = [TSHARK_NAMES.get(p, p) for p in t["frame.protocols"].split(":") if p not in ("ethertype", "raw")]
        assert [layer["protocol"] for layer in doc["layers"]] == protocols
        above_link = doc["layers"][1:] if first else doc["layers"]
        shift = (16 if first else 0) - 14
        assert above_link == [{**layer, "offset": layer["offset"] + shift} for layer in original["layers"][1:]]
        if first:
            assert doc["cast"]["layer3"] == original["cast"]["layer3"]
        else:
            # no link layer: a directed broadcast cannot be told from unicast without --subnet
            assert doc["cast"]["layer3"]["address"] == original["cast"]["layer3"]["address"]
        if first:
            assert doc["layers"][0]["protocol"] == first
            assert doc["cast"]["layer2"]["kind"] == original["cast"]["layer2"]["kind"]
        else:
            assert doc["cast"]["layer2"] is None


@pytest.mark.parametrize("argv,status,needle", [
    (("layers",), 2, "capture FILE"),
    (("layers", "CAPS/arp-exchange.pcap", "--frame", "0"), 2, "--frame '0'"),
    (("layers", "CAPS/arp-exchange.pcap", "--frame", "x"), 2, "--frame 'x'"),
    (("layers", "CAPS/arp-exchange.pcap", "--frame", "3"), 2, "has 2 frames"),
    (("layers", "CAPS/arp-exchange.pcap", "--subnet", "10.0.0.0/33"), 2, "--subnet"),
    (("layers", "CAPS/README.md"), 2, "not a capture"),
    (("layers", "CAPS/no-such.pcap"), 2, "no-such.pcap"),
    (("layers", "--live"), 2, "-i IFACE"),
    (("layers", "CAPS/arp-exchange.pcap", "--filter", "arp"), 2, "--live only"),
])
def test_bad_input(cli, argv, status, needle):
    argv = [a.replace("CAPS", str(CAPTURES)) for a in argv]
    result = cli(*argv)
    assert result.status == status, result.err
    assert result.err.count("\n") == 1 and needle in result.err
    assert "Traceback" not in result.err


def test_truncated_capture_reports_damage(cli, tmp_path):
    data = (CAPTURES / "multicast.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:len(data) - 10])       # the second record is cut short
    assert cli("layers", str(cut), "--frame", "1").status == 0
    result = cli("layers", str(cut), "--frame", "2")
    assert result.status == 1
    assert "damaged at byte offset" in result.err or "has 1 frame" in result.err


def test_live_one_frame(lab_pair):
    import sys
    import threading
    import time

    a, b = lab_pair
    root = str(pathlib.Path(__file__).resolve().parents[2])
    proc = a.popen("env", f"PYTHONPATH={root}", sys.executable, "-m", "netinspect", "layers", "--live", "-i", a.ifname,
                   "--filter", "udp port 5000", "--timeout", "20", "--json")
    try:
        def send():
            for _ in range(40):              # bounded: until the capture has started and seen one
                if proc.poll() is not None:
                    return
                a.run(sys.executable, "-c", "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
                      f"s.sendto(b'live frame', ('{b.ip4}', 5000))")
                time.sleep(0.25)
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        out, err = proc.communicate(timeout=40)
        sender.join(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert doc["source"] == f"live capture on {a.ifname}"
    assert [layer["protocol"] for layer in doc["layers"]] == ["Ethernet", "IPv4", "UDP", "Payload"]
    assert doc["cast"]["layer2"] == {**doc["cast"]["layer2"], "kind": "unicast", "address": b.mac}
    assert doc["cast"]["layer3"]["address"] == b.ip4
    assert bytes.fromhex(doc["payload"]["hex"]) == b"live frame"


def test_pcapng_and_gzip_give_the_same_frame(cli, tmp_path):
    import gzip

    src = CAPTURES / "multicast.pcap"
    want = layers_json(cli, str(src), "--frame", "2")
    gz = tmp_path / "multicast.pcap.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    got = layers_json(cli, str(gz), "--frame", "2")
    assert {k: v for k, v in got.items() if k != "source"} == {k: v for k, v in want.items() if k != "source"}
    if shutil.which("editcap"):
        ng = tmp_path / "multicast.pcapng"
        subprocess.run(["editcap", "-F", "pcapng", str(src), str(ng)], check=True, capture_output=True, timeout=60)
        got = layers_json(cli, str(ng), "--frame", "2")
        assert got["layers"] == want["layers"] and got["cast"] == want["cast"]
