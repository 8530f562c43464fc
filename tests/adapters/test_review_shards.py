"""One capture reviewed by several workers (flows sharded) gives exactly what one process gives:
the same connection numbers, every field of every record in the same order, the same
summary and findings. Checked on the committed captures and on a generated file with port
reuse, IPv6, UDP, ICMP, VLAN-tagged and IPv4-option frames (the decoder's general path),
a damaged tail, and small batches so the parent's merge runs many rounds."""

from __future__ import annotations

import dataclasses
import random
import struct
from pathlib import Path

import pytest

from netinspect.adapters import review_shards
from netinspect.adapters.capture_file import CaptureReader
from netinspect.adapters.review_pipeline import ReviewOptions, stream_file
from netinspect.adapters.review_shards import stream_sharded

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SAMPLES = sorted(p for p in CAPTURES.iterdir() if p.suffix in (".pcap", ".pcapng", ".gz"))


def _plain(item):
    if dataclasses.is_dataclass(item):
        out = {}
        for f in dataclasses.fields(item):
            if f.name == "elapsed_s":
                continue
            out[f.name] = _plain(getattr(item, f.name))
        return (type(item).__name__, out)
    if isinstance(item, (list, tuple)):
        return [_plain(x) for x in item]
    if isinstance(item, dict):
        return {k: _plain(v) for k, v in item.items()}
    return repr(item) if not isinstance(item, (int, str, float, bool, type(None))) else item


def _both(path, jobs, options=ReviewOptions()):
    single = [_plain(x) for x in stream_file(str(path), options)]
    sharded = [_plain(x) for x in stream_sharded(str(path), options, jobs)]
    return single, sharded


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("jobs", [2, 3])
def test_committed_captures_sharded_equal_single(path, jobs):
    single, sharded = _both(path, jobs)
    assert len(single) >= 2
    assert sharded == single


# -- a generated capture ----------------------------------------------------------------

def _eth(ethertype: int, vlan: int | None = None) -> bytes:
    head = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02"
    if vlan is not None:
        head += struct.pack("!HH", 0x8100, vlan)
    return head + struct.pack("!H", ethertype)


def _tcp(sport, dport, seq, ack, flags, payload=b"", options=b""):
    off = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4, flags,
                       65000, 0, 0) + options + payload


def _ip4(src, dst, proto, body, ip_options=b""):
    ihl = 5 + len(ip_options) // 4
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(body), 1, 0x4000, 64, proto, 0,
                       bytes(src), bytes(dst)) + ip_options + body


def _ip6(src, dst, proto, body):
    return struct.pack("!IHBB16s16s", 6 << 28, len(body), proto, 64, bytes(src), bytes(dst)) + body


def _udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def _relink(frame: bytes, linktype: int) -> bytes:
    """An Ethernet frame of _generated on another link type (VLAN tags dropped)."""
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    ip = frame[14:]
    if ethertype == 0x8100:
        ethertype = struct.unpack_from("!H", frame, 16)[0]
        ip = frame[18:]
    six = ethertype == 0x86DD
    if linktype == 101:
        return ip
    if linktype == 0:
        return struct.pack("<I", 10 if six else 2) + ip
    if linktype == 108:
        return struct.pack("!I", 24 if six else 2) + ip
    if linktype == 113:
        return struct.pack("!HHH8sH", 0, 1, 6, b"\2\0\0\0\0\1\0\0", ethertype) + ip
    return frame


