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
