"""Hostile clients, one per test. Each time a well-behaved bystander, connected before the
attack, must still be served afterwards, and the attacker gets a clear message or a clean
close (FIN, not a reset), never a crash."""

import contextlib
import random
import resource
import selectors
import socket
import struct
import time

import pytest

from netinspect.core.framing import LengthPrefixFramer
from tests.adapters.session_kit import (ask, closed_events, peer_of, read_length_message, read_line, read_until_eof,
                                        running_server, tcp_client, wait_for)


@contextlib.contextmanager
def bystander(server, framing="line"):
    sock = tcp_client(server)
    try:
        if framing == "line":
            assert ask(sock, "before") == "BEFORE\n"
        yield sock
        if framing == "line":
            assert ask(sock, "after") == "AFTER\n"
        else:
            sock.sendall(struct.pack("!I", 5) + b"after")
            assert read_length_message(sock) == b"AFTER"
    finally:
        sock.close()


def test_connect_and_vanish():
    with running_server("upper") as (server, events):
        with bystander(server):
            for _ in range(200):
                socket.create_connection(server.address, timeout=5).close()
            assert wait_for(lambda: len(closed_events(events)) >= 200)
        assert server.stats.accepted >= 201


def test_reset_mid_message():
    with running_server("upper") as (server, events):
        with bystander(server):
            sock = tcp_client(server)
            peer = peer_of(sock)
            sock.sendall(b"half a mess")
            time.sleep(0.1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # linger 0: RST instead of FIN
            assert wait_for(lambda: closed_events(events, peer))
        text = closed_events(events, peer)[0].text
        assert "reset" in text or "closed by the client" in text


def test_line_longer_than_the_cap_gets_a_message_and_a_clean_close():
    with running_server("upper", max_message=1024) as (server, events):
        with bystander(server):
            with tcp_client(server) as sock:
                sock.sendall(b"x" * 5000)
                reply = read_until_eof(sock)  # EOF, not ConnectionResetError
            assert reply == b"error: line longer than 1024 bytes without a newline; the limit is 1024; closing\n"
        assert server.stats.errors.get("line-too-long") == 1


def test_length_prefix_of_4_gib():
    with running_server("upper", framing="length") as (server, events):
        with bystander(server, framing="length"):
            with tcp_client(server) as sock:
                sock.sendall(struct.pack("!I", 0xFFFFFFFF) + b"tiny")
                message = read_length_message(sock)
                assert read_until_eof(sock) == b""
            assert b"4294967295" in message and b"maximum message size is 65536" in message
        assert server.stats.errors.get("message-too-large") == 1


def test_binary_garbage_is_served_without_harm():
    garbage = random.Random(7).randbytes(200_000)
    with running_server("echo", framing="raw") as (server, _):
        with tcp_client(server) as other:
            with tcp_client(server) as sock:
                sock.sendall(garbage)
                sock.shutdown(socket.SHUT_WR)
                assert read_until_eof(sock) == garbage
            other.sendall(b"clean")
            assert other.recv(100) == b"clean"
    with running_server("upper") as (server, _):
        with bystander(server):
            with tcp_client(server) as sock:
                line = bytes(b for b in garbage[:5000] if b != 0x0A)
                sock.sendall(line + b"\n")
                assert read_line(sock) == line.upper() + b"\n"


def test_utf8_character_split_across_two_sends():
    with running_server("upper", framing="raw") as (server, events):
        with tcp_client(server) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = peer_of(sock)
            sock.sendall(b"x\xc3")  # 'x' and the first byte of 'ä'
            time.sleep(0.2)
            sock.sendall(b"\xa4y")
            sock.shutdown(socket.SHUT_WR)
            assert read_until_eof(sock).decode("utf-8") == "XÄY"
        assert wait_for(lambda: closed_events(events, peer))
        assert "2 reads" in closed_events(events, peer)[0].text  # it really arrived split


def test_client_that_never_reads_while_the_server_writes():
    with running_server("upper", max_buffered=256 * 1024) as (server, events):
        with bystander(server):
            sock = tcp_client(server)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            peer = peer_of(sock)
            line = b"y" * 1023 + b"\n"
            sent, deadline = 0, time.monotonic() + 30
            try:
                while sent < (256 << 20) and time.monotonic() < deadline:
                    try:
                        sent += sock.send(line)
                    except BlockingIOError:
                        if closed_events(events, peer):
                            break
                        time.sleep(0.01)
            except OSError:
                pass  # the server closed us: exactly what should happen
            finally:
                sock.close()
            assert wait_for(lambda: closed_events(events, peer))
        assert "not reading" in closed_events(events, peer)[0].text
        assert server.stats.errors.get("not-reading") == 1


def test_two_thousand_connections_beyond_the_client_cap():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    cap = 20
    with running_server("upper", max_clients=cap) as (server, events):
        held = [tcp_client(server) for _ in range(cap)]
        extra = []
        try:
            for client in held:
                assert ask(client, "in") == "IN\n"
            for _ in range(2000):
                extra.append(socket.create_connection(server.address, timeout=10))
            told = 0
            for sock in extra:
                if read_until_eof(sock) == b"error: server full (20 clients); try again later\n":
                    told += 1
            assert told == 2000
            for client in held:  # everyone inside is still served
                assert ask(client, "still") == "STILL\n"
        finally:
            for sock in held + extra:
                sock.close()
        assert server.stats.refused_full == 2000
        assert server.stats.peak_clients == cap


def test_idle_client_is_told_and_closed():
    with running_server("upper", idle_timeout=0.5) as (server, _):
        with tcp_client(server) as sock:
            assert read_until_eof(sock) == b"error: idle for 0.5 s; closing\n"


@pytest.mark.parametrize("request_text, expected", [
    ("%n", b"error: directive %n is not allowed"),
    ("%-d", b"error: directive %- is not allowed"),
    ("%Y" * 5000, b"error: format is 10000 characters; the limit is 100"),
])
def test_time_format_hostile_requests_over_udp(request_text, expected):
    with running_server("time", protocol="udp") as (server, _):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(request_text.encode(), server.address)
            assert sock.recv(70000).startswith(expected)
            sock.sendto(b"%Y", server.address)  # the same peer is still served
            assert sock.recv(100).strip().isdigit()


def test_time_format_of_10000_characters_over_tcp_line():
    with running_server("time") as (server, _):
        with tcp_client(server) as sock:
            assert ask(sock, "%H" * 5000).startswith("error: format is 10000 characters")
            assert ask(sock, "%H").strip().isdigit()


def test_many_clients_interleaved_no_data_crosses():
    with running_server("upper") as (server, _):
        clients = [tcp_client(server) for _ in range(100)]
        try:
            for round_no in range(3):
                for index, sock in enumerate(clients):
                    sock.sendall(f"client {index} round {round_no}\n".encode())
                for index, sock in enumerate(clients):
                    assert read_line(sock) == f"CLIENT {index} ROUND {round_no}\n".encode()
        finally:
            for sock in clients:
                sock.close()


@pytest.mark.parametrize("framing", ["line", "raw", "length"])
def test_a_crowd_of_misbehaving_clients_at_once(framing):
    """300 clients doing random harm in random order (fixed seed) while one client keeps working."""
    rng = random.Random(f"crowd-{framing}")
    with running_server("upper", framing=framing, max_message=4096) as (server, events):
        honest = tcp_client(server)
        crowd = []
        try:
            for index in range(300):
                sock = socket.create_connection(server.address, timeout=5)
                crowd.append(sock)
                action = rng.choice(["garbage", "reset", "vanish", "halfclose", "huge-prefix", "long-line"])
                try:
                    if action == "garbage":
                        sock.sendall(rng.randbytes(rng.randint(1, 20000)))
                    elif action == "reset":
                        sock.sendall(rng.randbytes(rng.randint(1, 100)))
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        sock.close()
                    elif action == "vanish":
                        sock.close()
                    elif action == "halfclose":
                        sock.sendall(b"partial")
                        sock.shutdown(socket.SHUT_WR)
                    elif action == "huge-prefix":
                        sock.sendall(struct.pack("!I", rng.randint(4097, 0xFFFFFFFF)) + b"x")
                    else:
                        sock.sendall(b"z" * 9000)
                except OSError:
                    pass  # the server may already have closed a client that misbehaved
                if index % 50 == 0:
                    message = f"honest {index} äöü".encode()
                    if framing == "length":
                        honest.sendall(struct.pack("!I", len(message)) + message)
                        assert read_length_message(honest) == message.decode().upper().encode()
                    elif framing == "line":
                        assert ask(honest, message.decode()) == message.decode().upper() + "\n"
                    else:
                        honest.sendall(message)
                        want = message.decode().upper().encode()
                        got = b""
                        while len(got) < len(want):
                            chunk = honest.recv(4096)
                            assert chunk
                            got += chunk
                        assert got == want
        finally:
            for sock in crowd:
                sock.close()
            honest.close()
        assert wait_for(lambda: len(server.clients) == 0, timeout=15)
        assert server.stats.accepted == 301
