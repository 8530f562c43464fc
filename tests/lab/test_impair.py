"""The NFQUEUE impairment tool does what it says, on real traffic between lab namespaces."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import need_tool
from tests.lab.impair import Impairment
from tests.lab.scenarios import CLIENT, Tcpdump, _finish, _start_server
from tests.lab.tshark_oracle import tcp_streams

pytestmark = pytest.mark.lab


def _one_connection(a, b, port: int) -> None:
    server = _start_server(b, "echo", "4", port, 1)
    try:
        a.run(sys.executable, "-c", CLIENT, "plain", "4", b.ip4, str(port), "1", timeout=30)
    finally:
        _finish(server)


def _rules(host) -> str:
    return host.run("iptables", "-S").stdout


def test_delay_shows_in_the_handshake_rtt(lab_pair, tmp_path):
    need_tool("tshark")
    a, b = lab_pair
    pcap = tmp_path / "delay.pcap"
    with Tcpdump(a, pcap):
        with Impairment(b, 7101, direction="in", delay_ms=40) as imp:
            assert "NFQUEUE" in _rules(b)
            _one_connection(a, b, 7101)
    (stream,) = tcp_streams(pcap).values()
    # The SYN waits 40 ms before B sees it, so the round trip seen from A is >= 40 ms.
    assert 40_000_000 <= stream.irtt_ns < 1_000_000_000
    assert imp.stats["delayed"] >= 3 and imp.stats["dropped"] == 0
    assert "NFQUEUE" not in _rules(b)
    assert imp.process is None


def test_dropped_syn_is_retransmitted(lab_pair, tmp_path):
    need_tool("tshark")
    a, b = lab_pair
    pcap = tmp_path / "drop.pcap"
    with Tcpdump(a, pcap):
        with Impairment(b, 7102, direction="in", drop_nth=[1]) as imp:
            _one_connection(a, b, 7102)
    (stream,) = tcp_streams(pcap).values()
    assert stream.syns == 2 and stream.synacks == 1
    assert stream.retransmissions >= 1
    assert imp.stats["dropped"] == 1
    assert "NFQUEUE" not in _rules(b)


def test_reorder_swaps_two_datagrams(lab_pair):
    a, b = lab_pair
    receiver = b.popen(sys.executable, "-c",
                       "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                       "s.bind(('0.0.0.0',7103))\ns.settimeout(5)\nprint('up',flush=True)\n"
                       "print(' '.join(s.recv(100).decode() for _ in range(3)),flush=True)\n", text=True)
    assert receiver.stdout.readline().strip() == "up"
    try:
        with Impairment(b, 7103, proto="udp", direction="in", reorder_nth=[1]) as imp:
            a.run(sys.executable, "-c",
                  "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                  f"for w in ('one','two','three'):\n s.sendto(w.encode(),({b.ip4!r},7103)); time.sleep(0.05)\n")
            order = receiver.stdout.readline().split()
    finally:
        _finish(receiver)
    assert order == ["two", "one", "three"]
    assert imp.stats["reordered"] == 1
