"""The capture file reader on files written byte by byte: every container variant, and a
corpus of damaged and foreign files that must end in frames plus one clean error."""

from __future__ import annotations

import gzip
import pathlib
import struct
import subprocess
import sys
import tracemalloc

import pytest

from netinspect.adapters import capture_file
from netinspect.adapters.capture_file import iter_frames, iter_records, open_capture
from netinspect.core.errors import BadInput, CaptureFileError, NotACaptureError
from netinspect.core.records import ACK, PSH, SYN, Segment
from netinspect.wire.decode import decode_frame
from tests.adapters import capgen

SYN_OPTS = bytes.fromhex("020405b4" "0402" "080a" "00000001" "00000000" "01" "030307")


def conversation(n: int = 3):
    """n frames of one TCP exchange over Ethernet, the first a SYN."""
    frames = []
    for i in range(n):
        flags, opts, payload = (SYN, SYN_OPTS, b"") if i == 0 else (ACK | PSH, b"", b"msg%d" % i)
        frames.append(capgen.ethernet(capgen.ipv4("10.77.0.1", "10.77.0.2", 6,
                                                  capgen.tcp(40000, 7, 1000 + i, 5, flags, opts, payload))))
    return frames


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def drain(path):
    """Frames read before the error, and the error (or None)."""
    got = []
    try:
        for frame in iter_frames(path):
            got.append(frame)
    except (CaptureFileError, NotACaptureError) as exc:
        return got, exc
    return got, None


# -- containers -------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_pcap_byte_orders_and_resolutions(tmp_path, order, nano):
    frames = conversation()
    items = [(f, 1_700_000_000 + i, 123456 + i) for i, f in enumerate(frames)]
    path = write(tmp_path, "x.pcap", capgen.pcap(items, order=order, nano=nano))
    got = list(iter_frames(path))
    unit = 1 if nano else 1000
    assert [f.ts_ns for f in got] == [(1_700_000_000 + i) * 10**9 + (123456 + i) * unit for i in range(3)]
    assert [f.data for f in got] == frames
    assert [(f.linktype, f.index, f.interface, f.orig_len) for f in got] == [(1, i, 0, len(frames[i])) for i in range(3)]


def test_modified_pcap_record_header(tmp_path):
    frame = conversation(1)[0]
    data = struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)
    data += struct.pack("<IIII", 5, 6, len(frame), len(frame)) + struct.pack("<IHBx", 2, 0x0800, 0) + frame
    got = list(iter_frames(write(tmp_path, "m.pcap", data)))
    assert [(f.ts_ns, f.data) for f in got] == [(5 * 10**9 + 6000, frame)]


def test_pcapng_two_interfaces_link_types_and_resolutions(tmp_path):
    eth = conversation(1)[0]
    raw6 = capgen.ipv6(bytes(15) + b"\1", bytes(15) + b"\2", 6, capgen.tcp(1, 2, 3, 4, SYN))
    data = (capgen.shb() + capgen.idb(1) + capgen.custom_block(0x0BAD, b"vendor data") +
            capgen.idb(229, tsresol=9, tsoffset=100) + capgen.custom_block(5, bytes(20)) +
            capgen.epb(0, 1_700_000_000_123_456, eth) + capgen.epb(1, 5_000_000_001, raw6) +
            capgen.spb(eth) + capgen.epb(1, 7, raw6, wire_len=1000))
    got = list(iter_frames(write(tmp_path, "two.pcapng", data)))
    assert [(f.linktype, f.interface) for f in got] == [(1, 0), (229, 1), (1, 0), (229, 1)]
    assert got[0].ts_ns == 1_700_000_000_123_456_000
    assert got[1].ts_ns == 5_000_000_001 + 100 * 10**9
    assert [f.data for f in got] == [eth, raw6, eth, raw6]
    assert got[3].orig_len == 1000
    decoded = [decode_frame(f) for f in got]
    assert [d.version for d in decoded] == [4, 6, 4, 6]


