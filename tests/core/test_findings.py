"""Capture-wide findings from tracked connections."""

import pytest

from netinspect.core.findings import FindingsCollector
from netinspect.core.tracker import ConnectionTracker
from tests.core.scenarios import ACK, FIN, PSH, RST, SYN, Talk


def final_connections(segments):
    tracker = ConnectionTracker()
    tracker.feed_all(segments)
    tracker.finish()
    return sorted(tracker.drain(), key=lambda c: c.index)


def collect(conns, **kw):
    collector = FindingsCollector(**kw)
    for conn in conns:
        collector.add(conn)
    return {f.kind: f for f in collector.findings()}


def test_syn_flood_to_one_port():
    segs = []
    for i in range(30):
        t = Talk(client=(f"10.77.1.{i}", 50000 + i), server=("10.77.0.2", 80), t0_ns=i * 1000, frame0=i * 2)
        t.client(SYN)
        t.server(SYN | ACK)            # answered, but the final ACK never comes: half open
        segs += t.segments
    segs.sort(key=lambda s: s.ts_ns)
    found = collect(final_connections(segs), syn_flood_threshold=25)
    assert found["syn_flood"].count == 30 and found["syn_flood"].target == "10.77.0.2:80"
    assert found["half_open"].count == 30
    assert "possible SYN flood" in found["syn_flood"].text
    assert collect(final_connections(segs), syn_flood_threshold=31).get("syn_flood") is None


def test_port_scan_one_source_many_refused_ports():
    segs = []
    for i, port in enumerate(range(20, 45)):
        t = Talk(client=("10.77.0.9", 61000), server=("10.77.0.2", port), t0_ns=i * 1000, frame0=i * 2)
        t.client(SYN)
        t.server(RST | ACK)
        segs += t.segments
    found = collect(final_connections(segs), scan_threshold=20)
    assert found["port_scan"].count == 25 and found["port_scan"].target == "10.77.0.2"
    assert found["refused"].count == 25
    assert found["refused"].connections == (0, 1, 2, 3, 4)
    assert "and 20 more" in found["refused"].text
    assert "port_scan" not in collect(final_connections(segs), scan_threshold=26)


def test_analyses_and_port_reuse_are_reported_with_wireshark_names():
    first = Talk().handshake()
    first.client(PSH | ACK, b"xy")      # (one byte at next-1 would be a keep-alive probe)
    first.client(PSH | ACK, b"xy", seq=first.next[first.c] - 2, dt=1_000_000_000)
    first.client(RST | ACK)
    second = Talk(cisn=42, t0_ns=first.t + 1000, frame0=first.frame).handshake()
    second.server(ACK, window=0)
    found = collect(final_connections(first.segments + second.segments))
    assert found["tcp.analysis.retransmission"].count == 1
    assert found["tcp.analysis.zero_window"].connections == (1,)
    assert found["port_reuse"].connections == (1,)
    assert "10.77.0.1:40000 -> 10.77.0.2:7007" in found["port_reuse"].text
    assert found["port_reuse"].as_json()["kind"] == "port_reuse"


def test_clean_capture_has_no_findings():
    t = Talk().handshake().exchange()
    t.client(FIN | ACK)
    t.server(FIN | ACK)
    t.client(ACK)
    assert collect(final_connections(t.segments)) == {}


def test_bad_thresholds():
    with pytest.raises(ValueError):
        FindingsCollector(syn_flood_threshold=0)
