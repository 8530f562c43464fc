"""The server side of `serve`: one selectors loop, non-blocking sockets, no thread per client.

The loop only moves bytes: it reads, hands the bytes to the client's framer
(`core.framing`), hands messages to the service (`core.sessions`), and writes what
the service answers. Per-client caps keep one client from hurting the others:

- client count: a client beyond `max_clients` is told "server full" and closed;
- message size: the framer's cap (line length, length prefix), told then closed;
- bytes waiting to be sent: a client that does not read while we write is closed
  once `max_buffered` bytes are queued for it;
- idle time: told then closed after `idle_timeout` seconds without a byte.

Closing is graceful: queued output is flushed, our side is shut down, and input is
drained for a moment so the client reads our last words instead of a reset.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from netinspect.core.errors import BadInput, RuntimeFailure
from netinspect.core.framing import FramingError, Message, make_framer
from netinspect.core.sessions import Close, Send, Service

READ_SIZE = 65536
UDP_MAX_PAYLOAD = 65507          # 65,535 - 8 (UDP header) - 20 (IPv4 header)
UDP_RECV_SIZE = 65536            # one more than any IPv4/IPv6 loopback payload, so MSG_TRUNC means too big
DRAIN_SECONDS = 2.0              # how long a closing client may keep sending before we close anyway
TIME_WAIT_SENTENCE = (
    "the port is still held by a connection in TIME_WAIT: the side that closes first keeps "
    "the address reserved for up to 60 s so late packets cannot reach a new connection, and "
    "without SO_REUSEADDR a new server may not bind it until then (run without --no-reuseaddr)"
)


@dataclass
class Caps:
    max_clients: int = 1024
    max_message: int = 65536
    max_buffered: int = 1 << 20
    idle_timeout: float = 300.0
    udp_recv_size: int = UDP_RECV_SIZE


@dataclass
class Event:
    time: float
    kind: str          # listening, connected, read, message, error, closed, refused, truncated, ...
    peer: str | None
    text: str
    detail: bool = False   # only shown with -v


@dataclass
class Stats:
    accepted: int = 0
    refused_full: int = 0
    closed: int = 0
    reads: int = 0
    messages_in: int = 0
    sends: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    errors: dict = field(default_factory=dict)
    truncated: int = 0
    peak_clients: int = 0

    def count_error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def peer_text(address) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def raise_nofile_limit(wanted: int) -> int:
    """Raise the soft open-files limit toward `wanted` (up to the hard limit); return the new soft limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def _bind_address(host: str, port: int, kind: int):
    try:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV)
    except socket.gaierror as error:
        raise BadInput(f"bind address {host!r} cannot be used: {error.strerror}; accepted: an IP address of this machine, "
                       "localhost, 0.0.0.0 or ::") from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _open_socket(host: str, port: int, kind: int, reuseaddr: bool) -> socket.socket:
    family, sockaddr = _bind_address(host, port, kind)
    sock = socket.socket(family, kind)
    try:
        if reuseaddr:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError as error:
        sock.close()
        where = peer_text(sockaddr)
        if error.errno == errno.EADDRINUSE:
            if reuseaddr or kind == socket.SOCK_DGRAM:
                raise RuntimeFailure(f"cannot listen on {where}: address already in use: another program is bound to "
                                     "it, or a server that ran without SO_REUSEADDR left a connection in TIME_WAIT "
                                     "(choose another --port, stop that program, or wait up to 60 s)") from None
            raise RuntimeFailure(f"cannot listen on {where}: address already in use: {TIME_WAIT_SENTENCE}") from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise BadInput(f"bind address {host!r} is not an address of this machine; accepted: one of its "
                           "addresses (see 'netinspect iface'), 127.0.0.1, 0.0.0.0 or ::") from None
        if error.errno == errno.EACCES:
            raise RuntimeFailure(f"cannot listen on {where}: ports below 1024 need root or CAP_NET_BIND_SERVICE") from None
        raise RuntimeFailure(f"cannot listen on {where}: {error.strerror}") from None
    return sock


