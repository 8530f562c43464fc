"""--trace on serve and connect: the trace-handshake pipeline around a real session (needs root)."""

import json
import os
import pathlib
import re
import subprocess
import sys

from tests.adapters.session_kit import running_server
from tests.conftest import need_root, need_tool

ROOT = pathlib.Path(__file__).resolve().parents[2]


def tshark_streams(path) -> tuple[int, set]:
    tshark = need_tool("tshark")
    out = subprocess.run([tshark, "-r", str(path), "-T", "fields", "-e", "tcp.stream"],
                         capture_output=True, text=True, timeout=60).stdout.split()
    return len(out), set(out)


def test_connect_trace_shows_its_own_connection(cli, tmp_path, monkeypatch):
    need_root()
    monkeypatch.chdir(tmp_path)
    with running_server("upper") as (server, _):
        result = cli("connect", "tcp", f"127.0.0.1:{server.address[1]}", "--send", "hello", "--trace", "--json")
    assert result.status == 0, result.err
    doc = json.loads(result.out)
    assert [r["text"] for r in doc["replies"]] == ["HELLO"]
    local_port = int(doc["local"].rsplit(":", 1)[1])
    (conn,) = doc["trace"]["connections"]
    assert conn["id.orig_p"] == local_port and conn["id.resp_p"] == server.address[1]
    assert conn["handshake"] == "three-way" and conn["closed_by"] == "orig"
    assert conn["orig_bytes"] == conn["resp_bytes"] == 6
    assert [s["flags"] for s in conn["segments"][:3]] == ["SYN", "SYN+ACK", "ACK"]
    saved = tmp_path / doc["trace"]["saved"]
    packets, streams = tshark_streams(saved)
    assert packets == doc["trace"]["saved_packets"] == len(conn["segments"])
    assert streams == {"0"}


def test_connect_trace_text_ladder(cli, tmp_path, monkeypatch):
    need_root()
    monkeypatch.chdir(tmp_path)
    with running_server("upper") as (server, _):
        result = cli("connect", "tcp", f"127.0.0.1:{server.address[1]}", "--send", "hi", "--trace")
    assert result.status == 0, result.err
    assert result.out.startswith("HI\n")
    assert "handshake 1/3 SYN" in result.out and "handshake 3/3 ACK" in result.out
    assert re.search(r"Teardown\s+\S", result.out) and "Saved      captures/session-" in result.out


def test_connect_trace_of_a_refused_port_still_shows_syn_and_rst(cli, tmp_path, monkeypatch):
    need_root()
    monkeypatch.chdir(tmp_path)
    import socket

    with socket.socket() as closed:  # bound, not listening: the SYN is answered by RST
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        result = cli("connect", "tcp", f"127.0.0.1:{port}", "--send", "x", "--trace")
    assert result.status == 1
    assert "refused" in result.err
    assert "SYN" in result.out and "RST" in result.out


def test_serve_trace_shows_every_client(tmp_path):
    need_root()
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "netinspect", "serve", "tcp", "--mode", "upper", "--trace",
                             "--duration", "6", "--json", "-v"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        import time

        port = None
        for _ in range(100):  # the listening socket exists only once the capture is ready
            out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True, timeout=10).stdout
            match = re.search(rf"127\.0\.0\.1:(\d+)\s.*pid={proc.pid},", out)
            if match:
                port = int(match.group(1))
                break
            time.sleep(0.1)
        assert port, "serve --trace never listened"
        for text in ("one", "two"):
            reply = subprocess.run([sys.executable, "-m", "netinspect", "connect", "tcp", f"127.0.0.1:{port}",
                                    "--send", text], cwd=tmp_path, env=env, capture_output=True, text=True,
                                   timeout=30)
            assert reply.stdout == text.upper() + "\n"
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    connections = doc["trace"]["connections"]
    assert len(connections) == 2
    assert all(c["handshake"] == "three-way" and c["id.resp_p"] == port for c in connections)
    assert sorted(c["orig_bytes"] for c in connections) == [4, 4]
    packets, streams = tshark_streams(tmp_path / doc["trace"]["saved"])
    assert streams == {"0", "1"} and packets == doc["trace"]["saved_packets"]
