"""TCP connection tracker: segments in, connection records and events out (sans-IO).

Usage::

    tracker = ConnectionTracker(keep_segments=False, max_open=100_000)
    for segment in segments:                 # netinspect.core.records.Segment
        for event in tracker.feed(segment):  # usually the shared empty tuple
            ...
    tracker.finish()                         # end of input: every connection becomes final
    for conn in tracker.drain():             # final Connection records, oldest flush first
        ...

``feed(segment) -> Sequence[Event]`` returns the shared empty tuple for uninteresting
segments (most data and ACK segments of an established connection): the hot path
allocates nothing. ``feed_all(segments)`` is ``feed`` over an iterable, events concatenated.
``finish() -> list[Event]`` flushes everything (a ``final`` event per connection).
``drain()`` yields and forgets the connections that are final (no segment can change
them any more); ``connections()`` lists every record still held (open, closing, final
but not drained), by index. ``lookup(src, dst)`` gives the current connection of a
4-tuple (either direction) or None.

Connection identity follows tshark's ``tcp.stream``: ``index`` is 0-based in order of
first packet, and a SYN on the four ports of a finished connection (or a SYN from the
same originator with a new initial sequence number) starts a new connection
(``port_reuse`` is then True on the new record).

Originator: the sender of the first SYN; when the capture begins mid-stream, the sender
of the first packet seen (``partial`` = ``started_before_capture`` = True), except that
the sender of a SYN+ACK seen first is taken as the responder (as Zeek does).

``irtt_ns`` is tshark's ``tcp.analysis.initial_rtt``: from the most recent SYN (the last
one if it was retransmitted) to the first segment with ACK and without SYN, which for a
refused connection is the RST. ``handshake_ns`` runs from the first SYN to the segment
that made both endpoints ESTABLISHED; ``syn_synack_ns`` from the first SYN to the first
SYN+ACK.

Each endpoint has an RFC 9293 state (``orig_state``/``resp_state``, see tcp_states) and
a Zeek state; ``history`` and ``conn_state`` are Zeek's. Findings per connection carry
Wireshark's expert-info names (``tcp.analysis.retransmission`` ...): see ``ANALYSES``.

``quiet=True``: feed() and finish() return only ``final`` and ``evicted`` events (bulk
review, where only final records matter: the caller drains when something became final).

Memory: a finished connection stays reachable by its ports for ``linger`` (default 512)
more finished connections, so late ACKs and retransmitted FINs still count to it, then
becomes final. (A longer linger keeps more objects alive and slows the garbage collector.)
At most ``max_open`` unfinished connections are tracked; beyond that an eighth of them is
flushed as final with ``evicted = True`` (an ``evicted`` event each): the least recently
active among the oldest quarter.
Ladder rows (``Connection.rows``) are kept only with ``keep_segments=True``.

Connection record (all times integer ns since the epoch): ``index``, ``orig``/``resp``
(Endpoints), ``ts_first``, ``ts_last``, ``duration_ns``, ``orig_pkts``/``resp_pkts``,
``orig_bytes``/``resp_bytes`` (payload), ``packets``, ``partial``, ``port_reuse``,
``handshake`` (one of HANDSHAKES), ``syn_ts``/``synack_ts``/``ack_ts``, ``irtt_ns``,
``handshake_ns``, ``syn_synack_ns``, ``teardown`` (one of TEARDOWNS or None while open),
``closed_by`` ("orig"/"resp"/None), ``time_wait`` ("orig"/"resp"/"both"/None),
``half_closed``, ``orig_state``/``resp_state`` (TcpState), ``history``, ``conn_state``,
``explanation``, ``retransmissions``, ``out_of_order``, ``zero_windows``,
``duplicate_acks``, ``lost_segments``, ``keep_alives``, ``analysis_counts()``,
``evicted``, ``finished``, ``final``, ``rows`` (list of Row, or None).

Event kinds (``Event.kind``):
    opened       first packet of a connection (detail: "syn", "mid-stream", "port reuse")
    handshake    both endpoints ESTABLISHED (detail: "three-way" or "simultaneous")
    refused      the SYN was answered with RST
    closing      first FIN (detail: "orig" or "resp", the active closer)
    half_close   data sent by the side that already received the peer's FIN
    closed       both sides closed with FIN (detail: teardown kind)
    reset        an RST ended the connection (detail: "orig" or "resp")
    analysis     a Wireshark finding (detail: e.g. "tcp.analysis.retransmission")
    port_reuse   a new SYN on the ports of an earlier connection (conn: the new one)
    evicted      flushed because of the max_open cap
    final        the record is complete and can be taken by drain()
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Iterable, Iterator, NamedTuple

from netinspect.core import zeek
from netinspect.core.records import ACK, FIN, RST, SYN, Endpoint, Segment
from netinspect.core.tcp_states import EXTRA_BIT, FINAL_STATES, RECV_NEXT, SEND_NEXT, TcpState

EMPTY: tuple = ()
_MASK = 0xFFFFFFFF
_CTRL = SYN | FIN | RST
_OOO_DEFAULT_NS = 3_000_000  # Wireshark's out-of-order window when the RTT is unknown

# Wireshark expert-info names of the per-segment analyses.
RETRANSMISSION = "tcp.analysis.retransmission"
SPURIOUS_RETRANSMISSION = "tcp.analysis.spurious_retransmission"
OUT_OF_ORDER = "tcp.analysis.out_of_order"
LOST_SEGMENT = "tcp.analysis.lost_segment"
ZERO_WINDOW = "tcp.analysis.zero_window"
KEEP_ALIVE = "tcp.analysis.keep_alive"
DUPLICATE_ACK = "tcp.analysis.duplicate_ack"
ANALYSES = (RETRANSMISSION, SPURIOUS_RETRANSMISSION, OUT_OF_ORDER, LOST_SEGMENT, ZERO_WINDOW,
            KEEP_ALIVE, DUPLICATE_ACK)

# Teardown kinds.
FOUR_WAY = "four-way"
THREE_SEGMENT = "three-segment"
SIMULTANEOUS = "simultaneous"
RESET = "reset"
REFUSED = "refused"
UNANSWERED = "unanswered"
INCOMPLETE = "incomplete"   # a FIN was seen, the other side's close was not
TEARDOWNS = (FOUR_WAY, THREE_SEGMENT, SIMULTANEOUS, RESET, REFUSED, UNANSWERED, INCOMPLETE)

# Handshake kinds.
THREE_WAY = "three-way"
SIMULTANEOUS_OPEN = "simultaneous"
MID_STREAM = "mid-stream"           # started before the capture: no SYN seen
HANDSHAKE_INCOMPLETE = "incomplete"  # SYN answered, but never completed
HANDSHAKES = (THREE_WAY, SIMULTANEOUS_OPEN, MID_STREAM, REFUSED, UNANSWERED, HANDSHAKE_INCOMPLETE)


def _seq_ge(a: int, b: int) -> bool:
    """a >= b in 32-bit sequence space."""
    return ((a - b) & _MASK) < 0x80000000


_tuple_new = tuple.__new__  # builds NamedTuples without the Python-level __new__ frame
_ESTABLISHED = TcpState.ESTABLISHED
_TIME_WAIT = TcpState.TIME_WAIT
_CLOSED = TcpState.CLOSED
_LISTEN = TcpState.LISTEN
_SYN_RECEIVED = TcpState.SYN_RECEIVED
_Z_SYN_SENT = zeek.SYN_SENT
_SEEN_SYN = zeek.SEEN_SYN
_SEEN_FIN = zeek.SEEN_FIN
# _ZEEK_ACK_STABLE[sender * 7 + peer]: an ACK or data segment from sender changes no Zeek state,
# so it may take the fast path.
_ZEEK_ACK_STABLE = [zeek.UPDATE[i][ACK] == divmod(i, 7) for i in range(49)]
_SYN_SENT = TcpState.SYN_SENT
_ZEEK_UPDATE = zeek.UPDATE
_SEEN_ACK = zeek.SEEN_ACK
_SEEN_DATA = zeek.SEEN_DATA


class Event(NamedTuple):
    kind: str
    conn: "Connection"
    frame_index: int
    detail: str = ""


class Row(NamedTuple):
    """One segment of a connection, as the ladder draws it (kept with keep_segments)."""

    ts_ns: int
    from_orig: bool
    flags: int
    seq: int
    ack: int
    rel_seq: int
    rel_ack: int | None      # None when the ACK flag is off or the peer's ISN is unknown
    payload_len: int
    window: int
    frame_index: int
    role: str                # syn, syn_retx, synack, synack_retx, hs_ack, data, ack, fin_1, fin_2,
                             # fin_retx, ack_fin_1, ack_fin_2, rst, refused_rst, other
    orig_before: TcpState
    resp_before: TcpState
    orig_after: TcpState
    resp_after: TcpState
    notes: tuple             # Wireshark analysis names for this segment
    payload: bytes
    options: object


# Indexes into _Half.counts (allocated at the first finding of a direction).
_RETX, _SPURIOUS, _OOO, _LOST, _ZWIN, _KEEPALIVE, _DUPACK, _T_COUNT, _W_COUNT = range(9)
_NOTE_SLOT = {RETRANSMISSION: _RETX, SPURIOUS_RETRANSMISSION: _SPURIOUS, OUT_OF_ORDER: _OOO,
              LOST_SEGMENT: _LOST, ZERO_WINDOW: _ZWIN, KEEP_ALIVE: _KEEPALIVE, DUPLICATE_ACK: _DUPACK}
_NO_COUNTS = (0,) * 9


class _Half:
    """One direction: the endpoint that sends on this key, and its bookkeeping."""

    __slots__ = ("conn", "is_orig", "peer", "fast", "pkts", "bytes", "last_ts", "next_seq",
                 "last_ack", "last_win", "base", "isn", "fin_seq", "fin_acked", "state", "zstate",
                 "seen", "last_syn", "last_fin", "last_rst", "adv_ts", "key", "counts", "syn_kinds")

    def __init__(self, conn, is_orig, key, state):
        self.conn = conn
        self.is_orig = is_orig
        self.key = key
        self.peer = None
        self.fast = False      # both ESTABLISHED, nothing else can change: the fast path applies
        self.pkts = 0
        self.bytes = 0
        self.last_ts = 0
        self.next_seq = None   # highest seq + len (+SYN/FIN) sent so far
        self.last_ack = -1
        self.last_win = -1
        self.base = None       # relative sequence 0
        self.isn = None        # initial sequence number from the SYN
        self.fin_seq = None    # sequence number of the FIN octet
        self.fin_acked = False
        self.state = state
        self.zstate = 0        # zeek.INACTIVE
        self.seen = 0          # zeek.SEEN_* letters already in the history
        self.last_syn = self.last_fin = self.last_rst = None
        self.adv_ts = 0        # when next_seq last advanced (out-of-order test)
        self.counts = None     # list of 9 counters, see _RETX...
        self.syn_kinds = 0     # 1: sent a SYN, 2: sent a SYN+ACK

    def note(self, slot: int) -> int:
        counts = self.counts
        if counts is None:
            counts = self.counts = [0] * 9
        counts[slot] += 1
        return counts[slot]


class Connection:
    """One TCP connection (tshark tcp.stream). Times are integer ns since the epoch."""

    __slots__ = ("index", "orig", "resp", "ts_first", "partial", "port_reuse", "handshake",
                 "syn_ts", "synack_ts", "ack_ts", "teardown", "closed_by", "time_wait",
                 "history", "half_closed", "evicted", "finished", "final", "rows", "_o", "_r",
                 "_conn_state", "first_fin_ts", "mru_syn_ts", "irtt_ns")

    def __init__(self, index: int, orig: Endpoint, resp: Endpoint, ts: int, keep: bool):
        self.index = index
        self.orig = orig
        self.resp = resp
        self.ts_first = ts
        self.partial = False
        self.port_reuse = False
        self.handshake = None
        self.syn_ts = self.synack_ts = self.ack_ts = None
        self.teardown = None
        self.closed_by = None
        self.time_wait = None
        self.history = ""
        self.half_closed = False
        self.evicted = False
        self.finished = False
        self.final = False
        self.rows = [] if keep else None
        self._conn_state = None
        self.first_fin_ts = None
        self.mru_syn_ts = None   # the most recent SYN without ACK (Wireshark's ts_mru_syn)
        self.irtt_ns = None      # tshark's tcp.analysis.initial_rtt
        self._o = self._r = None

    # -- per-direction figures ---------------------------------------------------------
    started_before_capture = property(lambda self: self.partial)
    orig_pkts = property(lambda self: self._o.pkts)
    resp_pkts = property(lambda self: self._r.pkts)
    orig_bytes = property(lambda self: self._o.bytes)
    resp_bytes = property(lambda self: self._r.bytes)
    orig_state = property(lambda self: self._o.state)
    resp_state = property(lambda self: self._r.state)
    orig_isn = property(lambda self: self._o.isn)
    resp_isn = property(lambda self: self._r.isn)

    @property
    def ts_last(self) -> int:
        return max(self._o.last_ts, self._r.last_ts, self.ts_first)

    @property
    def duration_ns(self) -> int:
        return self.ts_last - self.ts_first

    @property
    def packets(self) -> int:
        return self._o.pkts + self._r.pkts

    @property
    def handshake_ns(self) -> int | None:
        """First SYN to the segment that made both endpoints ESTABLISHED."""
        if self.syn_ts is None or self.ack_ts is None:
            return None
        return self.ack_ts - self.syn_ts

    @property
    def syn_synack_ns(self) -> int | None:
        """First SYN to first SYN+ACK: the round trip as the client saw it."""
        if self.syn_ts is None or self.synack_ts is None:
            return None
        return self.synack_ts - self.syn_ts

    def _count(self, slot: int) -> int:
        a = self._o.counts or _NO_COUNTS
        b = self._r.counts or _NO_COUNTS
        return a[slot] + b[slot]

    retransmissions = property(lambda self: self._count(_RETX) + self._count(_SPURIOUS))
    spurious_retransmissions = property(lambda self: self._count(_SPURIOUS))
    out_of_order = property(lambda self: self._count(_OOO))
    zero_windows = property(lambda self: self._count(_ZWIN))
    duplicate_acks = property(lambda self: self._count(_DUPACK))
    lost_segments = property(lambda self: self._count(_LOST))
    keep_alives = property(lambda self: self._count(_KEEPALIVE))

    def analysis_counts(self) -> dict[str, int]:
        """Wireshark name -> count, only the non-zero ones."""
        if self._o.counts is None and self._r.counts is None:
            return {}
        counts = {name: self._count(slot) for name, slot in _NOTE_SLOT.items()}
        return {name: n for name, n in counts.items() if n}

    @property
    def conn_state(self) -> str:
        if self._conn_state is not None:
            return self._conn_state
        return zeek.conn_state(self._o.zstate, self._r.zstate, self._o.bytes, self._r.bytes, self.history)

    @property
    def explanation(self) -> str:
        return zeek.explain(self.conn_state)

    def __repr__(self) -> str:
        return (f"Connection({self.index}, {self.orig} -> {self.resp}, handshake={self.handshake}, "
                f"teardown={self.teardown}, conn_state={self.conn_state}, history={self.history!r})")


def _last_activity(conn: Connection) -> int:
    return max(conn._o.last_ts, conn._r.last_ts, conn.ts_first)


class ConnectionTracker:
    def __init__(self, *, keep_segments: bool = False, max_open: int = 100_000, linger: int = 512,
                 quiet: bool = False):
        if max_open < 1 or linger < 0:
            raise ValueError("max_open must be >= 1 and linger >= 0")
        self.keep_segments = keep_segments
        self.quiet = quiet
        self._loud = not quiet
        self.max_open = max_open
        self.linger = linger
        self._halves: dict = {}          # (src, dst) -> _Half of the sender
        self._open: dict = {}            # index -> Connection, not yet finished
        self._closed: deque = deque()    # finished, still reachable by their ports
        self._final: deque = deque()     # final, waiting for drain()
        self._next_index = 0
        self.evicted = 0
        # When a list: the frame index that opened each connection, in index order (a
        # sharded review numbers connections across workers from these).
        self.first_frames: list | None = None

    # -- public API --------------------------------------------------------------------
    def feed(self, seg: Segment):
        half = self._halves.get((seg.src, seg.dst))
        if half is not None:
            # Fast path: in-order data or a new ACK of an established connection.
            if half.fast and seg.flags & 0x17 == ACK and seg.seq == half.next_seq and seg.window:
                ack = seg.ack
                if ((ack - half.last_ack) & _MASK) < 0x80000000:   # not older than the last ACK
                    n = seg.payload_len
                    if n:
                        half.next_seq = (seg.seq + n) & _MASK
                        half.bytes += n
                        half.pkts += 1
                        half.last_ts = half.adv_ts = seg.ts_ns
                        half.last_ack = ack
                        half.last_win = seg.window
                        if not half.seen & _SEEN_DATA:
                            self._first_letter(half, _SEEN_DATA)
                        return EMPTY
                    if ack != half.last_ack or seg.window != half.last_win:
                        half.pkts += 1
                        half.last_ts = seg.ts_ns
                        half.last_ack = ack
                        half.last_win = seg.window
                        if not half.seen & _SEEN_ACK:
                            self._first_letter(half, _SEEN_ACK)
                        return EMPTY
            flags = seg.flags
            ctl = flags & _CTRL
            if not self.keep_segments:
                if not ctl:
                    return self._plain(half, seg)
                if ctl == FIN:
                    return self._fin_plain(half, seg)
            if flags & 0x12 == SYN and self._is_reuse(half, seg):
                events: list = []
                self._retire(half.conn, events)
                events = self._process(self._new(seg, events, True), seg, events)
                return self._quieten(events) if self.quiet and events else events
            if ctl == SYN and not self.keep_segments:
                return self._syn_plain(half, seg)
            events = self._process(half, seg, None)
            return self._quieten(events) if self.quiet and events else events
        if seg.flags & 0x17 == SYN and not seg.payload_len and not self.keep_segments \
                and len(self._open) < self.max_open:
            return self._new_syn(seg)
        events = []
        events = self._process(self._new(seg, events, False), seg, events)
        return self._quieten(events) if self.quiet and events else events

    @staticmethod
    def _quieten(events):
        kept = [e for e in events if e.kind == "final" or e.kind == "evicted"]
        return kept if kept else EMPTY

    @staticmethod
    def _first_letter(half: _Half, bit: int) -> None:
        half.seen |= bit
        letter = "D" if bit == _SEEN_DATA else "A"
        half.conn.history += letter if half.is_orig else letter.lower()

    def _new_syn(self, seg: Segment):
        """A new connection opened by a plain SYN: what _new + _process do, in one step."""
        src = seg.src
        dst = seg.dst
        ts = seg.ts_ns
        seq = seg.seq
        conn = Connection(self._next_index, src, dst, ts, False)
        self._next_index += 1
        if self.first_frames is not None:
            self.first_frames.append(seg.frame_index)
        o = _Half(conn, True, (src, dst), _SYN_SENT)
        r = _Half(conn, False, (dst, src), _SYN_RECEIVED)
        o.peer = r
        r.peer = o
        conn._o = o
        conn._r = r
        o.pkts = 1
        o.last_ts = ts
        o.base = o.isn = seq
        o.next_seq = (seq + 1) & _MASK
        o.syn_kinds = 1
        o.seen = _SEEN_SYN
        o.last_syn = 0
        o.zstate = _Z_SYN_SENT
        conn.history = "S"
        conn.syn_ts = conn.mru_syn_ts = ts
        halves = self._halves
        halves[o.key] = o
        halves[r.key] = r
        self._open[conn.index] = conn
        if self.quiet:
            return EMPTY
        return [_tuple_new(Event, ("opened", conn, seg.frame_index, "syn"))]

    def feed_all(self, segments: Iterable[Segment]) -> list[Event]:
        events: list[Event] = []
        feed = self.feed
        for seg in segments:
            got = feed(seg)
            if got:
                events.extend(got)
        return events

    def finish(self) -> list[Event]:
        """End of input: every connection still held becomes final, in index order."""
        events: list[Event] = []
        pending = [c for c in self._closed if not c.final] + list(self._open.values())
        pending.sort(key=lambda c: c.index)
        self._closed.clear()
        self._open.clear()
        for conn in pending:
            self._finalize(conn, events)
        return events

    def drain(self) -> Iterator[Connection]:
        """Yield (and forget) the connections that are final."""
        final = self._final
        while final:
            yield final.popleft()

    def connections(self) -> list[Connection]:
        """Every record still held (open, finished or final but not drained), by index."""
        seen = {c.index: c for c in self._final}
        seen.update((c.index, c) for c in self._closed)
        seen.update(self._open)
        return [seen[i] for i in sorted(seen)]

    def lookup(self, src: Endpoint, dst: Endpoint) -> Connection | None:
        half = self._halves.get((src, dst))
        return half.conn if half is not None else None

    @property
    def open_count(self) -> int:
        return len(self._open)

    # -- connection life ----------------------------------------------------------------
    def _new(self, seg: Segment, events: list, reuse: bool) -> _Half:
        if len(self._open) >= self.max_open:
            self._evict(events)
        flags = seg.flags
        fi = seg.frame_index
        if flags & SYN and flags & ACK:
            orig, resp, sender_is_orig = seg.dst, seg.src, False
        else:
            orig, resp, sender_is_orig = seg.src, seg.dst, True
        conn = Connection(self._next_index, orig, resp, seg.ts_ns, self.keep_segments)
        self._next_index += 1
        if self.first_frames is not None:
            self.first_frames.append(fi)
        if flags & SYN and not flags & ACK:
            # The responder is assumed to listen; a RST answer shows later that it did not.
            o = _Half(conn, True, (orig, resp), _CLOSED)
            r = _Half(conn, False, (resp, orig), _LISTEN)
            detail = "port reuse" if reuse else "syn"
        else:
            conn.partial = True
            conn.handshake = MID_STREAM
            detail = "mid-stream"
            if flags & SYN:
                # SYN+ACK seen first: the handshake began before the capture.
                o = _Half(conn, True, (orig, resp), _SYN_SENT)
                r = _Half(conn, False, (resp, orig), _LISTEN)
            else:
                o = _Half(conn, True, (orig, resp), _ESTABLISHED)
                r = _Half(conn, False, (resp, orig), _ESTABLISHED)
        o.peer = r
        r.peer = o
        conn._o = o
        conn._r = r
        halves = self._halves
        halves[o.key] = o
        halves[r.key] = r
        self._open[conn.index] = conn
        events.append(_tuple_new(Event, ("opened", conn, fi, detail)))
        if reuse:
            conn.port_reuse = True
            events.append(_tuple_new(Event, ("port_reuse", conn, fi, f"{orig} -> {resp}")))
        return o if sender_is_orig else r

    def _is_reuse(self, half: _Half, seg: Segment) -> bool:
        """A SYN (no ACK) on the ports of ``half.conn``: does it start a new connection?"""
        conn = half.conn
        if conn.finished:
            return True
        if conn.handshake == MID_STREAM:
            return True
        if half.is_orig:
            # Same originator, new initial sequence number (tshark's rule).
            return half.isn is not None and seg.seq != half.isn
        # The responder sends a SYN: simultaneous open while the originator waits,
        # otherwise a new connection in the other direction once a close began.
        return half.peer.fin_seq is not None or half.fin_seq is not None

    def _retire(self, conn: Connection, events: list) -> None:
        """Take a connection off its ports and make it final."""
        self._open.pop(conn.index, None)
        self._finalize(conn, events)

    def _finalize(self, conn: Connection, events: list) -> None:
        if conn.final:
            return
        o, r = conn._o, conn._r
        # Its ports still lead to it: a new connection on them retires this one first.
        halves = self._halves
        halves.pop(o.key, None)
        halves.pop(r.key, None)
        if conn.teardown is None:
            if conn.syn_ts is not None and r.pkts == 0:
                conn.teardown = UNANSWERED
            elif o.fin_seq is not None or r.fin_seq is not None:
                conn.teardown = INCOMPLETE
        if conn.handshake is None:
            conn.handshake = UNANSWERED if (conn.syn_ts is not None and r.pkts == 0) else HANDSHAKE_INCOMPLETE
        if conn.teardown == UNANSWERED and conn.rows:
            # Nothing came back: what the responder's side did is unknown.
            conn.rows[:] = [row._replace(resp_before=None, resp_after=None) for row in conn.rows]
        o_tw = o.state is _TIME_WAIT
        r_tw = r.state is _TIME_WAIT
        conn.time_wait = ("both" if r_tw else "orig") if o_tw else ("resp" if r_tw else None)
        conn._conn_state = zeek.conn_state(o.zstate, r.zstate, o.bytes, r.bytes, conn.history)
        # Break the reference cycles so a dropped record is freed at once, without the GC.
        o.conn = r.conn = o.peer = r.peer = None
        conn.final = True
        self._final.append(conn)
        events.append(_tuple_new(Event, ("final", conn, -1, conn._conn_state)))

    def _evict(self, events: list) -> None:
        # The least recently active among the oldest-created: a bounded look, so a flood
        # of new connections costs O(log n) each, not a sort of every open connection.
        batch = max(1, self.max_open // 8)
        candidates = list(islice(self._open.values(), 2 * batch))
        candidates.sort(key=_last_activity)
        victims = candidates[:batch]
        for conn in victims:
            conn.evicted = True
            self.evicted += 1
            events.append(_tuple_new(Event, ("evicted", conn, -1, "max_open reached")))
            self._retire(conn, events)

    def _mark_finished(self, conn: Connection, events: list) -> None:
        conn.finished = True
        del self._open[conn.index]
        closed = self._closed
        closed.append(conn)
        if len(closed) > self.linger:
            finalize = self._finalize
            while len(closed) > self.linger:
                finalize(closed.popleft(), events)

    # -- everything but established in-order data and ACKs ---------------------------
    def _process(self, half: _Half, seg: Segment, events: list | None):
        if events is None:
            events = []
        conn = half.conn
        peer = half.peer
        is_orig = half.is_orig
        flags = seg.flags
        ts = seg.ts_ns
        n = seg.payload_len
        seq = seg.seq
        fi = seg.frame_index
        half.pkts += 1
        half.bytes += n
        half.last_ts = ts
        rows = conn.rows
        if rows is not None:
            orig_before, resp_before = conn._o.state, conn._r.state
        notes = None
        role = ""
        ctl = flags & 7

        # Sequence bookkeeping and Wireshark analyses.
        if half.base is None:
            half.base = seq if flags & SYN else (seq - 1) & _MASK
        if ctl == 0 or ctl == FIN:
            seg_end = (seq + n + ctl) & _MASK          # a FIN takes one sequence number
            nxt = half.next_seq
            if nxt is None:
                half.next_seq = seg_end
                half.adv_ts = ts
            elif seg_end != seq:                        # data and/or FIN
                if seq == nxt:
                    half.next_seq = seg_end
                    half.adv_ts = ts
                else:
                    notes = [self._seq_anomaly(half, peer, conn, seq, seg_end, n, flags, ts)]
            elif seq != nxt:
                if ((nxt - seq) & _MASK) == 1:
                    notes = [KEEP_ALIVE]
            elif flags & ACK and seg.ack == half.last_ack and seg.window == half.last_win:
                notes = [DUPLICATE_ACK]
        elif flags & SYN and not flags & RST:
            kind = 2 if flags & ACK else 1
            if half.isn is not None and seq == half.isn and half.syn_kinds & kind:
                role = "synack_retx" if kind == 2 else "syn_retx"
                notes = [RETRANSMISSION]
            else:
                # (In a simultaneous open the SYN+ACK repeats the SYN's sequence number.)
                half.isn = half.base = seq
            half.syn_kinds |= kind
            seg_end = (seq + 1 + n + (flags & FIN)) & _MASK
            if half.next_seq is None or _seq_ge(seg_end, half.next_seq):
                half.next_seq = seg_end
        window = seg.window
        if window == 0 and not ctl:
            if notes is None:
                notes = [ZERO_WINDOW]
            else:
                notes.append(ZERO_WINDOW)
        if flags & ACK:
            ack = seg.ack
            last = half.last_ack
            if last < 0 or ((ack - last) & _MASK) < 0x80000000:
                half.last_ack = ack
            half.last_win = -1 if flags & SYN else window   # the ACK after a SYN+ACK is no duplicate

        # Zeek history and endpoint states.
        seen = half.seen
        if ctl == 0:
            if n:
                if not seen & _SEEN_DATA:
                    half.seen = seen | _SEEN_DATA
                    conn.history += "D" if is_orig else "d"
            elif flags & ACK and not seen & _SEEN_ACK:
                half.seen = seen | _SEEN_ACK
                conn.history += "A" if is_orig else "a"
        elif ctl == FIN:
            # zeek.history_letters for the common single-flag cases, inlined.
            end = (seq - half.base + n) & _MASK
            if not seen & _SEEN_FIN or end != half.last_fin:
                half.seen = seen | _SEEN_FIN
                conn.history += "F" if is_orig else "f"
            half.last_fin = end
        elif ctl == SYN:
            rel = (seq - half.base) & _MASK
            if not seen & _SEEN_SYN or rel != half.last_syn:
                half.seen = seen | _SEEN_SYN
                letter = "H" if flags & ACK else "S"
                conn.history += letter if is_orig else letter.lower()
            half.last_syn = rel
        else:
            letters, half.seen, half.last_syn, half.last_fin, half.last_rst = zeek.history_letters(
                flags, n, (seq - half.base) & _MASK, seen, half.last_syn, half.last_fin, half.last_rst)
            if letters:
                conn.history += letters if is_orig else letters.lower()
        if notes is not None:
            self._count_notes(half, conn, notes, n, is_orig)
        half.zstate, peer.zstate = _ZEEK_UPDATE[half.zstate * 7 + peer.zstate][flags & 0x17]

        # RFC 9293 states of both endpoints.
        pfin = peer.fin_seq
        acks_peer_fin = pfin is not None and flags & ACK and ((seg.ack - pfin - 1) & _MASK) < 0x80000000
        code = flags & 0x17
        if flags & FIN and pfin is not None and not acks_peer_fin:
            state = SEND_NEXT[half.state][code | EXTRA_BIT]        # the FINs crossed
        else:
            state = SEND_NEXT[half.state][code]
        pstate = RECV_NEXT[peer.state][code | EXTRA_BIT if acks_peer_fin else code]
        half.state = state
        peer.state = pstate

        # tshark's initial RTT: the most recent SYN to the first segment with ACK and without SYN.
        if flags & SYN:
            if not flags & ACK:
                conn.mru_syn_ts = ts
        elif flags & ACK and conn.irtt_ns is None and conn.mru_syn_ts is not None:
            conn.irtt_ns = ts - conn.mru_syn_ts

        # What the segment means for the connection.
        if ctl == 0:
            if acks_peer_fin and not peer.fin_acked:
                peer.fin_acked = True
                role = "ack_fin_2" if half.fin_seq is not None else "ack_fin_1"
            else:
                role = "data" if n else "ack"
            if n and pfin is not None and half.fin_seq is None and not conn.half_closed:
                # Data after the peer's FIN: the peer closed only its sending side.
                conn.half_closed = True
                events.append(_tuple_new(Event, ("half_close", conn, fi, "orig" if is_orig else "resp")))
        elif flags & RST:
            role = self._on_rst(conn, half, is_orig, fi, events)
            if role == "refused_rst" and rows is not None:
                resp_before = _CLOSED
        elif flags & SYN:
            if not flags & ACK:
                if is_orig:
                    if conn.syn_ts is None:
                        conn.syn_ts = ts
                    role = role or "syn"
                else:
                    # The responder sends its own SYN: the two SYNs crossed.
                    conn.handshake = SIMULTANEOUS_OPEN
                    role = role or "syn_simultaneous"
            else:
                if conn.synack_ts is None:
                    conn.synack_ts = ts
                role = role or "synack"
        else:  # FIN
            if half.fin_seq is None:
                half.fin_seq = (seq + n) & _MASK
                if pfin is None:
                    role = "fin_1"
                    conn.closed_by = "orig" if is_orig else "resp"
                    conn.first_fin_ts = ts
                    events.append(_tuple_new(Event, ("closing", conn, fi, conn.closed_by)))
                else:
                    role = "fin_2"
                    if conn.teardown is None:
                        if not acks_peer_fin:
                            conn.teardown = SIMULTANEOUS
                        elif peer.fin_acked:
                            conn.teardown = FOUR_WAY
                        else:
                            conn.teardown = THREE_SEGMENT
            else:
                role = "fin_retx"
            if acks_peer_fin and not peer.fin_acked:
                peer.fin_acked = True

        # Handshake completion: both endpoints ESTABLISHED for the first time.
        if state is _ESTABLISHED and pstate is _ESTABLISHED:
            if conn.ack_ts is None and conn.syn_ts is not None:
                conn.ack_ts = ts
                if conn.handshake is None:
                    conn.handshake = THREE_WAY
                if role == "ack" or role == "data":
                    role = "hs_ack"
                events.append(_tuple_new(Event, ("handshake", conn, fi, conn.handshake)))
            if rows is None:
                z = half.zstate
                pz = peer.zstate
                half.fast = _ZEEK_ACK_STABLE[z * 7 + pz]
                peer.fast = _ZEEK_ACK_STABLE[pz * 7 + z]
        else:
            half.fast = peer.fast = 0
            # Both closed by FINs (a RST was handled above).
            if state in FINAL_STATES and pstate in FINAL_STATES and not conn.finished and (
                    half.fin_seq is not None or pfin is not None):
                if conn.teardown is None:
                    conn.teardown = INCOMPLETE
                events.append(_tuple_new(Event, ("closed", conn, fi, conn.teardown)))
                self._mark_finished(conn, events)

        if notes is not None:
            for name in notes:
                events.append(_tuple_new(Event, ("analysis", conn, fi, name)))

        if rows is not None:
            rel_ack = None
            if flags & ACK and peer.base is not None:
                rel_ack = (seg.ack - peer.base) & _MASK
            rows.append(Row(ts, is_orig, flags, seq, seg.ack, (seq - half.base) & _MASK, rel_ack, n, window,
                            fi, role or "other", orig_before, resp_before, conn._o.state, conn._r.state,
                            tuple(notes) if notes else (), seg.payload[:64] if seg.payload else b"",
                            seg.options))
        return events if events else EMPTY

    def _plain(self, half: _Half, seg: Segment):
        """The slow path of a segment without SYN, FIN or RST when no ladder rows are kept.

        The same rules as ``_process`` for such a segment, without its control branches.
        """
        conn = half.conn
        peer = half.peer
        n = seg.payload_len
        seq = seg.seq
        ts = seg.ts_ns
        flags = seg.flags
        half.pkts += 1
        half.bytes += n
        half.last_ts = ts
        notes = None
        if half.base is None:
            half.base = (seq - 1) & _MASK
        nxt = half.next_seq
        if nxt is None:
            half.next_seq = (seq + n) & _MASK
            half.adv_ts = ts
        elif n:
            if seq == nxt:
                half.next_seq = (seq + n) & _MASK
                half.adv_ts = ts
            else:
                notes = [self._seq_anomaly(half, peer, conn, seq, (seq + n) & _MASK, n, flags, ts)]
        elif seq != nxt:
            if ((nxt - seq) & _MASK) == 1:
                notes = [KEEP_ALIVE]
        elif flags & ACK and seg.ack == half.last_ack and seg.window == half.last_win:
            notes = [DUPLICATE_ACK]
        window = seg.window
        if window == 0:
            if notes is None:
                notes = [ZERO_WINDOW]
            else:
                notes.append(ZERO_WINDOW)
        if flags & ACK:
            ack = seg.ack
            last = half.last_ack
            if last < 0 or ((ack - last) & _MASK) < 0x80000000:
                half.last_ack = ack
            half.last_win = window
        seen = half.seen
        if n:
            if not seen & _SEEN_DATA:
                half.seen = seen | _SEEN_DATA
                conn.history += "D" if half.is_orig else "d"
        elif flags & ACK and not seen & _SEEN_ACK:
            half.seen = seen | _SEEN_ACK
            conn.history += "A" if half.is_orig else "a"
        if notes is not None:
            self._count_notes(half, conn, notes, n, half.is_orig)
        half.zstate, peer.zstate = _ZEEK_UPDATE[half.zstate * 7 + peer.zstate][flags & 0x17]

        pfin = peer.fin_seq
        acks_peer_fin = pfin is not None and flags & ACK and ((seg.ack - pfin - 1) & _MASK) < 0x80000000
        code = flags & 0x17
        state = SEND_NEXT[half.state][code]
        pstate = RECV_NEXT[peer.state][code | EXTRA_BIT if acks_peer_fin else code]
        half.state = state
        peer.state = pstate
        events = None
        if conn.irtt_ns is None and flags & ACK and conn.mru_syn_ts is not None:
            conn.irtt_ns = ts - conn.mru_syn_ts
        if acks_peer_fin and not peer.fin_acked:
            peer.fin_acked = True
        if n and pfin is not None and half.fin_seq is None and not conn.half_closed:
            conn.half_closed = True
            events = [_tuple_new(Event, ("half_close", conn, seg.frame_index, "orig" if half.is_orig else "resp"))]
        if state is _ESTABLISHED and pstate is _ESTABLISHED:
            if conn.ack_ts is None and conn.syn_ts is not None:
                conn.ack_ts = ts
                if conn.handshake is None:
                    conn.handshake = THREE_WAY
                ev = _tuple_new(Event, ("handshake", conn, seg.frame_index, conn.handshake))
                if events is None:
                    events = [ev]
                else:
                    events.append(ev)
            z = half.zstate
            pz = peer.zstate
            half.fast = _ZEEK_ACK_STABLE[z * 7 + pz]
            peer.fast = _ZEEK_ACK_STABLE[pz * 7 + z]
        else:
            half.fast = peer.fast = 0
            if state in FINAL_STATES and pstate in FINAL_STATES and not conn.finished and (
                    half.fin_seq is not None or pfin is not None):
                if events is None:
                    events = []
                if conn.teardown is None:
                    conn.teardown = INCOMPLETE
                events.append(_tuple_new(Event, ("closed", conn, seg.frame_index, conn.teardown)))
                self._mark_finished(conn, events)
        if notes is not None:
            if events is None:
                events = []
            for name in notes:
                events.append(_tuple_new(Event, ("analysis", conn, seg.frame_index, name)))
        if events is None:
            return EMPTY
        return self._quieten(events) if self.quiet else events

    def _fin_plain(self, half: _Half, seg: Segment):
        """``_process`` for a FIN without SYN or RST when no ladder rows are kept."""
        conn = half.conn
        peer = half.peer
        is_orig = half.is_orig
        flags = seg.flags
        ts = seg.ts_ns
        n = seg.payload_len
        seq = seg.seq
        half.pkts += 1
        half.bytes += n
        half.last_ts = ts
        notes = None
        if half.base is None:
            half.base = (seq - 1) & _MASK
        seg_end = (seq + n + 1) & _MASK
        nxt = half.next_seq
        if nxt is None or seq == nxt:
            half.next_seq = seg_end
            half.adv_ts = ts
        else:
            notes = [self._seq_anomaly(half, peer, conn, seq, seg_end, n, flags, ts)]
        if flags & ACK:
            ack = seg.ack
            last = half.last_ack
            if last < 0 or ((ack - last) & _MASK) < 0x80000000:
                half.last_ack = ack
            half.last_win = seg.window
        end = (seq - half.base + n) & _MASK
        seen = half.seen
        if not seen & _SEEN_FIN or end != half.last_fin:
            half.seen = seen | _SEEN_FIN
            conn.history += "F" if is_orig else "f"
        half.last_fin = end
        if notes is not None:
            self._count_notes(half, conn, notes, n, is_orig)
        half.zstate, peer.zstate = _ZEEK_UPDATE[half.zstate * 7 + peer.zstate][flags & 0x17]
        if flags & ACK and conn.irtt_ns is None and conn.mru_syn_ts is not None:
            conn.irtt_ns = ts - conn.mru_syn_ts

        pfin = peer.fin_seq
        acks_peer_fin = pfin is not None and flags & ACK and ((seg.ack - pfin - 1) & _MASK) < 0x80000000
        code = flags & 0x17
        if pfin is not None and not acks_peer_fin:
            state = SEND_NEXT[half.state][code | EXTRA_BIT]        # the FINs crossed
        else:
            state = SEND_NEXT[half.state][code]
        pstate = RECV_NEXT[peer.state][code | EXTRA_BIT if acks_peer_fin else code]
        half.state = state
        peer.state = pstate
        events = None
        if half.fin_seq is None:
            half.fin_seq = (seq + n) & _MASK
            if pfin is None:
                conn.closed_by = "orig" if is_orig else "resp"
                conn.first_fin_ts = ts
                events = [_tuple_new(Event, ("closing", conn, seg.frame_index, conn.closed_by))]
            elif conn.teardown is None:
                if not acks_peer_fin:
                    conn.teardown = SIMULTANEOUS
                elif peer.fin_acked:
                    conn.teardown = FOUR_WAY
                else:
                    conn.teardown = THREE_SEGMENT
        if acks_peer_fin and not peer.fin_acked:
            peer.fin_acked = True
        half.fast = peer.fast = False
        if state in FINAL_STATES and pstate in FINAL_STATES and not conn.finished:
            if events is None:
                events = []
            if conn.teardown is None:
                conn.teardown = INCOMPLETE
            events.append(_tuple_new(Event, ("closed", conn, seg.frame_index, conn.teardown)))
            self._mark_finished(conn, events)
        if notes is not None:
            if events is None:
                events = []
            for name in notes:
                events.append(_tuple_new(Event, ("analysis", conn, seg.frame_index, name)))
        if events is None:
            return EMPTY
        return self._quieten(events) if self.quiet else events

    def _syn_plain(self, half: _Half, seg: Segment):
        """``_process`` for a SYN or SYN+ACK (no FIN, no RST) on a known connection, no rows."""
        conn = half.conn
        peer = half.peer
        is_orig = half.is_orig
        flags = seg.flags
        ts = seg.ts_ns
        n = seg.payload_len
        seq = seg.seq
        half.pkts += 1
        half.bytes += n
        half.last_ts = ts
        notes = None
        if half.base is None:
            half.base = seq
        kind = 2 if flags & ACK else 1
        if half.isn is not None and seq == half.isn and half.syn_kinds & kind:
            notes = [RETRANSMISSION]
        else:
            half.isn = half.base = seq
        half.syn_kinds |= kind
        seg_end = (seq + 1 + n) & _MASK
        if half.next_seq is None or ((seg_end - half.next_seq) & _MASK) < 0x80000000:
            half.next_seq = seg_end
        if flags & ACK:
            ack = seg.ack
            last = half.last_ack
            if last < 0 or ((ack - last) & _MASK) < 0x80000000:
                half.last_ack = ack
            half.last_win = -1      # the ACK after a SYN+ACK is no duplicate
        rel = (seq - half.base) & _MASK
        seen = half.seen
        if not seen & _SEEN_SYN or rel != half.last_syn:
            half.seen = seen | _SEEN_SYN
            letter = "H" if flags & ACK else "S"
            conn.history += letter if is_orig else letter.lower()
        half.last_syn = rel
        if notes is not None:
            self._count_notes(half, conn, notes, n, is_orig)
        half.zstate, peer.zstate = _ZEEK_UPDATE[half.zstate * 7 + peer.zstate][flags & 0x17]

        pfin = peer.fin_seq
        acks_peer_fin = pfin is not None and flags & ACK and ((seg.ack - pfin - 1) & _MASK) < 0x80000000
        code = flags & 0x17
        state = SEND_NEXT[half.state][code]
        pstate = RECV_NEXT[peer.state][code | EXTRA_BIT if acks_peer_fin else code]
        half.state = state
        peer.state = pstate
        if flags & ACK:
            if conn.synack_ts is None:
                conn.synack_ts = ts
        else:
            conn.mru_syn_ts = ts
            if is_orig:
                if conn.syn_ts is None:
                    conn.syn_ts = ts
            else:
                conn.handshake = SIMULTANEOUS_OPEN   # the responder's own SYN: the SYNs crossed
        events = None
        if state is _ESTABLISHED and pstate is _ESTABLISHED:
            if conn.ack_ts is None and conn.syn_ts is not None:
                conn.ack_ts = ts
                if conn.handshake is None:
                    conn.handshake = THREE_WAY
                events = [_tuple_new(Event, ("handshake", conn, seg.frame_index, conn.handshake))]
            z = half.zstate
            pz = peer.zstate
            half.fast = _ZEEK_ACK_STABLE[z * 7 + pz]
            peer.fast = _ZEEK_ACK_STABLE[pz * 7 + z]
        else:
            half.fast = peer.fast = False
            if state in FINAL_STATES and pstate in FINAL_STATES and not conn.finished and (
                    half.fin_seq is not None or pfin is not None):
                events = []
                if conn.teardown is None:
                    conn.teardown = INCOMPLETE
                events.append(_tuple_new(Event, ("closed", conn, seg.frame_index, conn.teardown)))
                self._mark_finished(conn, events)
        if notes is not None:
            if events is None:
                events = []
            for name in notes:
                events.append(_tuple_new(Event, ("analysis", conn, seg.frame_index, name)))
        if events is None:
            return EMPTY
        return self._quieten(events) if self.quiet else events

    def _on_rst(self, conn: Connection, half: _Half, is_orig: bool, fi: int, events: list) -> str:
        who = "orig" if is_orig else "resp"
        role = "rst"
        if conn.syn_ts is not None and conn.ack_ts is None and not is_orig and half.isn is None:
            conn.teardown = REFUSED
            conn.handshake = REFUSED
            role = "refused_rst"
            events.append(_tuple_new(Event, ("refused", conn, fi, str(conn.resp))))
            if conn.rows:
                # Nothing was listening: the responder was CLOSED all along.
                conn.rows[:] = [r._replace(resp_before=_CLOSED, resp_after=_CLOSED) for r in conn.rows]
        elif not conn.finished:
            conn.teardown = RESET
            if conn.closed_by is None:
                conn.closed_by = who
            events.append(_tuple_new(Event, ("reset", conn, fi, who)))
        if not conn.finished:
            self._mark_finished(conn, events)
        return role

    def _seq_anomaly(self, half, peer, conn, seq, seg_end, n, flags, ts) -> str:
        """Classify a segment whose sequence number is not the next expected one."""
        nxt = half.next_seq
        if not _seq_ge(nxt, seq):
            half.next_seq = seg_end
            half.adv_ts = ts
            return LOST_SEGMENT
        if n <= 1 and not flags & FIN and ((nxt - seq) & _MASK) == 1:
            return KEEP_ALIVE
        if _seq_ge(seg_end, nxt) and seg_end != nxt:
            half.next_seq = seg_end      # partly old, partly new data
            half.adv_ts = ts
            return RETRANSMISSION
        if flags & ACK and peer.last_ack >= 0 and _seq_ge(peer.last_ack, seg_end) and peer.pkts:
            return SPURIOUS_RETRANSMISSION
        irtt = conn.irtt_ns
        # Wireshark: out of order only if it does not end exactly where the highest seen
        # segment ended (seq + len == nextseq is a plain retransmission of that segment).
        if (ts - half.adv_ts < (irtt if irtt else _OOO_DEFAULT_NS) and seg_end != nxt
                and not (flags & FIN and half.fin_seq is not None)):
            return OUT_OF_ORDER
        return RETRANSMISSION

    @staticmethod
    def _count_notes(half: _Half, conn: Connection, notes: list, n: int, is_orig: bool) -> None:
        letters = ""
        for name in notes:
            half.note(_NOTE_SLOT[name])
            if name in (RETRANSMISSION, SPURIOUS_RETRANSMISSION) and n:
                if zeek.scaled_letter_due(half.note(_T_COUNT)):
                    letters += "T"
            elif name == ZERO_WINDOW:
                if zeek.scaled_letter_due(half.note(_W_COUNT)):
                    letters += "W"
        if letters:
            conn.history += letters if is_orig else letters.lower()
