"""Service names and ports through the system's services database (getservbyname /
getservbyport, i.e. NSS and /etc/services), and a TCP reachability check with a timeout.

Callers pass text that `core.ports` has already accepted.
"""

from __future__ import annotations

import errno
import socket
import time
from dataclasses import dataclass


def port_of(service: str, proto: str) -> int | None:
    try:
        return socket.getservbyname(service, proto)
    except OSError:
        return None


def service_of(port: int, proto: str) -> str | None:
    try:
        return socket.getservbyport(port, proto)
    except (OSError, OverflowError):
        return None


@dataclass
class CheckResult:
    host: str
    address: str
    port: int
    state: str          # open, closed, filtered, unreachable
    detail: str
    seconds: float

    def as_json(self) -> dict:
        return {"host": self.host, "address": self.address, "port": self.port, "proto": "tcp",
                "state": self.state, "detail": self.detail, "seconds": round(self.seconds, 6)}


def tcp_check(host: str, address: str, family: str, port: int, timeout: float) -> CheckResult:
    """One TCP connect: open (handshake completed), closed (answered with RST),
    filtered (no answer before the timeout), unreachable (ICMP or no route)."""
    sock = socket.socket(socket.AF_INET6 if family == "inet6" else socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    started = time.monotonic()
    try:
        sock.connect((address, port))
        state, detail = "open", "the TCP handshake completed (SYN, SYN+ACK, ACK)"
    except TimeoutError:
        state, detail = "filtered", f"no answer to the SYN within {timeout:g} s (dropped by a firewall, or the host is down)"
    except ConnectionRefusedError:
        state, detail = "closed", "the host answered the SYN with RST: nothing listens on this port (ECONNREFUSED)"
    except OSError as error:
        if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
            state = "unreachable"
            detail = f"{error.strerror} ({errno.errorcode.get(error.errno, error.errno)})"
        else:
            state = "error"
            detail = f"{error.strerror or error} ({errno.errorcode.get(error.errno or 0, error.errno)})"
    finally:
        elapsed = time.monotonic() - started
        sock.close()
    return CheckResult(host=host, address=address, port=port, state=state, detail=detail, seconds=elapsed)
