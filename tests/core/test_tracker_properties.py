"""Random segment streams: the tracker never fails, its modes agree, and it counts every segment."""

from hypothesis import HealthCheck, given, settings, strategies as st

from netinspect.core.records import ACK, FIN, PSH, RST, SYN, Endpoint, Segment
from netinspect.core.tcp_states import TcpState
from netinspect.core.zeek import CONN_STATES
from tests.core.test_tracker_scenarios import track

HOSTS = [Endpoint("10.77.0.1", 40000), Endpoint("10.77.0.2", 80), Endpoint("fd77::3", 40000)]
FLAG_CHOICES = [SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK, RST, RST | ACK, FIN, SYN | FIN, FIN | RST, 0]


@st.composite
def streams(draw):
    n = draw(st.integers(1, 40))
    segs = []
    ts = 1_000_000_000
    for i in range(n):
        a, b = draw(st.sampled_from([(0, 1), (1, 0), (0, 2), (2, 0)]))
        ts += draw(st.integers(0, 5_000_000))
        seq = draw(st.sampled_from([0, 1, 2, 100, 101, 0xFFFFFFFF, 0x7FFFFFFF]))
        ack = draw(st.sampled_from([0, 1, 2, 101, 102, 0xFFFFFFFF]))
        segs.append(Segment(ts, HOSTS[a], HOSTS[b], seq, ack, draw(st.sampled_from(FLAG_CHOICES)),
                            draw(st.sampled_from([0, 1, 65535])), draw(st.sampled_from([0, 1, 5, 1460])), i,
                            payload=b"x" * 5))
    return segs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_random_streams(segs):
    events, conns = track(segs)
    assert sum(c.orig_pkts + c.resp_pkts for c in conns) == len(segs)
    assert [c.index for c in conns] == list(range(len(conns)))
    for c in conns:
        assert c.final
        assert c.conn_state in CONN_STATES
        assert isinstance(c.orig_state, TcpState) and isinstance(c.resp_state, TcpState)
        assert c.duration_ns >= 0
    assert sum(1 for e in events if e[0] == "final") == len(conns)


@settings(max_examples=100, deadline=None)
@given(streams(), st.integers(1, 3), st.integers(0, 2))
def test_caps_never_lose_segments(segs, max_open, linger):
    events, conns = track(segs, max_open=max_open, linger=linger)
    assert sum(c.orig_pkts + c.resp_pkts for c in conns) == len(segs)
