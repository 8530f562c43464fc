"""The reader and decoders against tshark on real captures: a TCP exchange made with sockets
on loopback and captured by tcpdump (nanosecond pcap), the same file converted by editcap
(microsecond pcap, modified pcap, pcapng), byte-swapped to big-endian and gzipped; a
two-interface pcapng from dumpcap (Ethernet and Linux cooked); and VLAN-tagged frames with
ARP in a namespace pair."""

from __future__ import annotations

import gzip
import signal
import socket
import struct
import subprocess
import threading
import time
from decimal import Decimal

import pytest

from netinspect.adapters.capture_file import iter_frames, open_capture
from netinspect.core.records import Segment
from netinspect.wire.decode import decode_frame
from tests.conftest import need_root, need_tool

FIELDS = ["frame.interface_id", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst",
          "tcp.dstport", "tcp.flags", "tcp.seq", "tcp.ack", "tcp.len", "tcp.window_size_value",
          "tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.timestamp.tsval", "frame.encap_type"]


def tshark_rows(path, fields=FIELDS, display_filter=None):
    tshark = need_tool("tshark")
    argv = [tshark, "-r", str(path), "-o", "tcp.relative_sequence_numbers:FALSE", "-T", "fields",
            "-E", "occurrence=f"]
    for name in fields:
        argv += ["-e", name]
    if display_filter:
        argv += ["-Y", display_filter]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [dict(zip(fields, line.split("\t"))) for line in result.stdout.splitlines()]


def ours_row(frame) -> dict:
    d = decode_frame(frame)
    s = d.segment
    assert d.malformed == "", d.malformed
    assert isinstance(s, Segment)
    return {
        "frame.interface_id": str(frame.interface), "frame.time_epoch": frame.ts_ns,
        "src": s.src.ip, "dst": s.dst.ip, "tcp.srcport": str(s.src.port), "tcp.dstport": str(s.dst.port),
        "tcp.flags": s.flags, "tcp.seq": str(s.seq), "tcp.ack": str(s.ack), "tcp.len": str(s.payload_len),
        "tcp.window_size_value": str(s.window),
        "tcp.options.mss_val": "" if s.options is None or s.options.mss is None else str(s.options.mss),
        "tcp.options.wscale.shift": "" if s.options is None or s.options.wscale is None else str(s.options.wscale),
        "tcp.options.timestamp.tsval": "" if s.options is None or s.options.ts_val is None else str(s.options.ts_val),
    }


def theirs_row(row: dict) -> dict:
    seconds = Decimal(row["frame.time_epoch"])
    return {
        "frame.interface_id": row["frame.interface_id"] or "0",
        "frame.time_epoch": int(seconds * 10**9),
        "src": row["ip.src"] or row["ipv6.src"], "dst": row["ip.dst"] or row["ipv6.dst"],
        **{k: row[k] for k in ("tcp.srcport", "tcp.dstport", "tcp.seq", "tcp.len", "tcp.window_size_value",
                               "tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.timestamp.tsval")},
        "tcp.flags": int(row["tcp.flags"], 16),
        # tshark shows the acknowledgment field only when ACK is set; the wire carries it anyway.
        "tcp.ack": row["tcp.ack"],
    }


def assert_same_as_tshark(path, expect_frames=None):
    theirs = [theirs_row(r) for r in tshark_rows(path)]
    ours = [ours_row(f) for f in iter_frames(path)]
    if expect_frames is not None:
        assert len(ours) == expect_frames
    assert len(ours) == len(theirs) > 0
    for mine, row in zip(ours, theirs):
        if not row["tcp.flags"] & 0x10:
            mine["tcp.ack"] = row["tcp.ack"] = "-"
        assert mine == row
    # The fast record path agrees with the general decoder on the same file.
    with open_capture(path) as reader:
        fast = list(reader.records())
    assert [(str(s.src), str(s.dst), s.seq, s.ack, s.flags, s.payload_len, s.ts_ns) for s in fast] == \
        [(str(d.segment.src), str(d.segment.dst), d.segment.seq, d.segment.ack, d.segment.flags,
          d.segment.payload_len, d.ts_ns) for d in map(decode_frame, iter_frames(path))]
    return ours


class Capture:
    """tcpdump or dumpcap running for the duration of a `with` block (stopped by its pid)."""

    def __init__(self, argv, path, ready_text, settle=0.5):
        self.argv, self.path, self.ready_text, self.settle = argv, path, ready_text, settle

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        seen = ""
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            seen += line
            if self.ready_text in line or not line:
                break
        if self.ready_text not in seen:
            self.stop()
            pytest.fail(f"capture did not start: {seen.strip()}")
        # dumpcap reports before every interface is armed; give it a moment, bounded.
        time.sleep(self.settle)
        return self

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc.stderr.close()

    def __exit__(self, *exc):
        time.sleep(0.3)   # let the last segments through the capture buffer
        self.stop()


