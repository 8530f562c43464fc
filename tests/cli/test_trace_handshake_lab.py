"""trace-handshake beyond one loopback session: --listen with --count and Ctrl-C, IPv6 in
a network namespace and across a veth link, and a lossy, delayed link (NFQUEUE
impairment, since these kernels have no netem), each checked against tshark."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.trace_oracle import FIN, SYN, ACK, flags_text, teardown_kind, tshark_rows
from tests.conftest import need_root, need_tool
from tests.lab.impair import Impairment

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")


def netinspect_argv(*argv):
    return [sys.executable, "-m", "netinspect", *argv]


def free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def wait_for_line(stream, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            line = stream.readline()
            if not line:
                break
            seen += line
            if needle in line:
                return seen
    raise AssertionError(f"{needle!r} not seen within {timeout} s; got {seen!r}")


def client_session(port: int, message: bytes = b"ping") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(message)
        return conn.recv(100)


def test_listen_count_traces_each_client(tmp_path):
    need_root()
    tshark = need_tool("tshark")
    port = free_port()
    path = tmp_path / "listen.pcap"
    proc = subprocess.Popen(netinspect_argv("trace-handshake", "--listen", str(port), "--count", "2", "--json",
                                            "--write", str(path)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        wait_for_line(proc.stderr, "listening on")
        assert client_session(port, b"one") == b"ONE"
        assert client_session(port, b"two") == b"TWO"
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert len(doc["connections"]) == 2
    rows = tshark_rows(tshark, path)
    assert {r.stream for r in rows} == {0, 1}
    for stream, conn in enumerate(doc["connections"]):
        mine = [r for r in rows if r.stream == stream]
        assert [flags_text(r.flags) for r in mine][:3] == ["SYN", "SYN+ACK", "ACK"]
        assert conn["teardown"] == teardown_kind(mine)[0]
        assert conn["id.resp_p"] == port


def test_ctrl_c_prints_what_was_captured_and_exits_130(tmp_path):
    need_root()
    port = free_port()
    path = tmp_path / "interrupted.pcap"
    proc = subprocess.Popen(netinspect_argv("trace-handshake", "--listen", str(port), "--write", str(path)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        wait_for_line(proc.stderr, "listening on")
        assert client_session(port, b"abc") == b"ABC"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "handshake 1/3 SYN" in out and 'data "abc"' in out and 'data "ABC"' in out
    assert "Interrupted" in out
    assert path.exists()


def test_ipv6_loopback_in_a_fresh_namespace(lab, tmp_path):
    """-6 traced on the loopback of a new namespace (its lo has ::1 once it is up)."""
    tshark = need_tool("tshark")
    a, _ = lab.pair()
    path = tmp_path / "v6.pcap"
    done = a.run("env", f"PYTHONPATH={ROOT}", *netinspect_argv("trace-handshake", "-6", "--json", "--write", str(path)),
                 check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    (conn,) = doc["connections"]
    assert conn["id.orig_h"] == conn["id.resp_h"] == "::1"
    rows = tshark_rows(tshark, path)
    assert [flags_text(r.flags) for r in rows] == [s["flags"].replace("SYN+ACK", "SYN+ACK") for s in conn["segments"]] or \
        len(rows) == len(conn["segments"])
    assert conn["teardown"] == teardown_kind(rows)[0]


SERVER = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen()
print("ready", flush=True)
s.settimeout(60)
for _ in range(int(sys.argv[3])):
    c, _ = s.accept(); c.settimeout(10)
    try:
        data = c.recv(1000)
        c.sendall(data.upper())
        c.recv(1000)
    except OSError:
        pass
    c.close()
"""


def start_server(host, ip: str, port: int, count: int = 1):
    proc = host.popen(sys.executable, "-c", SERVER, ip, str(port), str(count), text=True)
    wait_for_line(proc.stdout, "ready")
    return proc


def trace_from(host, target: str, path: Path, *extra):
    done = host.run("env", f"PYTHONPATH={ROOT}", *netinspect_argv("trace-handshake", "--target", target, "--json",
                                                                  "--write", str(path), *extra),
                    check=False, timeout=90)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_ipv6_across_a_veth_link_picks_the_interface(lab_pair, tmp_path):
    tshark = need_tool("tshark")
    a, b = lab_pair
    server = start_server(b, b.ip6, 7007)
    try:
        doc = trace_from(a, f"[{b.ip6}]:7007", tmp_path / "veth6.pcap")
    finally:
        server.kill()
        server.wait()
    assert doc["capture"]["iface"] == a.ifname
    assert doc["capture"]["loopback_dedup"] is False
    (conn,) = doc["connections"]
    assert (conn["id.orig_h"], conn["id.resp_h"]) == (a.ip6, b.ip6)
    rows = tshark_rows(tshark, tmp_path / "veth6.pcap")
    assert len(rows) == len(conn["segments"]) and not any(r.retransmission for r in rows)
    assert conn["teardown"] == teardown_kind(rows)[0]
    assert conn["resp_bytes"] == len(b"HELLO\n")


