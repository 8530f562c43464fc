"""Tracker scenarios from synthetic segment lists: every way a TCP connection opens and ends.

Each scenario is checked three ways, which must agree: fed whole (feed_all), fed segment
by segment, and with ladder rows kept (which disables the fast path, so the fast path is
checked against the full rules).
"""

import pytest

from netinspect.core.tcp_states import TcpState as S
from netinspect.core.tracker import ConnectionTracker
from tests.core.scenarios import ACK, FIN, PSH, RST, SYN, Talk


def project_events(events):
    return [(e.kind, e.conn.index, e.frame_index, e.detail) for e in events]


def project(conn):
    return dict(
        index=conn.index, orig=str(conn.orig), resp=str(conn.resp), handshake=conn.handshake,
        teardown=conn.teardown, closed_by=conn.closed_by, time_wait=conn.time_wait,
        history=conn.history, conn_state=conn.conn_state, orig_state=conn.orig_state,
        resp_state=conn.resp_state, orig_pkts=conn.orig_pkts, resp_pkts=conn.resp_pkts,
        orig_bytes=conn.orig_bytes, resp_bytes=conn.resp_bytes, irtt_ns=conn.irtt_ns,
        handshake_ns=conn.handshake_ns, partial=conn.partial, port_reuse=conn.port_reuse, half_closed=conn.half_closed,
        analyses=conn.analysis_counts(), retransmissions=conn.retransmissions,
        ts_first=conn.ts_first, ts_last=conn.ts_last)


def track(segments, **kw):
    """Feed three ways, check they agree, return (events, [records])."""
    results = []
    for mode in ("whole", "one by one", "rows"):
        tracker = ConnectionTracker(keep_segments=(mode == "rows"), **kw)
        if mode == "whole":
            events = tracker.feed_all(segments)
        else:
            events = []
            for seg in segments:
                got = tracker.feed(seg)
                assert isinstance(got, (list, tuple))
                events.extend(got)
        events += tracker.finish()
        conns = sorted(tracker.drain(), key=lambda c: c.index)
        results.append((project_events(events), [project(c) for c in conns], conns))
    assert results[0][:2] == results[1][:2], "whole and segment by segment differ"
    assert results[0][:2] == results[2][:2], "fast path and full rules differ"
    quiet = ConnectionTracker(quiet=True, **kw)
    quiet_events = project_events(quiet.feed_all(segments) + quiet.finish())
    assert quiet_events == [e for e in results[0][0] if e[0] in ("final", "evicted")]
    assert [project(c) for c in sorted(quiet.drain(), key=lambda c: c.index)] == results[0][1]
    events, _, conns = results[2]
    for conn in conns:
        assert len(conn.rows) == conn.orig_pkts + conn.resp_pkts
    return events, conns


def kinds(events):
    return [k for k, *_ in events]


def close_three_segment(t):
    t.client(FIN | ACK)
    t.server(FIN | ACK)
    t.client(ACK)


def test_three_way_handshake_and_three_segment_close():
    t = Talk().handshake().exchange()
    close_three_segment(t)
    events, (c,) = track(t.segments)
    assert kinds(events) == ["opened", "handshake", "closing", "closed", "final"]
    assert c.handshake == "three-way" and c.teardown == "three-segment"
    assert c.closed_by == "orig" and c.time_wait == "orig"
    assert (c.orig_state, c.resp_state) == (S.TIME_WAIT, S.CLOSED)
    assert c.history == "ShADdFf" and c.conn_state == "SF"
    assert (c.orig_pkts, c.resp_pkts, c.orig_bytes, c.resp_bytes) == (6, 3, 5, 5)
    assert c.irtt_ns == 2 * t.step and c.syn_synack_ns == t.step
    assert not c.partial and c.retransmissions == 0
    roles = [r.role for r in c.rows]
    assert roles == ["syn", "synack", "hs_ack", "data", "data", "ack", "fin_1", "fin_2", "ack_fin_2"]
    states = [(r.orig_after, r.resp_after) for r in c.rows]
    assert states[:3] == [(S.SYN_SENT, S.SYN_RECEIVED), (S.ESTABLISHED, S.SYN_RECEIVED),
                          (S.ESTABLISHED, S.ESTABLISHED)]
    assert states[-3:] == [(S.FIN_WAIT_1, S.CLOSE_WAIT), (S.TIME_WAIT, S.LAST_ACK), (S.TIME_WAIT, S.CLOSED)]