def _generated(path: Path, seed: int = 3, cut_tail: bool = False, order: str = "<", linktype: int = 1) -> None:
    rng = random.Random(seed)
    frames = []
    mss = bytes([2, 4, 0x05, 0xB4])

    def v4(a):
        return [10, 77, 0, a]

    def v6(a):
        return [0xFD, 0x77] + [0] * 13 + [a]

    # TCP conversations as packet lists, interleaved at random afterwards.
    convs = []
    for i in range(60):
        six = i % 4 == 0
        c, s = (v6(1 + i % 3), v6(200)) if six else (v4(1 + i % 3), v4(200))
        ip, eth = (_ip6, 0x86DD) if six else (_ip4, 0x0800)
        cport = 40000 + i % 6          # few ports: the 4-tuples are reused many times
        sport = 80 if i % 2 else 443
        isn_c, isn_s = rng.getrandbits(32), rng.getrandbits(32)
        kind = i % 6
        pk = []

        def seg(from_c, seq, ack, flags, payload=b"", opts=b"", how=None):
            a, b = (c, s) if from_c else (s, c)
            pa, pb = (cport, sport) if from_c else (sport, cport)
            body = _tcp(pa, pb, seq, ack, flags, payload, opts)
            if how == "vlan" and not six:
                return _eth(eth, vlan=5) + ip(a, b, 6, body)
            if how == "ipopt" and not six:
                return _eth(eth) + _ip4(a, b, 6, body, ip_options=b"\x01\x01\x01\x00")
            return _eth(eth) + ip(a, b, 6, body)

        how = ("vlan", "ipopt", None)[i % 3]
        pk.append(seg(1, isn_c, 0, 0x02, opts=mss))
        if kind == 5:
            convs.append(pk)           # unanswered SYN
            continue
        if kind == 4:
            pk.append(seg(0, 0, isn_c + 1, 0x14))   # refused
            convs.append(pk)
            continue
        pk.append(seg(0, isn_s, isn_c + 1, 0x12, opts=mss))
        pk.append(seg(1, isn_c + 1, isn_s + 1, 0x10))
        req = b"q" * (1 + i % 30)
        pk.append(seg(1, isn_c + 1, isn_s + 1, 0x18, req, how=how))
        pk.append(seg(0, isn_s + 1, isn_c + 1 + len(req), 0x18, b"r" * 20))
        if kind == 3:
            pk.append(seg(1, isn_c + 1 + len(req), isn_s + 21, 0x14))   # reset by the client
        else:
            pk.append(seg(1, isn_c + 1 + len(req), isn_s + 21, 0x11, how=how))
            pk.append(seg(0, isn_s + 21, isn_c + 2 + len(req), 0x11))
            pk.append(seg(1, isn_c + 2 + len(req), isn_s + 22, 0x10))
        convs.append(pk)
    # UDP flows (v4 and v6) and ICMP.
    for i in range(25):
        six = i % 3 == 0
        a, b = ([0xFD, 0x77] + [0] * 13 + [10 + i % 4], [0xFD, 0x77] + [0] * 14) if six else ([10, 77, 1, 10 + i % 4], [10, 77, 1, 1])
        ip, eth = (_ip6, 0x86DD) if six else (_ip4, 0x0800)
        sp = 50000 + i % 5
        pk = [_eth(eth) + ip(a, b, 17, _udp(sp, 53, b"query"))]
        if i % 4:
            pk.append(_eth(eth) + ip(b, a, 17, _udp(53, sp, b"answer!")))
        convs.append(pk)
    for i in range(6):
        convs.append([_eth(0x0800) + _ip4([10, 77, 2, i], [10, 77, 2, 1], 1, bytes([8, 0, 0, 0, 0, 1, 0, i]))])
    # Interleave, keeping each conversation's own order; conversations on one 4-tuple
    # follow each other (port reuse) because their 4-tuples repeat every 12.
    queue = [list(p) for p in convs]
    out = []
    active = []
    while queue or active:
        while queue and len(active) < 5:
            active.append(queue.pop(0))
        pick = rng.randrange(len(active))
        out.append(active[pick].pop(0))
        if not active[pick]:
            active.pop(pick)
    t = 1_764_000_000_000_000
    with open(path, "wb") as f:
        f.write(struct.pack(order + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for frame in out:
            frame = _relink(frame, linktype)
            t += rng.randrange(1, 5000)
            f.write(struct.pack(order + "IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)) + frame)
        if cut_tail:
            f.write(struct.pack(order + "IIII", t // 1_000_000, 0, 100, 100) + b"\0" * 30)


@pytest.mark.parametrize("jobs", [2, 3, 4])
@pytest.mark.parametrize("cut", [False, True])
@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
def test_generated_capture_sharded_equal_single(tmp_path, monkeypatch, jobs, cut, order):
    path = tmp_path / "mixed.pcap"
    _generated(path, cut_tail=cut, order=order)
    # Tiny batches: the parent numbers and merges over many rounds.
    monkeypatch.setattr(review_shards, "BATCH_FRAMES", 7)
    monkeypatch.setattr(review_shards, "BATCH_RECORDS", 3)
    monkeypatch.setattr(review_shards, "WALK_BATCH", 4)
    single, sharded = _both(path, jobs)
    assert sharded == single
    summary = single[-1][1]
    # The file exercises what it should: reuse, IPv6, UDP, ICMP, the general decoder path.
    records = [x[1] for x in single if x[0] == "ConnRecord"]
    assert any(r["port_reuse"] for r in records)
    assert any(":" in r["orig"][0] for r in records if r["proto"] == "tcp")
    assert summary["udp_flows"] >= 20 and summary["icmp_messages"] == 6
    assert (summary["damage"] is not None) == cut
    # Every shard did some of the work.
    for k in range(jobs):
        got = CaptureReader(path).records_shard(k, jobs)
        assert next(got, None) is not None
        got.close()


@pytest.mark.parametrize("linktype", [0, 101, 108, 113])
@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
def test_other_link_types_sharded_equal_single(tmp_path, linktype, order):
    path = tmp_path / "mixed.pcap"
    _generated(path, seed=linktype, order=order, linktype=linktype)
    single, sharded = _both(path, 2)
    assert sharded == single
    assert single[-1][1]["tcp_connections"] >= 50 and single[-1][1]["malformed"] == 0


def test_pcapng_sharded_equal_single(tmp_path, monkeypatch):
    import subprocess
    from tests.conftest import need_tool
    editcap = need_tool("editcap")
    plain = tmp_path / "mixed.pcap"
    _generated(plain, seed=9)
    path = tmp_path / "mixed.pcapng"
    subprocess.run([editcap, "-F", "pcapng", str(plain), str(path)], check=True, timeout=60)
    assert CaptureReader(path).format == "pcapng"
    monkeypatch.setattr(review_shards, "WALK_BATCH", 4)
    single, sharded = _both(path, 2)
    assert sharded == single
    assert single[-1][1]["tcp_connections"] >= 50


def test_selection_options_sharded_equal_single(tmp_path):
    path = tmp_path / "mixed.pcap"
    _generated(path, seed=11)
    for options in (ReviewOptions(port=443), ReviewOptions(host="fd77::c8"), ReviewOptions(host="10.77.0.3", port=80)):
        single, sharded = _both(path, 2, options)
        assert sharded == single


def test_cli_jobs_gives_the_same_output(cli, tmp_path):
    path = tmp_path / "mixed.pcap"
    _generated(path, seed=5)
    for fmt in ((), ("--jsonl",), ("--json",), ("--csv",)):
        one = cli("review", str(path), "--jobs", "1", *fmt)
        two = cli("review", str(path), "--jobs", "2", *fmt)
        assert one.status == two.status == 0
        if fmt == ("--json",):
            import json
            a, b = json.loads(one.out), json.loads(two.out)
            for doc in (a, b):
                for f in doc.get("files", [doc]):
                    f.get("summary", f).pop("elapsed", None)
            assert a == b
        else:
            assert two.out == one.out


def test_jobs_option_values(cli):
    bad = cli("review", str(SAMPLES[0]), "--jobs", "many")
    assert bad.status == 2 and "--jobs 'many'" in bad.err and "auto" in bad.err
    assert cli("review", str(SAMPLES[0]), "--jobs", "auto").status == 0
    assert review_shards.auto_jobs(str(SAMPLES[0]), cpus=2) == 1       # small file: one process


def test_auto_jobs_for_a_large_file(tmp_path):
    import gzip
    path = tmp_path / "big.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        f.truncate(9 * 1024 * 1024)
    assert review_shards.auto_jobs(str(path), cpus=1) == 1
    assert review_shards.auto_jobs(str(path), cpus=2) == 2
    assert review_shards.auto_jobs(str(path), cpus=16) == review_shards.MAX_AUTO_WORKERS
    packed = tmp_path / "big.pcap.gz"
    packed.write_bytes(gzip.compress(path.read_bytes(), 1))
    packed.write_bytes(packed.read_bytes() + b"\0" * (9 * 1024 * 1024))
    assert review_shards.auto_jobs(str(packed), cpus=2) == 1           # gzip: one process


def test_worker_failure_is_one_error_not_a_traceback(tmp_path, monkeypatch, capfd):
    from netinspect.core.errors import RuntimeFailure
    path = tmp_path / "mixed.pcap"
    _generated(path, seed=2)

    class Broken:
        def __init__(self, *a, **k):
            raise ValueError("tracker broke")

    monkeypatch.setattr(review_shards, "ConnectionTracker", Broken)   # inherited by the forked workers
    with pytest.raises(RuntimeFailure, match="review worker 0 failed: ValueError: tracker broke"):
        list(stream_sharded(str(path), ReviewOptions(), 2))
    assert "Traceback" not in capfd.readouterr().err


def test_not_a_capture_with_jobs(cli, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a capture\n" * 1000)
    result = cli("review", str(path), "--jobs", "2")
    assert result.status == 2 and result.err.count("\n") == 1 and "not a capture" in result.err
