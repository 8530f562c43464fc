"""serve and connect through the CLI: in-process via raw_main, and as subprocesses we start and stop by PID."""

import ast
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import run_cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTHON = [sys.executable, "-m", "netinspect"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`netinspect serve ...` in a subprocess; the port is read from its first line."""

    def __init__(self, *args):
        env = dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(PYTHON + ["serve", *args], cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = self.proc.stdout.readline()
        match = re.search(r" on 127\.0\.0\.1:(\d+) ", first)
        if not match:
            self.stop()
            raise AssertionError(f"server did not start: {first!r} {self.proc.stderr.read()!r}")
        self.port = int(match.group(1))
        self.first_line = first

    def interrupt(self, timeout=15):
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, self.first_line + out, err

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=15)


@pytest.fixture
def server_factory():
    started = []

    def start(*args):
        server = Server(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def connect(*args, stdin="", timeout=30):
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(PYTHON + ["connect", *args], cwd=ROOT, env=env, input=stdin, text=True,
                          capture_output=True, timeout=timeout)


# -- bad input: exit 2 and one line -----------------------------------------------------

@pytest.mark.parametrize("argv, named", [
    (["serve", "tcp", "--port", "99999"], "'99999'"),
    (["serve", "tcp", "--port", "８０"], "'８０'"),
    (["serve", "tcp", "--port", "-1"], "'-1'"),
    (["serve", "tcp", "--port", " 80"], "' 80'"),
    (["serve", "tcp", "--port", "0x50"], "'0x50'"),
    (["serve", "sctp"], "'sctp'"),
    (["serve", "tcp", "--mode", "shell"], "'shell'"),
    (["serve", "tcp", "--framing", "json"], "'json'"),
    (["serve", "udp", "--framing", "length"], "length"),
    (["serve", "tcp", "--max-clients", "0"], "'0'"),
    (["serve", "tcp", "--idle-timeout", "nan"], "'nan'"),
    (["serve", "tcp", "--bind", "nonsense.invalid"], "'nonsense.invalid'"),
    (["serve", "tcp", "--bind", "10.0.0.1/24"], "'10.0.0.1/24'"),
    (["connect", "tcp", "127.0.0.1"], "'127.0.0.1'"),
    (["connect", "tcp", "127.0.0.1:0"], "'0'"),
    (["connect", "tcp", "::1:80"], "'::1:80'"),
    (["connect", "tcp", "[nope]:80"], "'nope'"),
    (["connect", "tcp", "127.0.0.1:80", "--burst", "many"], "'many'"),
    (["connect", "udp", "127.0.0.1:80", "--framing", "length"], "length"),
])
def test_bad_input_is_exit_2_one_line(cli, argv, named):
    result = cli(*argv)
    assert result.status == 2, result.err
    assert result.err.count("\n") == 1 and named in result.err and "Traceback" not in result.err


def test_bad_port_in_host_port_reads_as_a_sentence(cli):
    result = cli("connect", "tcp", "127.0.0.1:99999", "--send", "x")
    assert result.status == 2
    assert result.err == ("netinspect: address '127.0.0.1:99999': port '99999' is not a valid port; "
                          "accepted: a number 1-65535\n")


def test_connect_refused_is_exit_1_one_line(cli):
    result = cli("connect", "tcp", f"127.0.0.1:{free_port()}", "--send", "x")
    assert result.status == 1
    assert "refused" in result.err and result.err.count("\n") == 1


def test_connect_udp_to_nothing_is_exit_1(cli):
    result = cli("connect", "udp", f"127.0.0.1:{free_port()}", "--send", "x", "--wait", "2")
    assert result.status == 1
    assert "no UDP server" in result.err


# -- in-process ------------------------------------------------------------------------

def _serve_in_thread(*argv):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", run_cli("serve", *argv)), daemon=True)
    thread.start()
    return thread, box


def _wait_listening(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("server did not listen")


def _wait_udp_bound(port, timeout=10):
    """Until a UDP socket is bound to 127.0.0.1:port (read from /proc, so no probe datagram
    reaches the server and no probe socket competes for the port)."""
    wanted = f"0100007F:{port:04X}"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open("/proc/net/udp") as table:
            if any(line.split()[1] == wanted for line in table.readlines()[1:]):
                return
        time.sleep(0.05)
    raise AssertionError(f"no UDP socket bound to 127.0.0.1:{port}")


def test_in_process_upper_serve_and_connect(cli):
    port = free_port()
    thread, box = _serve_in_thread("tcp", "--port", str(port), "--mode", "upper", "--duration", "3")
    _wait_listening(port)
    result = cli("connect", "tcp", f"127.0.0.1:{port}", "--send", "hello wörld", "--count", "2")
    assert result.status == 0, result.err
    assert result.out == "HELLO WÖRLD\nHELLO WÖRLD\n"
    assert "sent 2 messages" in result.err and "server closed the connection" in result.err
    thread.join(15)
    served = box["result"]
    assert served.status == 0
    assert "serving tcp, mode upper, framing line on 127.0.0.1:" in served.out
    assert "closed by the client" in served.out  # the probe and the client
    assert "served " in served.out.splitlines()[-1]


def test_in_process_serve_json_and_length_framing(cli):
    port = free_port()
    thread, box = _serve_in_thread("tcp", "--port", str(port), "--framing", "length", "--duration", "2", "--json")
    _wait_listening(port)
    result = cli("connect", "tcp", f"127.0.0.1:{port}", "--framing", "length", "--send", "a\nb", "--json")
    assert result.status == 0
    import json

    doc = json.loads(result.out)
    assert doc["schema_version"] and doc["kind"] == "connect"
    assert [r["text"] for r in doc["replies"]] == ["a\nb"]
    thread.join(15)
    served = json.loads(box["result"].out)
    assert served["kind"] == "serve" and served["stats"]["messages_in"] == 1


def test_stop_line_counts_are_singular_for_one(cli):
    port = free_port()
    thread, box = _serve_in_thread("tcp", "--port", str(port), "--duration", "2")
    _wait_listening(port)
    assert cli("connect", "tcp", f"127.0.0.1:{port}", "--send", "x").status == 0
    thread.join(15)
    last = box["result"].out.splitlines()[-1]
    assert ", 1 read, 1 message in, 2 bytes in, 2 bytes out;" in last, last


def test_connect_udp_sends_an_empty_datagram(cli):
    # The lessons' time client may send an empty format; the time server answers it.
    port = free_port()
    thread, box = _serve_in_thread("udp", "--port", str(port), "--mode", "time", "--duration", "2")
    _wait_udp_bound(port)
    result = cli("connect", "udp", f"127.0.0.1:{port}", "--send", "", "--wait", "1")
    assert result.status == 0, result.err
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\n", result.out), result.out
    thread.join(15)
    assert "1 message in, 0 bytes in" in box["result"].out.splitlines()[-1]


def test_both_sides_agree_who_closed_first(cli):
    # The server logs "closed by the client" after connect's FIN at end of input; connect
    # must not claim the server closed first.
    port = free_port()
    thread, box = _serve_in_thread("tcp", "--port", str(port), "--duration", "2")
    _wait_listening(port)
    result = cli("connect", "tcp", f"127.0.0.1:{port}", "--send", "x")
    assert "end of input, so the client sent FIN; then the server closed the connection: " \
           "sent 1 message (2 bytes) in 1 send() call; received 2 bytes in 1 read, 1 message" in result.err
    doc = cli("connect", "tcp", f"127.0.0.1:{port}", "--send", "x", "--json")
    assert json.loads(doc.out)["stats"]["fin_sent_first"] is True
    thread.join(15)
    assert box["result"].out.count("closed by the client") == 3   # the probe and both clients


def test_connect_escapes_control_characters_from_the_server(cli):
    # A reply with NUL and an ESC sequence must not reach the terminal raw.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer():
        conn, _ = listener.accept()
        with conn:
            conn.recv(100)
            conn.sendall(b"\x00\x1b[31mred\ttab\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        result = cli("connect", "tcp", f"127.0.0.1:{port}", "--send", "x", "--wait", "1")
    finally:
        thread.join(10)
        listener.close()
    assert result.status == 0, result.err
    assert result.out == "\\x00\\x1b[31mred\ttab\n"


def test_length_framing_explains_a_little_endian_prefix(cli):
    # The lessons pack the length with struct.pack('i', n): native, little-endian here.
    import struct

    port = free_port()
    thread, box = _serve_in_thread("tcp", "--port", str(port), "--framing", "length", "--duration", "2")
    _wait_listening(port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(struct.pack("<i", 5) + b"hello")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    thread.join(15)
    assert b"read little-endian it would be 5" in reply and b"struct.pack('!I', n)" in reply
    assert "read little-endian it would be 5" in box["result"].out


def test_connect_reads_stdin_lines(cli):
    port = free_port()
    thread, _ = _serve_in_thread("tcp", "--port", str(port), "--mode", "upper", "--duration", "2")
    _wait_listening(port)
    result = cli("connect", "tcp", f"127.0.0.1:{port}", stdin="one\ntwo\r\nthree")
    assert result.out == "ONE\nTWO\nTHREE\n"
    thread.join(15)


def test_non_loopback_bind_warns(cli):
    result = cli("serve", "tcp", "--bind", "0.0.0.0", "--duration", "0.2")
    assert result.status == 0
    assert result.err.startswith("warning: listening on 0.0.0.0: not loopback")


# -- subprocesses ----------------------------------------------------------------------

def test_ctrl_c_closes_every_client_and_exits_130(server_factory):
    server = server_factory("tcp", "--mode", "upper")
    clients = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(5)]
    try:
        for c in clients:
            c.sendall(b"hi\n")
            assert c.recv(100) == b"HI\n"
        status, out, err = server.interrupt()
        assert status == 130
        assert "interrupted (Ctrl-C): closed 5 open clients" in out
        for c in clients:
            assert c.recv(100) == b""  # a clean FIN
    finally:
        for c in clients:
            c.close()


def test_no_reuseaddr_after_restart_explains_time_wait(server_factory):
    first = server_factory("tcp", "--no-reuseaddr")
    port = first.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"x\n")
        assert sock.recv(10) == b"x\n"
        assert first.interrupt()[0] == 130  # the server closes first: its side enters TIME_WAIT
        assert sock.recv(10) == b""
    env = dict(os.environ, NO_COLOR="1")
    again = subprocess.run(PYTHON + ["serve", "tcp", "--port", str(port), "--no-reuseaddr", "--duration", "0.2"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1
    assert "address already in use" in again.stderr and "TIME_WAIT" in again.stderr


def test_default_reuseaddr_restarts_at_once(server_factory):
    first = server_factory("tcp")
    port = first.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"x\n")
        assert sock.recv(10) == b"x\n"
        assert first.interrupt()[0] == 130
        assert sock.recv(10) == b""
    second = server_factory("tcp", "--port", str(port))
    assert second.port == port


def test_connect_subprocess_stdin_and_udp_time(server_factory):
    tcp = server_factory("tcp", "--mode", "upper")
    result = connect("tcp", f"127.0.0.1:{tcp.port}", stdin="hello\nworld\n")
    assert result.returncode == 0 and result.stdout == "HELLO\nWORLD\n"
    udp = server_factory("udp", "--mode", "time")
    result = connect("udp", f"127.0.0.1:{udp.port}", "--send", "%Y")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in {time.strftime("%Y"), str(int(time.strftime("%Y")) - 1)}
    result = connect("udp", f"127.0.0.1:{udp.port}", "--send", "%n")
    assert result.stdout.startswith("error: directive %n is not allowed")


def _readline(proc, timeout=15.0) -> str:
    """One line from a child's stdout, or fail after `timeout` (a hang must not stall the suite)."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no output within {timeout} s")
    return proc.stdout.readline()


def test_interactive_chat_between_two_connect_processes(server_factory):
    chat = server_factory("tcp", "--mode", "chat")
    env = dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1")
    procs = []

    def start():
        proc = subprocess.Popen(PYTHON + ["connect", "tcp", f"127.0.0.1:{chat.port}"], cwd=ROOT, env=env, text=True,
                                bufsize=1, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        assert "welcome" in _readline(proc)
        return proc

    try:
        alice = start()
        bob = start()
        assert "joined" in _readline(alice)
        alice.stdin.write("hi bob\n")
        alice.stdin.flush()  # stdin stays open: this is an interactive session, not a script
        assert re.fullmatch(r"\[127\.0\.0\.1:\d+\] hi bob\n", _readline(bob))
        bob.stdin.write("hi alice\n")
        bob.stdin.flush()
        assert _readline(alice).endswith("] hi alice\n")
    finally:
        for proc in procs:
            proc.stdin.close()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()


def test_burst_sends_many_and_counts_reads(server_factory):
    server = server_factory("tcp", "--framing", "raw", "-v")
    result = connect("tcp", f"127.0.0.1:{server.port}", "--framing", "raw", "--burst", "50", "--send", "ab")
    assert result.returncode == 0
    assert "sent 50 messages (100 bytes) in 50 send() calls" in result.stderr
    reads = re.findall(r"\[read (\d+), (\d+) bytes\] ", result.stdout)
    assert sum(int(size) for _, size in reads) == 100
    status, out, _ = server.interrupt()
    server_reads = re.search(r"closed by the client: (\d+) reads?, 100 bytes in", out)
    assert server_reads and 1 <= int(server_reads.group(1)) <= 50


def test_burst_with_line_framing_names_the_read_each_message_came_from(server_factory):
    server = server_factory("tcp")
    result = connect("tcp", f"127.0.0.1:{server.port}", "--burst", "3")
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^\[from read (\d+), (\d+) bytes\] (msg \d)$", result.stdout, re.M)
    assert [(size, text) for _, size, text in rows] == [("5", "msg 1"), ("5", "msg 2"), ("5", "msg 3")]
    assert "try --framing length" not in result.stderr
    assert "--framing line cut them back into 3 messages" in result.stderr


# -- never a command for a client ---------------------------------------------------------

def test_session_code_never_runs_commands():
    files = ["netinspect/core/sessions.py", "netinspect/core/framing.py", "netinspect/adapters/socket_loop.py",
             "netinspect/adapters/session_client.py", "netinspect/cli/serve.py", "netinspect/cli/connect.py"]
    forbidden_modules = {"subprocess", "pty", "shlex"}
    forbidden_calls = {"system", "popen", "execv", "execvp", "execve", "spawnv", "eval", "exec", "__import__"}
    for name in files:
        tree = ast.parse((ROOT / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not {m.split(".")[0] for m in mods} & forbidden_modules, name
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert called not in forbidden_calls, f"{name}: {called}"


def test_connect_ctrl_c_exits_130(server_factory):
    server = server_factory("tcp", "--mode", "chat")
    env = dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(PYTHON + ["connect", "tcp", f"127.0.0.1:{server.port}"], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert "welcome" in _readline(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert "Traceback" not in err
    status, log, _ = server.interrupt()
    assert re.search(r"closed by the client|reset by the client", log)


def test_connect_from_a_terminal(server_factory):
    """stdin and stdout on a pseudo-terminal, as when a person types: each line is answered at once."""
    import pty
    import selectors

    server = server_factory("tcp", "--mode", "upper")
    master, slave = pty.openpty()
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.Popen(PYTHON + ["connect", "tcp", f"127.0.0.1:{server.port}"], cwd=ROOT, env=env,
                            stdin=slave, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    try:
        os.write(master, b"typed by hand\n")
        with selectors.DefaultSelector() as sel:
            sel.register(master, selectors.EVENT_READ)
            end = time.monotonic() + 15
            while b"TYPED BY HAND" not in seen and time.monotonic() < end:
                if sel.select(0.5):
                    try:
                        seen += os.read(master, 4096)
                    except OSError:
                        break
        assert b"TYPED BY HAND" in seen  # the terminal echoes the input; the reply follows it
        os.write(master, b"\x04")  # Ctrl-D: end of input
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)
        os.close(master)
