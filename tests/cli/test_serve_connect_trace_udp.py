"""--trace for UDP on serve and connect: datagram ladders from a real capture (needs root).

Oracle: tshark reading the saved pcap (`-T fields -e udp.srcport -e udp.dstport -e udp.length`,
and the ICMP fields of port-unreachable answers), never netinspect's own decoder.
"""

import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time

import pytest

from tests.adapters.session_kit import running_server
from tests.conftest import need_root, need_tool

ROOT = pathlib.Path(__file__).resolve().parents[2]


def tshark_udp(path) -> list[tuple[int, int, int]]:
    """(udp.srcport, udp.dstport, udp.length) of every plain UDP datagram in the file."""
    tshark = need_tool("tshark")
    out = subprocess.run([tshark, "-r", str(path), "-Y", "udp && !icmp && !icmpv6", "-T", "fields",
                          "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.length"],
                         capture_output=True, text=True, timeout=60).stdout
    return [tuple(int(v) for v in line.split("\t")) for line in out.splitlines() if line.strip()]


def tshark_unreachable(path) -> list[tuple[str, int]]:
    """(ICMP version, quoted udp.dstport) of every destination-unreachable message."""
    tshark = need_tool("tshark")
    out = subprocess.run([tshark, "-r", str(path), "-Y", "(icmp.type == 3 && icmp.code == 3) || "
                          "(icmpv6.type == 1 && icmpv6.code == 4)", "-T", "fields", "-e", "icmp.type",
                          "-e", "icmpv6.type", "-e", "udp.dstport"],
                         capture_output=True, text=True, timeout=60).stdout
    rows = []
    for line in out.splitlines():
        v4, v6, port = (line.split("\t") + ["", "", ""])[:3]
        rows.append(("4" if v4 else "6", int(port)))
    return rows


def rows_of(doc_exchange) -> list[tuple[str, int]]:
    return [(d["from"], d["udp_length"]) for d in doc_exchange["datagrams"] if d["kind"] == "udp"]


def test_connect_udp_trace_json_matches_tshark(cli, tmp_path, monkeypatch):
    need_root()
    monkeypatch.chdir(tmp_path)
    with running_server("upper", protocol="udp") as (server, _):
        port = server.address[1]
        result = cli("connect", "udp", f"127.0.0.1:{port}", "--send", "hello", "--count", "3",
                     "--wait", "3", "--trace", "--json")
    assert result.status == 0, result.err
    doc = json.loads(result.out)
    assert [r["text"] for r in doc["replies"]] == ["HELLO"] * 3
    local_port = int(doc["local"].rsplit(":", 1)[1])
    (exchange,) = doc["trace"]["exchanges"]
    assert (exchange["id.orig_p"], exchange["id.resp_p"]) == (local_port, port)
    assert exchange["proto"] == "udp" and exchange["handshake"] is None and exchange["teardown"] is None
    assert "connectionless" in exchange["explanation"]
    assert (exchange["orig_pkts"], exchange["resp_pkts"]) == (3, 3)
    assert (exchange["orig_bytes"], exchange["resp_bytes"]) == (15, 18)   # "hello" out, "HELLO\n" back
    assert exchange["conn_state"] == "SF" and not exchange["port_closed"]
    saved = tmp_path / doc["trace"]["saved"]
    theirs = tshark_udp(saved)
    assert doc["trace"]["saved_packets"] == len(theirs) == 6
    # every datagram, in order, with tshark's udp.length and direction
    expected = [("orig" if src == local_port else "resp", length) for src, _dst, length in theirs]
    assert rows_of(exchange) == expected
    assert all({src, dst} == {local_port, port} for src, dst, _ in theirs)
    assert doc["trace"]["capture"]["filter"].startswith(f"udp port {port} or (icmp")


def test_connect_udp_trace_json_times_are_seconds_like_every_json_time(cli, tmp_path, monkeypatch):
    need_root()
    tshark = need_tool("tshark")
    monkeypatch.chdir(tmp_path)
    with running_server("upper", protocol="udp") as (server, _):
        port = server.address[1]
        result = cli("connect", "udp", f"127.0.0.1:{port}", "--send", "hi", "--count", "2",
                     "--interval", "0.2", "--wait", "2", "--trace", "--json")
    assert result.status == 0, result.err
    doc = json.loads(result.out)
    (exchange,) = doc["trace"]["exchanges"]
    out = subprocess.run([tshark, "-r", str(tmp_path / doc["trace"]["saved"]), "-T", "fields",
                          "-e", "frame.time_epoch"], capture_output=True, text=True, timeout=60).stdout
    epochs = [float(v) for v in out.split()]
    rows = exchange["datagrams"]
    assert "t_ms" not in rows[0] and len(rows) == len(epochs) == 4
    for row, epoch in zip(rows, epochs):
        assert abs(row["ts"] - epoch) < 1e-5 and abs(row["t"] - (epoch - epochs[0])) < 1e-5
    assert rows[2]["t"] >= 0.2   # the second send came after --interval 0.2 s: seconds, not ms


