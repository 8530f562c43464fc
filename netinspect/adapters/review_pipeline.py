"""The per-file work of `review`: a path in, connection records and a summary out.

    for item in stream_file(path, options):      # ConnRecord ... then one FileSummary
        ...
    review_file(path, options) -> FileReview      # the same, collected (picklable)

`stream_file` reads the capture once (capture_file reader -> wire fast decoder -> TCP
tracker, UDP flows, ICMP table) and yields each connection's `ConnRecord` as soon as the
tracker has made it final, so memory holds only open connections whatever the file
size; the last item is the `FileSummary`. `review_file` is the pure function from a path
to records that `--jobs N` maps over several files with multiprocessing (every result
is plain data and pickles), and that a distributed engine could map over a cluster's files.

Damage: a damaged container (CaptureFileError) ends the read; what was found so far is
still returned, and `FileSummary.damage` holds (offset, reason). A file that is not a
capture raises NotACaptureError (exit status 2) before any record.

Numbering: connection numbers are the tracker's (tshark `tcp.stream` order) and do not
change with `--host`/`--port`, which only select records for output.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from netinspect.adapters.capture_file import CaptureReader
from netinspect.core.errors import CaptureFileError
from netinspect.core.findings import FindingsCollector
from netinspect.core.flows import ConnRecord, IcmpGroup, IcmpTable, UdpFlows, conn_record
from netinspect.core.records import Datagram, IcmpMessage, Segment
from netinspect.core.tracker import ConnectionTracker

PROGRESS_EVERY_S = 0.2
# Open connections tracked at once: about 2 KB each, so this keeps peak RSS well under
# 100 MB even for a SYN flood of millions of sources; beyond it the least recently
# active are reported early, flagged "evicted".
MAX_OPEN = 16_384


@dataclass(frozen=True)
class ReviewOptions:
    host: str | None = None        # keep records with an endpoint at this address
    port: int | None = None        # keep records with an endpoint on this port
    conn: int | None = None        # keep the segments of this connection for its ladder
    payload_prefix: int = 16       # payload bytes kept on ladder rows


@dataclass
class FileSummary:
    path: str
    format: str = ""
    compressed: bool = False
    file_size: int = 0
    packets: int = 0
    captured_bytes: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    tcp_connections: int = 0
    udp_flows: int = 0
    icmp_messages: int = 0
    icmp: list[IcmpGroup] = field(default_factory=list)
    icmp_ungrouped: int = 0
    other_frames: int = 0           # no TCP/UDP/ICMP/ARP in them
    fragments: int = 0
    malformed: int = 0
    malformed_reasons: dict = field(default_factory=dict)
    evicted: int = 0                # connections flushed early by the tracker's open cap
    findings: list = field(default_factory=list)
    damage: tuple[int, str] | None = None   # (byte offset, reason) when the container is damaged
    ladder: object = None           # tracker Connection with rows, when options.conn was found
    extra: dict = field(default_factory=dict)   # other sections (e.g. ARP), by name
    elapsed_s: float = 0.0
    t0_ns: int | None = None        # time of the file's first packet (row start times count from it)

    @property
    def duration_ns(self) -> int:
        if self.first_ns is None or self.last_ns is None:
            return 0
        return self.last_ns - self.first_ns


@dataclass
class FileStart:
    """First item of a stream: what the file is, and its first packet's time."""

    path: str
    format: str
    compressed: bool
    file_size: int
    t0_ns: int | None


@dataclass
class FileReview:
    summary: FileSummary
    records: list[ConnRecord]


class _Span:
    __slots__ = ("first", "last")

    def __init__(self):
        self.first = self.last = None

    def add(self, start: int, end: int) -> None:
        if self.first is None or start < self.first:
            self.first = start
        if self.last is None or end > self.last:
            self.last = end


