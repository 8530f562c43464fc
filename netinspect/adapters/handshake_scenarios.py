"""The embedded TCP server and client that `trace-handshake` runs, one per scenario.

Each scenario makes the connection end one particular way, so the capture shows it:

  client-closes-first   client sends, server echoes in upper case, client closes first
                        (the lessons' echo session; the client holds TIME_WAIT)
  server-closes-first   the server closes right after its answer; the client closes on EOF
  abort                 the client closes with SO_LINGER {on, 0 s}: a RST instead of a FIN
  half-close            the client shuts down its sending side (shutdown(SHUT_WR)) after
                        the message; the server reads to EOF, answers, then closes
  refused               the client connects to a port that is bound but not listening:
                        the kernel answers the SYN with RST+ACK

Every socket has a timeout and every loop a bound, so a misbehaving peer cannot hang the
command.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field

from netinspect.core.errors import RuntimeFailure
from netinspect.core.records import Endpoint

SCENARIOS = ("client-closes-first", "server-closes-first", "abort", "half-close", "refused")
MESSAGE = b"hello"
IO_TIMEOUT = 5.0
MAX_READ = 65536
MAX_READS = 1000


@dataclass
class SessionReport:
    """What the embedded programs did (the capture says what the wire saw)."""

    scenario: str
    server: Endpoint
    client: Endpoint | None = None
    sent: bytes = b""
    received: bytes = b""
    outcome: str = "completed"      # completed, refused, reset, timeout, failed
    detail: str = ""


def loopback_host(family: int) -> str:
    return "::1" if family == socket.AF_INET6 else "127.0.0.1"


def _endpoint(address) -> Endpoint:
    return Endpoint(address[0], address[1])


def _read_to_eof(conn: socket.socket) -> bytes:
    chunks = []
    for _ in range(MAX_READS):
        chunk = conn.recv(MAX_READ)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _read_exactly_or_eof(conn: socket.socket, size: int) -> bytes:
    chunks, got = [], 0
    for _ in range(MAX_READS):
        if got >= size:
            break
        chunk = conn.recv(MAX_READ)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def open_listener(family: int, host: str, port: int = 0, backlog: int = 128) -> socket.socket:
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(backlog)
    except OSError as error:
        listener.close()
        if error.errno == 98:
            raise RuntimeFailure(f"port {port} on {host} is already in use; pick another with --listen PORT") from None
        if error.errno == 99:
            raise RuntimeFailure(f"address {host} is not available on this machine"
                                 + (" (IPv6 loopback ::1 is missing: IPv6 may be disabled here)" if host == "::1" else "")) from None
        raise RuntimeFailure(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return listener


class EmbeddedServer:
    """An upper-case echo server on loopback, run in threads, for the scenarios."""

    def __init__(self, family: int = socket.AF_INET, host: str | None = None, port: int = 0,
                 scenario: str = "client-closes-first", idle_timeout: float = IO_TIMEOUT):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        self.family = family
        self.scenario = scenario
        self.idle_timeout = idle_timeout
        self._open: set = set()
        self.host = host or loopback_host(family)
        self._listener = open_listener(family, self.host, port)
        self.endpoint = _endpoint(self._listener.getsockname())
        self.finished = 0
        self.accepted = 0
        self.errors: list[str] = []
        self._lock = threading.Condition()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor: threading.Thread | None = None

    def start(self, max_connections: int | None = 1) -> "EmbeddedServer":
        self._max = max_connections
        self._listener.settimeout(0.1)
        self._acceptor = threading.Thread(target=self._accept_loop, name="embedded-server", daemon=True)
        self._acceptor.start()
        return self

    def _accept_loop(self) -> None:
        while not self._closing.is_set() and (self._max is None or self.accepted < self._max):
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.accepted += 1
            with self._lock:
                self._open.add(conn)
            worker = threading.Thread(target=self._serve_one, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _serve_one(self, conn: socket.socket) -> None:
        conn.settimeout(self.idle_timeout)
        try:
            if self.scenario == "half-close":
                data = _read_to_eof(conn)
                conn.sendall(data.upper())
            elif self.scenario == "server-closes-first":
                data = conn.recv(MAX_READ)
                conn.sendall(data.upper())
            else:
                # Echo every message in upper case until the client closes (or resets).
                for _ in range(MAX_READS):
                    data = conn.recv(MAX_READ)
                    if not data:
                        break
                    conn.sendall(data.upper())
        except ConnectionResetError:
            pass  # the abort scenario: the client's RST ends the connection
        except OSError as error:
            self.errors.append(f"{type(error).__name__}: {error}")
        finally:
            conn.close()
            with self._lock:
                self._open.discard(conn)
                self.finished += 1
                self._lock.notify_all()

    def wait_finished(self, count: int, timeout: float) -> bool:
        """Wait until `count` connections have been served (False on timeout)."""
        with self._lock:
            return self._lock.wait_for(lambda: self.finished >= count, timeout)

    def close(self) -> None:
        self._closing.set()
        try:
            self._listener.close()
        except OSError:
            pass
        if self._acceptor is not None:
            self._acceptor.join(timeout=1.0)
        with self._lock:
            still_open = list(self._open)
        for conn in still_open:
            # Interrupted with clients still connected: close them in order (FIN), now.
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for worker in self._threads:
            worker.join(timeout=IO_TIMEOUT)

    def __enter__(self) -> "EmbeddedServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RefusingPort:
    """A loopback port that is bound but not listening: a SYN to it gets RST+ACK.

    Holding the bound socket keeps the port from being taken by anyone else meanwhile.
    """

    def __init__(self, family: int = socket.AF_INET, host: str | None = None):
        self.host = host or loopback_host(family)
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._sock.bind((self.host, 0))
        except OSError as error:
            self._sock.close()
            raise RuntimeFailure(f"cannot bind on {self.host}: {error.strerror or error}") from None
        self.endpoint = _endpoint(self._sock.getsockname())

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "RefusingPort":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _connect_and_send(conn: socket.socket, report: SessionReport, message: bytes, refused: str,
                      silent: str) -> bool:
    """Connect `conn` to `report.server` and send `message`, noting the client endpoint and
    what was sent. When the connect fails, the outcome and detail (`refused` or `silent` for
    a refusal or a timeout) go into `report` and the answer is False."""
    server = report.server
    try:
        conn.connect((server.ip, server.port))
    except ConnectionRefusedError:
        report.outcome = "refused"
        report.detail = refused
        return False
    except socket.timeout:
        report.outcome = "timeout"
        report.detail = silent
        return False
    except OSError as error:
        report.outcome = "failed"
        report.detail = f"cannot connect to {server}: {error.strerror or error}"
        return False
    report.client = _endpoint(conn.getsockname())
    conn.sendall(message)
    report.sent = message
    return True


def run_client(family: int, server: Endpoint, scenario: str, message: bytes = MESSAGE,
               timeout: float = IO_TIMEOUT) -> SessionReport:
    """Connect to `server` and act out `scenario` from the client's side."""
    report = SessionReport(scenario=scenario, server=server)
    conn = socket.socket(family, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        if not _connect_and_send(conn, report, message,
                                 refused=f"{server} refused the connection (RST answered the SYN)",
                                 silent=f"no answer from {server} within {timeout:g} s"):
            return report
        if scenario == "half-close":
            conn.shutdown(socket.SHUT_WR)
            report.received = _read_to_eof(conn)
        elif scenario == "server-closes-first":
            report.received = _read_to_eof(conn)
        else:
            report.received = _read_exactly_or_eof(conn, len(message))
        if scenario == "abort":
            # Linger on with a zero timeout: close() discards the connection with a RST.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            report.outcome = "reset"
    except ConnectionResetError:
        report.outcome = "reset"
        report.detail = f"{server} reset the connection"
    except socket.timeout:
        report.outcome = "timeout"
        report.detail = f"{server} did not answer within {timeout:g} s"
    finally:
        conn.close()
    return report


def run_target(family: int, target: Endpoint, message: bytes = MESSAGE + b"\n", timeout: float = 2.0) -> SessionReport:
    """Trace a connection to someone else's server: connect, send one line, read what
    comes back within `timeout`, close first."""
    report = SessionReport(scenario="target", server=target)
    conn = socket.socket(family, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        refused = f"{target} refused the connection: nothing listens on port {target.port}"
        silent = f"no answer from {target} within {timeout:g} s (filtered, or the host is down)"
        if not _connect_and_send(conn, report, message, refused, silent):
            return report
        try:
            report.received = conn.recv(MAX_READ)
        except socket.timeout:
            report.detail = f"{target} sent nothing back within {timeout:g} s"
    except ConnectionResetError:
        report.outcome = "reset"
        report.detail = f"{target} reset the connection"
    finally:
        conn.close()
    return report


@dataclass
class ListenSession:
    """State of `--listen`: the server and how many clients it has finished."""

    server: EmbeddedServer
    count: int | None
    notes: list = field(default_factory=list)
