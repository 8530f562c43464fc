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

Each endpoint has an RFC 9293 state (``orig_state``/``resp_state``, see tcp_states) and
a Zeek state; ``history`` and ``conn_state`` are Zeek's. Findings per connection carry
Wireshark's expert-info names (``tcp.analysis.retransmission`` ...): see ``ANALYSES``.

Memory: a finished connection stays reachable by its ports for ``linger`` more finished
connections (late ACKs and retransmitted FINs still count to it), then becomes final.
At most ``max_open`` unfinished connections are tracked; beyond that the least recently
active eighth is flushed as final with ``evicted = True`` (an ``evicted`` event each).
Ladder rows (``Connection.rows``) are kept only with ``keep_segments=True``.

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
from typing import Iterable, Iterator, NamedTuple

from netinspect.core import zeek
from netinspect.core.records import ACK, FIN, RST, SYN, Endpoint, Segment
from netinspect.core.tcp_states import (
    FINAL_STATES, TRANSITIONS, TcpState, receiver_inputs, sender_inputs,
)

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


class _Half:
    """One direction: the endpoint that sends on this key, and its bookkeeping."""

    __slots__ = ("conn", "is_orig", "peer", "fast", "pkts", "bytes", "last_ts", "next_seq",
                 "last_ack", "last_win", "base", "isn", "fin_seq", "fin_acked", "state", "zstate",
                 "seen", "last_syn", "last_fin", "last_rst", "retx", "ooo", "zwin", "dupack",
                 "lost", "keepalive", "spurious", "adv_ts", "t_count", "w_count", "key")

    def __init__(self, conn, is_orig, key):
        self.conn = conn
        self.is_orig = is_orig
        self.key = key
        self.peer = None
        self.fast = 0          # bit 1: pure ACKs may take the fast path; bit 2: data may
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
        self.state = TcpState.CLOSED
        self.zstate = zeek.INACTIVE
        self.seen = 0
        self.last_syn = self.last_fin = self.last_rst = None
        self.retx = self.ooo = self.zwin = self.dupack = self.lost = self.keepalive = self.spurious = 0
        self.adv_ts = 0
        self.t_count = self.w_count = 0


class _Frozen:
    """What a final record keeps of one direction (the tracking state is dropped)."""

    __slots__ = ("pkts", "bytes", "state", "zstate", "retx", "ooo", "zwin", "dupack", "lost",
                 "keepalive", "spurious", "last_ts", "base", "isn")

    def __init__(self, half: _Half):
        for name in self.__slots__:
            setattr(self, name, getattr(half, name))


class Connection:
    """One TCP connection (tshark tcp.stream). Times are integer ns since the epoch."""

    __slots__ = ("index", "orig", "resp", "ts_first", "partial", "port_reuse", "handshake",
                 "syn_ts", "synack_ts", "ack_ts", "teardown", "closed_by", "time_wait",
                 "history", "half_closed", "evicted", "finished", "final", "rows", "_o", "_r",
                 "_conn_state", "first_fin_ts")

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
    def irtt_ns(self) -> int | None:
        """tshark's tcp.analysis.initial_rtt: first SYN to the ACK completing the handshake."""
        if self.syn_ts is None or self.ack_ts is None:
            return None
        return self.ack_ts - self.syn_ts

    @property
    def syn_synack_ns(self) -> int | None:
        """First SYN to first SYN+ACK: the round trip as the client saw it."""
        if self.syn_ts is None or self.synack_ts is None:
            return None
        return self.synack_ts - self.syn_ts

    def _sum(self, name: str) -> int:
        return getattr(self._o, name) + getattr(self._r, name)

    retransmissions = property(lambda self: self._sum("retx") + self._sum("spurious"))
    spurious_retransmissions = property(lambda self: self._sum("spurious"))
    out_of_order = property(lambda self: self._sum("ooo"))
    zero_windows = property(lambda self: self._sum("zwin"))
    duplicate_acks = property(lambda self: self._sum("dupack"))
    lost_segments = property(lambda self: self._sum("lost"))
    keep_alives = property(lambda self: self._sum("keepalive"))

    def analysis_counts(self) -> dict[str, int]:
        """Wireshark name -> count, only the non-zero ones."""
        counts = {
            RETRANSMISSION: self._sum("retx"),
            SPURIOUS_RETRANSMISSION: self._sum("spurious"),
            OUT_OF_ORDER: self._sum("ooo"),
            LOST_SEGMENT: self._sum("lost"),
            ZERO_WINDOW: self._sum("zwin"),
            KEEP_ALIVE: self._sum("keepalive"),
            DUPLICATE_ACK: self._sum("dupack"),
        }
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


