"""Lossless under load: with ~50,000 packets/s of unrelated traffic on lo (bounded: two
processes, at most 60 s), every handshake and teardown segment of every traced
connection is captured, and the kernel reports no drop. Completeness is a correctness
property here (the filter runs in the kernel, so the load never reaches Python); how it
compares with plain scapy is in bench/trace."""

from __future__ import annotations

import multiprocessing
import socket
import time

import pytest

from netinspect.adapters import handshake_scenarios as scen
from netinspect.adapters.live_capture import LiveCapture, analyse_frames
from tests.conftest import need_root

pytestmark = [pytest.mark.lab, pytest.mark.slow]

RATE = 50_000
SENDERS = 2
CONNECTIONS = 15


def _flood(rate: float, sink, stop_at: float, sent) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start, count = time.monotonic(), 0
    while True:
        now = time.monotonic()
        if now >= stop_at:
            break
        due = int((now - start) * rate)
        if count >= due:
            time.sleep(0.001)
            continue
        for _ in range(min(64, due - count)):
            try:
                udp.sendto(b"load-load-load", sink)
            except OSError:
                pass
            count += 1
    sent.value = count
    udp.close()


def test_every_handshake_and_teardown_segment_under_50k_pps():
    need_root()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    counters = [multiprocessing.Value("q", 0) for _ in range(SENDERS)]
    stop_at = time.monotonic() + 60
    procs = [multiprocessing.Process(target=_flood, args=(RATE / SENDERS, sink.getsockname(), stop_at, counters[i]),
                                     daemon=True) for i in range(SENDERS)]
    rx_before = int(open("/sys/class/net/lo/statistics/rx_packets").read())
    t0 = time.monotonic()
    for proc in procs:
        proc.start()
    try:
        time.sleep(0.5)
        with scen.EmbeddedServer(scenario="client-closes-first") as server:
            server.start(CONNECTIONS)
            with LiveCapture("lo", server.endpoint.port) as cap:
                clients = []
                for _ in range(CONNECTIONS):
                    report = scen.run_client(socket.AF_INET, server.endpoint, "client-closes-first")
                    clients.append(report.client)
                assert server.wait_finished(CONNECTIONS, 10)
    finally:
        for proc in procs:
            proc.terminate()
            proc.join(10)
        sink.close()
    elapsed = time.monotonic() - t0
    rx = int(open("/sys/class/net/lo/statistics/rx_packets").read()) - rx_before
    # The load was real: at least half the nominal rate reached lo during the run.
    assert rx / elapsed > RATE / 2, f"only {rx / elapsed:.0f} packets/s of load"
    assert cap.stats.kernel_drops == 0
    tracker, _ = analyse_frames(cap.frames())
    conns = {c.orig: c for c in tracker.connections()}
    assert set(conns) == set(clients)
    for client, conn in conns.items():
        roles = [row.role for row in conn.rows]
        assert roles[:3] == ["syn", "synack", "hs_ack"], (client, roles)
        assert conn.handshake == "three-way"
        assert conn.teardown in ("three-segment", "four-way"), (client, roles)
        assert "fin_1" in roles and "fin_2" in roles and roles[-1] == "ack_fin_2", (client, roles)
        assert conn.retransmissions == 0
