"""The client side of `connect`: one selectors loop over the socket and standard input.

Standard input is read as it arrives (so a terminal gives an interactive chat), framed
with the same framer as the server, and sent; what comes back is decoded with that
framer and handed to `on_reply`. TCP: at the end of input our side is shut down (FIN)
and replies are read until the server closes or goes quiet. UDP: each input line is one
datagram; replies are awaited until each datagram has had one or the wait runs out.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from netinspect.core.errors import BadInput, RuntimeFailure
from netinspect.core.framing import FramingError, Message, make_framer

READ_SIZE = 65536
UDP_RECV_SIZE = 65536


@dataclass
class ClientStats:
    sends: int = 0
    messages_sent: int = 0
    bytes_sent: int = 0
    reads: int = 0
    messages_received: int = 0
    bytes_received: int = 0
    read_sizes: list = field(default_factory=list)
    closed_by: str = ""          # server | client | quiet | timeout
    truncated: int = 0
    fin_sent_first: bool = False  # TCP: end of input sent our FIN before the server closed

    def as_dict(self) -> dict:
        data = dict(self.__dict__)
        data["read_sizes"] = list(self.read_sizes[:1000])
        return data


def resolve_all(host: str, port: int, kind: int) -> list[tuple[int, tuple]]:
    """Every (family, sockaddr) for host, in the resolver's order (localhost may be ::1 and 127.0.0.1)."""
    try:
        infos = socket.getaddrinfo(host, port, type=kind)
    except socket.gaierror as error:
        raise BadInput(f"host {host!r} cannot be resolved ({error.strerror}); accepted: an IP address or a name "
                       "that resolves, e.g. 127.0.0.1 or localhost") from None
    except UnicodeError:
        raise BadInput(f"host {host!r} is not a valid host name; accepted: an IP address or a name") from None
    seen, out = set(), []
    for family, _, _, _, sockaddr in infos:
        if (family, sockaddr) not in seen:
            seen.add((family, sockaddr))
            out.append((family, sockaddr))
    return out


def resolve(host: str, port: int, kind: int):
    return resolve_all(host, port, kind)[0]