def stream_file(path: str, options: ReviewOptions = ReviewOptions(),
                progress: Callable[[int, int], None] | None = None) -> Iterator:
    """Yield one FileStart, ConnRecords (TCP and UDP) as they become final, then one FileSummary.

    `progress(bytes_read, file_size)` is called now and then (at most every 0.2 s).
    """
    started = time.perf_counter()
    reader = CaptureReader(path)     # NotACaptureError / BadInput propagate: nothing to show
    summary = FileSummary(path=str(path), format=reader.format, compressed=reader.compressed,
                          file_size=reader.file_size)
    tracker = ConnectionTracker(max_open=MAX_OPEN, quiet=options.conn is None)
    udp = UdpFlows()
    icmp = IcmpTable()
    detector = _findings_collector()
    span = _Span()
    host, port = options.host, options.port
    selecting = host is not None or port is not None
    counts = {"tcp": 0, "udp": 0}
    ladder = _Ladder(options.conn) if options.conn is not None else None
    others: list = []
    next_progress = [time.monotonic() + PROGRESS_EVERY_S]

    def finished(conns) -> Iterator[ConnRecord]:
        for conn in conns:
            record = conn_record(conn)
            detector.add(record)
            counts["tcp"] += 1
            span.add(record.ts_ns, record.ts_ns + record.duration_ns)
            if not selecting or record.involves(host, port):
                yield record

    def flows(records) -> Iterator[ConnRecord]:
        for record in records:
            counts["udp"] += 1
            span.add(record.ts_ns, record.ts_ns + record.duration_ns)
            if not selecting or record.involves(host, port):
                yield record

    prefix = options.payload_prefix if ladder is not None else 0
    records = reader.records(payload_prefix=prefix)
    try:
        first = next(records, None)
    except CaptureFileError as error:
        first = None
        summary.damage = (error.offset, error.reason)
    summary.t0_ns = getattr(first, "ts_ns", None)
    yield FileStart(summary.path, summary.format, summary.compressed, summary.file_size, summary.t0_ns)
    if first is not None:
        records = itertools.chain((first,), records)
    else:
        records = iter(())
    feed = tracker.feed
    if ladder is not None:
        track = tracker.feed

        def feed(seg):
            events = track(seg)
            ladder.offer(seg, events)
            return events
    drain = tracker.drain
    udp_feed = udp.feed
    icmp_feed = icmp.feed
    other_append = others.append
    Seg, Dgram, Icmp = Segment, Datagram, IcmpMessage
    try:
        for rec in records:
            cls = rec.__class__
            if cls is Seg:
                events = feed(rec)
                if events:
                    yield from finished(drain())
                    if progress is not None and time.monotonic() >= next_progress[0]:
                        next_progress[0] = time.monotonic() + PROGRESS_EVERY_S
                        progress(reader.position(), reader.file_size)
            elif cls is Dgram:
                if udp_feed(rec):
                    yield from flows(udp.drain())
            elif cls is Icmp:
                icmp_feed(rec)
                span.add(rec.ts_ns, rec.ts_ns)
            else:
                if len(others) < 100_000:
                    other_append(rec)
        yield from flows(udp.drain())
    except CaptureFileError as error:
        summary.damage = (error.offset, error.reason)
    tracker.finish()
    if ladder is not None:
        ladder.close()
    yield from finished(drain())
    yield from flows(udp.finish())

    stats = reader.stats
    summary.packets = stats.frames
    summary.captured_bytes = stats.captured_bytes
    summary.malformed = stats.malformed
    summary.malformed_reasons = dict(stats.malformed_reasons)
    summary.other_frames = stats.other
    summary.fragments = stats.fragments
    summary.first_ns, summary.last_ns = span.first, span.last
    summary.tcp_connections = counts["tcp"]
    summary.udp_flows = counts["udp"]
    summary.icmp_messages = icmp.messages
    summary.icmp = icmp.rows()
    summary.icmp_ungrouped = icmp.ungrouped
    summary.evicted = tracker.evicted
    summary.findings = detector.findings()
    summary.extra["arp"] = others
    if ladder is not None:
        summary.ladder = ladder.result()
    summary.elapsed_s = time.perf_counter() - started
    if progress is not None:
        progress(summary.file_size, summary.file_size)
    yield summary


def _findings_collector():
    # Per-target and per-source tallies are capped so a flood of distinct sources
    # cannot grow memory (the findings stay right for the first 20,000 keys).
    return FindingsCollector(max_tracked_keys=20_000)


class _Ladder:
    """Keeps every segment of connection `index` in a second tracker, for its ladder."""

    def __init__(self, index: int):
        self.index = index
        self.tracker: ConnectionTracker | None = None
        self.keys: set = set()
        self.done = False

    def offer(self, seg: Segment, events) -> None:
        if self.done:
            return
        if self.tracker is None:
            for event in events:
                if event.kind == "opened" and event.conn.index == self.index:
                    conn = event.conn
                    self.keys = {(conn.orig, conn.resp), (conn.resp, conn.orig)}
                    self.tracker = ConnectionTracker(keep_segments=True)
                    break
            else:
                return
        if (seg.src, seg.dst) in self.keys:
            for event in self.tracker.feed(seg):
                if event.kind == "opened" and event.conn.index > 0:
                    self.done = True   # the ports were reused: connection N is over

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.finish()

    def result(self):
        if self.tracker is None:
            return None
        for conn in self.tracker.connections():
            if conn.index == 0:
                return conn
        return None


def review_file(path: str, options: ReviewOptions = ReviewOptions()) -> FileReview:
    """The whole review of one file as plain, picklable data (for --jobs)."""
    records: list[ConnRecord] = []
    summary = None
    for item in stream_file(path, options):
        if isinstance(item, FileSummary):
            summary = item
        elif isinstance(item, ConnRecord):
            records.append(item)
    return FileReview(summary, records)

