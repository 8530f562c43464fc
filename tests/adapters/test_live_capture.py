"""Live capture on loopback: each packet once, only the traced port, ready before the SYN,
compared with tcpdump capturing the same connection at the same time."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from netinspect.adapters import handshake_scenarios as scen
from netinspect.adapters.live_capture import LiveCapture, analyse_frames, libpcap_loaded
from netinspect.core import bpf
from netinspect.wire.decode import decode_frame
from tests.conftest import need_root, need_tool
from tests.lab.no_libpcap import BLOCK_LIBPCAP

pytestmark = pytest.mark.lab


def _session(capture_port_from_server=True, scenario="client-closes-first", family=socket.AF_INET, compiler=None):
    with scen.EmbeddedServer(family, scenario=scenario) as server:
        with LiveCapture("lo", server.endpoint.port, compiler=compiler) as cap:
            server.start(1)
            report = scen.run_client(family, server.endpoint, scenario)
            assert server.wait_finished(1, 5)
    return cap, report


def test_one_session_every_packet_once_and_nothing_else():
    need_root()
    cap, report = _session()
    frames = cap.frames()
    decoded = [decode_frame(f) for f in frames]
    segments = [d.segment for d in decoded]
    assert all(s is not None for s in segments)
    ports = {report.server.port}
    assert all(s.src.port in ports or s.dst.port in ports for s in segments)
    # No frame twice: loopback's outgoing copies are rejected in the kernel.
    keys = [(s.src, s.seq, s.ack, s.flags, s.payload_len, d.ip_id) for s, d in zip(segments, decoded)]
    assert len(keys) == len(set(keys))
    tracker, _ = analyse_frames(frames)
    (conn,) = tracker.connections()
    assert conn.retransmissions == 0
    assert conn.handshake is not None
    assert conn.orig == report.client
    assert cap.stats.kernel_drops == 0
    # Loopback leaves TCP checksums to "offload": the kernel says so and we count it, not flag it.
    assert cap.stats.checksum_offloaded == len(frames)
    assert all(not d.malformed for d in decoded)


def test_first_packet_is_the_syn_every_time():
    need_root()
    for _ in range(10):
        cap, _ = _session()
        first = decode_frame(cap.frames()[0]).segment
        assert first.flags == 0x02, "the capture missed the SYN: it was not ready before the traffic"


def test_same_packets_as_tcpdump_capturing_at_the_same_time():
    need_root()
    tool = need_tool("tcpdump")
    with tempfile.TemporaryDirectory() as tmp, scen.EmbeddedServer(scenario="client-closes-first") as server:
        path = os.path.join(tmp, "ref.pcap")
        port = server.endpoint.port
        dump = subprocess.Popen([tool, "-i", "lo", "-Z", "root", "--immediate-mode", "-U", "-w", path,
                                 f"tcp port {port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            line = b""
            deadline = time.monotonic() + 10
            while b"listening" not in line and time.monotonic() < deadline:
                line = dump.stderr.readline()
            with LiveCapture("lo", port) as cap:
                server.start(1)
                scen.run_client(socket.AF_INET, server.endpoint, "client-closes-first")
                server.wait_finished(1, 5)
            time.sleep(0.3)
        finally:
            dump.terminate()
            dump.wait(10)
        reference = _pcap_packets(path)
    ours = [(f.ts_ns // 1000, f.data) for f in cap.frames()]
    assert [data for _, data in ours] == [data for _, data in reference]
    # Each socket is stamped as the kernel queues the packet to it: within a millisecond.
    assert all(abs(a - b) < 1000 for (a, _), (b, _) in zip(ours, reference))


def _pcap_packets(path):
    data = open(path, "rb").read()
    nanos = struct.unpack("<I", data[:4])[0] == 0xA1B23C4D
    offset, out = 24, []
    while offset + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack("<IIII", data[offset:offset + 16])
        micros = sec * 1_000_000 + (frac // 1000 if nanos else frac)
        out.append((micros, data[offset + 16: offset + 16 + caplen]))
        offset += 16 + caplen
    return out


def test_other_traffic_on_the_interface_is_rejected_in_the_kernel():
    need_root()
    with scen.EmbeddedServer() as server:
        port = server.endpoint.port
        other = socket.socket()
        other.bind(("127.0.0.1", 0))
        other.listen()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        try:
            with LiveCapture("lo", port) as cap:
                for _ in range(200):
                    udp.sendto(b"noise", sink.getsockname())
                    udp.sendto(b"noise", ("127.0.0.1", port))   # UDP on the same port number
                socket.create_connection(other.getsockname(), timeout=5).close()
                server.start(1)
                scen.run_client(socket.AF_INET, server.endpoint, "client-closes-first")
                server.wait_finished(1, 5)
        finally:
            for s in (other, udp, sink):
                s.close()
    segments = [decode_frame(f).segment for f in cap.frames()]
    assert segments and all(s is not None and port in (s.src.port, s.dst.port) for s in segments)


@pytest.mark.parametrize("scenario", ["server-closes-first", "abort", "half-close"])
def test_scenarios_reach_the_tracker(scenario):
    need_root()
    cap, report = _session(scenario=scenario)
    tracker, _ = analyse_frames(cap.frames())
    (conn,) = tracker.connections()
    if scenario == "abort":
        assert conn.teardown == "reset"
        assert conn.closed_by == "orig"
    elif scenario == "server-closes-first":
        assert conn.closed_by == "resp"
    else:
        assert conn.half_closed


def test_ipv6_loopback_is_captured():
    need_root()
    probe = socket.socket(socket.AF_INET6)
    try:
        probe.bind(("::1", 0))
    except OSError:
        pytest.skip("::1 is not configured on lo here")
    finally:
        probe.close()
    cap, report = _session(family=socket.AF_INET6)
    segments = [decode_frame(f).segment for f in cap.frames()]
    assert segments[0].src.ip == "::1" and segments[0].flags == 0x02
    assert len(segments) >= 8


def test_libpcap_compiled_filter_path():
    """With libpcap present, the filter may be compiled by libpcap (through scapy) instead."""
    need_root()
    cap, _ = _session(compiler="libpcap")
    assert libpcap_loaded()
    # libpcap's program for the same expression is tcpdump's, which is ours: plus the
    # loopback prefix that rejects outgoing copies.
    # (scapy asks libpcap for a snap length of 65535 bytes)
    assert cap.program == bpf.drop_outgoing_prefix(bpf.compile_tcp_port(cap.port, snaplen=65535))
    assert "compiled by libpcap" in cap.path_description
    tracker, _ = analyse_frames(cap.frames())
    assert len(tracker.connections()) == 1
    assert tracker.connections()[0].retransmissions == 0


NO_LIBPCAP_PROGRAM = BLOCK_LIBPCAP + r"""
import socket
from netinspect.adapters import scapy_io
scapy = scapy_io.load()
try:
    scapy.sniff(iface="lo", filter="tcp port 1", count=1, timeout=0.1)
    print("scapy-filter: compiled")
