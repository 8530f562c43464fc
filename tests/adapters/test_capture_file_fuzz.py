"""Fuzzing the reader: any bytes give frames, then at most one CaptureFileError or
NotACaptureError, nothing else; every frame decodes without raising; bounded time (the
hypothesis deadline) and bounded memory (tracemalloc peak)."""

from __future__ import annotations

import gzip
import os
import tempfile
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netinspect.adapters.capture_file import open_capture
from netinspect.core.errors import CaptureFileError, NotACaptureError
from netinspect.core.records import ACK, SYN
from netinspect.wire.decode import decode_frame
from tests.adapters import capgen

SETTINGS = settings(max_examples=400, deadline=3000, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MEMORY_CAP = 48 * 2**20

_packets = [
    capgen.ethernet(capgen.ipv4("10.77.0.1", "10.77.0.2", 6, capgen.tcp(1, 2, 3, 4, SYN, bytes.fromhex("020405b40402080a0000000100000000" "01030307")))),
    capgen.ethernet(capgen.ipv4("10.77.0.2", "10.77.0.1", 6, capgen.tcp(2, 1, 9, 4, ACK, b"", b"payload"))),
    capgen.ethernet(capgen.ipv6(bytes(16), bytes(15) + b"\1", 17, capgen.udp(5, 53, b"q")), 0x86DD),
    capgen.ethernet(bytes.fromhex("0001080006040001" "02000000000a" "0a4d0001" "000000000000" "0a4d0002"), 0x0806),
]
GOOD_PCAP = capgen.pcap(_packets)
GOOD_PCAPNG = capgen.shb() + capgen.idb(1) + capgen.idb(101, tsresol=9) + b"".join(
    capgen.epb(i % 2, i, p if i % 2 == 0 else p[14:]) for i, p in enumerate(_packets)) + capgen.spb(_packets[0])


def read_everything(data: bytes) -> tuple[int, Exception | None]:
    """Read `data` as a capture file through frames() and records(); return (frames, error)."""
    fd, name = tempfile.mkstemp(prefix="ni-fuzz-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        tracemalloc.start()
        try:
            errors = []
            counts = []
            for mode in ("frames", "records"):
                count = 0
                reader = None
                try:
                    reader = open_capture(name)
                    with reader:
                        if mode == "frames":
                            for frame in reader.frames():
                                decode_frame(frame)     # never raises, whatever the bytes
                                count += 1
                        else:
                            for _record in reader.records(payload_prefix=16, all_options=True):
                                pass
                            count = reader.stats.frames
                except (CaptureFileError, NotACaptureError) as exc:
                    errors.append((type(exc), exc.offset if isinstance(exc, CaptureFileError) else None))
                    if mode == "records" and reader is not None:
                        count = reader.stats.frames
                else:
                    errors.append(None)
                counts.append(count)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < MEMORY_CAP
        # Both paths walk the container the same way and stop at the same place.
        assert errors[0] == errors[1]
        assert counts[0] == counts[1]
        return counts[0], errors[0]
    finally:
        os.unlink(name)


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    read_everything(data)


@SETTINGS
@given(st.sampled_from([GOOD_PCAP, GOOD_PCAPNG]),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=12),
       st.integers(0, 2000), st.booleans())
def test_mutated_captures(base, flips, cut, compress):
    data = bytearray(base)
    for position, value in flips:
        data[position % len(data)] = value
    data = bytes(data[:len(data) - cut % len(data)]) if cut else bytes(data)
    if compress:
        data = gzip.compress(data)
    read_everything(data)


@SETTINGS
@given(st.sampled_from([GOOD_PCAP[:24], GOOD_PCAPNG[:28] + capgen.idb(1)]), st.binary(max_size=2048))
def test_valid_header_then_garbage(head, tail):
    read_everything(head + tail)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([1, 2, 3, 4, 5, 6, 0x0BAD, 0x0A0D0D0A]),
                          st.integers(0, 0xFFFFFFFF), st.binary(max_size=64)), max_size=8))
def test_pcapng_blocks_with_arbitrary_lengths(blocks):
    import struct
    data = GOOD_PCAPNG
    for btype, blen, body in blocks:
        data += struct.pack("<II", btype, blen) + body
    read_everything(data)


@SETTINGS
@given(st.binary(min_size=0, max_size=300), st.sampled_from([0, 1, 12, 101, 108, 113, 228, 229, 276, 147]))
def test_any_frame_bytes_on_any_link_type(frame, linktype):
    data = capgen.pcap([frame], linktype=linktype)
    frames, error = read_everything(data)
    assert (frames, error) == (1, None)


def test_gzip_cut_anywhere_is_a_capture_file_error():
    packed = gzip.compress(GOOD_PCAP * 3)
    for cut in range(10, len(packed) - 1, 7):
        frames, error = read_everything(packed[:cut])
        assert error is not None and error[0] in (CaptureFileError, NotACaptureError)