def test_four_segment_teardown_server_closes_first():
    t = Talk().handshake().exchange()
    t.server(FIN | ACK)
    t.client(ACK)
    t.client(FIN | ACK)
    t.server(ACK)
    events, (c,) = track(t.segments)
    assert c.teardown == "four-way" and c.closed_by == "resp" and c.time_wait == "resp"
    assert (c.orig_state, c.resp_state) == (S.CLOSED, S.TIME_WAIT)
    assert c.history == "ShADdfFa" and c.conn_state == "SF"
    assert [r.resp_after for r in c.rows[-4:]] == [S.FIN_WAIT_1, S.FIN_WAIT_2, S.TIME_WAIT, S.TIME_WAIT]
    assert [r.orig_after for r in c.rows[-4:]] == [S.CLOSE_WAIT, S.CLOSE_WAIT, S.LAST_ACK, S.CLOSED]
    assert [r.role for r in c.rows[-4:]] == ["fin_1", "ack_fin_1", "fin_2", "ack_fin_2"]


def test_simultaneous_open():
    t = Talk()
    t.client(SYN)
    t.server(SYN)                                  # crossed the client's SYN
    t.client(SYN | ACK, seq=t.next[t.c] - 1)       # SYN+ACK repeats each side's ISN
    t.server(SYN | ACK, seq=t.next[t.s] - 1)
    t.client(ACK)
    t.client(PSH | ACK, b"hi")
    t.server(ACK)
    events, (c,) = track(t.segments)
    assert c.handshake == "simultaneous"
    assert "handshake" in kinds(events) and c.analysis_counts() == {}
    assert (c.orig_state, c.resp_state) == (S.ESTABLISHED, S.ESTABLISHED)
    assert c.retransmissions == 0
    assert [r.orig_after for r in c.rows[:4]] == [S.SYN_SENT, S.SYN_RECEIVED, S.SYN_RECEIVED, S.ESTABLISHED]
    assert [r.resp_after for r in c.rows[:4]] == [S.SYN_RECEIVED, S.SYN_RECEIVED, S.ESTABLISHED, S.ESTABLISHED]
    # Zeek's rule: a SYN+ACK with the sequence number of the side's SYN adds no letter.
    assert c.history == "SsADa" and c.conn_state == "S1"


def test_syn_retransmission():
    t = Talk(step_ns=1_000_000)
    t.client(SYN)
    t.client(SYN, seq=t.next[t.c] - 1, dt=1_000_000_000)   # resent after 1 s, same ISN
    t.server(SYN | ACK)
    t.client(ACK)
    events, (c,) = track(t.segments)
    assert c.handshake == "three-way" and c.retransmissions == 1
    assert c.analysis_counts() == {"tcp.analysis.retransmission": 1}
    assert c.history == "ShA"
    # tshark's initial RTT counts from the most recent SYN; the handshake from the first.
    assert c.irtt_ns == t.segments[3].ts_ns - t.segments[1].ts_ns
    assert c.handshake_ns == t.segments[3].ts_ns - t.segments[0].ts_ns
    assert c.rows[1].role == "syn_retx"
    assert ("analysis", 0, 1, "tcp.analysis.retransmission") in events