except Exception as error:
    print("scapy-filter: failed:", type(error).__name__)
from netinspect.adapters import handshake_scenarios as scen
from netinspect.adapters.live_capture import LiveCapture, analyse_frames, libpcap_loaded
with scen.EmbeddedServer() as server:
    with LiveCapture("lo", server.endpoint.port) as cap:
        server.start(1)
        scen.run_client(socket.AF_INET, server.endpoint, "client-closes-first")
        server.wait_finished(1, 5)
tracker, n = analyse_frames(cap.frames())
print("segments:", n, "connections:", len(tracker.connections()), "teardown:", tracker.connections()[0].teardown)
print("libpcap loaded:", libpcap_loaded())
print(cap.path_description)
"""


def test_without_libpcap_the_kernel_filter_is_netinspects():
    need_root()
    env = dict(os.environ, NETINSPECT_NO_LIBPCAP="1")
    done = subprocess.run([sys.executable, "-c", NO_LIBPCAP_PROGRAM], capture_output=True, text=True,
                          timeout=120, env=env, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # scapy alone cannot filter here...
    assert lines[0].startswith("scapy-filter: failed")
    # ...netinspect still captures exactly the connection, with its own program.
    assert "connections: 1" in lines[1]
    assert int(lines[1].split()[1]) >= 8
    assert lines[2] == "libpcap loaded: False"
    assert "compiled by netinspect (libpcap not used)" in lines[3]


def test_capture_needs_privilege():
    need_root()
    setpriv = need_tool("setpriv")
    code = ("from netinspect.adapters.live_capture import LiveCapture\n"
            "from netinspect.core.errors import PrivilegeError\n"
            "try:\n    LiveCapture('lo', 9).start()\nexcept PrivilegeError as e:\n    print('refused:', e)\n")
    done = subprocess.run([setpriv, "--inh-caps=-net_raw", "--bounding-set=-net_raw", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.stdout.startswith("refused: capturing packets needs root or the CAP_NET_RAW capability"), done.stderr
