"""Strict parsing of port numbers and HOST:PORT text for serve/connect (pure, no lookups)."""

from __future__ import annotations

import ipaddress

from netinspect.core.errors import BadInput

_ASCII_DIGITS = frozenset("0123456789")


def parse_port(text: str, *, what: str = "port", allow_zero: bool = True) -> int:
    """ASCII digits only (int() would also take ' 80', '+80', '٨٠' and '8_0'), 0-65535."""
    low = 0 if allow_zero else 1
    accepted = f"a number {low}-65535" + (" (0 picks a free port)" if allow_zero else "")
    if not text or not set(text) <= _ASCII_DIGITS or len(text) > 5 or int(text) > 65535 or int(text) < low:
        raise BadInput(f"{what} {text!r} is not a valid port; accepted: {accepted}")
    return int(text)


def parse_host_port(text: str) -> tuple[str, int]:
    """'HOST:PORT', '[IPv6]:PORT' or 'IPv6%scope' in brackets; the port may not be 0."""
    accepted = "HOST:PORT, e.g. 127.0.0.1:9000, localhost:9000 or [::1]:9000"
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1: close + 2] != ":":
            raise BadInput(f"address {text!r} is not HOST:PORT; accepted: {accepted}")
        host, port_text = text[1:close], text[close + 2:]
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise BadInput(f"address {text!r}: {host!r} in brackets is not an IPv6 address; accepted: {accepted}") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise BadInput(f"address {text!r} is not HOST:PORT; accepted: {accepted}")
        if ":" in host:
            raise BadInput(f"address {text!r}: put an IPv6 address in brackets; accepted: {accepted}")
    return host, parse_port(port_text, what=f"address {text!r}: port", allow_zero=False)


def is_loopback_text(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