def test_pcapng_binary_resolution_and_big_endian_second_section(tmp_path):
    frame = conversation(1)[0]
    data = capgen.shb() + capgen.idb(1, tsresol=0x80 | 10) + capgen.epb(0, 3 * 1024, frame)
    data += capgen.shb(">") + capgen.idb(101, ">") + capgen.epb(0, 2_000_000, frame[14:], ">")
    got = list(iter_frames(write(tmp_path, "sections.pcapng", data)))
    assert [(f.ts_ns, f.linktype) for f in got] == [(3 * 10**9, 1), (2_000_000_000, 101)]


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_gzip_recognised_by_magic_not_name(tmp_path, kind):
    frames = conversation(5)
    body = capgen.pcap(frames) if kind == "pcap" else capgen.shb() + capgen.idb(1) + b"".join(
        capgen.epb(0, i, f) for i, f in enumerate(frames))
    path = write(tmp_path, "no-gz-suffix.cap", gzip.compress(body))
    with open_capture(path) as reader:
        assert (reader.format, reader.compressed) == (kind, True)
        assert [f.data for f in reader.frames()] == frames
    plain = write(tmp_path, "plain-but-named.pcap.gz", body)
    assert [f.data for f in iter_frames(plain)] == frames


def test_multi_member_gzip_with_zero_padding(tmp_path):
    body = capgen.pcap(conversation(4))
    data = gzip.compress(body[:50]) + gzip.compress(body[50:]) + bytes(32)
    assert len(list(iter_frames(write(tmp_path, "multi.gz", data)))) == 4


@pytest.mark.parametrize("kind", ["pcap", "pcapng", "pcapng-big-endian-ns"])
def test_records_equal_decode_frame_across_chunk_boundaries(tmp_path, monkeypatch, kind):
    frames = []
    for i in range(300):
        frames.append(capgen.ethernet(capgen.ipv4("10.77.0.1", "10.77.0.%d" % (i % 7 + 2), 6,
                      capgen.tcp(40000 + i, 80, i, i * 2, SYN if i % 10 == 0 else ACK,
                                 SYN_OPTS if i % 10 == 0 else b"", b"y" * (i % 50)))))
        if i % 17 == 0:
            frames.append(capgen.ethernet(capgen.ipv4("10.77.0.1", "10.77.0.2", 17, capgen.udp(5, 53, b"q"))))
        if i % 23 == 0:
            frames.append(capgen.ethernet(capgen.ipv4("10.77.0.1", "10.77.0.2", 6, b"\0" * 12)))  # truncated tcp
    if kind == "pcap":
        body = capgen.pcap(frames)
    elif kind == "pcapng":
        body = capgen.shb() + capgen.idb(1) + b"".join(capgen.epb(0, i, f) for i, f in enumerate(frames))
    else:
        body = capgen.shb(">") + capgen.idb(1, ">", tsresol=9) + b"".join(
            capgen.epb(0, 1_700_000_000_000_000_000 + i, f, ">") for i, f in enumerate(frames))
    path = write(tmp_path, "many", body)
    expected = []
    for frame in iter_frames(path):
        record = decode_frame(frame).record
        if record is not None:
            if isinstance(record, Segment):
                record.payload = b""
                if not record.flags & SYN:
                    record.options = None
            expected.append(record)
    monkeypatch.setattr(capture_file, "CHUNK", 97)  # records straddle every read
    with open_capture(path) as reader:
        got = list(reader.records())
        stats = reader.stats
    assert got == expected
    assert stats.frames == len(frames)
    assert stats.malformed == 14 and list(stats.malformed_reasons) == ["truncated tcp header"]


def test_iter_records_reports_stats(tmp_path):
    path = write(tmp_path, "s.pcap", capgen.pcap(conversation(3)))
    stats = []
    records = list(iter_records(path, payload_prefix=2, stats=stats))
    assert [r.payload for r in records] == [b"", b"ms", b"ms"]
    assert records[0].options.mss == 1460 and records[1].options is None
    assert stats[0].frames == 3 and stats[0].malformed == 0


def test_snapped_capture_keeps_wire_lengths(tmp_path):
    frame = capgen.ethernet(capgen.ipv4("10.77.0.1", "10.77.0.2", 6, capgen.tcp(1, 2, 3, 4, ACK, b"", b"z" * 1400)))
    path = write(tmp_path, "snap.pcap", capgen.pcap([(frame[:96], 1, 0, len(frame))], snaplen=96))
    with open_capture(path) as reader:
        (segment,) = list(reader.records())
        assert (segment.payload_len, segment.malformed, reader.stats.malformed) == (1400, "", 0)


