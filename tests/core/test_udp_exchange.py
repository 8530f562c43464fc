"""core.udp_exchange: datagrams grouped per endpoint pair (review's UDP flows), ICMP errors attached."""

from netinspect.core.records import Datagram, Endpoint
from netinspect.core.udp_exchange import CONNECTIONLESS, exchanges, summary_lines
from netinspect.wire.udp_view import IcmpError, UdpPacket

C1, C2, S = Endpoint("127.0.0.1", 40000), Endpoint("127.0.0.1", 40001), Endpoint("127.0.0.1", 9000)
MS = 1_000_000


def packet(t_ms, src, dst, body=b"x"):
    return UdpPacket(Datagram(int(t_ms * MS), src, dst, len(body), frame_index=int(t_ms)), body, 8 + len(body))


def test_two_clients_two_exchanges_in_first_seen_order():
    found = exchanges([packet(3, S, C2, b"BB"), packet(0, C1, S, b"a"), packet(2, C2, S, b"bb"),
                       packet(1, S, C1, b"A")])
    assert [(e.orig, e.resp) for e in found] == [(C1, S), (C2, S)]
    assert [[(r.from_orig, r.payload) for r in e.rows] for e in found] == [
        [(True, b"a"), (False, b"A")], [(True, b"bb"), (False, b"BB")]]
    assert [(e.record.orig_bytes, e.record.resp_bytes, e.record.conn_state) for e in found] == [
        (1, 1, "SF"), (2, 2, "SF")]


def test_idle_gap_splits_a_pair_into_two_exchanges():
    found = exchanges([packet(0, C1, S), packet(10, C1, S), packet(500, S, C1)], idle_ns=100 * MS)
    assert [len(e.rows) for e in found] == [2, 1]
    assert found[1].orig == S        # the sender of the first datagram after the gap originates


def test_icmp_error_is_attached_to_the_datagram_it_quotes_and_named_in_the_summary():
    error = IcmpError(int(1 * MS), "127.0.0.1", "127.0.0.1", 4, 3, 3, C1, S, frame_index=1)
    (found,) = exchanges([packet(0, C1, S, b"hi")], [error])
    assert [(r.kind, r.from_orig) for r in found.rows] == [("udp", True), ("icmp", False)]
    lines = dict(summary_lines(found))
    assert "the port was closed" in lines["Findings"].lower() and "9000" in lines["Findings"]
    assert lines["Connection"].lower().startswith(CONNECTIONLESS[:30])
    assert "sent none" in lines["Datagrams"] and lines["Zeek"].endswith("conn_state S0, history D")


def test_icmp_error_without_its_datagram_still_shows_and_no_reply_is_said():
    orphan = IcmpError(5 * MS, "::1", "::1", 6, 1, 3, Endpoint("::1", 5), Endpoint("::1", 6), 0)
    found = exchanges([packet(0, C1, S)], [orphan])
    assert len(found) == 2 and found[1].rows[0].kind == "icmp" and found[1].record.conn_state == "OTH"
    assert "address unreachable" in dict(summary_lines(found[1]))["Findings"]
    assert dict(summary_lines(found[0]))["Findings"].startswith("No reply from the server")
