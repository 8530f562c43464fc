"""The selectors loop with well-behaved clients: echo, upper, chat, time, framings, UDP, reuse."""

import errno
import shutil
import socket
import struct
import subprocess
import time

import pytest

from netinspect.adapters.socket_loop import Caps, TcpServer
from netinspect.core.errors import RuntimeFailure
from netinspect.core.sessions import make_service
from tests.adapters.session_kit import (ask, closed_events, peer_of, read_length_message, read_line, read_until_eof,
                                        running_server, tcp_client, wait_for)


def test_upper_echo_over_tcp_and_clean_close_on_eof():
    with running_server("upper") as (server, events):
        with tcp_client(server) as sock:
            assert ask(sock, "hello") == "HELLO\n"
            assert ask(sock, "wörld") == "WÖRLD\n"
            sock.shutdown(socket.SHUT_WR)
            assert read_until_eof(sock) == b""
            peer = peer_of(sock)
        assert wait_for(lambda: closed_events(events, peer))
        assert "closed by the client" in closed_events(events, peer)[0].text
        assert server.stats.messages_in == 2


def test_length_framing_keeps_message_boundaries():
    with running_server("echo", framing="length") as (server, _):
        with tcp_client(server) as sock:
            wire = b"".join(struct.pack("!I", len(p)) + p for p in (b"one", b"", b"three\nlines\n"))
            sock.sendall(wire)
            assert [read_length_message(sock) for _ in range(3)] == [b"one", b"", b"three\nlines\n"]


def test_raw_framing_echoes_bytes_exactly():
    payload = bytes(range(256)) * 64
    with running_server("echo", framing="raw") as (server, _):
        with tcp_client(server) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            assert read_until_eof(sock) == payload


def test_chat_relays_to_others_with_sender_address():
    with running_server("chat") as (server, _):
        a, b, c = tcp_client(server), tcp_client(server), tcp_client(server)
        try:
            assert b"welcome" in read_line(a)
            read_line(a)  # b joined
            read_line(a)  # c joined
            assert b"welcome" in read_line(b)
            read_line(b)  # c joined
            assert b"welcome" in read_line(c)
            a.sendall(b"hi from a\n")
            expected = f"[{peer_of(a)}] hi from a\n".encode()
            assert read_line(b) == expected
            assert read_line(c) == expected
            a.settimeout(0.3)
            with pytest.raises(socket.timeout):
                a.recv(100)  # the sender does not get its own message back
        finally:
            for s in (a, b, c):
                s.close()


def test_time_service_answers_a_format_over_tcp():
    with running_server("time") as (server, _):
        with tcp_client(server) as sock:
            year = ask(sock, "%Y").strip()
            assert year == time.strftime("%Y") or int(year) == int(time.strftime("%Y")) - 1


def test_udp_upper_and_time():
    with running_server("upper", protocol="udp") as (server, _):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto("grüß\n".encode(), server.address)
            assert sock.recvfrom(65536)[0] == "GRÜSS\n".encode()
    with running_server("time", protocol="udp", framing="raw") as (server, _):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(b"%Y-%m-%d", server.address)
            answer = sock.recvfrom(65536)[0].decode()
            assert len(answer) == 10 and answer[4] == "-"


def test_udp_chat_relays_between_peers():
    with running_server("chat", protocol="udp") as (server, _):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for s in (a, b):
                s.settimeout(5)
                s.bind(("127.0.0.1", 0))
            a.sendto(b"hello\n", server.address)
            assert b"welcome" in a.recv(65536)
            b.sendto(b"hey\n", server.address)
            assert b"welcome" in b.recv(65536)
            assert b"joined" in a.recv(65536)
            assert a.recv(65536) == f"[{peer_of(b)}] hey\n".encode()
        finally:
            a.close()
            b.close()


def test_udp_datagram_of_65507_bytes_is_received_whole():
    payload = bytes(i % 251 for i in range(65507))
    with running_server("echo", protocol="udp", framing="raw") as (server, events):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(payload, server.address)
            answer = sock.recv(70000)
        assert answer == payload
        assert server.stats.truncated == 0
        assert server.stats.bytes_in == 65507


def test_udp_truncation_is_reported_never_silent():
    with running_server("echo", protocol="udp", framing="raw", udp_recv_size=1024) as (server, events):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(b"x" * 2000, server.address)
            answer = sock.recv(70000)
        assert answer.startswith(b"error: ") and b"truncated" in answer
        assert server.stats.truncated == 1
        assert any(e.kind == "truncated" and "1024" in e.text for e in events)


def _time_wait_on(port):
    ss = shutil.which("ss")
    if ss is None:
        return None
    out = subprocess.run([ss, "-Htan", "state", "time-wait", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    return out.strip() != ""


def _server_closes_first(reuseaddr):
    """Run a server, exchange a line, stop the server first: its side of the connection enters TIME_WAIT."""
    with running_server("echo", reuseaddr=reuseaddr) as (server, _):
        port = server.address[1]
        with tcp_client(server) as sock:
            assert ask(sock, "x") == "x\n"
            server.shutdown()
            assert read_until_eof(sock) == b""
    assert wait_for(lambda: _time_wait_on(port) is not False, timeout=5)
    return port


def test_no_reuseaddr_reproduces_address_in_use_after_restart():
    port = _server_closes_first(reuseaddr=False)
    again = TcpServer(make_service("echo"), "line", "127.0.0.1", port, Caps(), reuseaddr=False)
    with pytest.raises(RuntimeFailure) as caught:
        again.open()
    message = caught.value.message
    assert "address already in use" in message and "TIME_WAIT" in message and "\n" not in message


def test_reuseaddr_restarts_on_a_port_in_time_wait():
    port = _server_closes_first(reuseaddr=True)
    assert _time_wait_on(port) in (True, None)
    again = TcpServer(make_service("echo"), "line", "127.0.0.1", port, Caps(), reuseaddr=True)
    try:
        assert again.open()[1] == port
    finally:
        again.close()


def test_port_held_by_a_listener_is_explained_differently():
    with running_server("echo") as (server, _):
        other = TcpServer(make_service("echo"), "line", "127.0.0.1", server.address[1], Caps())
        with pytest.raises(RuntimeFailure) as caught:
            other.open()
        assert "another program" in caught.value.message


def test_stop_closes_every_client():
    with running_server("echo") as (server, _):
        clients = [tcp_client(server) for _ in range(10)]
        for c in clients:
            assert ask(c, "x") == "x\n"
        server.shutdown()
        for c in clients:
            assert read_until_eof(c) == b""
            c.close()
