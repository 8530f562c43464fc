"""`netinspect trace-handshake` scenarios, each checked against tshark reading the saved pcap
(and against `netinspect review` reading it back)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.cli.trace_oracle import ACK, FIN, RST, SYN, flags_text, teardown_kind, tshark_rows
from tests.conftest import need_root, need_tool
from tests.lab.no_libpcap import BLOCK_LIBPCAP

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


def trace(cli, tmp_path, *argv):
    path = tmp_path / "trace.pcap"
    result = cli("trace-handshake", *argv, "--write", str(path), "--json")
    assert result.status == 0, result.err
    assert result.err == ""
    return json.loads(result.out), path


def check_against_tshark(doc, path):
    """The JSON's segments are exactly tshark's frames: same count, order, flags, lengths;
    tshark flags no retransmission and no checksum error."""
    tshark = need_tool("tshark")
    rows = tshark_rows(tshark, path)
    (conn,) = doc["connections"]
    assert {r.stream for r in rows} == {0}
    assert [flags_text(r.flags) for r in rows] == [_norm(s["flags"]) for s in conn["segments"]]
    assert [r.length for r in rows] == [s["len"] for s in conn["segments"]]
    assert not any(r.retransmission for r in rows), "tshark sees a retransmission the capture invented"
    assert all(r.checksum_status in ("", "2") for r in rows)   # 2 = unverified (offloaded), never "bad" (0)
    assert doc["saved_packets"] == len(rows)
    return rows


def _norm(flags: str) -> str:
    order = ["SYN", "FIN", "RST", "PSH", "ACK"]
    return "+".join(name for name in order if name in flags.split("+")) or "-"


def check_review_reads_it_back(cli, doc, path):
    if importlib.util.find_spec("netinspect.cli.review") is None:
        pytest.skip("the review command is not built yet")
    result = cli("review", str(path), "--json")
    assert result.status == 0, result.err
    review = json.loads(result.out)
    records = [r for r in _walk_records(review)]
    assert len(records) == 1
    (conn,) = doc["connections"]
    for key in ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "orig_pkts", "resp_pkts",
                "orig_bytes", "resp_bytes", "history", "conn_state", "teardown", "closed_by"):
        assert records[0][key] == conn[key], key


def _walk_records(doc):
    """Connection records anywhere in review's JSON (by their Zeek keys)."""
    if isinstance(doc, dict):
        if "id.orig_h" in doc and doc.get("proto", "tcp") == "tcp":
            yield doc
            return
        for value in doc.values():
            yield from _walk_records(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _walk_records(value)


def test_default_client_closes_first(cli, tmp_path):
    need_root()
    doc, path = trace(cli, tmp_path)
    rows = check_against_tshark(doc, path)
    (conn,) = doc["connections"]
    kind, closer = teardown_kind(rows)
    assert (conn["teardown"], conn["closed_by"]) == (kind, "orig") and closer == "client"
    assert kind in ("three-segment", "four-way")
    assert conn["handshake"] == "three-way"
    assert [flags_text(r.flags) for r in rows[:3]] == ["SYN", "SYN+ACK", "ACK"]
    assert conn["orig_bytes"] == conn["resp_bytes"] == 5
    assert doc["session"]["client"] == f"{conn['id.orig_h']}:{conn['id.orig_p']}"
    assert doc["capture"]["kernel_drops"] == 0
    check_review_reads_it_back(cli, doc, path)


def test_server_closes_first(cli, tmp_path):
    need_root()
    doc, path = trace(cli, tmp_path, "--server-closes-first")
    rows = check_against_tshark(doc, path)
    (conn,) = doc["connections"]
    kind, closer = teardown_kind(rows)
    assert closer == "server" and conn["closed_by"] == "resp"
    assert conn["teardown"] == kind
    assert conn["time_wait"] in ("resp", "server")
    check_review_reads_it_back(cli, doc, path)


def test_abort_is_a_reset_from_the_client(cli, tmp_path):
    need_root()
    doc, path = trace(cli, tmp_path, "--abort")
    rows = check_against_tshark(doc, path)
    (conn,) = doc["connections"]
    assert teardown_kind(rows) == ("reset", "client")
    assert conn["teardown"] == "reset" and conn["closed_by"] == "orig"
    assert not any(r.flags & FIN for r in rows)   # SO_LINGER 0: no FIN at all
    check_review_reads_it_back(cli, doc, path)


def test_refused(cli, tmp_path):
    need_root()
    doc, path = trace(cli, tmp_path, "--refused")
    rows = check_against_tshark(doc, path)
    (conn,) = doc["connections"]
    assert [r.flags for r in rows] == [SYN, RST | ACK]
    assert teardown_kind(rows) == ("refused", "server")
    assert conn["teardown"] == "refused"
    assert doc["session"]["outcome"] == "refused"
    check_review_reads_it_back(cli, doc, path)


def test_half_close(cli, tmp_path):
    need_root()
    doc, path = trace(cli, tmp_path, "--half-close")
    rows = check_against_tshark(doc, path)
    (conn,) = doc["connections"]
    kind, closer = teardown_kind(rows)
    assert closer == "client" and conn["closed_by"] == "orig"
    assert conn["teardown"] == kind
    # The client's FIN comes before the server's answer: data after a half close.
    client_fin = next(i for i, r in enumerate(rows) if r.flags & FIN)
    server_data = next(i for i, r in enumerate(rows) if r.length and r.sport == conn["id.resp_p"])
    assert client_fin < server_data
    assert conn["resp_bytes"] == 5
    check_review_reads_it_back(cli, doc, path)


def test_text_output_ladder_and_summary(cli, tmp_path):
    need_root()
    path = tmp_path / "t.pcap"
    result = cli("trace-handshake", "-v", "--write", str(path))
    assert result.status == 0, result.err
    out = result.out
    for text in ("Tracing one TCP echo session on loopback", "handshake 1/3 SYN", "handshake 2/3 SYN-ACK",
                 "handshake 3/3 ACK", 'data "hello"', 'data "HELLO"', "Handshake", "Teardown", "TIME_WAIT",
                 "The client closed first", "Saved",
                 "compiled by netinspect (libpcap not used)", "outgoing loopback copies dropped"):
        assert text in out, text
    assert path.exists()


def test_handshake_line_names_its_times_as_tshark_and_review_do(cli, tmp_path):
    # review calls tshark's tcp.analysis.initial_rtt (SYN to the first ACK) the "initial
    # round trip"; the trace summary must not give that name to the SYN to SYN+ACK time.
    need_root()
    tshark = need_tool("tshark")
    path = tmp_path / "t.pcap"
    result = cli("trace-handshake", "--write", str(path))
    assert result.status == 0, result.err
    line = next(l for l in result.out.splitlines() if l.startswith("Handshake"))
    assert "round trip" not in line, line
    match = re.search(r"ACK in (\d+\.\d+) ms \(SYN to SYN\+ACK (\d+\.\d+) ms\)", line)
    assert match, line
    irtt = subprocess.run([tshark, "-n", "-r", str(path), "-Y", "tcp.analysis.initial_rtt", "-T", "fields",
                           "-e", "tcp.analysis.initial_rtt"], capture_output=True, text=True,
                          timeout=60, check=True).stdout.split()[0]
    assert abs(float(match.group(1)) - float(irtt) * 1000) < 0.0015
    review = cli("review", str(path), "--conn", "0").out
    assert f"initial round trip {match.group(1)} ms" in review


def test_listen_title_counts_in_plain_words(cli, tmp_path):
    need_root()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def one_client():
        import time
        end = time.monotonic() + 15
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    sock.sendall(b"hi\n")
                    sock.recv(100)
                    return
            except OSError:
                time.sleep(0.1)

    client = threading.Thread(target=one_client, daemon=True)
    client.start()
    result = cli("trace-handshake", "--listen", str(port), "--count", "1", "--write", str(tmp_path / "l.pcap"))
    client.join(20)
    assert result.status == 0, result.err
    assert result.out.splitlines()[0].endswith("until 1 client has finished"), result.out


def test_target_an_existing_server(cli, tmp_path):
    need_root()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        conn.settimeout(5)
        conn.sendall(conn.recv(100))
        conn.recv(100)
        conn.close()

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    try:
        doc, path = trace(cli, tmp_path, "--target", f"127.0.0.1:{port}")
    finally:
        worker.join(5)
        listener.close()
    rows = check_against_tshark(doc, path)
    (conn,) = doc["connections"]
    assert conn["id.resp_p"] == port and conn["orig_bytes"] == len(b"hello\n") == conn["resp_bytes"]
    assert teardown_kind(rows) == (conn["teardown"], "client")


def test_ipv6_loopback(cli, tmp_path):
    need_root()
    probe = socket.socket(socket.AF_INET6)
    try:
        probe.bind(("::1", 0))
    except OSError:
        result = cli("trace-handshake", "-6")
        assert result.status == 1 and "::1 is not configured" in result.err
        return
    finally:
        probe.close()
    doc, path = trace(cli, tmp_path, "-6")
    rows = check_against_tshark(doc, path)
    assert {r.src for r in rows} == {"::1"}
    assert doc["connections"][0]["id.orig_h"] == "::1"


def test_default_run_saves_under_captures_in_the_current_directory(tmp_path):
    need_root()
    done = subprocess.run([sys.executable, "-m", "netinspect", "trace-handshake"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1"))
    assert done.returncode == 0, done.stderr
    saved = list((tmp_path / "captures").glob("handshake-*.pcap"))
    assert len(saved) == 1
    assert f"captures/{saved[0].name}" in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("argv, words", [
    (["--listen", "abc"], "--listen port 'abc'"),
    (["--listen", "70000"], "70000"),
    (["--listen", "9000", "--count", "0"], "invalid count '0'"),
    (["--count", "2"], "--count applies to --listen only"),
    (["--target", "localhost"], "is not HOST:PORT"),
    (["--target", "::1:80"], "brackets"),
    (["--abort", "--refused"], "not allowed with argument"),
    (["--abort", "--target", "127.0.0.1:80"], "--abort acts out a scenario"),
    (["--target", "127.0.0.1:80", "--listen", "90"], "exclude each other"),
    (["--iface", "ni-nosuchif0"], "no such interface"),
])
def test_bad_input_is_one_line_exit_2(cli, argv, words):
    need_root()   # the privilege check would otherwise answer first for some of these
    result = cli("trace-handshake", *argv)
    assert result.status == 2, result.err
    assert words in result.err
    assert result.err.count("\n") == 1 and result.out == ""


def test_without_privilege_one_line_exit_1(tmp_path):
    need_root()
    setpriv = need_tool("setpriv")
    done = subprocess.run([setpriv, "--inh-caps=-net_raw", "--bounding-set=-net_raw", sys.executable, "-m",
                           "netinspect", "trace-handshake"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "capturing packets needs root or the CAP_NET_RAW capability" in done.stderr
    assert not (tmp_path / "captures").exists()


def test_filter_compiled_by_libpcap_when_asked(cli, tmp_path):
    need_root()
    path = tmp_path / "libpcap.pcap"
    result = cli("trace-handshake", "-v", "--write", str(path),
                 environ={"NO_COLOR": "1", "NETINSPECT_FILTER_COMPILER": "libpcap"})
    assert result.status == 0, result.err
    assert "compiled by libpcap through scapy" in result.out
    rows = tshark_rows(need_tool("tshark"), path)
    assert [flags_text(r.flags) for r in rows[:3]] == ["SYN", "SYN+ACK", "ACK"]
    assert not any(r.retransmission for r in rows)


BLOCK_LIBPCAP_AND_RUN = BLOCK_LIBPCAP + r"""
from netinspect.cli.main import raw_main
status = raw_main(sys.argv[1:])
sys.stdout.flush()
maps = open("/proc/self/maps").read()
print("libpcap mapped:", "libpcap" in maps)
sys.exit(status)
"""


def test_works_on_a_machine_without_libpcap(tmp_path):
    need_root()
    path = tmp_path / "nolibpcap.pcap"
    done = subprocess.run([sys.executable, "-c", BLOCK_LIBPCAP_AND_RUN, "trace-handshake", "-v", "--write", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1", NETINSPECT_NO_LIBPCAP="1"))
    assert done.returncode == 0, done.stderr
    assert "compiled by netinspect (libpcap not used)" in done.stdout
    assert done.stdout.rstrip().endswith("libpcap mapped: False")
    rows = tshark_rows(need_tool("tshark"), path)
    kind, closer = teardown_kind(rows)
    assert closer == "client" and kind in ("three-segment", "four-way")
    # ...and asking for libpcap there is refused in one line.
    done = subprocess.run([sys.executable, "-c", BLOCK_LIBPCAP_AND_RUN, "trace-handshake"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), NETINSPECT_NO_LIBPCAP="1",
                                   NETINSPECT_FILTER_COMPILER="libpcap"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1


def test_target_that_refuses_is_traced_then_exit_1(cli, tmp_path):
    need_root()
    # A port bound but not listening: the kernel answers the SYN with RST.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    try:
        result = cli("trace-handshake", "--target", f"127.0.0.1:{port}", "--write", str(tmp_path / "t.pcap"))
    finally:
        closed.close()
    assert result.status == 1
    assert "SYN_SENT" in result.out and "RST" in result.out and "conn_state REJ" in result.out
    assert result.err.count("\n") == 1 and "refused" in result.err and "Traceback" not in result.err