class _Client:
    __slots__ = ("id", "sock", "peer", "framer", "out", "last_active", "reads", "bytes_in", "bytes_out",
                 "messages", "closing", "close_deadline", "read_closed", "draining", "mask")

    def __init__(self, client_id, sock, peer, framer, now):
        self.id = client_id
        self.sock = sock
        self.peer = peer
        self.framer = framer
        self.out = bytearray()
        self.last_active = now
        self.reads = self.bytes_in = self.bytes_out = self.messages = 0
        self.closing: str | None = None      # why we are closing, once decided
        self.close_deadline = 0.0
        self.read_closed = False             # the client sent FIN
        self.draining = False                # our FIN is sent; discarding input until theirs
        self.mask = 0


class _LoopBase:
    def __init__(self, service: Service, framing: str, host: str, port: int, caps: Caps | None,
                 reuseaddr: bool, on_event: Callable[[Event], None] | None):
        self.service = service
        self.framing = framing
        self.host = host
        self.port = port
        self.caps = caps or Caps()
        self.reuseaddr = reuseaddr
        self.on_event = on_event or (lambda event: None)
        self.stats = Stats()
        self.address: tuple | None = None
        self.selector: selectors.BaseSelector | None = None
        self._stopping = False
        self._wake_r = self._wake_w = None
        self._sock: socket.socket | None = None
        self._closed = False

    def emit(self, kind: str, peer: str | None, text: str, detail: bool = False) -> None:
        self.on_event(Event(time.time(), kind, peer, text, detail))

    def _open_common(self, kind: int) -> None:
        self._sock = _open_socket(self.host, self.port, kind, self.reuseaddr)
        self._sock.setblocking(False)
        self.address = self._sock.getsockname()
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")

    def stop(self) -> None:
        """Ask the loop to finish (safe from another thread or a signal handler)."""
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except (OSError, AttributeError):
            pass

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def serve(self, duration: float | None = None) -> None:
        """Run until stop(), Ctrl-C (KeyboardInterrupt propagates) or `duration` seconds."""
        end = None if duration is None else time.monotonic() + duration
        next_sweep = time.monotonic() + 0.5
        while not self._stopping:
            now = time.monotonic()
            if end is not None and now >= end:
                break
            timeout = max(0.0, min(next_sweep - now, (end - now) if end is not None else 1.0))
            for key, mask in self.selector.select(timeout):
                self._dispatch(key, mask)
            now = time.monotonic()
            if now >= next_sweep:
                self._sweep(now)
                next_sweep = now + 0.5

    def _close_sockets(self) -> None:
        """Close the listening socket, the wake-up pair and the selector (the end of close())."""
        for sock in (self._sock, self._wake_r, self._wake_w):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        if self.selector is not None:
            self.selector.close()

    def _dispatch(self, key, mask) -> None:
        raise NotImplementedError

    def _sweep(self, now: float) -> None:
        raise NotImplementedError


