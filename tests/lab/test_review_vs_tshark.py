"""`review` against tshark on real captures made in a namespace lab.

One lab, one tcpdump capture of every scenario in tests/lab/scenarios.py (normal close,
server closes first, half close, RST abort, refused, filtered port with SYN
retransmissions, delay and loss through the NFQUEUE tool, port reuse, IPv6, many
concurrent connections, UDP with an ICMP port unreachable). For every connection the
connection count, packets and payload bytes each way, the handshake RTT and the way it
ended must agree with tshark's tcp.stream, tcp.analysis.initial_rtt and flags.
"""

from __future__ import annotations

import json

import pytest

from netinspect.adapters.review_pipeline import review_file
from tests.conftest import need_tool, run_cli
from tests.lab.netns import Lab, can_build_labs
from tests.lab.scenarios import ALL, CONCURRENT, PORTS, capture_scenarios
from tests.lab.tshark_oracle import icmp_count, tcp_streams, udp_flows

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    reason = can_build_labs()
    if reason:
        pytest.skip(reason)
    need_tool("tcpdump")
    lab = Lab()
    try:
        a, b = lab.pair()
        path = capture_scenarios(a, b, ALL, tmp_path_factory.mktemp("review") / "all.pcap")
    finally:
        lab.close()
    return path


@pytest.fixture(scope="module")
def both(capture):
    need_tool("tshark")
    review = review_file(str(capture))
    ours = {r.index: r for r in review.records if r.proto == "tcp"}
    return ours, tcp_streams(capture), review


def _streams_of(name, ours, theirs):
    port = PORTS[name]
    mine = [r for r in ours.values() if r.resp.port == port]
    oracle = [s for s in theirs.values() if s.responder.endswith(f":{port}")]
    return mine, oracle


def test_connection_count_matches_tshark(both):
    ours, theirs, review = both
    assert len(ours) == len(theirs) == review.summary.tcp_connections
    assert sorted(ours) == sorted(theirs)   # same numbering as tcp.stream


@pytest.mark.parametrize("name", [n for n in ALL if n != "udp"])
def test_every_connection_agrees_with_tshark(both, name):
    ours, theirs, _ = both
    mine, oracle = _streams_of(name, ours, theirs)
    expected = {"concurrent": CONCURRENT, "port_reuse": 2}.get(name, 1)
    assert len(mine) == len(oracle) == expected
    for facts in oracle:
        rec = ours[facts.stream]
        where = f"{name} stream {facts.stream}"
        assert (str(rec.orig), str(rec.resp)) == (facts.originator, facts.responder), where
        assert (rec.orig_pkts, rec.resp_pkts) == (facts.orig_pkts, facts.resp_pkts), where
        assert (rec.orig_bytes, rec.resp_bytes) == (facts.orig_payload, facts.resp_payload), where
        assert rec.retransmissions == facts.retransmissions, where
        if facts.irtt_ns is not None:
            # tcp.analysis.initial_rtt, to the microsecond (tshark also gives one for a
            # refused connection: SYN to the ACK-carrying RST).
            assert rec.irtt_ns is not None and abs(rec.irtt_ns - facts.irtt_ns) <= 1000, (where, rec.irtt_ns, facts.irtt_ns)
        else:
            assert rec.irtt_ns is None, where
        _teardown_consistent(rec, facts, where)


def _teardown_consistent(rec, facts, where):
    if rec.teardown in ("four-way", "three-segment", "simultaneous"):
        assert facts.fins["orig"] and facts.fins["resp"] and not any(facts.rsts.values()), where
        assert rec.closed_by == facts.first_fin_by, where
    elif rec.teardown == "reset":
        assert any(facts.rsts.values()), where
        assert rec.closed_by == facts.first_rst_by, where
    elif rec.teardown == "refused":
        assert facts.syns >= 1 and facts.synacks == 0 and facts.rsts["resp"] >= 1, where
    elif rec.teardown == "unanswered":
        assert facts.resp_pkts == 0 and facts.syns >= 1, where
    else:
        pytest.fail(f"{where}: unexpected teardown {rec.teardown!r} for flags {facts}")


# What each scenario is for, checked on the oracle and on review together.
SCENARIO_ENDINGS = {
    "normal": ("three-way", ("three-segment", "four-way"), "orig", "SF"),
    "server_closes_first": ("three-way", ("three-segment", "four-way"), "resp", "SF"),
    "half_close": ("three-way", ("four-way", "three-segment"), "orig", "SF"),
    "rst_abort": ("three-way", ("reset",), "orig", "RSTO"),
    "refused": ("refused", ("refused",), None, "REJ"),
    "filtered": ("unanswered", ("unanswered",), None, "S0"),
    "delay_loss": ("three-way", ("three-segment", "four-way"), "orig", "SF"),
    "port_reuse": ("three-way", ("three-segment", "four-way"), "orig", "SF"),
    "ipv6": ("three-way", ("three-segment", "four-way"), "orig", "SF"),
    "concurrent": ("three-way", ("three-segment", "four-way"), "orig", "SF"),
}


@pytest.mark.parametrize("name", list(SCENARIO_ENDINGS))
def test_scenario_opens_and_ends_as_intended(both, name):
    ours, theirs, _ = both
    mine, oracle = _streams_of(name, ours, theirs)
    handshake, teardowns, closed_by, state = SCENARIO_ENDINGS[name]
    for rec in mine:
        assert rec.handshake == handshake, rec
        assert rec.teardown in teardowns, rec
        assert rec.closed_by == closed_by, rec
        assert rec.conn_state == state, rec
    if name == "filtered":
        assert oracle[0].syns >= 3 and mine[0].retransmissions == oracle[0].syns - 1
    if name == "delay_loss":
        (facts,) = oracle
        assert facts.syns == 2 and facts.retransmissions == 2
        assert mine[0].irtt_ns >= 20_000_000        # the NFQUEUE delay is in the RTT
    if name == "port_reuse":
        assert mine[0].orig == mine[1].orig and mine[1].port_reuse
    if name == "ipv6":
        assert ":" in mine[0].orig.ip


def test_udp_flows_and_icmp_match_tshark(both, capture):
    _, _, review = both
    flows = udp_flows(capture)
    mine = sorted((r for r in review.records if r.proto == "udp"), key=lambda r: r.index)
    assert len(mine) == len(flows) == 2
    for rec, facts in zip(mine, sorted(flows.values(), key=lambda f: f.stream)):
        assert (str(rec.orig), str(rec.resp)) == (facts.a, facts.b)
        assert (rec.orig_pkts, rec.resp_pkts, rec.orig_bytes, rec.resp_bytes) == (
            facts.a_pkts, facts.b_pkts, facts.a_payload, facts.b_payload)
    assert review.summary.icmp_messages == icmp_count(capture) == 1
    (group,) = review.summary.icmp
    assert (group.type, group.code) == (3, 3)


def test_cli_jsonl_reports_the_same_connections(both, capture):
    ours, theirs, _ = both
    result = run_cli("review", "--jsonl", str(capture))
    assert result.status == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    tcp = {d["conn"]: d for d in lines if d["proto"] == "tcp"}
    assert sorted(tcp) == sorted(theirs)
    for sid, facts in theirs.items():
        doc = tcp[sid]
        assert f"{doc['id.orig_h']}" in facts.originator and doc["id.resp_p"] == int(facts.responder.rsplit(":", 1)[1])
        assert (doc["orig_pkts"], doc["resp_pkts"]) == (facts.orig_pkts, facts.resp_pkts)
        if facts.irtt_ns is not None:
            assert abs(doc["irtt"] * 1e9 - facts.irtt_ns) <= 1000