def test_refused():
    t = Talk()
    t.client(SYN)
    t.server(RST | ACK)
    events, (c,) = track(t.segments)
    assert kinds(events) == ["opened", "refused", "final"]
    assert c.handshake == "refused" and c.teardown == "refused"
    assert c.closed_by is None and c.time_wait is None
    assert c.history == "Sr" and c.conn_state == "REJ"
    assert c.irtt_ns == t.step and c.handshake_ns is None   # tshark times the RST as the "ACK"
    # Nothing listened: the responder is drawn CLOSED throughout.
    assert all(r.resp_after is S.CLOSED and r.resp_before is S.CLOSED for r in c.rows)


def test_unanswered_syn():
    t = Talk(step_ns=1_000_000_000)
    t.client(SYN)
    for _ in range(2):
        t.client(SYN, seq=t.next[t.c] - 1)
    events, (c,) = track(t.segments)
    assert kinds(events)[-1] == "final" and "handshake" not in kinds(events)
    assert c.handshake == "unanswered" and c.teardown == "unanswered"
    assert c.history == "S" and c.conn_state == "S0"
    assert c.retransmissions == 2 and c.resp_pkts == 0
    assert all(r.resp_after is None for r in c.rows)


def test_simultaneous_close():
    t = Talk().handshake().exchange()
    cfin_ack = t.rcv[t.c]
    t.client(FIN | ACK)
    t.server(FIN | ACK, ack=t.rcv[t.s] - 1)   # sent before the client's FIN arrived
    t.client(ACK)
    t.server(ACK)
    assert cfin_ack
    events, (c,) = track(t.segments)
    assert c.teardown == "simultaneous" and c.time_wait == "both"
    assert (c.orig_state, c.resp_state) == (S.TIME_WAIT, S.TIME_WAIT)
    assert [r.orig_after for r in c.rows[-4:]] == [S.FIN_WAIT_1, S.CLOSING, S.CLOSING, S.TIME_WAIT]
    assert [r.resp_after for r in c.rows[-4:]] == [S.CLOSE_WAIT, S.CLOSING, S.TIME_WAIT, S.TIME_WAIT]
    assert c.conn_state == "SF"


def test_half_close():
    t = Talk().handshake()
    t.client(PSH | ACK, b"request")
    t.client(FIN | ACK)               # shutdown(SHUT_WR): the client will send no more
    t.server(ACK)
    t.server(PSH | ACK, b"still talking")
    t.client(ACK)
    t.server(FIN | ACK)
    t.client(ACK)
    events, (c,) = track(t.segments)
    assert c.half_closed and "half_close" in kinds(events)
    assert c.teardown == "four-way" and c.closed_by == "orig" and c.time_wait == "orig"
    assert c.resp_bytes == 13
    assert c.rows[5].orig_after is S.FIN_WAIT_2 and c.rows[5].resp_after is S.CLOSE_WAIT


def test_half_close_with_the_ack_of_the_fin_on_data():
    # What Linux sends when the server writes right after reading EOF: data acknowledges the FIN.
    t = Talk().handshake()
    t.client(PSH | ACK, b"hello")
    t.server(ACK)
    t.client(FIN | ACK)
    t.server(PSH | ACK, b"HELLO")
    t.client(ACK)
    t.server(FIN | ACK)
    t.client(ACK)
    events, (c,) = track(t.segments)
    assert c.half_closed and ("half_close", 0, 6, "resp") in events
    assert c.teardown == "four-way" and c.history == "ShADaFdf"
    assert c.rows[6].role == "ack_fin_1" and c.rows[6].orig_after is S.FIN_WAIT_2


@pytest.mark.parametrize("who", ["client", "server"])
def test_rst_abort(who):
    t = Talk().handshake().exchange()
    getattr(t, who)(RST | ACK)
    events, (c,) = track(t.segments)
    side = "orig" if who == "client" else "resp"
    assert ("reset", 0, 6, side) in events
    assert c.teardown == "reset" and c.closed_by == side and c.time_wait is None
    assert c.conn_state == ("RSTO" if side == "orig" else "RSTR")
    assert c.history.endswith("R" if side == "orig" else "r")
    assert (c.orig_state, c.resp_state) == (S.CLOSED, S.CLOSED)