def test_connect_udp_trace_text_ladder(cli, tmp_path, monkeypatch):
    need_root()
    monkeypatch.chdir(tmp_path)
    with running_server("upper", protocol="udp") as (server, _):
        port = server.address[1]
        result = cli("connect", "udp", f"127.0.0.1:{port}", "--send", "hi", "--wait", "3", "--trace", "-v")
    assert result.status == 0, result.err
    assert result.out.startswith("[read 1, 2 bytes] HI\n")   # -v shows each read
    out = result.out
    assert f"Trace of connect udp to 127.0.0.1:{port}" in out
    assert re.search(r"── UDP 2 B\s+─+▶\s+\"hi\"", out) and re.search(r"◀─ UDP 3 B\s+─+\s+\"HI\\n\"", out)
    assert "udp length 10" in out and "udp length 11" in out            # -v: the UDP length field
    assert "no teardown: UDP is connectionless" in out.replace("\n           ", " ")
    assert "kernel cBPF filter \"udp port" in out and "SKF_AD_PKTTYPE" in out   # -v: the capture path
    assert "Handshake" not in out and "SYN" not in out
    match = re.search(r"Saved      (captures/session-\S+\.pcap) \((\d+) packets\)", out)
    assert match and int(match.group(2)) == len(tshark_udp(tmp_path / match.group(1))) == 2


def test_connect_udp_trace_to_a_closed_port_shows_the_icmp_answer(cli, tmp_path, monkeypatch):
    need_root()
    monkeypatch.chdir(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:   # a free port, then released
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = cli("connect", "udp", f"127.0.0.1:{port}", "--send", "anyone?", "--wait", "0.5", "--trace")
    assert result.status == 1
    assert "ICMP port unreachable" in result.err and "Traceback" not in result.err
    out = result.out.replace("\n           ", " ")
    assert re.search(r"── UDP 7 B\s+─+▶\s+\"anyone\?\"", out)
    assert re.search(rf"◀─ ICMP port unreachable\s+─+\s+quoting udp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:{port}", out)
    assert "The port was closed" in out and "sent none" in out
    saved = re.search(r"Saved      (\S+\.pcap)", out).group(1)
    assert tshark_unreachable(tmp_path / saved) == [("4", port)]
    assert [length for _, dst, length in tshark_udp(tmp_path / saved) if dst == port] == [15]


def test_connect_udp_trace_ipv6_closed_port(cli, tmp_path, monkeypatch):
    need_root()
    monkeypatch.chdir(tmp_path)
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback here")
    result = cli("connect", "udp", f"[::1]:{port}", "--send", "x", "--wait", "0.5", "--trace", "--json")
    assert result.status == 1 and "ICMP port unreachable" in result.err
    (saved,) = list((tmp_path / "captures").glob("session-*.pcap"))
    assert tshark_unreachable(saved) == [("6", port)]


def test_connect_udp_trace_to_the_time_service(cli, tmp_path, monkeypatch):
    need_root()
    monkeypatch.chdir(tmp_path)
    with running_server("time", framing="raw", protocol="udp") as (server, _):
        port = server.address[1]
        result = cli("connect", "udp", f"127.0.0.1:{port}", "--send", "%Y", "--framing", "raw",
                     "--wait", "3", "--trace", "--json")
    assert result.status == 0, result.err
    doc = json.loads(result.out)
    (reply,) = doc["replies"]
    assert re.fullmatch(r"\d{4}\n?", reply["text"])
    (exchange,) = doc["trace"]["exchanges"]
    theirs = tshark_udp(tmp_path / doc["trace"]["saved"])
    assert [length for *_, length in theirs] == [8 + 2, 8 + reply["bytes"]]
    assert [d["payload"] for d in exchange["datagrams"]][0] == '"%Y"'


def wait_for_udp_port(pid: int) -> int:
    for _ in range(100):
        out = subprocess.run(["ss", "-Hulnp"], capture_output=True, text=True, timeout=10).stdout
        match = re.search(rf"127\.0\.0\.1:(\d+)\s.*pid={pid},", out)
        if match:
            return int(match.group(1))
        time.sleep(0.1)
    raise AssertionError("serve udp --trace never bound")


def test_serve_udp_trace_with_two_clients(tmp_path):
    need_root()
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    # A port given with --port is captured before it is bound, so once ss shows it bound the
    # capture is ready. With port 0 the socket is bound first and the capture starts about
    # 0.5 s later (measured), and --json prints nothing to wait for: a client could be early.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "netinspect", "serve", "udp", "--mode", "upper", "--trace",
                             "--port", str(free), "--duration", "6", "--json", "-v"], cwd=tmp_path, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = wait_for_udp_port(proc.pid)
        assert port == free
        sent = {"one": 2, "three": 1}
        for text, count in sent.items():
            reply = subprocess.run([sys.executable, "-m", "netinspect", "connect", "udp", f"127.0.0.1:{port}",
                                    "--send", text, "--count", str(count), "--wait", "3"],
                                   cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
            assert reply.stdout == (text.upper() + "\n") * count, reply.stderr
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    exchanges = doc["trace"]["exchanges"]
    assert len(exchanges) == 2 and all(e["id.resp_p"] == port for e in exchanges)
    assert [(e["orig_pkts"], e["resp_pkts"]) for e in exchanges] == [(2, 2), (1, 1)]
    assert [(e["orig_bytes"], e["resp_bytes"]) for e in exchanges] == [(6, 8), (5, 6)]
    theirs = tshark_udp(tmp_path / doc["trace"]["saved"])
    assert doc["trace"]["saved_packets"] == len(theirs) == 6
    for exchange in exchanges:
        client = exchange["id.orig_p"]
        expected = [("orig" if src == client else "resp", length) for src, dst, length in theirs
                    if client in (src, dst)]
        assert rows_of(exchange) == expected


def test_serve_udp_trace_text(tmp_path):
    need_root()
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "netinspect", "serve", "udp", "--mode", "echo", "--trace",
                             "--duration", "4"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline()   # printed only once the capture is ready
        port = int(re.search(r"on 127\.0\.0\.1:(\d+)", first).group(1))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"ping\n", ("127.0.0.1", port))
            assert client.recvfrom(100)[0] == b"ping\n"
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert f"Trace of the UDP datagrams to serve echo on 127.0.0.1:{port}" in out
    assert re.search(r"── UDP 5 B\s+─+▶\s+\"ping\\n\"", out) and re.search(r"◀─ UDP 5 B\s+─+\s+\"ping\\n\"", out)
    assert "Exchange" not in out   # one client: no "Exchange 1 of N" heading