# -- damage and foreign files -----------------------------------------------------------

GOOD = capgen.pcap(conversation(3))
GOOD_NG = capgen.shb() + capgen.idb(1) + b"".join(capgen.epb(0, i, f) for i, f in enumerate(conversation(3)))
NG_HEAD = capgen.shb() + capgen.idb(1) + capgen.epb(0, 1, conversation(1)[0])
REC = 16


def _pcap_then(tail: bytes) -> bytes:
    return GOOD + tail


def _record_header(caplen: int) -> bytes:
    return struct.pack("<IIII", 1, 2, caplen, caplen)


def _epb_with_caplen(caplen: int) -> bytes:
    block = bytearray(capgen.epb(0, 1, b"abcd"))
    struct.pack_into("<I", block, 20, caplen)
    return bytes(block)


def _corrupt(data: bytes) -> bytes:
    return data[:200] + bytes(b ^ 0x55 for b in data[200:400]) + data[400:]


def _bad_crc(data: bytes) -> bytes:
    return data[:-8] + bytes([data[-8] ^ 1]) + data[-7:]


DAMAGED = {
    # name: (bytes, frames expected before the error, offset, reason fragment)
    "pcap header cut": (GOOD[:20], 0, 20, "pcap file header cut off"),
    "pcap version 3": (GOOD[:4] + struct.pack("<H", 3) + GOOD[6:], 0, 4, "unsupported pcap version 3"),
    "record header cut": (_pcap_then(_record_header(60)[:7]), 3, len(GOOD), "record header cut off (7 of 16 bytes)"),
    "record data cut": (_pcap_then(_record_header(60) + b"x" * 10), 3, len(GOOD), "record data cut off (10 of 60 bytes)"),
    "absurd record length": (_pcap_then(_record_header(0xFFFFFFF0) + b"x" * 100), 3, len(GOOD), "exceeds the cap"),
    "record length just over cap": (_pcap_then(_record_header(262145)), 3, len(GOOD), "record length 262145 exceeds"),
    "absurd length cut header": (_pcap_then(_record_header(0x7FFFFFFF)), 3, len(GOOD), "exceeds the cap"),
    "pcapng zero-length block": (GOOD_NG + struct.pack("<II", 6, 0) + bytes(8), 3, len(GOOD_NG) + 4, "block length 0 below the minimum"),
    "pcapng block length 8": (GOOD_NG + struct.pack("<III", 6, 8, 8), 3, len(GOOD_NG) + 4, "below the minimum of 12"),
    "pcapng block length odd": (GOOD_NG + struct.pack("<II", 6, 30) + bytes(22), 3, len(GOOD_NG) + 4, "not a multiple of 4"),
    "pcapng absurd block length": (GOOD_NG + struct.pack("<II", 6, 0xFFFFFFF0) + bytes(40), 3, len(GOOD_NG) + 4, "beyond the cap"),
    "pcapng block header cut": (GOOD_NG + struct.pack("<I", 6) + b"\0\0", 3, len(GOOD_NG), "block header cut off (6 of 12 bytes)"),
    "pcapng block cut": (GOOD_NG + capgen.epb(0, 1, b"x" * 40)[:50], 3, len(GOOD_NG), "block cut off (50 of 72 bytes)"),
    "pcapng trailer mismatch": (GOOD_NG + capgen.epb(0, 1, b"abcd")[:-4] + struct.pack("<I", 999), 3,
                                len(GOOD_NG) + 32, "trailer length 999 differs"),
    "pcapng undeclared interface": (GOOD_NG + capgen.epb(3, 1, b"abcd"), 3, len(GOOD_NG) + 8, "interface 3, but 1 declared"),
    "pcapng caplen beyond block": (GOOD_NG + _epb_with_caplen(5000), 3, len(GOOD_NG) + 20, "packet length 5000 beyond its block"),
    "pcapng bad byte order": (capgen.shb()[:8] + b"\1\2\3\4" + capgen.shb()[12:], 0, 8, "bad pcapng byte-order magic"),
    "pcapng version 2": (capgen.shb()[:12] + struct.pack("<H", 2) + capgen.shb()[14:], 0, 12, "unsupported pcapng version 2"),
    "pcapng idb option beyond block": (capgen.shb() + capgen.custom_block(1, struct.pack("<HHIHH", 1, 0, 0, 9, 200)),
                                       0, 46, "interface option 9 length 200 beyond its block"),
    "pcapng packet before interface": (capgen.shb() + capgen.epb(0, 1, b"abcd"), 0, 36, "interface 0, but 0 declared"),
    "cut gzip": (gzip.compress(capgen.pcap(conversation(3) * 400))[:3000], None, None, "gzip stream cut off"),
    "corrupt gzip crc": (_bad_crc(gzip.compress(capgen.pcap(conversation(3) * 400))), 1200, None, "gzip data corrupt"),
    # Flipped deflate bits may still inflate, to garbage: then the pcap walk finds the damage.
    "corrupt deflate data": (_corrupt(gzip.compress(capgen.pcap(conversation(3) * 400))), None, None, ""),
    "gzip of pcap header only, cut": (gzip.compress(GOOD)[:12], 0, 0, "gzip stream cut off"),
}


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_container_gives_partial_frames_then_one_error(tmp_path, name):
    data, frames_before, offset, reason = DAMAGED[name]
    path = write(tmp_path, "damaged", data)
    tracemalloc.start()
    try:
        got, error = drain(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, CaptureFileError), error
    assert reason in error.reason
    assert error.path == str(path) and error.exit_status == 1
    assert str(path) in str(error) and "\n" not in str(error)
    if frames_before is not None:
        assert len(got) == frames_before
    else:
        assert len(got) < 1200
    if offset is not None:
        assert error.offset == offset
    assert peak < 40 * 2**20   # no length from the file sized an allocation beyond the caps


