"""One large capture reviewed by several worker processes, flows sharded across them.

    for item in stream_sharded(path, options, jobs):   # as review_pipeline.stream_file
        ...

Every worker walks all record headers of the file, but decodes only the frames whose
direction-symmetric flow key (addresses and ports, read from the raw bytes before any
object is made: RecordDecoder.sharded) falls in its shard; frames without ports (ICMP,
ARP, fragments, damage) belong to shard 0. All packets of a 4-tuple meet in one worker,
so port reuse splits connections exactly as in one process.

Numbering: a worker numbers its connections locally and reports the frame index that
opened each one; the parent merges these by frame index, which is the order one process
numbers connections in (tshark tcp.stream), and renumbers each record. Records are
written in the order they became final (the frame that made them final), then, at the
end, the rest by number, as one process does. Findings are computed in the parent from
the merged records.

Memory: workers send records in batches over pipes; a full pipe blocks the worker, and
the parent holds only records it cannot number yet, so memory stays bounded.

Differences from one process, only past the memory caps: the open-connection cap
(MAX_OPEN, split evenly between workers) and the 512 finished connections kept reachable
by their ports are per worker, so in a capture beyond these caps a connection may be
evicted, or a late packet on a long-closed 4-tuple start a new record, at a different
point, and rows become final (are written) in a slightly different order.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Iterator

from netinspect.adapters.capture_file import CaptureReader
from netinspect.adapters.review_pipeline import (MAX_OPEN, PROGRESS_EVERY_S, FileStart, FileSummary,
                                                 ReviewOptions, _findings_collector, _Span)
from netinspect.core.errors import CaptureFileError, NetinspectError
from netinspect.core.flows import ConnRecord, IcmpTable, UdpFlows, conn_fields, record_fields
from netinspect.core.records import Datagram, Endpoint, IcmpMessage, Segment
from netinspect.core.tracker import ConnectionTracker

BATCH_FRAMES = 65_536      # a worker reports at least this often (in frames) ...
BATCH_RECORDS = 2_000      # ... or when this many records wait
WALK_BATCH = 512           # frames decoded per step of a worker's walk
END = 1 << 62              # "frame" of records made final at the end of the file


def _plain(fields: tuple) -> tuple:
    """Record fields with the endpoints as bare tuples: what pickles fastest."""
    return fields[:3] + (tuple(fields[3]), tuple(fields[4])) + fields[5:]


def _worker(path: str, shard: int, shards: int, pipe) -> None:
    """Review the flows of one shard; send batches, then one end message, over `pipe`."""
    import signal
    # Ctrl-C is the parent's to handle (it ends the workers); a worker prints nothing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    send = pipe.send
    try:
        reader = CaptureReader(path)
        tracker = ConnectionTracker(max_open=max(1, MAX_OPEN // shards), quiet=True)
        tracker.first_frames = topen = []
        udp = UdpFlows()
        udp.first_frames = uopen = []
        icmp = IcmpTable()
        icmp_span = _Span()
        others: list = []
        finals: list = []          # (frame that made it final, record with local index)
        first = None
        damage = None
        feed, drain = tracker.feed, tracker.drain
        udp_feed, udp_drain = udp.feed, udp.drain
        Seg, Dgram, Icmp = Segment, Datagram, IcmpMessage
        append = finals.append
        boundary = 0
        batch_frames = BATCH_FRAMES
        try:
            for batch in reader.record_batches_shard(shard, shards, batch=WALK_BATCH):
                fi = batch[0].frame_index
                if fi >= boundary or len(finals) >= BATCH_RECORDS:
                    if first is None:
                        first = (fi, batch[0].ts_ns)
                    # Every frame before `fi` is done: tell the parent how far this worker is.
                    send((fi, first, topen[:], uopen[:], finals[:], reader.position()))
                    del topen[:], uopen[:], finals[:]
                    boundary = fi + batch_frames
                for rec in batch:
                    cls = rec.__class__
                    if cls is Seg:
                        if feed(rec):
                            fi = rec.frame_index
                            for conn in drain():
                                append((fi, _plain(conn_fields(conn))))
                    elif cls is Dgram:
                        if udp_feed(rec):
                            fi = rec.frame_index
                            for record in udp_drain():
                                append((fi, _plain(record_fields(record))))
                    elif cls is Icmp:
                        icmp.feed(rec)
                        icmp_span.add(rec.ts_ns, rec.ts_ns)
                    elif len(others) < 100_000:
                        others.append(rec)
            for record in udp_drain():
                append((END - 1, _plain(record_fields(record))))
        except CaptureFileError as error:
            damage = (error.offset, error.reason)
        tracker.finish()
        tcp_end = [_plain(conn_fields(conn)) for conn in drain()]
        udp_end = [_plain(record_fields(record)) for record in udp.finish()]
        stats = reader.stats
        send((END, first, topen[:], uopen[:], finals[:], reader.file_size))
        send({
            "tcp_end": tcp_end, "udp_end": udp_end, "frames": stats.frames,
            "captured_bytes": stats.captured_bytes, "malformed": stats.malformed,
            "malformed_reasons": dict(stats.malformed_reasons), "other": stats.other,
            "fragments": stats.fragments, "evicted": tracker.evicted, "damage": damage,
            "icmp_messages": icmp.messages, "icmp": icmp.rows(), "icmp_ungrouped": icmp.ungrouped,
            "icmp_span": (icmp_span.first, icmp_span.last), "others": others,
        })
    except (BrokenPipeError, ConnectionResetError):
        pass            # the parent stopped reading (its output closed, or it was interrupted)
    except NetinspectError as error:
        _send_quietly(send, ("error", error.exit_status, error.message))
    except Exception as error:          # reported by the parent as one line, not a traceback here
        _send_quietly(send, ("error", 1, f"review worker {shard} failed: {type(error).__name__}: {error}"))
    finally:
        pipe.close()


def _send_quietly(send, message) -> None:
    try:
        send(message)
    except OSError:
        pass


class _Shard:
    __slots__ = ("proc", "pipe", "upto", "first", "topen", "uopen", "tlocal", "ulocal", "finals", "end",
                 "position")

    def __init__(self, proc, pipe):
        self.proc = proc
        self.pipe = pipe
        self.upto = -1            # every frame below this is done in this worker
        self.first = None         # (frame index, ts) of its first record
        self.topen: list = []     # first frames of TCP connections not numbered yet
        self.uopen: list = []
        self.tlocal = 0           # local index of topen[0]
        self.ulocal = 0
        self.finals: list = []    # (frame, shard number, sequence, record)
        self.end = None           # the end message
        self.position = None      # file bytes read (worker 0), for the progress bar


def stream_sharded(path: str, options: ReviewOptions = ReviewOptions(), jobs: int = 2,
                   progress: Callable[[int, int], None] | None = None) -> Iterator:
    """What stream_file yields (FileStart, ConnRecords, FileSummary), computed by `jobs` workers."""
    import multiprocessing

    started = time.perf_counter()
    reader = CaptureReader(path)     # NotACaptureError / BadInput here, before any worker
    summary = FileSummary(path=str(path), format=reader.format, compressed=reader.compressed,
                          file_size=reader.file_size)
    reader.close()
    context = multiprocessing.get_context("fork")
    shards: list[_Shard] = []
    try:
        for k in range(jobs):
            receive, send = context.Pipe(duplex=False)
            proc = context.Process(target=_worker, args=(str(path), k, jobs, send), daemon=True)
            proc.start()
            send.close()
            shards.append(_Shard(proc, receive))
        yield from _merge(summary, options, shards, progress, started)
    finally:
        for s in shards:
            s.pipe.close()
        for s in shards:
            s.proc.join(timeout=5)
            if s.proc.is_alive():
                s.proc.kill()
                s.proc.join()


def _receive(shard: _Shard, number: int) -> None:
    try:
        message = shard.pipe.recv()
    except EOFError:
        from netinspect.core.errors import RuntimeFailure
        raise RuntimeFailure(f"review worker {number} ended without its result "
                             f"(exit status {shard.proc.exitcode})") from None
    if isinstance(message, dict):
        shard.end = message
        return
    if message[0] == "error":
        from netinspect.core.errors import BadInput, RuntimeFailure
        raise (BadInput if message[1] == 2 else RuntimeFailure)(message[2])
    upto, first, topen, uopen, finals, position = message
    shard.upto = upto
    shard.first = first
    shard.topen += topen
    shard.uopen += uopen
    base = len(shard.finals)
    shard.finals += [(frame, number, base + i, record) for i, (frame, record) in enumerate(finals)]
    shard.position = position if number == 0 else None


def _number(shards: list[_Shard], frontier: int, attr: str, local_attr: str, table: dict, next_index: int) -> int:
    """Give global numbers, in frame order, to the connections opened before `frontier`."""
    opened = []
    for k, s in enumerate(shards):
        frames = getattr(s, attr)
        n = 0
        for frame in frames:
            if frame >= frontier:
                break
            n += 1
        if n:
            local = getattr(s, local_attr)
            opened += [(frame, k, local + i) for i, frame in enumerate(frames[:n])]
            del frames[:n]
            setattr(s, local_attr, local + n)
    opened.sort()
    for _frame, k, local in opened:
        table[(k, local)] = next_index
        next_index += 1
    return next_index


def _merge(summary: FileSummary, options: ReviewOptions, shards: list[_Shard], progress, started) -> Iterator:
    detector = _findings_collector()
    span = _Span()
    host, port = options.host, options.port
    selecting = host is not None or port is not None
    tcp_numbers: dict = {}
    udp_numbers: dict = {}
    next_tcp = next_udp = 0
    counts = {"tcp": 0, "udp": 0}
    next_progress = time.monotonic() + PROGRESS_EVERY_S

    endpoints: dict = {}
    new_endpoint = tuple.__new__

    def endpoint(pair):
        ep = endpoints.get(pair)
        if ep is None:
            if len(endpoints) >= 8192:
                endpoints.clear()
            ep = endpoints[pair] = new_endpoint(Endpoint, pair)
        return ep

    def emit(fields, k):
        """The ConnRecord of worker k's fields, numbered; None when --host/--port leave it out."""
        if fields[1] == "tcp":
            record = ConnRecord(tcp_numbers.pop((k, fields[0])), *fields[1:3], endpoint(fields[3]),
                                endpoint(fields[4]), *fields[5:])
            detector.add(record)
            counts["tcp"] += 1
        else:
            record = ConnRecord(udp_numbers.pop((k, fields[0])), *fields[1:3], endpoint(fields[3]),
                                endpoint(fields[4]), *fields[5:])
            counts["udp"] += 1
        span.add(record.ts_ns, record.ts_ns + record.duration_ns)
        return record if not selecting or record.involves(host, port) else None

    # The first message of every worker gives the time of the file's first record.
    for k, s in enumerate(shards):
        _receive(s, k)
    firsts = [s.first for s in shards if s.first is not None]
    summary.t0_ns = min(firsts)[1] if firsts else None
    yield FileStart(summary.path, summary.format, summary.compressed, summary.file_size, summary.t0_ns)

    while True:
        frontier = min(s.upto for s in shards)
        next_tcp = _number(shards, frontier, "topen", "tlocal", tcp_numbers, next_tcp)
        next_udp = _number(shards, frontier, "uopen", "ulocal", udp_numbers, next_udp)
        ready = []
        for s in shards:
            finals = s.finals
            n = 0
            for item in finals:
                if item[0] >= frontier:
                    break
                n += 1
            if n:
                ready += finals[:n]
                del finals[:n]
        ready.sort(key=lambda item: (item[0], item[2]))
        for _frame, k, _seq, fields in ready:
            record = emit(fields, k)
            if record is not None:
                yield record
        if frontier >= END:
            break
        if progress is not None and time.monotonic() >= next_progress:
            next_progress = time.monotonic() + PROGRESS_EVERY_S
            position = getattr(shards[0], "position", None)
            if position is not None:
                progress(position, summary.file_size)
        # Hear from the worker that is furthest behind: it holds the frontier back.
        k = min(range(len(shards)), key=lambda i: shards[i].upto)
        _receive(shards[k], k)
    for s in shards:
        if s.end is None:
            _receive(s, shards.index(s))
    ends = [s.end for s in shards]
    # The end of the file, as one process: the TCP connections still held by number, then UDP.
    for key, table in (("tcp_end", tcp_numbers), ("udp_end", udp_numbers)):
        rest = []
        for k, end in enumerate(ends):
            rest += [(table[(k, f[0])], k, f) for f in end[key]]
        rest.sort(key=lambda item: item[0])
        for _n, k, fields in rest:
            record = emit(fields, k)
            if record is not None:
                yield record

    head = ends[0]
    summary.packets = head["frames"]
    summary.captured_bytes = head["captured_bytes"]
    summary.malformed = sum(e["malformed"] for e in ends)
    reasons: dict = {}
    for e in ends:
        for reason, n in e["malformed_reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + n
    summary.malformed_reasons = reasons
    summary.other_frames = sum(e["other"] for e in ends)
    summary.fragments = sum(e["fragments"] for e in ends)
    first, last = head["icmp_span"]
    if first is not None:
        span.add(first, last)
    summary.first_ns, summary.last_ns = span.first, span.last
    summary.tcp_connections = counts["tcp"]
    summary.udp_flows = counts["udp"]
    summary.icmp_messages = head["icmp_messages"]
    summary.icmp = head["icmp"]
    summary.icmp_ungrouped = head["icmp_ungrouped"]
    summary.evicted = sum(e["evicted"] for e in ends)
    summary.damage = head["damage"]
    summary.findings = detector.findings()
    summary.extra["arp"] = head["others"]
    summary.elapsed_s = time.perf_counter() - started
    if progress is not None:
        progress(summary.file_size, summary.file_size)
    yield summary


# Each worker adds about 24 MB resident (16 MB proportional: the interpreter pages are
# shared with the parent after fork); two keep parent + workers under 100 MB together.
# `--jobs N` asks for more.
MAX_AUTO_WORKERS = 2


def auto_jobs(path: str, cpus: int | None = None, threshold: int = 8 * 1024 * 1024) -> int:
    """Workers for one file under `--jobs auto`: the cores (at most MAX_AUTO_WORKERS) for a
    large uncompressed capture, one process otherwise (starting workers costs more than a
    small file is worth)."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
    except OSError:
        return 1
    if size < threshold or gzipped or cpus < 2:
        return 1
    return min(cpus, MAX_AUTO_WORKERS)
