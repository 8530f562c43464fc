"""review's capture-wide findings on real attack-shaped traffic: a port scan and a SYN flood."""

from __future__ import annotations

import json

import pytest

from tests.conftest import need_tool
from tests.lab.scenarios import FLOOD_SYNS, PORTS, SCAN_PORTS, capture_scenarios
from tests.lab.tshark_oracle import tcp_streams

pytestmark = pytest.mark.lab


def test_port_scan_and_syn_flood_are_found(lab_pair, tmp_path, cli):
    need_tool("tshark")
    a, b = lab_pair
    pcap = capture_scenarios(a, b, ["port_scan", "syn_flood"], tmp_path / "attacks.pcap")
    streams = tcp_streams(pcap).values()
    refused = [s for s in streams if s.rsts["resp"] and not s.synacks]
    unanswered = [s for s in streams if s.resp_pkts == 0 and s.responder.endswith(f":{PORTS['syn_flood']}")]
    assert len(refused) == SCAN_PORTS and len(unanswered) == FLOOD_SYNS

    result = cli("review", "--json", str(pcap))
    assert result.status == 0, result.err
    (file_doc,) = json.loads(result.out)["files"]
    findings = {f["kind"]: f for f in file_doc["findings"]}
    scan = findings["port_scan"]
    # A scan counts the distinct ports one source failed on: refused or unanswered.
    failed_ports = {s.responder for s in refused} | {s.responder for s in unanswered}
    assert scan["count"] == len(failed_ports) and b.ip4 in scan["target"]
    flood = findings["syn_flood"]
    assert flood["count"] == len(unanswered) and flood["target"] == f"{b.ip4}:{PORTS['syn_flood']}"
    states = [c["conn_state"] for c in file_doc["connections"]]
    assert states.count("REJ") == SCAN_PORTS and states.count("S0") == FLOOD_SYNS

    text = cli("review", str(pcap)).out
    assert "Findings" in text and "scan" in text.lower() and "flood" in text.lower()


def test_half_open_connection_seen_from_the_server(lab_pair, tmp_path, cli):
    """B gets the SYN and answers, but every later packet of A is dropped on A's OUTPUT
    chain (NFQUEUE, non-SYN segments only), before the capture on A's veth sees it: the
    handshake never completes, which review reports as half open."""
    need_tool("tshark")
    from tests.lab.impair import Impairment
    from tests.lab.scenarios import CLIENT, Tcpdump, _finish, _start_server

    a, b = lab_pair
    port = 7301
    pcap = tmp_path / "half-open.pcap"
    server = _start_server(b, "echo", "4", port, 1)
    try:
        with Tcpdump(a, pcap):
            with Impairment(a, port, direction="out", drop_prob=1.0, extra_match=["--tcp-flags", "SYN", "NONE"]):
                # The client's connect succeeds (it got the SYN+ACK); its ACK and data never
                # arrive, so it gives up after its 2 s receive timeout... bounded by this run.
                a.run("timeout", "3", "python3", "-c",
                      "import socket\nc=socket.create_connection(('%s',%d),timeout=2)\nc.send(b'x')\n"
                      "try: c.recv(10)\nexcept OSError: pass\n" % (b.ip4, port), check=False, timeout=10)
    finally:
        server.kill()
        _finish(server)
    (facts,) = tcp_streams(pcap).values()
    assert facts.syns >= 1 and facts.synacks >= 1 and facts.orig_pkts == facts.syns   # nothing after the SYN
    result = cli("review", "--json", str(pcap))
    (file_doc,) = json.loads(result.out)["files"]
    (conn,) = file_doc["connections"]
    assert conn["handshake"] == "incomplete" and conn["irtt"] is None
    kinds = {f["kind"] for f in file_doc["findings"]}
    assert "half_open" in kinds
