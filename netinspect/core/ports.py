"""Port text: strict parsing of `NUMBER[/PROTO]` and `SERVICE[/PROTO]`, and the range class.

Pure: no lookups here. The text is checked before anything asks the system, so a refused
value never reaches getservbyname or a connect.

Accepted: ASCII decimal digits only (at most 5 of them, value 0..65535), or a service
name (ASCII letters, digits and hyphens, at least one letter, no leading or trailing
hyphen, at most 32 characters), optionally followed by `/tcp` or `/udp`. Refused, with a
one-line reason: signs (`+80`, `-1`), other digit scripts (`８０`), `8_0`, `0x50`,
`1e3`, spaces, an empty side of the slash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netinspect.core.errors import BadInput

PROTOCOLS = ("tcp", "udp")
PORT_MAX = 65535

# (first, last, name, explanation): IANA's three ranges (RFC 6335 section 6).
RANGES = (
    (0, 1023, "well-known", "system ports, assigned by IANA; binding one needs root on Linux"),
    (1024, 49151, "registered", "user ports, registered with IANA for services"),
    (49152, 65535, "dynamic", "private ports, never assigned; IANA's range for ephemeral client ports "
     "(Linux picks them from net.ipv4.ip_local_port_range, 32768-60999 by default)"),
)

_DIGITS = re.compile(r"[0-9]+\Z", re.ASCII)
_SERVICE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?\Z", re.ASCII)
_NUMBER_LIKE = re.compile(r"[+-]?(?:0[xXoObB][0-9A-Fa-f_]*|[0-9_]+(?:[eE][+-]?[0-9]+)?|[0-9]*\.[0-9]*)\Z", re.ASCII)

ACCEPTED = "accepted: a port number 0-65535 in ASCII digits or a service name, optionally /tcp or /udp (e.g. 80, 8080/udp, mysql)"


@dataclass(frozen=True)
class PortSpec:
    """What the user asked for: a number or a service name, and a protocol or None (both)."""

    text: str
    number: int | None
    service: str | None
    proto: str | None


def _show(text: str) -> str:
    """The value as the user can read it in one line (control characters escaped)."""
    return repr(text)


def range_class(port: int) -> tuple[str, str]:
    """(name, explanation) of the IANA range a port falls in."""
    for first, last, name, explanation in RANGES:
        if first <= port <= last:
            return name, explanation
    raise BadInput(f"port {port} is out of range; {ACCEPTED}")


def parse_port_number(text: str, *, what: str = "port", allow_zero: bool = True) -> int:
    """A port number from strict ASCII decimal text, or BadInput naming the text."""
    if not isinstance(text, str) or text == "":
        raise BadInput(f"{what} {_show(text)} is empty; accepted: a number 0-65535 in ASCII digits")
    if not _DIGITS.match(text):
        reason = _why_not_digits(text)
        raise BadInput(f"{what} {_show(text)} is not a port number ({reason}); accepted: a number 0-65535 in ASCII digits")
    if len(text) > 5:
        raise BadInput(f"{what} {_show(text)} has more than 5 digits; accepted: a number 0-65535")
    if int(text) > PORT_MAX:
        raise BadInput(f"{what} {_show(text)} is out of range; accepted: 0-65535")
    value = int(text)
    if value == 0 and not allow_zero:
        raise BadInput(f"{what} {_show(text)}: port 0 cannot be connected to; accepted: 1-65535")
    return value


def _why_not_digits(text: str) -> str:
    if any(not ch.isascii() for ch in text):
        if any(ch.isdigit() for ch in text):
            return "digits must be ASCII 0-9, not other scripts or full-width forms"
        return "non-ASCII characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "control characters"
    if text[0] in "+-":
        return "no sign allowed"
    if "_" in text:
        return "no underscores allowed"
    if text.lower().startswith(("0x", "0o", "0b")):
        return "decimal only, no hex, octal or binary prefix"
    if any(ch.isspace() for ch in text):
        return "no spaces allowed"
    return "decimal digits only"


def parse_port_spec(text: str) -> PortSpec:
    """`NUMBER[/PROTO]` or `SERVICE[/PROTO]`, strictly; BadInput otherwise."""
    if not isinstance(text, str) or text == "":
        raise BadInput(f"port {_show(text)} is empty; {ACCEPTED}")
    head, slash, proto = text.partition("/")
    if slash:
        if proto == "":
            raise BadInput(f"port {_show(text)} has nothing after '/'; {ACCEPTED}")
        if proto.lower() not in PROTOCOLS:
            raise BadInput(f"port {_show(text)}: protocol {_show(proto)} is not tcp or udp; {ACCEPTED}")
        proto = proto.lower()
        if head == "":
            raise BadInput(f"port {_show(text)} has no number or service before '/'; {ACCEPTED}")
    else:
        proto = None
    if _DIGITS.match(head):
        return PortSpec(text, parse_port_number(head), None, proto)
    is_name = _SERVICE.match(head) and not _NUMBER_LIKE.match(head) and any(ch.isalpha() for ch in head)
    if not is_name:
        looks_numeric = head[:1] in "+-" or head[:1].isdigit() or any(ch.isdigit() for ch in head)
        if looks_numeric:
            raise BadInput(f"port {_show(text)} is not a port number ({_why_not_digits(head)}); {ACCEPTED}")
        raise BadInput(f"port {_show(text)} is not a service name ({_why_not_name(head)}); {ACCEPTED}")
    return PortSpec(text, None, head.lower(), proto)


def _why_not_name(text: str) -> str:
    if not text.isascii():
        return "non-ASCII characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "control characters"
    if len(text) > 32:
        return "longer than 32 characters"
    if text.startswith("-") or text.endswith("-"):
        return "starts or ends with a hyphen"
    return "only letters, digits and hyphens"