class TcpServer(_LoopBase):
    def __init__(self, service: Service, framing: str = "line", host: str = "127.0.0.1", port: int = 0,
                 caps: Caps | None = None, reuseaddr: bool = True, on_event: Callable[[Event], None] | None = None):
        super().__init__(service, framing, host, port, caps, reuseaddr, on_event)
        self.clients: dict[int, _Client] = {}
        self._next_id = 1
        self._accept_paused_until = 0.0

    def open(self, before_listen: Callable[[tuple], None] | None = None) -> tuple:
        """Bind, call `before_listen(address)` (e.g. start a capture on the port), then listen."""
        self._open_common(socket.SOCK_STREAM)
        if before_listen is not None:
            try:
                before_listen(self.address)
            except BaseException:
                self.close()
                raise
        self._sock.listen(4096)
        self.selector.register(self._sock, selectors.EVENT_READ, "listen")
        self.emit("listening", peer_text(self.address), f"tcp, mode {self.service.mode}, framing {self.framing}")
        return self.address

    # -- accepting ----------------------------------------------------------------------
    def _dispatch(self, key, mask) -> None:
        data = key.data
        if data == "listen":
            self._accept()
        elif data == "wake":
            self._drain_wake()
        else:
            client = data
            if mask & selectors.EVENT_READ and client.id in self.clients:
                self._read(client)
            if mask & selectors.EVENT_WRITE and client.id in self.clients:
                self._flush(client)

    def _accept(self) -> None:
        for _ in range(512):  # bounded, so a flood of connections cannot starve the clients
            try:
                conn, address = self._sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as error:
                if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of file descriptors: stop accepting for a moment instead of spinning.
                    self.emit("error", None, f"cannot accept more connections: {error.strerror}; pausing accept for 0.5 s")
                    self.stats.count_error("accept-" + errno.errorcode.get(error.errno, "?"))
                    self.selector.unregister(self._sock)
                    self._accept_paused_until = time.monotonic() + 0.5
                    return
                raise
            peer = peer_text(address)
            conn.setblocking(False)
            framer = make_framer(self.framing, self.caps.max_message)
            if len(self.clients) >= self.caps.max_clients:
                self.stats.refused_full += 1
                note = f"error: server full ({self.caps.max_clients} clients); try again later".encode()
                try:
                    conn.send(framer.encode(note))
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                conn.close()
                first = self.stats.refused_full == 1
                self.emit("refused", peer, f"server full ({self.caps.max_clients} clients): told the client and closed",
                          detail=not first)
                continue
            now = time.monotonic()
            client = _Client(self._next_id, conn, peer, framer, now)
            self._next_id += 1
            self.clients[client.id] = client
            self.stats.accepted += 1
            self.stats.peak_clients = max(self.stats.peak_clients, len(self.clients))
            self._set_mask(client, selectors.EVENT_READ)
            self.emit("connected", peer, f"connected ({len(self.clients)} client{'s' if len(self.clients) != 1 else ''})")
            self._apply(self.service.on_connect(client.id, peer))

    # -- reading ------------------------------------------------------------------------
    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except ConnectionResetError:
            self._drop(client, "reset by the client (RST) ", error="reset")
            return
        except OSError as error:
            self._drop(client, f"read failed: {error.strerror}", error="read-error")
            return
        client.last_active = time.monotonic()
        if client.draining:
            if not data:
                self._finish_close(client)
            return
        if not data:
            client.read_closed = True
            self.emit("eof", client.peer, "the client closed its sending side (FIN)", detail=True)
            self._handle(client, client.framer.finish())
            if client.id in self.clients and not client.closing:
                self._close_later(client, "closed by the client")
            return
        client.reads += 1
        client.bytes_in += len(data)
        self.stats.reads += 1
        self.stats.bytes_in += len(data)
        self.emit("read", client.peer, f"read #{client.reads}: {len(data)} bytes", detail=True)
        if client.closing:
            return  # told to go; ignore what it still sends
        self._handle(client, client.framer.feed(data))

    def _handle(self, client: _Client, items) -> None:
        for item in items:
            if client.id not in self.clients or client.closing:
                return
            if isinstance(item, FramingError):
                self.stats.count_error(item.code)
                self.emit("error", client.peer, f"{item.text}: told the client and closed")
                self._queue(client, f"error: {item.text}; closing".encode())
                self._close_later(client, item.code)
                return
            client.messages += 1
            self.stats.messages_in += 1
            self.emit("message", client.peer, f"message {len(item.data)} bytes: {item.shown()[:200]!r}", detail=True)
            self._apply(self.service.on_message(client.id, item))

    # -- writing ------------------------------------------------------------------------
    def _apply(self, actions) -> None:
        for action in actions:
            target = self.clients.get(action.client)
            if target is None or target.closing:
                continue
            if isinstance(action, Send):
                self._queue(target, action.payload)
            elif isinstance(action, Close):
                self._close_later(target, action.reason)

    def _queue(self, client: _Client, payload: bytes) -> None:
        client.out += client.framer.encode(payload)
        self.stats.sends += 1
        if len(client.out) > self.caps.max_buffered:
            self.stats.count_error("not-reading")
            self._drop(client, f"{len(client.out)} bytes waiting to be sent and the client is not reading "
                               f"(limit {self.caps.max_buffered} bytes)", error=None)
            return
        self._flush(client)

    def _flush(self, client: _Client) -> None:
        while client.out:
            try:
                sent = client.sock.send(client.out[:262144])
            except BlockingIOError:
                break
            except OSError as error:
                self._drop(client, f"gone while we were writing ({error.strerror})", error="write-error")
                return
            del client.out[:sent]
            client.bytes_out += sent
            self.stats.bytes_out += sent
        if not client.out and client.closing and not client.draining:
            self._shutdown_write(client)
            return
        want = (0 if client.read_closed else selectors.EVENT_READ) | (selectors.EVENT_WRITE if client.out else 0)
        self._set_mask(client, want)

    def _set_mask(self, client: _Client, mask: int) -> None:
        if mask == client.mask:
            return
        if client.mask == 0:
            self.selector.register(client.sock, mask, client)
        elif mask == 0:
            self.selector.unregister(client.sock)
        else:
            self.selector.modify(client.sock, mask, client)
        client.mask = mask

    # -- closing ------------------------------------------------------------------------
    def _close_later(self, client: _Client, reason: str) -> None:
        """Flush what is queued, then send FIN; the client gets our last words, not a reset."""
        if client.closing:
            return
        client.closing = reason
        client.close_deadline = time.monotonic() + DRAIN_SECONDS
        self._flush(client)

    def _shutdown_write(self, client: _Client) -> None:
        if client.read_closed:
            self._finish_close(client)
            return
        try:
            client.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._finish_close(client)
            return
        client.draining = True
        client.close_deadline = time.monotonic() + DRAIN_SECONDS
        self._set_mask(client, selectors.EVENT_READ)

    def _finish_close(self, client: _Client) -> None:
        self._remove(client, client.closing or "closed")

    def _drop(self, client: _Client, reason: str, error: str | None) -> None:
        if error:
            self.stats.count_error(error)
        client.out.clear()
        self._remove(client, reason)

    def _remove(self, client: _Client, reason: str) -> None:
        if self.clients.pop(client.id, None) is None:
            return
        self._set_mask(client, 0)
        try:
            client.sock.close()
        except OSError:
            pass
        self.stats.closed += 1
        self.emit("closed", client.peer,
                  f"{reason.strip()}: {client.reads} read{'s' if client.reads != 1 else ''}, {client.bytes_in} bytes in, "
                  f"{client.messages} message{'s' if client.messages != 1 else ''}, {client.bytes_out} bytes out "
                  f"({len(self.clients)} left)")
        self._apply(self.service.on_close(client.id))

    def _sweep(self, now: float) -> None:
        if self._accept_paused_until and now >= self._accept_paused_until:
            self._accept_paused_until = 0.0
            self.selector.register(self._sock, selectors.EVENT_READ, "listen")
        idle_limit = self.caps.idle_timeout
        for client in list(self.clients.values()):
            if client.id not in self.clients:
                continue
            if client.closing:
                if now >= client.close_deadline:
                    self._drop(client, f"{client.closing} (closed after {DRAIN_SECONDS:g} s without a clean finish)",
                               error=None)
            elif now - client.last_active >= idle_limit:
                self.stats.count_error("idle")
                self.emit("error", client.peer, f"idle for {idle_limit:g} s: told the client and closed")
                self._queue(client, f"error: idle for {idle_limit:g} s; closing".encode())
                if client.id in self.clients:
                    self._close_later(client, "idle timeout")

    def close(self) -> int:
        """Close every client (FIN) and the listening socket; return how many clients were open."""
        if self._closed:
            return 0
        self._closed = True
        count = len(self.clients)
        for client in list(self.clients.values()):
            try:
                client.sock.send(bytes(client.out[:65536]))
            except OSError:
                pass
            client.out.clear()
            client.closing = client.closing or "server stopped"
            try:
                client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._remove(client, client.closing)
        self._close_sockets()
        return count


