"""The tracker against tshark on the project's real sample captures.

Per tcp.stream: packets, payload bytes, tcp.analysis.initial_rtt, and the number of
segments tshark flags as retransmissions. (Decoding goes through the project's capture
reader; the tracker itself is what is compared.)
"""

import collections
import pathlib
import subprocess

import pytest

from netinspect.adapters.capture_file import CaptureReader
from netinspect.core.records import Segment
from netinspect.core.tracker import ConnectionTracker
from tests.conftest import need_tool

CAPTURES = pathlib.Path(__file__).resolve().parents[2] / "captures"
SAMPLES = sorted(p for p in CAPTURES.glob("*.pcap*") if p.stat().st_size < 5_000_000)


def tshark_streams(path):
    out = subprocess.run(
        [need_tool("tshark"), "-n", "-r", str(path), "-Y", "tcp", "-T", "fields", "-e", "tcp.stream",
         "-e", "tcp.len", "-e", "tcp.analysis.initial_rtt", "-e", "tcp.analysis.retransmission"],
        capture_output=True, text=True, timeout=120, check=True).stdout
    streams = collections.defaultdict(lambda: {"pkts": 0, "bytes": 0, "irtt": None, "retx": 0})
    for line in out.splitlines():
        stream, length, irtt, retx = (line.split("\t") + ["", "", ""])[:4]
        s = streams[int(stream)]
        s["pkts"] += 1
        s["bytes"] += int(length or 0)
        if irtt and s["irtt"] is None:
            s["irtt"] = float(irtt)
        s["retx"] += 1 if retx else 0
    return streams


@pytest.mark.skipif(not SAMPLES, reason="no sample captures in captures/")
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_tracker_agrees_with_tshark(path):
    expected = tshark_streams(path)
    tracker = ConnectionTracker()
    for record in CaptureReader(str(path)).records():
        if isinstance(record, Segment):
            tracker.feed(record)
    tracker.finish()
    mine = {c.index: c for c in tracker.drain()}
    assert sorted(mine) == sorted(expected)
    for index, want in expected.items():
        conn = mine[index]
        assert conn.packets == want["pkts"], index
        assert conn.orig_bytes + conn.resp_bytes == want["bytes"], index
        assert conn.retransmissions == want["retx"], index
        if want["irtt"] is None:
            assert conn.irtt_ns is None, index
        else:
            assert conn.irtt_ns is not None and abs(conn.irtt_ns / 1e9 - want["irtt"]) < 2e-6, index