def exchange(family, address):
    """One short TCP conversation with sockets: request, echo, close (bounded in time)."""
    server = socket.socket(family, socket.SOCK_STREAM)
    server.settimeout(5)
    server.bind((address, 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve():
        try:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(5)
                data = conn.recv(1024)
                conn.sendall(data.upper())
                conn.recv(1024)   # until the client closes
        finally:
            server.close()

    return port, serve


def run_exchange(port, serve, family, address):
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with socket.create_connection((address, port), timeout=5) as client:
        client.sendall(b"hello netinspect")
        assert client.recv(1024) == b"HELLO NETINSPECT"
        time.sleep(0.05)
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def loopback_capture(tmp_path_factory):
    need_root()
    tcpdump = need_tool("tcpdump")
    need_tool("tshark")
    path = tmp_path_factory.mktemp("cap") / "lo-nano.pcap"
    port4, serve4 = exchange(socket.AF_INET, "127.0.0.1")
    port6, serve6 = exchange(socket.AF_INET6, "::1")
    argv = [tcpdump, "-i", "lo", "-U", "--immediate-mode", "-n", "--time-stamp-precision=nano", "-w", str(path),
            f"tcp port {port4} or tcp port {port6}"]
    with Capture(argv, path, "listening on"):
        run_exchange(port4, serve4, socket.AF_INET, "127.0.0.1")
        run_exchange(port6, serve6, socket.AF_INET6, "::1")
    return path


def test_tcpdump_nanosecond_pcap_matches_tshark(loopback_capture):
    with open(loopback_capture, "rb") as handle:
        assert handle.read(4) == struct.pack("<I", 0xA1B23C4D)
    ours = assert_same_as_tshark(loopback_capture)
    assert {r["src"] for r in ours} == {"127.0.0.1", "::1"}
    assert len(ours) >= 16   # two handshakes, requests, echoes and teardowns


@pytest.mark.parametrize("fmt", ["pcap", "modpcap", "pcapng"])
def test_editcap_conversions_match_tshark(loopback_capture, tmp_path, fmt):
    editcap = need_tool("editcap")
    out = tmp_path / f"converted.{fmt}"
    subprocess.run([editcap, "-F", fmt, str(loopback_capture), str(out)], check=True, capture_output=True, timeout=60)
    with open_capture(out) as reader:
        assert reader.format == ("pcapng" if fmt == "pcapng" else "pcap")
    assert_same_as_tshark(out)


def _byteswap_pcap(data: bytes) -> bytes:
    """The same capture written by a big-endian host: every header field swapped."""
    out = bytearray(struct.pack(">IHHiIII", *struct.unpack_from("<IHHiIII", data)))
    off = 24
    while off < len(data):
        sec, frac, caplen, wire = struct.unpack_from("<IIII", data, off)
        out += struct.pack(">IIII", sec, frac, caplen, wire) + data[off + 16:off + 16 + caplen]
        off += 16 + caplen
    return bytes(out)


def test_big_endian_and_gzip_match_tshark(loopback_capture, tmp_path):
    data = loopback_capture.read_bytes()
    big = tmp_path / "big-endian.pcap"
    big.write_bytes(_byteswap_pcap(data))
    assert big.read_bytes()[:4] == bytes.fromhex("a1b23c4d")
    assert_same_as_tshark(big)
    packed = tmp_path / "capture.pcap.gz"
    packed.write_bytes(gzip.compress(data))
    with open_capture(packed) as reader:
        assert reader.compressed
    assert_same_as_tshark(packed)


def test_dumpcap_two_interfaces_of_different_link_types(tmp_path):
    need_root()
    dumpcap = need_tool("dumpcap")
    path = tmp_path / "two.pcapng"
    port, serve = exchange(socket.AF_INET, "127.0.0.1")
    # A -f after the -i options would filter only the last one ("any") and leave lo unfiltered,
    # so every other loopback packet of the machine would land in the file; before them it is
    # the filter of both. -p keeps lo out of promiscuous mode, which other tests read.
    argv = [dumpcap, "-q", "-p", "-f", f"tcp port {port}", "-i", "lo", "-i", "any", "-w", str(path)]
    with Capture(argv, path, "Capturing on", settle=2.0):
        run_exchange(port, serve, socket.AF_INET, "127.0.0.1")
    frames = list(iter_frames(path))
    assert {(f.interface, f.linktype) for f in frames} == {(0, 1), (1, 113)}
    # Only our exchange, on both interfaces: the filter applied to each of them.
    assert {(r["frame.interface_id"], str(port) in (r["tcp.srcport"], r["tcp.dstport"]))
            for r in tshark_rows(path)} == {("0", True), ("1", True)}
    encaps = [r["frame.encap_type"] for r in tshark_rows(path)]
    assert [f.linktype for f in frames] == [{"1": 1, "25": 113}[e] for e in encaps]
    assert_same_as_tshark(path)


INJECT = """
import socket, struct, sys
ifname, src, dst = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
def ip4(proto, body):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0,
                       bytes([10, 77, 251, 1]), bytes([10, 77, 251, 2])) + body
udp = ip4(17, struct.pack("!HHHH", 4000, 53, 12, 0) + b"abcd")
tcp = ip4(6, struct.pack("!HHIIBBHHH", 4001, 80, 123456, 0, 0x50, 0x02, 1000, 0, 0))
frames = [dst + src + struct.pack("!HH", 0x8100, 100) + b"\\x08\\x00" + udp,
          dst + src + struct.pack("!HHHH", 0x88A8, 10, 0x8100, 20) + b"\\x08\\x00" + tcp]
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
    s.bind((ifname, 0))
    for frame in frames:
        s.send(frame + bytes(max(0, 60 - len(frame))))
"""


def test_arp_macs_and_vlan_tags_in_a_namespace_pair(lab_pair, tmp_path):
    """Real ARP before a TCP exchange between two namespaces, plus VLAN-tagged frames (one tag,
    and 802.1ad + 802.1Q) sent raw from one side, all captured by tcpdump on the other."""
    tcpdump = need_tool("tcpdump")
    a, b = lab_pair
    a.run("ip", "neigh", "flush", "dev", a.ifname)
    b.run("ip", "neigh", "flush", "dev", b.ifname)
    path = tmp_path / "lab.pcap"
    server = b.popen("python3", "-c",
                     "import socket\ns=socket.socket(); s.settimeout(10)\n"
                     "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                     f"s.bind(('{b.ip4}', 7777)); s.listen(1); print('ready', flush=True)\n"
                     "c,_=s.accept(); c.settimeout(5); c.sendall(c.recv(100)); c.recv(100); c.close()\n")
    try:
        assert server.stdout.readline().strip() == b"ready"
        argv = b.argv(tcpdump, "-i", b.ifname, "-U", "--immediate-mode", "-n", "-w", str(path))
        with Capture(argv, path, "listening on"):
            a.run("python3", "-c", f"import socket\nc=socket.create_connection(('{b.ip4}', 7777), timeout=5)\n"
                                   "c.sendall(b'lab'); assert c.recv(100) == b'lab'; c.close()\n")
            a.run("python3", "-c", INJECT, a.ifname, a.mac.replace(":", ""), b.mac.replace(":", ""))
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)
        server.stdout.close()
        server.stderr.close()
    fields = ["ieee8021ad.id", "vlan.id", "eth.src", "eth.dst", "arp.opcode", "arp.src.proto_ipv4", "arp.dst.proto_ipv4",
              "arp.src.hw_mac", "arp.dst.hw_mac", "ip.src", "ip.dst", "tcp.srcport", "udp.srcport", "tcp.seq", "tcp.len"]
    theirs = tshark_rows(path, fields, display_filter="arp or ip")
    ours = [d for d in map(decode_frame, iter_frames(path)) if d.arp or d.version == 4]
    assert len(ours) == len(theirs)
    assert sum(1 for r in theirs if r["arp.opcode"]) >= 2 and sum(1 for r in theirs if r["vlan.id"]) == 2
    assert {d.vlans for d in ours} == {(), (100,), (10, 20)}
    for d, row in zip(ours, theirs):
        assert d.malformed == ""
        assert (d.src_mac, d.dst_mac) == (row["eth.src"], row["eth.dst"])
        # tshark names an 802.1ad (0x88a8) outer tag ieee8021ad, an 802.1Q tag vlan.
        assert tuple(int(row[k]) for k in ("ieee8021ad.id", "vlan.id") if row[k]) == d.vlans
        if row["arp.opcode"]:
            assert (str(d.arp.op), d.arp.sender_ip, d.arp.target_ip, d.arp.sender_mac, d.arp.target_mac) == \
                (row["arp.opcode"], row["arp.src.proto_ipv4"], row["arp.dst.proto_ipv4"], row["arp.src.hw_mac"],
                 row["arp.dst.hw_mac"])
            continue
        assert (d.src, d.dst) == (row["ip.src"], row["ip.dst"])
        if d.segment:
            assert (str(d.segment.src.port), str(d.segment.seq), str(d.segment.payload_len)) == \
                (row["tcp.srcport"], row["tcp.seq"], row["tcp.len"])
        else:
            assert str(d.datagram.src.port) == row["udp.srcport"]