def test_rst_after_fin_keeps_first_closer():
    t = Talk().handshake().exchange()
    t.server(FIN | ACK)
    t.client(RST | ACK)
    _, (c,) = track(t.segments)
    assert c.teardown == "reset" and c.closed_by == "resp"


def test_connection_running_before_capture():
    t = Talk(cisn=123456, sisn=999)
    t.client(PSH | ACK, b"GET")
    t.server(ACK)
    t.server(PSH | ACK, b"200 OK")
    t.client(ACK)
    events, (c,) = track(t.segments)
    assert c.partial and c.started_before_capture and c.handshake == "mid-stream"
    assert ("opened", 0, 0, "mid-stream") in events and "handshake" not in kinds(events)
    assert c.irtt_ns is None and c.conn_state == "OTH" and c.history == "DadA"
    assert c.rows[0].rel_seq == 1          # as Wireshark: the first byte seen is relative 1
    assert (c.orig_state, c.resp_state) == (S.ESTABLISHED, S.ESTABLISHED)


def test_syn_ack_seen_first_makes_its_sender_the_responder():
    t = Talk()
    t.next[t.c] += 1
    t.rcv[t.s] = t.next[t.c]
    t.server(SYN | ACK)
    t.client(ACK)
    _, (c,) = track(t.segments)
    assert c.orig == t.c and c.resp == t.s and c.partial


def test_port_reuse_starts_a_new_connection():
    first = Talk().handshake().exchange()
    close_three_segment(first)
    second = Talk(cisn=777_000, sisn=888_000, t0_ns=first.t + 5_000_000, frame0=first.frame).handshake()
    second.client(RST | ACK)
    events, conns = track(first.segments + second.segments)
    assert [c.index for c in conns] == [0, 1]
    assert not conns[0].port_reuse and conns[1].port_reuse
    assert ("port_reuse", 1, first.frame, f"{first.c} -> {first.s}") in events
    assert conns[0].teardown == "three-segment" and conns[1].teardown == "reset"
    assert conns[0].orig_pkts + conns[0].resp_pkts == len(first.segments)


def test_new_isn_from_the_same_client_is_a_new_connection_even_without_a_close():
    first = Talk()
    first.client(SYN)          # unanswered
    second = Talk(cisn=50_000, t0_ns=first.t + 3_000_000_000, frame0=1).handshake()
    _, conns = track(first.segments + second.segments)
    assert [c.handshake for c in conns] == ["unanswered", "three-way"]


def test_late_ack_after_close_counts_to_the_finished_connection():
    t = Talk().handshake().exchange()
    close_three_segment(t)
    t.client(ACK, seq=t.next[t.c], ack=t.rcv[t.c])     # duplicate of the last ACK, in TIME_WAIT
    _, conns = track(t.segments)
    assert len(conns) == 1 and conns[0].orig_pkts == 7


def test_two_interleaved_connections_keep_their_own_state():
    a = Talk(client=("10.77.0.1", 40001))
    b = Talk(client=("10.77.0.1", 40002), cisn=9, sisn=90)
    for talk in (a, b):
        talk.handshake().exchange()
    close_three_segment(a)
    b.client(RST | ACK)
    merged = sorted(a.segments + b.segments, key=lambda s: s.ts_ns)
    _, conns = track(merged)
    assert [c.teardown for c in conns] == ["three-segment", "reset"]
    assert [c.orig.port for c in conns] == [40001, 40002]