class UdpServer(_LoopBase):
    """Datagrams keep their boundaries: each one is one message; a peer is a client while it is active."""

    def __init__(self, service: Service, framing: str = "line", host: str = "127.0.0.1", port: int = 0,
                 caps: Caps | None = None, reuseaddr: bool = True, on_event: Callable[[Event], None] | None = None):
        super().__init__(service, framing, host, port, caps, reuseaddr, on_event)
        self.peers: dict[tuple, float] = {}

    def open(self) -> tuple:
        self._open_common(socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        except OSError:
            pass
        self.selector.register(self._sock, selectors.EVENT_READ, "udp")
        self.emit("listening", peer_text(self.address), f"udp, mode {self.service.mode}, framing {self.framing}")
        return self.address

    def _dispatch(self, key, mask) -> None:
        if key.data == "wake":
            self._drain_wake()
            return
        for _ in range(256):  # bounded per wake-up
            try:
                data, _anc, flags, address = self._sock.recvmsg(self.caps.udp_recv_size)
            except BlockingIOError:
                return
            except OSError as error:
                # An ICMP error for an earlier reply (e.g. port unreachable): note it, keep serving.
                self.emit("error", None, f"receive error: {error.strerror}", detail=True)
                continue
            self._datagram(data, flags, address)

    def _datagram(self, data: bytes, flags: int, address) -> None:
        peer = peer_text(address)
        self.stats.reads += 1
        self.stats.bytes_in += len(data)
        if flags & socket.MSG_TRUNC:
            self.stats.truncated += 1
            self.emit("truncated", peer, f"datagram larger than the {self.caps.udp_recv_size}-byte receive buffer was "
                                         f"truncated to {len(data)} bytes by the kernel: not processed, client told")
            self._send_to(address, f"error: your datagram was larger than {self.caps.udp_recv_size} bytes and was "
                                   "truncated; not processed".encode())
            return
        self.emit("read", peer, f"datagram {len(data)} bytes", detail=True)
        now = time.monotonic()
        if address not in self.peers:
            if len(self.peers) >= self.caps.max_clients:
                self.stats.refused_full += 1
                self.emit("refused", peer, f"server full ({self.caps.max_clients} peers): told the client",
                          detail=self.stats.refused_full > 1)
                self._send_to(address, f"error: server full ({self.caps.max_clients} peers); try again later".encode())
                return
            self.peers[address] = now
            self.stats.accepted += 1
            self.stats.peak_clients = max(self.stats.peak_clients, len(self.peers))
            self.emit("connected", peer, f"new peer ({len(self.peers)} active)")
            self._apply(self.service.on_connect(address, peer))
        self.peers[address] = now
        if self.framing == "line":
            data = data[:-1] if data.endswith(b"\n") else data
            data = data[:-1] if data.endswith(b"\r") else data
        message = Message.of(data)
        self.stats.messages_in += 1
        self.emit("message", peer, f"message {len(data)} bytes: {message.shown()[:200]!r}", detail=True)
        self._apply(self.service.on_message(address, message))

    def _apply(self, actions) -> None:
        for action in actions:
            if isinstance(action, Send):
                payload = action.payload + b"\n" if self.framing == "line" else action.payload
                self._send_to(action.client, payload)
            elif isinstance(action, Close):
                self._forget(action.client, action.reason)

    def _send_to(self, address, payload: bytes) -> None:
        if len(payload) > UDP_MAX_PAYLOAD:
            self.stats.count_error("reply-too-large")
            self.emit("error", peer_text(address), f"reply of {len(payload)} bytes exceeds the UDP maximum of "
                                                   f"{UDP_MAX_PAYLOAD}: not sent, client told")
            payload = f"error: the reply would be {len(payload)} bytes, over the UDP maximum of {UDP_MAX_PAYLOAD}".encode()
        try:
            self._sock.sendto(payload, address)
        except BlockingIOError:
            self.stats.count_error("send-would-block")
            self.emit("error", peer_text(address), "send buffer full: reply dropped", detail=True)
            return
        except OSError as error:
            self.stats.count_error("send-error")
            self.emit("error", peer_text(address), f"send failed: {error.strerror}")
            return
        self.stats.sends += 1
        self.stats.bytes_out += len(payload)

    def _forget(self, address, reason: str) -> None:
        if self.peers.pop(address, None) is None:
            return
        self.stats.closed += 1
        self.emit("closed", peer_text(address), f"{reason} ({len(self.peers)} active)")
        self._apply(self.service.on_close(address))

    def _sweep(self, now: float) -> None:
        limit = self.caps.idle_timeout
        for address, seen in list(self.peers.items()):
            if now - seen >= limit:
                self._forget(address, f"forgotten after {limit:g} s without a datagram")

    def close(self) -> int:
        if self._closed:
            return 0
        self._closed = True
        count = len(self.peers)
        self.peers.clear()
        self._close_sockets()
        return count
