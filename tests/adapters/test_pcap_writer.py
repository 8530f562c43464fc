"""The pcap writer: nanosecond pcap that netinspect's reader and tshark read back exactly."""

from __future__ import annotations

import subprocess

from netinspect.adapters.capture_file import iter_frames
from netinspect.adapters.pcap_writer import default_capture_path, write_pcap
from netinspect.core.records import Frame
from tests.conftest import need_tool


def _frames():
    payloads = [bytes(range(60)), b"\x00" * 14 + b"\x08\x00" + b"\x45" + b"\x00" * 40, b"\xff" * 1514]
    return [Frame(ts_ns=1_795_000_000_123_456_789 + i * 1_001, linktype=1, data=p, orig_len=len(p) + (i == 2) * 100,
                  index=i) for i, p in enumerate(payloads)]


def test_round_trip_through_the_reader(tmp_path):
    path = tmp_path / "sub" / "out.pcap"      # a missing folder is created
    assert write_pcap(path, _frames(), linktype=1) == 3
    back = list(iter_frames(str(path)))
    assert [(f.ts_ns, f.data, f.orig_len, f.linktype) for f in back] == \
        [(f.ts_ns, f.data, f.orig_len, 1) for f in _frames()]


def test_tshark_reads_nanosecond_times_and_lengths(tmp_path):
    tshark = need_tool("tshark")
    path = tmp_path / "out.pcap"
    write_pcap(path, _frames(), linktype=1)
    done = subprocess.run([tshark, "-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.cap_len",
                           "-e", "frame.len"], capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert [r[0] for r in rows] == ["1795000000.123456789", "1795000000.123457790", "1795000000.123458791"]
    assert [(int(r[1]), int(r[2])) for r in rows] == [(len(f.data), f.orig_len) for f in _frames()]


def test_default_path_is_under_captures_and_unique(tmp_path):
    first = default_capture_path(tmp_path, when=0)
    assert first.parent == tmp_path / "captures" and first.name.startswith("handshake-") and first.suffix == ".pcap"
    write_pcap(first, [], linktype=1)
    second = default_capture_path(tmp_path, when=0)
    assert second != first and second.parent == first.parent