class ConnectionTracker:
    def __init__(self, *, keep_segments: bool = False, max_open: int = 100_000, linger: int = 4096):
        if max_open < 1 or linger < 0:
            raise ValueError("max_open must be >= 1 and linger >= 0")
        self.keep_segments = keep_segments
        self.max_open = max_open
        self.linger = linger
        self._halves: dict = {}          # (src, dst) -> _Half of the sender
        self._open: dict = {}            # index -> Connection, not yet finished
        self._closed: deque = deque()    # finished, still reachable by their ports
        self._final: deque = deque()     # final, waiting for drain()
        self._next_index = 0
        self.evicted = 0
        self.segments = 0                # segments fed (slow and fast path)

    # -- public API --------------------------------------------------------------------
    def feed(self, seg: Segment):
        half = self._halves.get((seg.src, seg.dst))
        if half is not None:
            fast = half.fast
            if fast and not seg.flags & _CTRL and seg.window:
                n = seg.payload_len
                if n:
                    if fast & 2 and seg.seq == half.next_seq:
                        half.next_seq = (seg.seq + n) & _MASK
                        half.bytes += n
                        half.pkts += 1
                        half.last_ts = half.adv_ts = seg.ts_ns
                        half.last_ack = seg.ack
                        half.last_win = seg.window
                        return EMPTY
                elif fast & 1 and seg.seq == half.next_seq and (
                        seg.ack != half.last_ack or seg.window != half.last_win):
                    half.pkts += 1
                    half.last_ts = seg.ts_ns
                    half.last_ack = seg.ack
                    half.last_win = seg.window
                    return EMPTY
        return self._slow(seg, half)

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
        if flags & SYN and flags & ACK:
            orig, resp, sender_is_orig = seg.dst, seg.src, False
        else:
            orig, resp, sender_is_orig = seg.src, seg.dst, True
        conn = Connection(self._next_index, orig, resp, seg.ts_ns, self.keep_segments)
        self._next_index += 1
        conn.port_reuse = reuse
        o = _Half(conn, True, (orig, resp))
        r = _Half(conn, False, (resp, orig))
        o.peer, r.peer = r, o
        conn._o, conn._r = o, r
        if flags & SYN and not flags & ACK:
            o.state, r.state = TcpState.CLOSED, TcpState.LISTEN
            detail = "port reuse" if reuse else "syn"
        elif flags & SYN:
            # SYN+ACK seen first: the handshake began before the capture.
            o.state, r.state = TcpState.SYN_SENT, TcpState.LISTEN
            conn.partial = True
            conn.handshake = MID_STREAM
            detail = "mid-stream"
        else:
            o.state = r.state = TcpState.ESTABLISHED
            conn.partial = True
            conn.handshake = MID_STREAM
            detail = "mid-stream"
        self._halves[o.key] = o
        self._halves[r.key] = r
        self._open[conn.index] = conn
        events.append(Event("opened", conn, seg.frame_index, detail))
        if reuse:
            events.append(Event("port_reuse", conn, seg.frame_index, f"{orig} -> {resp}"))
        return o if sender_is_orig else r

    def _is_reuse(self, half: _Half, seg: Segment) -> bool:
        """A SYN (no ACK) on the ports of ``half.conn``: does it start a new connection?"""
        conn = half.conn
        if conn.finished:
            return True
        if conn.partial and conn.handshake == MID_STREAM:
            return True
        if half.is_orig:
            # Same originator, new initial sequence number (tshark's rule).
            return half.isn is not None and seg.seq != half.isn
        # The responder sends a SYN: simultaneous open while the originator waits,
        # otherwise a new connection in the other direction once a close began.
        return half.peer.fin_seq is not None or half.fin_seq is not None

    def _retire(self, conn: Connection, events: list) -> None:
        """Take a connection off its ports and make it final."""
        if conn.index in self._open:
            del self._open[conn.index]
        self._finalize(conn, events)

    def _unhook(self, conn: Connection) -> None:
        halves = self._halves
        for half in (conn._o, conn._r):
            if isinstance(half, _Half) and halves.get(half.key) is half:
                del halves[half.key]

    def _finalize(self, conn: Connection, events: list) -> None:
        if conn.final:
            return
        self._unhook(conn)
        o, r = conn._o, conn._r
        if conn.teardown is None:
            if conn.syn_ts is not None and r.pkts == 0:
                conn.teardown = UNANSWERED
            elif o.fin_seq is not None or r.fin_seq is not None:
                conn.teardown = INCOMPLETE
        if conn.handshake is None:
            if conn.syn_ts is not None and r.pkts == 0:
                conn.handshake = UNANSWERED
            else:
                conn.handshake = HANDSHAKE_INCOMPLETE
        if conn.teardown == UNANSWERED and conn.rows:
            # Nothing came back: what the responder's side did is unknown.
            conn.rows[:] = [r._replace(resp_before=None, resp_after=None) for r in conn.rows]
        tw = [side for side, h in (("orig", o), ("resp", r)) if h.state is TcpState.TIME_WAIT]
        conn.time_wait = "both" if len(tw) == 2 else (tw[0] if tw else None)
        conn._conn_state = conn.conn_state
        conn._o, conn._r = _Frozen(o), _Frozen(r)
        conn.final = True
        self._final.append(conn)
        events.append(Event("final", conn, -1, conn._conn_state))

    def _evict(self, events: list) -> None:
        victims = sorted(self._open.values(), key=lambda c: c.ts_last)[: max(1, self.max_open // 8)]
        for conn in victims:
            conn.evicted = True
            self.evicted += 1
            events.append(Event("evicted", conn, -1, "max_open reached"))
            self._retire(conn, events)

    def _mark_finished(self, conn: Connection, events: list) -> None:
        if conn.finished:
            return
        conn.finished = True
        self._open.pop(conn.index, None)
        self._closed.append(conn)
        while len(self._closed) > self.linger:
            old = self._closed.popleft()
            self._finalize(old, events)

    # -- the slow path: everything but established in-order data and ACKs -------------
    def _slow(self, seg: Segment, half: _Half | None):
        events: list[Event] = []
        flags = seg.flags
        if half is None:
            half = self._new(seg, events, False)
        elif flags & SYN and not flags & ACK and self._is_reuse(half, seg):
            self._retire(half.conn, events)
            half = self._new(seg, events, True)
        self._process(half, seg, flags, events)
        return events

    def _process(self, half: _Half, seg: Segment, flags: int, events: list) -> None:
        conn = half.conn
        peer = half.peer
        is_orig = half.is_orig
        ts = seg.ts_ns
        n = seg.payload_len
        seq = seg.seq
        ack = seg.ack
        fi = seg.frame_index
        half.pkts += 1
        half.bytes += n
        half.last_ts = ts
        keep = conn.rows is not None
        if keep:
            orig_before, resp_before = conn._o.state, conn._r.state
        notes: list[str] = []

        # Sequence bookkeeping and Wireshark analyses.
        if half.base is None:
            half.base = seq if flags & SYN else (seq - 1) & _MASK
        seg_end = (seq + n + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)) & _MASK
        role = ""
        if flags & RST:
            pass
        elif flags & SYN:
            if half.isn is not None and seq == half.isn:
                role = "syn_retx" if not flags & ACK else "synack_retx"
                half.retx += 1
                notes.append(RETRANSMISSION)
            else:
                half.isn = seq
                half.base = seq
            if half.next_seq is None or _seq_ge(seg_end, half.next_seq):
                half.next_seq = seg_end
        elif half.next_seq is None:
            half.next_seq = seg_end
            half.adv_ts = ts
        else:
            nxt = half.next_seq
            if seg_end != seq:  # carries sequence space: data and/or FIN
                if seq == nxt:
                    half.next_seq = seg_end
                    half.adv_ts = ts
                elif not _seq_ge(nxt, seq):
                    half.lost += 1
                    notes.append(LOST_SEGMENT)
                    half.next_seq = seg_end
                    half.adv_ts = ts
                elif n <= 1 and not flags & FIN and ((nxt - seq) & _MASK) == 1:
                    half.keepalive += 1
                    notes.append(KEEP_ALIVE)
                elif peer.last_ack >= 0 and flags & ACK and _seq_ge(peer.last_ack, seg_end) and (
                        peer.seen & zeek.SEEN_ACK or peer.seen & zeek.SEEN_DATA or peer.fin_seq is not None):
                    half.spurious += 1
                    notes.append(SPURIOUS_RETRANSMISSION)
                else:
                    irtt = conn.irtt_ns
                    window = irtt if irtt else _OOO_DEFAULT_NS
                    if _seq_ge(seg_end, nxt) and seg_end != nxt:
                        half.next_seq = seg_end  # partial overlap: new data after old
                        half.adv_ts = ts
                        half.retx += 1
                        notes.append(RETRANSMISSION)
                    elif ts - half.adv_ts < window and not (flags & FIN and half.fin_seq is not None):
                        half.ooo += 1
                        notes.append(OUT_OF_ORDER)
                    else:
                        half.retx += 1
                        notes.append(RETRANSMISSION)
            elif ((nxt - seq) & _MASK) == 1:
                half.keepalive += 1
                notes.append(KEEP_ALIVE)
            elif flags & ACK and ack == half.last_ack and seg.window == half.last_win and half.pkts > 1:
                half.dupack += 1
                notes.append(DUPLICATE_ACK)
        if seg.window == 0 and not flags & _CTRL:
            half.zwin += 1
            notes.append(ZERO_WINDOW)
        if flags & ACK:
            if half.last_ack < 0 or _seq_ge(ack, half.last_ack):
                half.last_ack = ack
            half.last_win = seg.window

        # Zeek history and endpoint states.
        rel_seq = (seq - half.base) & _MASK
        letters, half.seen, half.last_syn, half.last_fin, half.last_rst = zeek.history_letters(
            flags, n, rel_seq, half.seen, half.last_syn, half.last_fin, half.last_rst)
        if RETRANSMISSION in notes or SPURIOUS_RETRANSMISSION in notes:
            if n:
                half.t_count += 1
                if zeek.scaled_letter_due(half.t_count):
                    letters += "T"
        if ZERO_WINDOW in notes:
            half.w_count += 1
            if zeek.scaled_letter_due(half.w_count):
                letters += "W"
        if letters:
            conn.history += letters if is_orig else letters.lower()
        half.zstate, peer.zstate = zeek.update_states(half.zstate, peer.zstate, flags)

        # RFC 9293 states of both endpoints.
        acks_peer_fin = bool(flags & ACK) and peer.fin_seq is not None and _seq_ge(ack, (peer.fin_seq + 1) & _MASK)
        fin_crossing = bool(flags & FIN) and peer.fin_seq is not None and not acks_peer_fin
        state = half.state
        for inp in sender_inputs(flags, fin_crossing):
            state = TRANSITIONS[state][inp]
        pstate = peer.state
        for inp in receiver_inputs(flags, acks_peer_fin):
            pstate = TRANSITIONS[pstate][inp]
        half.state, peer.state = state, pstate

        # What the segment means for the connection.
        established_before = conn.ack_ts is not None
        if flags & RST:
            role = "rst"
            if conn.syn_ts is not None and not established_before and not is_orig and half.isn is None:
                conn.teardown = REFUSED
                conn.handshake = REFUSED
                role = "refused_rst"
                events.append(Event("refused", conn, fi, str(conn.resp)))
                if keep:
                    # Nothing was listening: the responder was CLOSED all along.
                    conn.rows[:] = [r._replace(resp_before=TcpState.CLOSED, resp_after=TcpState.CLOSED)
                                    for r in conn.rows]
                    resp_before = TcpState.CLOSED
            elif conn.teardown is None or conn.teardown == INCOMPLETE:
                conn.teardown = RESET
                if conn.closed_by is None:
                    conn.closed_by = "orig" if is_orig else "resp"
                events.append(Event("reset", conn, fi, "orig" if is_orig else "resp"))
            elif not conn.finished:
                conn.teardown = RESET
                events.append(Event("reset", conn, fi, "orig" if is_orig else "resp"))
            self._mark_finished(conn, events)
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
        else:
            if flags & FIN:
                if half.fin_seq is None:
                    half.fin_seq = (seq + n) & _MASK
                    if peer.fin_seq is None:
                        role = "fin_1"
                        conn.closed_by = "orig" if is_orig else "resp"
                        conn.first_fin_ts = ts
                        events.append(Event("closing", conn, fi, conn.closed_by))
                    else:
                        role = "fin_2"
                        if conn.teardown is None or conn.teardown == INCOMPLETE:
                            if fin_crossing:
                                conn.teardown = SIMULTANEOUS
                            elif peer.fin_acked:
                                conn.teardown = FOUR_WAY
                            else:
                                conn.teardown = THREE_SEGMENT
                else:
                    role = "fin_retx"
            if acks_peer_fin and not peer.fin_acked:
                peer.fin_acked = True
                if not role:
                    role = "ack_fin_2" if half.fin_seq is not None else "ack_fin_1"
            if n and peer.fin_seq is not None and half.fin_seq is None and not conn.half_closed:
                conn.half_closed = True
                events.append(Event("half_close", conn, fi, "orig" if is_orig else "resp"))
            if not role:
                role = "data" if n else "ack"

        # Handshake completion: both endpoints ESTABLISHED for the first time.
        if (not established_before and state is TcpState.ESTABLISHED and pstate is TcpState.ESTABLISHED
                and conn.syn_ts is not None):
            conn.ack_ts = ts
            if conn.handshake is None:
                conn.handshake = THREE_WAY
            if role in ("ack", "data"):
                role = "hs_ack"
            events.append(Event("handshake", conn, fi, conn.handshake))

        # Both closed by FINs (RST was handled above).
        if not conn.finished and state in FINAL_STATES and pstate in FINAL_STATES and (
                half.fin_seq is not None or peer.fin_seq is not None):
            if conn.teardown is None:
                conn.teardown = INCOMPLETE
            events.append(Event("closed", conn, fi, conn.teardown))
            self._mark_finished(conn, events)

        for name in notes:
            events.append(Event("analysis", conn, fi, name))

        if keep:
            rel_ack = None
            if flags & ACK and peer.base is not None:
                rel_ack = (ack - peer.base) & _MASK
            conn.rows.append(Row(ts, is_orig, flags, seq, ack, rel_seq, rel_ack, n, seg.window, fi,
                                 role or "other", orig_before, resp_before, conn._o.state, conn._r.state,
                                 tuple(notes), seg.payload[:64] if seg.payload else b"", seg.options))

        # May the next segments of this connection take the fast path?
        if (conn.rows is None and state is TcpState.ESTABLISHED and pstate is TcpState.ESTABLISHED
                and half.fin_seq is None and peer.fin_seq is None and not conn.finished):
            for h in (half, peer):
                h.fast = (1 if h.seen & zeek.SEEN_ACK else 0) | (2 if h.seen & zeek.SEEN_DATA else 0)
                if h.next_seq is None:
                    h.fast = 0
        else:
            half.fast = peer.fast = 0