@pytest.mark.parametrize("argv, word", [
    (("serve", "udp", "--trace", "--framing", "length"), "--framing length"),
    (("serve", "udp", "--trace", "--port", "70000"), "70000"),
    (("serve", "udp", "--trace", "--bind", "not-an-ip"), "not-an-ip"),
    (("connect", "udp", "127.0.0.1:99999", "--trace"), "99999"),
    (("connect", "udp", "127.0.0.1:9", "--trace", "--count", "0", "--send", "x"), "--count"),
    (("connect", "udp", "127.0.0.1:9", "--trace", "--framing", "length"), "--framing length"),
    (("connect", "sctp", "127.0.0.1:9", "--trace"), "sctp"),
])
def test_bad_input_with_trace_is_one_line_and_exit_2(cli, tmp_path, monkeypatch, argv, word):
    monkeypatch.chdir(tmp_path)
    result = cli(*argv)
    assert result.status == 2, (result.out, result.err)
    assert word in result.err and "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "captures").exists()   # nothing was captured or saved


def test_serve_udp_trace_on_a_fixed_port_and_on_a_port_in_use(cli, tmp_path, monkeypatch):
    need_root()
    monkeypatch.chdir(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        busy = cli("serve", "udp", "--port", str(port), "--trace", "--duration", "1")
    assert busy.status == 1 and "in use" in busy.err and "Traceback" not in busy.err
    assert not (tmp_path / "captures").exists()       # the capture started first, then was abandoned
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "netinspect", "serve", "udp", "--port", str(port), "--trace",
                             "--duration", "3", "--json"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(0.2)
            answers = 0
            # Keep sending until the server answers: whatever reaches the port once the capture
            # runs (answered, or refused by ICMP before the bind) must be in the ladder as in tshark.
            for _ in range(40):
                try:
                    client.sendto(b"early\n", ("127.0.0.1", port))
                    client.recvfrom(100)
                    answers += 1
                    break
                except (ConnectionRefusedError, socket.timeout):
                    time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert answers == 1
    doc = json.loads(out)
    theirs = tshark_udp(tmp_path / doc["trace"]["saved"])
    (exchange,) = doc["trace"]["exchanges"]
    assert rows_of(exchange) == [("orig" if src != port else "resp", length) for src, _, length in theirs]
    assert rows_of(exchange)[-1] == ("resp", 14)       # the echo of "early\n"
    unreachable = tshark_unreachable(tmp_path / doc["trace"]["saved"])
    assert len([d for d in exchange["datagrams"] if d["kind"] == "icmp"]) == len(unreachable)
    assert exchange["port_closed"] == bool(unreachable)
