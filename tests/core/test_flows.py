"""UDP flow aggregation and the ICMP table (core/flows.py), on hand-made records."""

from netinspect.core.flows import IcmpTable, UdpFlows, icmp_name
from netinspect.core.records import Datagram, Endpoint, IcmpMessage

A = Endpoint("10.0.0.1", 40000)
B = Endpoint("10.0.0.2", 53)
S = 1_000_000_000


def test_first_sender_is_the_originator_and_counts_go_each_way():
    flows = UdpFlows()
    flows.feed(Datagram(1 * S, A, B, 30))
    flows.feed(Datagram(2 * S, B, A, 90))
    flows.feed(Datagram(3 * S, A, B, 10))
    (rec,) = flows.finish()
    assert (rec.orig, rec.resp) == (A, B)
    assert (rec.orig_pkts, rec.resp_pkts, rec.orig_bytes, rec.resp_bytes) == (2, 1, 40, 90)
    assert rec.duration_ns == 2 * S and rec.conn_state == "SF" and rec.history == "Dd" and rec.proto == "udp"


def test_one_way_flow_is_s0_and_idle_gap_starts_a_new_flow():
    flows = UdpFlows(idle_ns=60 * S)
    assert flows.feed(Datagram(0, A, B, 5)) is False
    # After the idle timeout: a new flow, B originates; the old one waits for drain().
    assert flows.feed(Datagram(61 * S, B, A, 5)) is True
    done = sorted(list(flows.drain()) + flows.finish(), key=lambda r: r.index)
    assert [(r.index, r.orig, r.conn_state) for r in done] == [(0, A, "S0"), (1, B, "S0")]


def test_active_flows_are_capped():
    flows = UdpFlows(max_flows=64)
    for i in range(1000):
        flows.feed(Datagram(i, Endpoint("10.0.0.1", 1024 + i), B, 1))
        assert len(flows._flows) <= 2 * 64
    done = list(flows.drain()) + flows.finish()
    assert len(done) == 1000 and flows.evicted > 0
    assert sorted(r.index for r in done) == list(range(1000))


def test_icmp_groups_and_names():
    table = IcmpTable(max_groups=2)
    for i in range(3):
        table.feed(IcmpMessage(i, "10.0.0.2", "10.0.0.1", 4, 3, 3))
    table.feed(IcmpMessage(5, "fd77::2", "fd77::1", 6, 1, 4))
    table.feed(IcmpMessage(6, "10.0.0.9", "10.0.0.1", 4, 11, 0))   # past the cap: counted only
    rows = table.rows()
    assert [(g.count, g.name) for g in rows] == [(3, "destination unreachable (port unreachable)"),
                                                 (1, "destination unreachable (port unreachable)")]
    assert table.messages == 5 and table.ungrouped == 1
    assert icmp_name(4, 8, 0) == "echo request" and icmp_name(6, 128, 0) == "echo request"
    assert icmp_name(4, 11, 0) == "time exceeded (TTL)" and icmp_name(4, 200, 1) == "type 200 code 1"