def _where(sockaddr) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SessionClient:
    def __init__(self, protocol: str, host: str, port: int, framing: str = "line", *,
                 timeout: float = 5.0, wait: float = 2.0, max_message: int = 1 << 20,
                 on_reply: Callable[[Message, int], None] | None = None,
                 on_note: Callable[[str], None] | None = None):
        self.protocol = protocol
        self.host, self.port = host, port
        self.framing = framing
        self.timeout = timeout
        self.wait = wait
        self.max_message = max_message
        self.on_reply = on_reply or (lambda message, read_no: None)
        self.on_note = on_note or (lambda text: None)
        self.stats = ClientStats()
        self.sock: socket.socket | None = None
        self.local = self.remote = None
        self._in_framer = make_framer(framing, max_message)
        self._out_framer = make_framer(framing, max_message)

    # -- connecting ---------------------------------------------------------------------
    def connect(self) -> None:
        kind = socket.SOCK_STREAM if self.protocol == "tcp" else socket.SOCK_DGRAM
        failures = []
        sock = None
        for family, sockaddr in resolve_all(self.host, self.port, kind):
            # Like ncat and socket.create_connection: try each address the name has, in order.
            candidate = socket.socket(family, kind)
            candidate.settimeout(self.timeout)
            where = _where(sockaddr)
            try:
                candidate.connect(sockaddr)
            except ConnectionRefusedError:
                failures.append(f"connection to {where} refused: nothing is listening on port {self.port} (the "
                                "server answered the SYN with RST)")
            except (socket.timeout, TimeoutError):
                failures.append(f"no answer from {where} within {self.timeout:g} s (a firewall may drop the SYN)")
            except OSError as error:
                failures.append(f"cannot connect to {where}: {error.strerror}")
            else:
                sock = candidate
                break
            candidate.close()
        if sock is None:
            raise RuntimeFailure("; ".join(failures))
        sock.setblocking(False)
        self.sock = sock
        self.local, self.remote = sock.getsockname(), sock.getpeername()

    # -- sending ------------------------------------------------------------------------
    def _send_all(self, data: bytes, deadline: float) -> None:
        """Send every byte (non-blocking socket), reading replies meanwhile so neither side stalls."""
        view = memoryview(data)
        first = True  # an empty UDP datagram is still a datagram: send it once
        while view or first:
            first = False
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                sent = 0
            except ConnectionRefusedError:
                raise RuntimeFailure(f"no UDP server at {_where(self.remote)} (ICMP port unreachable)") from None
            except OSError as error:
                if error.errno == errno.EMSGSIZE:
                    raise BadInput(f"a datagram of {len(data)} bytes is too large; accepted: at most 65507 bytes") from None
                raise RuntimeFailure(f"sending to {_where(self.remote)} failed: {error.strerror}") from None
            view = view[sent:]
            self.stats.bytes_sent += sent
            if view:
                if time.monotonic() > deadline:
                    raise RuntimeFailure(f"the server at {_where(self.remote)} stopped reading: "
                                         f"{len(view)} bytes could not be sent within {self.timeout:g} s")
                self._poll_replies(0.05)
        self.stats.sends += 1

    def send_message(self, payload: bytes) -> None:
        if self.protocol == "udp":
            data = payload
        else:
            data = self._out_framer.encode(payload)
        self.stats.messages_sent += 1
        self._send_all(data, time.monotonic() + self.timeout)

    # -- receiving ----------------------------------------------------------------------
    def _receive_once(self) -> bool:
        """Read what is there; False once the server has closed."""
        while True:
            try:
                if self.protocol == "udp":
                    data, _anc, flags, _addr = self.sock.recvmsg(UDP_RECV_SIZE)
                else:
                    data, flags = self.sock.recv(READ_SIZE), 0
            except BlockingIOError:
                return True
            except ConnectionRefusedError:
                if self.protocol == "udp":
                    raise RuntimeFailure(f"no UDP server at {_where(self.remote)} (ICMP port unreachable)") from None
                self.stats.closed_by = "server reset"
                return False
            except ConnectionResetError:
                self.stats.closed_by = "server reset"
                return False
            if self.protocol == "tcp" and not data:
                for item in self._in_framer.finish():
                    self._deliver(item)
                self.stats.closed_by = "server"
                return False
            self.stats.reads += 1
            self.stats.bytes_received += len(data)
            self.stats.read_sizes.append(len(data))
            if self.protocol == "udp":
                if flags & socket.MSG_TRUNC:
                    self.stats.truncated += 1
                    self.on_note(f"a reply larger than {UDP_RECV_SIZE} bytes was truncated")
                if self.framing == "line" and data.endswith(b"\n"):
                    data = data[:-1]
                self._deliver(Message.of(data))
            else:
                for item in self._in_framer.feed(data):
                    self._deliver(item)
            if self.protocol == "udp":
                return True

    def _deliver(self, item) -> None:
        if isinstance(item, FramingError):
            self.on_note(f"reply stream error: {item.text}")
            return
        self.stats.messages_received += 1
        self.on_reply(item, self.stats.reads)

    def _poll_replies(self, timeout: float) -> bool:
        sel = selectors.DefaultSelector()
        try:
            sel.register(self.sock, selectors.EVENT_READ)
            if sel.select(timeout):
                return self._receive_once()
            return True
        finally:
            sel.close()

    # -- sessions -----------------------------------------------------------------------
    def run_messages(self, payloads: Iterable[bytes], interval: float = 0.0) -> None:
        """Send each payload in its own send() call, then finish."""
        open_ = True
        for index, payload in enumerate(payloads):
            if index and interval:
                end = time.monotonic() + interval
                while open_ and time.monotonic() < end:
                    open_ = self._poll_replies(max(0.0, end - time.monotonic()))
            if not open_:
                break
            self.send_message(payload)
        self.finish(open_)

    def run_stream(self, fd: int) -> None:
        """Forward a file descriptor (a terminal, a pipe) as it is read; finish at its end."""
        sel = selectors.DefaultSelector()
        line_buffer = bytearray()
        stdin_open = True
        try:
            sel.register(self.sock, selectors.EVENT_READ, "sock")
            sel.register(fd, selectors.EVENT_READ, "stdin")
        except (PermissionError, ValueError, OSError):
            # A regular file cannot be polled: it is always readable, so read it in one go.
            sel.close()
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            self.run_text(b"".join(chunks))
            return
        try:
            while stdin_open:
                for key, _ in sel.select(1.0):
                    if key.data == "sock":
                        if not self._receive_once():
                            self.on_note("the server closed the connection")
                            self._close()
                            return
                        continue
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        stdin_open = False
                        sel.unregister(fd)
                        if line_buffer and self.framing != "raw":
                            self.send_message(bytes(line_buffer))
                        break
                    if self.framing == "raw":
                        self.stats.messages_sent += 1
                        self._send_all(chunk, time.monotonic() + self.timeout)
                        continue
                    line_buffer += chunk
                    while (cut := line_buffer.find(b"\n")) >= 0:
                        line = bytes(line_buffer[:cut])
                        del line_buffer[: cut + 1]
                        self.send_message(line[:-1] if line.endswith(b"\r") else line)
        finally:
            sel.close()
        self.finish(True)

    def run_text(self, data: bytes) -> None:
        if self.framing == "raw" and self.protocol == "tcp":
            self.run_messages([data] if data else [])
            return
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        self.run_messages(line[:-1] if line.endswith(b"\r") else line for line in lines)

    def finish(self, open_: bool) -> None:
        """End of our input: TCP sends FIN and reads until the server closes; UDP waits for replies."""
        if not open_ or self.sock is None:
            self._close()
            return
        if self.protocol == "tcp":
            try:
                self.sock.shutdown(socket.SHUT_WR)
                self.stats.fin_sent_first = True
            except OSError:
                pass
        hard_end = time.monotonic() + max(self.timeout, self.wait)
        quiet_end = time.monotonic() + self.wait
        while True:
            now = time.monotonic()
            if self.protocol == "udp" and self.stats.messages_received >= self.stats.messages_sent:
                self.stats.closed_by = self.stats.closed_by or "client"
                break
            if now >= quiet_end or now >= hard_end:
                self.stats.closed_by = "quiet"
                break
            before = self.stats.reads
            if not self._poll_replies(min(quiet_end, hard_end) - now):
                break
            if self.stats.reads != before:
                quiet_end = time.monotonic() + self.wait
        self._close()

    def _close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

