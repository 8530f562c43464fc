"""`netinspect review` end to end, in process, on the real sample captures in captures/."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from netinspect.render.review_view import CSV_FIELDS
from tests.conftest import need_tool

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SCENARIOS = CAPTURES / "scenarios.pcap"
LOSSY = CAPTURES / "lossy-handshake.pcap"


def _tshark_tcp_streams(path) -> int:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "tcp and not icmp", "-T", "fields", "-e", "tcp.stream"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return len({line for line in out.split() if line})


def _records(path, pos: int = 24):
    """(offset, caplen) of every record of a classic little-endian pcap."""
    data = Path(path).read_bytes()
    out = []
    while pos + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        out.append((pos, caplen))
        pos += 16 + caplen
    return out


def test_text_table_counts_agree_with_tshark(cli):
    need_tool("tshark")
    result = cli("review", str(SCENARIOS))
    assert result.status == 0, result.err
    assert result.err == ""
    first = result.out.splitlines()[0]
    n = _tshark_tcp_streams(SCENARIOS)
    assert f"{n} TCP connections" in first
    assert f"{len(_records(SCENARIOS))} packets" in first
    rows = [line for line in result.out.splitlines() if line.strip()[:1].isdigit() and "10.77" in line or "fd77" in line]
    assert len([r for r in rows if ":70" in r]) >= n
    for word in ("REJ", "RSTO", "SF", "refused", "three-segment", "UDP flows", "ICMP messages", "port unreachable",
                 "conn_state:"):
        assert word in result.out


def test_summary_line_counts_are_singular_for_one(cli):
    first = cli("review", str(SCENARIOS)).out.splitlines()[0]
    assert first.endswith(", 2 UDP flows, 1 ICMP message"), first
    # A committed one-connection capture: captures/handshake-*.pcap files are local output
    # of trace-handshake (ignored by git), absent from a fresh clone.
    first = cli("review", str(LOSSY)).out.splitlines()[0]
    assert ", 1 TCP connection, 0 UDP flows, 0 ICMP messages" in first, first


def test_udp_flow_states_are_not_explained_as_tcp(cli):
    # A UDP flow's S0 is "no reply", not "SYN unanswered": there is no SYN in UDP.
    legend = cli("review", str(CAPTURES / "broadcast.pcap")).out.splitlines()[-1]
    assert "SYN" not in legend and "S0 no reply seen (UDP)" in legend, legend
    legend = cli("review", str(SCENARIOS)).out.splitlines()[-1]
    assert "S0 SYN unanswered" not in legend and "SF both sides sent (UDP)" in legend, legend
    explained = cli("review", str(CAPTURES / "broadcast.pcap"), "--explain").out
    assert "sent 1 datagram (27 bytes); no answer was seen." in explained


def test_explanations_use_plain_plurals(cli):
    text = cli("review", str(CAPTURES / "filtered-port.pcap"), "--explain").out
    assert "sent 4 SYNs to 10.77.0.2:7006" in text and "; 3 retransmissions." in text
    assert "(s)" not in text


def test_cast_rows_each_add_up_to_the_frame_count(cli):
    # ARP frames have no IP header: the layer-3 row counts them in its last column.
    out = cli("review", str(CAPTURES / "arp-exchange.pcap")).out.splitlines()
    head = out.index("cast: 2 frames")
    assert out[head + 1].split() == ["UNICAST", "BROADCAST", "MULTICAST", "NO", "ADDRESS"]
    for row in out[head + 2:head + 4]:
        assert sum(int(n) for n in row.split()[-4:]) == 2, row
    assert out[head + 4].startswith("NO ADDRESS: ")


def test_jsonl_lines_load_and_match_the_json_document(cli):
    jsonl = cli("review", "--jsonl", str(SCENARIOS))
    assert jsonl.status == 0, jsonl.err
    lines = [json.loads(line) for line in jsonl.out.splitlines()]
    doc = json.loads(cli("review", "--json", str(SCENARIOS)).out)
    assert doc["schema_version"] >= 1 and doc["kind"] == "review"
    (file_doc,) = doc["files"]
    assert [d["uid"] for d in file_doc["connections"]] == [d["uid"] for d in lines]
    assert file_doc["summary"]["tcp_connections"] == sum(d["proto"] == "tcp" for d in lines)
    assert file_doc["summary"]["udp_flows"] == sum(d["proto"] == "udp" for d in lines)
    zeek = {"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "duration", "orig_pkts",
            "resp_pkts", "orig_bytes", "resp_bytes", "conn_state", "history", "handshake", "teardown",
            "closed_by", "irtt", "retransmissions", "explanation"}
    for line in lines:
        assert zeek <= set(line)
        assert line["file"] == str(SCENARIOS)
        assert isinstance(line["ts"], float) and isinstance(line["duration"], float)
    refused = [d for d in lines if d["conn_state"] == "REJ"]
    assert len(refused) == 1 and "refused" in refused[0]["explanation"]


def test_csv_loads_with_the_csv_module(cli):
    result = cli("review", "--csv", str(SCENARIOS))
    assert result.status == 0
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert list(rows[0].keys()) == CSV_FIELDS
    lines = [json.loads(line) for line in cli("review", "--jsonl", str(SCENARIOS)).out.splitlines()]
    assert len(rows) == len(lines)
    for row, doc in zip(rows, lines):
        assert row["uid"] == doc["uid"] and row["conn_state"] == doc["conn_state"]
        assert int(row["orig_pkts"]) == doc["orig_pkts"] and row["id.resp_h"] == doc["id.resp_h"]


def test_conn_ladder_and_unknown_connection(cli):
    result = cli("review", str(SCENARIOS), "--conn", "0")
    assert result.status == 0, result.err
    for text in ("handshake 1/3", "handshake 3/3", "ESTABLISHED", "TIME_WAIT", "10.77.0.2:7001"):
        assert text in result.out
    ladder_doc = json.loads(cli("review", str(SCENARIOS), "--conn", "3", "--json").out)
    (conn,) = ladder_doc["connections"]
    assert conn["connection"]["conn_state"] == "RSTO"
    assert len(conn["segments"]) == conn["connection"]["orig_pkts"] + conn["connection"]["resp_pkts"]
    missing = cli("review", str(SCENARIOS), "--conn", "999")
    assert missing.status == 2 and "--conn 999" in missing.err and len(missing.err.splitlines()) == 1
    bad = cli("review", str(SCENARIOS), "--conn", "x")
    assert bad.status == 2 and "'x'" in bad.err


def test_ladder_frame_numbers_are_tsharks(cli):
    # `-v` names each segment's frame; `layers --frame N` and tshark count from 1.
    need_tool("tshark")
    out = subprocess.run(["tshark", "-n", "-r", str(SCENARIOS), "-Y", "tcp.stream == 2", "-T", "fields",
                          "-e", "frame.number"], capture_output=True, text=True, timeout=60, check=True).stdout
    expected = [int(n) for n in out.split()]
    text = cli("review", str(SCENARIOS), "--conn", "2", "-v").out
    assert [int(n) for n in re.findall(r"   frame (\d+)$", text, re.M)] == expected
    doc = json.loads(cli("review", str(SCENARIOS), "--conn", "2", "--json").out)
    assert [s["frame"] for s in doc["connections"][0]["segments"]] == expected


def test_conn_json_segments_have_trace_handshakes_names_and_values(cli, tmp_path):
    # One reader for both: `review --conn N --json` and `trace-handshake --json` rows.
    doc = json.loads(cli("review", str(SCENARIOS), "--conn", "0", "--json").out)
    rows = doc["connections"][0]["segments"]
    assert [r["flags"] for r in rows[:3]] == ["SYN", "SYN+ACK", "ACK"]
    expected = {"ts", "t", "from", "flags", "seq", "ack", "rel_seq", "rel_ack", "len", "window", "frame", "role",
                "orig_state", "resp_state", "analyses"}
    assert all(set(r) == expected for r in rows)
    from netinspect.cli.trace_handshake import connection_json
    from netinspect.core.tracker import ConnectionTracker
    from tests.core.scenarios import Talk

    tracker = ConnectionTracker(keep_segments=True)
    tracker.feed_all(Talk().handshake().exchange().segments)
    (conn,) = tracker.connections()
    assert all(set(r) == expected for r in connection_json(conn)["segments"])


def test_unknown_conn_counts_in_plain_words(cli):
    result = cli("review", str(CAPTURES / "filtered-port.pcap"), "--conn", "1")
    assert result.status == 2
    assert result.err.endswith("(" + str(CAPTURES / "filtered-port.pcap") + ": 1 TCP connection; numbered from 0)\n")


def test_conn_header_says_1_packet(cli, tmp_path):
    # A lone SYN is a connection of one packet.
    records = _records(SCENARIOS)
    data = SCENARIOS.read_bytes()
    first, caplen = records[0]
    lone = tmp_path / "syn.pcap"
    lone.write_bytes(data[:24] + data[first:first + 16 + caplen])
    head = cli("review", str(lone), "--conn", "0").out.splitlines()[0]
    assert head.endswith(", 1 packet, state S0 S"), head


@pytest.mark.parametrize("option", ["--jsonl", "--csv"])
def test_conn_with_a_record_format_is_bad_input_not_text(cli, option):
    # A script asking for --jsonl must not get a text ladder back.
    result = cli("review", str(SCENARIOS), "--conn", "0", option)
    assert result.status == 2 and result.out == ""
    assert result.err.startswith(f"netinspect: --conn draws one connection's ladder, which {option} cannot hold")


def test_host_and_port_select_but_keep_numbers(cli):
    lines = [json.loads(line) for line in cli("review", "--jsonl", "--port", "7004", str(SCENARIOS)).out.splitlines()]
    assert [d["id.resp_p"] for d in lines] == [7004]
    everything = [json.loads(line) for line in cli("review", "--jsonl", str(SCENARIOS)).out.splitlines()]
    assert lines[0]["uid"] == next(d["uid"] for d in everything if d["id.resp_p"] == 7004)
    v6 = [json.loads(line) for line in cli("review", "--jsonl", "--host", "fd77::2", str(SCENARIOS)).out.splitlines()]
    assert v6 and all(d["id.resp_h"] == "fd77::2" for d in v6)
    assert cli("review", "--jsonl", "--host", "10.9.9.9", str(SCENARIOS)).out == ""
    for option, value in (("--host", "10.77.0.300"), ("--port", "70000"), ("--jobs", "0")):
        bad = cli("review", option, value, str(SCENARIOS))
        assert bad.status == 2 and value in bad.err and "Traceback" not in bad.err


@pytest.mark.parametrize("option, value", [
    ("--port", "\u00b2"), ("--port", "\uff17\uff10\uff10\uff14"), ("--conn", "\uff13"), ("--conn", "+3"),
    ("--conn", "3_0"), ("--conn", " 3"), ("--jobs", "\u00b2"),
])
def test_numbers_are_ascii_digits_only(cli, option, value):
    bad = cli("review", option, value, str(SCENARIOS))
    assert bad.status == 2, bad.out
    assert bad.err.startswith(f"netinspect: {option} {value!r}: expected") and bad.err.count("\n") == 1, bad.err


def test_text_selection_says_what_it_kept_and_filters_icmp_by_host(cli):
    # The head line counts the whole file; a second line says what --host/--port kept,
    # so an empty selection is not mistaken for an empty capture.
    lines = cli("review", str(SCENARIOS), "--host", "10.77.0.9").out.splitlines()
    assert lines[1] == "selected (host 10.77.0.9): 0 TCP connections, 0 UDP flows"
    assert "ICMP messages" not in lines and "port unreachable" not in "\n".join(lines)
    lines = cli("review", str(SCENARIOS), "--host", "10.77.0.2", "--port", "7008").out.splitlines()
    assert lines[1] == "selected (endpoint 10.77.0.2:7008): 2 TCP connections, 0 UDP flows"
    text = cli("review", str(SCENARIOS), "--host", "10.77.0.1").out
    assert "selected (host 10.77.0.1): 7 TCP connections, 2 UDP flows" in text and "port unreachable" in text
    assert "selected" not in cli("review", str(SCENARIOS)).out


def test_truncated_file_gives_partial_result_then_offset_and_status_1(cli, tmp_path):
    records = _records(SCENARIOS)
    cut_at, caplen = records[40]
    damaged = tmp_path / "cut.pcap"
    damaged.write_bytes(SCENARIOS.read_bytes()[:cut_at + 16 + caplen // 2])
    result = cli("review", str(damaged))
    assert result.status == 1
    assert "40 packets" in result.out.splitlines()[0]       # everything before the cut is shown
    (line,) = result.err.splitlines()
    assert str(damaged) in line and f"offset {cut_at}" in line and "Traceback" not in result.err


def test_record_length_beyond_the_cap_stops_the_read(cli, tmp_path):
    records = _records(SCENARIOS)
    at = records[10][0]
    data = bytearray(SCENARIOS.read_bytes())
    struct.pack_into("<II", data, at + 8, 0x7FFFFFF0, 0x7FFFFFF0)
    damaged = tmp_path / "huge.pcap"
    damaged.write_bytes(bytes(data))
    result = cli("review", "--jsonl", str(damaged))
    assert result.status == 1
    (line,) = result.err.splitlines()
    assert f"offset {at}" in line and str(damaged) in line
    for doc in map(json.loads, result.out.splitlines()):
        assert doc["file"] == str(damaged)


def test_not_a_capture_is_status_2_with_one_line(cli, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a capture\n")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    for path in (text, empty, tmp_path / "missing.pcap"):
        result = cli("review", str(path))
        assert result.status == 2, (path, result.err)
        assert len(result.err.splitlines()) == 1 and str(path) in result.err and "Traceback" not in result.err
    mixed = cli("review", "--jsonl", str(SCENARIOS), str(text))
    assert mixed.status == 2 and mixed.out.count("\n") > 5 and str(text) in mixed.err


def test_gzip_and_pcapng_give_the_same_records(cli, tmp_path):
    gz = tmp_path / "scenarios.pcap.gz"
    gz.write_bytes(gzip.compress(SCENARIOS.read_bytes()))
    plain = cli("review", "--csv", str(SCENARIOS)).out
    assert cli("review", "--csv", str(gz)).out == plain.replace(str(SCENARIOS), str(gz))
    if shutil.which("editcap"):
        ng = tmp_path / "scenarios.pcapng"
        subprocess.run(["editcap", "-F", "pcapng", str(SCENARIOS), str(ng)], check=True, timeout=60)
        assert cli("review", "--csv", str(ng)).out == plain.replace(str(SCENARIOS), str(ng))


def test_jobs_gives_the_same_output_as_one_process(cli):
    files = [str(SCENARIOS), str(LOSSY), str(CAPTURES / "filtered-port.pcap")]
    one = cli("review", "--jsonl", *files)
    two = cli("review", "--jsonl", "--jobs", "2", *files)
    assert one.status == two.status == 0
    assert one.out == two.out and one.out.count("\n") > 10
    text_one = cli("review", *files).out
    assert cli("review", "--jobs", "2", *files).out == text_one


def test_explain_adds_sentences_and_the_full_legend(cli):
    result = cli("review", "--explain", str(LOSSY))
    assert result.status == 0
    assert "three-way handshake" in result.out and "retransmission" in result.out
    for code in ("S0", "SF", "REJ", "RSTO", "OTH"):
        assert f"  {code} " in result.out


def test_explain_spells_out_the_column_abbreviations(cli):
    out = cli("review", "--explain", str(SCENARIOS)).out
    header = next(line for line in out.splitlines() if "iRTT ms" in line)
    assert "by" in header.split() and "→/←" in header
    legend = next(line for line in out.splitlines() if line.startswith("columns: "))
    for words in ("→/← originator to responder", "iRTT initial round trip", "by: who closed first",
                  "orig originator", "resp responder"):
        assert words in legend


def _bench_module():
    """bench/review (a script without .py) as a module, for its capture synthesiser."""
    import importlib.util
    from importlib.machinery import SourceFileLoader
    path = str(Path(__file__).resolve().parents[2] / "bench" / "review")
    loader = SourceFileLoader("bench_review", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("bench_review", loader))
    loader.exec_module(module)
    return module


def test_progress_bar_only_on_a_terminal_and_for_large_input(cli, tmp_path):
    big = tmp_path / "big.pcap"
    _bench_module().synthesise(big, 24_000)          # about 21 MB: above the bar's threshold
    quiet = cli("review", "--jsonl", str(big))
    assert quiet.status == 0 and quiet.err == ""
    assert quiet.out.count("\n") == 24_000
    shown = cli("review", "--jsonl", str(big), tty=True)
    assert shown.status == 0 and "big.pcap" in shown.err
    assert shown.err.count("%|") >= 3         # the bar moved while the file was read
    small = cli("review", "--jsonl", str(SCENARIOS), tty=True)
    assert small.err == ""


def test_large_capture_streams_rows_and_reuses_ports_correctly(cli, tmp_path):
    big = tmp_path / "reuse.pcap"
    # 30,000 connections from 28,232 ephemeral ports: some ports carry two connections.
    packets = _bench_module().synthesise(big, 30_000)
    result = cli("review", str(big))
    assert result.status == 0
    assert "large capture" in result.out.splitlines()[0]
    assert f"{packets:,} packets" in result.out and "30,000 TCP connections" in result.out
    rows = [line for line in result.out.splitlines() if "127.0.0.1:" in line]
    assert len(rows) == 30_000 and all(" SF " in row for row in rows)


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_SAMPLE = SCENARIOS.read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(24, len(_SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=12),
       st.integers(24, len(_SAMPLE)))
def test_damaged_bytes_never_crash_the_whole_pipeline(tmp_path_factory, edits, cut):
    """Random byte edits and cuts: exit 0, 1 or 2 with at most one error line, never an internal error."""
    data = bytearray(_SAMPLE[:cut])
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    path = tmp_path_factory.mktemp("fuzz") / "damaged.pcap"
    path.write_bytes(bytes(data))
    from tests.conftest import run_cli
    for argv in (("review", str(path)), ("review", "--jsonl", str(path))):
        result = run_cli(*argv)
        assert result.status in (0, 1, 2), result.err
        assert "internal error" not in result.err and "Traceback" not in result.err
        assert len(result.err.splitlines()) <= 1


@pytest.mark.parametrize("name", ["scenarios.pcap", "lossy-handshake.pcap", "filtered-port.pcap"])
def test_sample_captures_agree_with_tshark_per_connection(name):
    """The committed samples, connection by connection, against tshark (no lab needed)."""
    need_tool("tshark")
    from netinspect.adapters.review_pipeline import review_file
    from tests.lab.tshark_oracle import tcp_streams

    path = CAPTURES / name
    mine = {r.index: r for r in review_file(str(path)).records if r.proto == "tcp"}
    theirs = tcp_streams(path)
    assert sorted(mine) == sorted(theirs)
    for sid, facts in theirs.items():
        rec = mine[sid]
        assert (str(rec.orig), str(rec.resp)) == (facts.originator, facts.responder)
        assert (rec.orig_pkts, rec.resp_pkts, rec.orig_bytes, rec.resp_bytes) == (
            facts.orig_pkts, facts.resp_pkts, facts.orig_payload, facts.resp_payload)
        assert rec.retransmissions == facts.retransmissions
        if facts.irtt_ns is None:
            assert rec.irtt_ns is None
        else:
            assert abs(rec.irtt_ns - facts.irtt_ns) <= 1000
        if rec.teardown == "reset":
            assert rec.closed_by == facts.first_rst_by
        elif rec.teardown in ("four-way", "three-segment", "simultaneous"):
            assert rec.closed_by == facts.first_fin_by and facts.fins["orig"] and facts.fins["resp"]


def test_impossible_header_lengths_are_flagged_not_fatal(cli, tmp_path):
    """Two packets with broken IPv4 headers (IHL 3, total length past the frame): counted,
    flagged in the summary, and the rest of the file reviewed as usual (exit 0)."""
    records = _records(SCENARIOS)
    data = bytearray(SCENARIOS.read_bytes())
    ipv4 = [(at, n) for at, n in records if data[at + 16 + 12:at + 16 + 14] == b"\x08\x00"]
    first, second = ipv4[5][0] + 16 + 14, ipv4[20][0] + 16 + 14
    data[first] = 0x43                                   # IHL 3: shorter than the 20-byte minimum
    struct.pack_into("!H", data, second + 2, 1500)       # total length beyond the captured frame
    bad = tmp_path / "flagged.pcap"
    bad.write_bytes(bytes(data))
    result = cli("review", "--json", str(bad))
    assert result.status == 0, result.err
    summary = json.loads(result.out)["files"][0]["summary"]
    assert summary["malformed_packets"] == 2 and summary["packets"] == len(records)
    text = cli("review", str(bad))
    assert text.status == 0 and "Flagged: 2 malformed packets" in text.out