def test_delayed_link_rtt_is_close_to_the_configured_delay(lab_pair, tmp_path):
    a, b = lab_pair
    server = start_server(b, b.ip4, 7010)
    try:
        # The server's packets leave 40 ms late: the client sees a 40 ms round trip.
        with Impairment(b, 7010, direction="out", delay_ms=40):
            doc = trace_from(a, f"{b.ip4}:7010", tmp_path / "delay.pcap")
    finally:
        server.kill()
        server.wait()
    (conn,) = doc["connections"]
    rtt_ms = conn["syn_synack"] * 1000
    assert 40 <= rtt_ms < 40 * 3, rtt_ms
    assert conn["retransmissions"] == 0


def test_lost_syn_and_lost_data_are_labelled_retransmissions(lab_pair, tmp_path):
    tshark = need_tool("tshark")
    a, b = lab_pair
    server = start_server(b, b.ip4, 7011)
    path = tmp_path / "loss.pcap"
    try:
        # Dropped on arrival at the server, after the client's capture saw them: the first
        # SYN (packet 1; its retransmission is 2, the handshake ACK 3) and the client's message (4).
        with Impairment(b, 7011, direction="in", drop_nth=[1, 4]) as impairment:
            doc = trace_from(a, f"{b.ip4}:7011", path)
    finally:
        server.kill()
        server.wait()
    assert impairment.stats.get("dropped") == 2
    (conn,) = doc["connections"]
    roles = [s["role"] for s in conn["segments"]]
    assert roles[:2] == ["syn", "syn_retx"]
    data = [s for s in conn["segments"] if s["len"] and s["from"] == "orig"]
    assert len(data) == 2 and "tcp.analysis.retransmission" in data[1]["analyses"]
    rows = tshark_rows(tshark, path)
    tshark_retx = [i for i, r in enumerate(rows) if r.retransmission]
    ours = [i for i, s in enumerate(conn["segments"])
            if s["role"].endswith("_retx") or "tcp.analysis.retransmission" in s["analyses"]]
    assert ours == tshark_retx
    # The SYN was retransmitted after the kernel's initial RTO (1 s): not a 0 ms round trip.
    assert conn["syn_synack"] >= 0.9


def test_reordered_segments_are_reported(lab_pair, tmp_path):
    tshark = need_tool("tshark")
    a, b = lab_pair
    server = start_server(b, b.ip4, 7012)
    path = tmp_path / "reorder.pcap"
    try:
        # The server's SYN+ACK (1) and the reordering are on the server's side; hold back its
        # ACK of the data (2) behind its answer (3) so the client receives them swapped.
        with Impairment(b, 7012, direction="out", reorder_nth=[2]) as impairment:
            doc = trace_from(a, f"{b.ip4}:7012", path)
    finally:
        server.kill()
        server.wait()
    assert impairment.stats.get("reordered") == 1
    (conn,) = doc["connections"]
    rows = tshark_rows(tshark, path)
    assert len(rows) == len(conn["segments"])
    assert conn["teardown"] == teardown_kind(rows)[0]
    assert conn["resp_bytes"] == len(b"HELLO\n")
    # The server's late ACK arrives after its answer; what tshark makes of that (duplicate
    # ACKs, out-of-order segments) is what the ladder labels.
    for name, attribute in (("tcp.analysis.duplicate_ack", "duplicate_ack"),
                            ("tcp.analysis.out_of_order", "out_of_order"),
                            ("tcp.analysis.retransmission", "retransmission")):
        assert [name in s["analyses"] for s in conn["segments"]] == [getattr(r, attribute) for r in rows], name
    late_ack = [i for i, r in enumerate(rows) if r.sport == 7012 and r.flags == ACK and r.ack == 7 and r.seq == 1]
    data_back = [i for i, r in enumerate(rows) if r.sport == 7012 and r.length]
    assert late_ack and data_back and late_ack[0] > data_back[0]
