"""Helpers for the socket-loop tests: a server in a thread on 127.0.0.1:ephemeral, and clients."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import weakref

from netinspect.adapters.socket_loop import Caps, TcpServer, UdpServer
from netinspect.core.sessions import make_service


@contextlib.contextmanager
def running_server(mode="upper", framing="line", protocol="tcp", reuseaddr=True, port=0, **caps):
    events = []
    server_class = TcpServer if protocol == "tcp" else UdpServer
    server = server_class(make_service(mode), framing, "127.0.0.1", port, Caps(**caps),
                          reuseaddr=reuseaddr, on_event=events.append)
    server.open()
    thread = threading.Thread(target=server.serve, kwargs={"duration": 120}, daemon=True)
    thread.start()
    done = []

    def shutdown():
        if done:
            return
        done.append(True)
        server.stop()
        thread.join(15)
        assert not thread.is_alive(), "server loop did not stop"
        server.close()

    server.shutdown = shutdown
    try:
        yield server, events
    finally:
        shutdown()


def tcp_client(server, timeout=5.0) -> socket.socket:
    sock = socket.create_connection(server.address[:2], timeout=timeout)
    return sock


_pending = weakref.WeakKeyDictionary()  # socket -> bytes read past the last line returned


def read_line(sock, limit=1 << 20) -> bytes:
    data = _pending.pop(sock, bytearray())
    while b"\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(data)
        data += chunk
        assert len(data) <= limit
    cut = data.index(b"\n") + 1
    _pending[sock] = data[cut:]
    return bytes(data[:cut])


def read_until_eof(sock, limit=1 << 22) -> bytes:
    data = _pending.pop(sock, bytearray())
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(data)
        data += chunk
        assert len(data) <= limit


def ask(sock, text: str) -> str:
    sock.sendall(text.encode() + b"\n")
    return read_line(sock).decode()


def read_length_message(sock) -> bytes:
    header = _read_exact(sock, 4)
    (length,) = struct.unpack("!I", header)
    return _read_exact(sock, length)


def _read_exact(sock, count) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError(f"stream ended after {len(data)} of {count} bytes")
        data += chunk
    return bytes(data)


def wait_for(predicate, timeout=10.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def closed_events(events, peer=None):
    return [e for e in events if e.kind == "closed" and (peer is None or e.peer == peer)]


def peer_of(sock) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"