def test_damaged_container_through_records_path_also_yields_partial_result(tmp_path):
    data, frames_before, offset, reason = DAMAGED["record data cut"]
    path = write(tmp_path, "damaged", data)
    got = []
    with pytest.raises(CaptureFileError) as info:
        for record in iter_records(path):
            got.append(record)
    assert len(got) == frames_before and info.value.offset == offset


FOREIGN = {
    "empty": b"",
    "three bytes": b"\xd4\xc3\xb2",
    "text": b"this is not a capture\n" * 10,
    "png": bytes.fromhex("89504e470d0a1a0a") + bytes(100),
    "elf": b"\x7fELF" + bytes(100),
    "gzip of text": gzip.compress(b"hello world, not a capture"),
    "gzip of nothing": gzip.compress(b""),
}


@pytest.mark.parametrize("name", FOREIGN)
def test_foreign_file_is_not_a_capture(tmp_path, name):
    path = write(tmp_path, "foreign", FOREIGN[name])
    with pytest.raises(NotACaptureError) as info:
        list(iter_frames(path))
    assert info.value.exit_status == 2
    assert str(path) in str(info.value) and "pcap, pcapng" in str(info.value)


def test_other_compression_is_named(tmp_path):
    import bz2
    import lzma
    for packed, name in ((lzma.compress(GOOD), "xz"), (bz2.compress(GOOD), "bzip2")):
        path = write(tmp_path, f"capture.pcap.{name}", packed)
        with pytest.raises(NotACaptureError) as info:
            open_capture(path)
        assert f"{name}-compressed: decompress it first" in str(info.value)


def test_missing_file_and_directory_are_bad_input(tmp_path):
    for target in (tmp_path / "missing.pcap", tmp_path):
        with pytest.raises(BadInput) as info:
            open_capture(target)
        assert info.value.exit_status == 2


MALFORMED_PACKETS = {
    "ihl below 5": capgen.ipv4("1.1.1.1", "2.2.2.2", 6, capgen.tcp(1, 2, 3, 4, SYN), ihl=3),
    "data offset below 5": capgen.ipv4("1.1.1.1", "2.2.2.2", 6, capgen.tcp(1, 2, 3, 4, SYN, data_offset=2)),
    "option loop": capgen.ipv4("1.1.1.1", "2.2.2.2", 6, capgen.tcp(1, 2, 3, 4, SYN, bytes([1, 1, 30, 0]) * 10)),
    "deep ipv6 chain": capgen.ipv6(bytes(16), bytes(16), 60, (bytes([60, 0]) + bytes(6)) * 40),
    "ipv6 routing loop": capgen.ipv6(bytes(16), bytes(16), 43, (bytes([43, 0]) + bytes(6)) * 40),
    "total length beyond": capgen.ipv4("1.1.1.1", "2.2.2.2", 6, capgen.tcp(1, 2, 3, 4, SYN), total=60000),
}