def test_retransmission_out_of_order_and_lost_segment():
    t = Talk(step_ns=10_000_000).handshake()
    t.client(PSH | ACK, b"aaaa")                                   # seq 1
    seq_b = t.next[t.c]
    t.next[t.c] += 4                                                # "bbbb" missing for now
    t.client(PSH | ACK, b"cccc", dt=10_000)                         # gap: previous segment not captured
    t.client(PSH | ACK, b"bbbb", seq=seq_b, dt=10_000)              # fills the gap quickly: out of order
    t.client(PSH | ACK, b"cccc", seq=seq_b + 4, dt=500_000_000)     # much later: retransmission
    _, (c,) = track(t.segments)
    counts = c.analysis_counts()
    assert counts == {"tcp.analysis.lost_segment": 1, "tcp.analysis.out_of_order": 1,
                      "tcp.analysis.retransmission": 1}
    assert "T" in c.history
    assert [r.notes for r in c.rows[4:]] == [("tcp.analysis.lost_segment",), ("tcp.analysis.out_of_order",),
                                            ("tcp.analysis.retransmission",)]


def test_spurious_retransmission_zero_window_dup_ack_keep_alive():
    t = Talk().handshake()
    t.client(PSH | ACK, b"data")
    t.server(ACK, window=0)                                 # zero window
    t.server(ACK, window=0)                                 # again (a duplicate ACK too? no: window update rule)
    t.server(ACK, window=5000)                              # window opens
    t.server(ACK, window=5000)                              # duplicate ACK
    t.client(PSH | ACK, b"data", seq=t.next[t.c] - 4)       # already acknowledged: spurious
    t.client(ACK, seq=t.next[t.c] - 1)                      # keep-alive probe
    _, (c,) = track(t.segments)
    counts = c.analysis_counts()
    assert counts["tcp.analysis.zero_window"] == 2
    assert counts["tcp.analysis.duplicate_ack"] == 2
    assert counts["tcp.analysis.spurious_retransmission"] == 1
    assert counts["tcp.analysis.keep_alive"] == 1
    assert "w" in c.history and "T" in c.history
    assert c.retransmissions == 1 and c.zero_windows == 2


def test_eviction_cap_flushes_oldest_idle_and_flags_it():
    segs = []
    for i in range(20):
        t = Talk(client=("10.77.0.1", 41000 + i), t0_ns=1_000_000 * i, frame0=i)
        t.client(SYN)
        segs += t.segments
    tracker = ConnectionTracker(max_open=8)
    events = tracker.feed_all(segs)
    assert tracker.open_count <= 8
    evicted = [e.conn.index for e in events if e.kind == "evicted"]
    assert evicted and evicted == sorted(evicted) and evicted[0] == 0
    tracker.finish()
    conns = sorted(tracker.drain(), key=lambda c: c.index)
    assert [c.index for c in conns] == list(range(20))
    assert sum(c.evicted for c in conns) == tracker.evicted == len(evicted)
    assert all(c.evicted for c in conns if c.index in evicted)


def test_finished_connections_are_flushed_after_linger():
    tracker = ConnectionTracker(linger=2)
    finals = []
    for i in range(10):
        t = Talk(client=("10.77.0.1", 42000 + i), t0_ns=10_000_000 * i, frame0=100 * i).handshake()
        close_three_segment(t)
        finals += [e for e in tracker.feed_all(t.segments) if e.kind == "final"]
        assert len(tracker._halves) <= 2 * 3
    assert len(finals) == 8
    assert len(list(tracker.drain())) == 8
    tracker.finish()
    assert len(list(tracker.drain())) == 2


def test_uninteresting_segments_return_the_shared_empty_tuple():
    t = Talk().handshake()
    for _ in range(5):
        t.client(PSH | ACK, b"x" * 100)
        t.server(ACK)
    tracker = ConnectionTracker()
    results = [tracker.feed(s) for s in t.segments]
    assert all(r == () for r in results[5:])
    assert all(r is results[-1] for r in results[5:])


def test_connections_and_lookup():
    t = Talk().handshake()
    tracker = ConnectionTracker()
    tracker.feed_all(t.segments)
    assert tracker.lookup(t.s, t.c) is tracker.lookup(t.c, t.s) is tracker.connections()[0]
    assert tracker.lookup(t.c, t.c) is None
    with pytest.raises(ValueError):
        ConnectionTracker(max_open=0)