def test_malformed_packets_are_counted_not_fatal(tmp_path):
    good = conversation(2)
    frames = [good[0]] + [capgen.ethernet(p, 0x86DD if p[0] >> 4 == 6 else 0x0800) for p in MALFORMED_PACKETS.values()] + [good[1]]
    path = write(tmp_path, "flagged.pcap", capgen.pcap(frames))
    with open_capture(path) as reader:
        records = list(reader.records())
        stats = reader.stats
    assert stats.frames == len(frames)
    assert stats.malformed == len(MALFORMED_PACKETS)
    assert records[0].seq == 1000 and records[-1].seq == 1001
    flagged = [decode_frame(f).malformed for f in iter_frames(path)]
    assert flagged[0] == flagged[-1] == "" and all(flagged[1:-1])


def test_million_syn_file_reads_in_bounded_memory(tmp_path):
    """A SYN flood of 1,000,000 packets, generated here: every one decoded, memory flat."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path = tmp_path / "synflood.pcap"
    template = bytearray(capgen.ethernet(capgen.ipv4("10.77.0.9", "10.77.0.1", 6, capgen.tcp(1, 80, 0, 0, SYN, SYN_OPTS))))
    record = struct.Struct("<IIII")
    count = 1_000_000
    with open(path, "wb") as handle:
        handle.write(header)
        block = bytearray()
        for i in range(count):
            struct.pack_into("!HI", template, 34, 1024 + i % 60000, i)   # source port, sequence
            block += record.pack(1_700_000_000 + i // 1000, i % 1000, len(template), len(template)) + template
            if len(block) > 1 << 20:
                handle.write(block)
                block.clear()
        handle.write(block)
    # Read in a child process, so its peak RSS is the reader's alone (tracemalloc would
    # slow a million packets down too much).
    code = ("import sys\n"
            "from netinspect.adapters.capture_file import open_capture\n"
            "from netinspect.core.records import SYN\n"
            "syns = 0\n"
            "with open_capture(sys.argv[1]) as reader:\n"
            "    for s in reader.records():\n"
            "        syns += s.flags == SYN and s.options.mss == 1460\n"
            "    frames = reader.stats.frames\n"
            # VmHWM belongs to this program's memory map; ru_maxrss would carry the parent's
            # peak across fork and exec.
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
            "print(frames, syns, hwm)\n")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300,
                            cwd=pathlib.Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    frames, syns, peak_kib = map(int, result.stdout.split())
    assert (frames, syns) == (count, count)
    assert path.stat().st_size > 80 * 2**20
    assert peak_kib < 60 * 1024, peak_kib   # the file is larger than that: memory does not follow it


def test_unsupported_link_type_is_counted_apart_not_flagged(tmp_path):
    path = write(tmp_path, "usb.pcap", capgen.pcap([b"\x01" * 40, b"\x02" * 40], linktype=189))
    with open_capture(path) as reader:
        assert list(reader.records()) == []
        assert (reader.stats.frames, reader.stats.malformed, reader.stats.unsupported) == (2, 0, {189: 2})
    assert [decode_frame(f).malformed for f in iter_frames(path)] == ["unsupported link type 189"] * 2


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_scan_visits_every_frame_like_frames(tmp_path, kind):
    frames = conversation(4)
    body = capgen.pcap(frames) if kind == "pcap" else capgen.shb() + capgen.idb(1) + b"".join(
        capgen.epb(0, i * 1000, f) for i, f in enumerate(frames))
    path = write(tmp_path, "scan", body + b"\x01")      # and a cut record/block at the end
    seen = []
    with open_capture(path) as reader:
        with pytest.raises(CaptureFileError):
            reader.scan(lambda buf, p, caplen, wire, ts, index, linktype, iface:
                        seen.append((bytes(buf[p:p + caplen]), wire, ts, index, linktype, iface)))
    expected, error = drain(path)
    assert error is not None
    assert seen == [(f.data, f.orig_len, f.ts_ns, f.index, f.linktype, f.interface) for f in expected]
