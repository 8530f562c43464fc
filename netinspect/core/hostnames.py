"""Host name and address text: checked before any lookup is sent.

Pure (stdlib only, no I/O). `parse_target` decides whether the user's text is an IP
address (strict forms only), a host name (LDH labels, IDNA for non-ASCII), or neither,
and raises BadInput for the last case, so NUL, control characters, spaces, a 300-character
label or a 254-character name never reach getaddrinfo or a DNS server.

`read_inet_aton` reproduces how the C library's inet_aton reads the short and numeric
IPv4 forms (`127.1`, `2130706433`, `0x7f000001`, `017700000001`): the one place that
shows them (`resolve --forms`). Everywhere else netinspect accepts only the strict
dotted-decimal form, because the same text means different addresses to different
programs (a leading zero is octal to inet_aton and decimal to a person).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from netinspect.core.errors import BadInput

MAX_NAME = 253   # RFC 1035 section 2.3.4: 255 octets on the wire = 253 characters in text
MAX_LABEL = 63

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\Z", re.ASCII)
_ATON_PART = re.compile(r"(0[xX][0-9A-Fa-f]+|0[0-7]*|[1-9][0-9]*)\Z", re.ASCII)
_NUMERIC_LABEL = re.compile(r"(0[xX][0-9A-Fa-f]*|[0-9]+)\Z", re.ASCII)

ACCEPTED_HOST = ("accepted: a host name (letters, digits, hyphens; labels up to 63 characters, "
                 "253 in all; non-ASCII names via IDNA) or an IPv4/IPv6 address")


@dataclass(frozen=True)
class HostName:
    text: str        # as the user typed it
    ascii: str       # what is sent to the resolver (IDNA A-labels)
    unicode: str     # for display (U-labels)

    @property
    def is_idn(self) -> bool:
        return self.ascii.lower() != self.unicode.lower()


@dataclass(frozen=True)
class Target:
    """One `resolve` argument: an address (reverse lookup) or a name (forward lookup)."""

    text: str
    address: str | None = None       # canonical text of an IP address
    version: int | None = None
    name: HostName | None = None

    @property
    def is_address(self) -> bool:
        return self.address is not None


def show(text: str) -> str:
    """The value in one readable line: control characters escaped, long text shortened."""
    shown = repr(text)
    if len(shown) > 80:
        shown = shown[:60] + f"...' ({len(text)} characters)"
    return shown


def _refuse_unprintable(text: str, what: str) -> None:
    for index, ch in enumerate(text):
        code = ord(ch)
        if code < 32 or code == 127 or 0x80 <= code < 0xA0:
            name = "NUL" if code == 0 else f"control character U+{code:04X}"
            raise BadInput(f"{what} {show(text)} contains {name} at position {index}; {ACCEPTED_HOST}")
        if ch.isspace():
            raise BadInput(f"{what} {show(text)} contains a space at position {index}; {ACCEPTED_HOST}")


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A strict IPv4 dotted quad or IPv6 address (with optional %zone), or None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def validate_host_name(text: str, *, what: str = "host name") -> HostName:
    """Check a host name for lookups; IDNA-encode non-ASCII names. BadInput if refused."""
    if not isinstance(text, str) or text == "":
        raise BadInput(f"{what} {show(text) if isinstance(text, str) else text!r} is empty; {ACCEPTED_HOST}")
    _refuse_unprintable(text, what)
    if len(text) > 4 * MAX_NAME:
        raise BadInput(f"{what} {show(text)} is longer than {MAX_NAME} characters; {ACCEPTED_HOST}")
    body = text[:-1] if text.endswith(".") else text
    if body == "":
        raise BadInput(f"{what} {show(text)} is only the root '.'; {ACCEPTED_HOST}")
    if text.isascii():
        ascii_name = body
    else:
        try:
            # IDNA 2003 (the standard library's codec): nameprep, then punycode per label.
            ascii_name = body.encode("idna").decode("ascii")
        except UnicodeError as error:
            raise BadInput(f"{what} {show(text)} is not a valid internationalized name ({error}); {ACCEPTED_HOST}") from None
    labels = ascii_name.split(".")
    for label in labels:
        if label == "":
            raise BadInput(f"{what} {show(text)} has an empty label (two dots in a row, or a leading dot); {ACCEPTED_HOST}")
        if len(label) > MAX_LABEL:
            raise BadInput(f"{what} {show(text)} has a label of {len(label)} characters (at most {MAX_LABEL}); {ACCEPTED_HOST}")
        if not _LABEL.match(label):
            bad = next((ch for ch in label if not (ch.isascii() and (ch.isalnum() or ch in "-_"))), None)
            if bad is not None:
                reason = f"character {bad!r} is not allowed"
            else:
                reason = f"label {label!r} starts or ends with a hyphen"
            raise BadInput(f"{what} {show(text)}: {reason}; {ACCEPTED_HOST}")
    if len(ascii_name) > MAX_NAME:
        raise BadInput(f"{what} {show(text)} is {len(ascii_name)} characters long (at most {MAX_NAME}); {ACCEPTED_HOST}")
    unicode_labels = []
    for label in labels:
        if label[:4].lower() == "xn--":
            try:
                unicode_labels.append(label.encode("ascii").decode("idna"))
            except UnicodeError:
                raise BadInput(f"{what} {show(text)}: label {label!r} is not valid punycode; {ACCEPTED_HOST}") from None
        else:
            unicode_labels.append(label)
    trail = "." if text.endswith(".") else ""
    return HostName(text=text, ascii=ascii_name + trail, unicode=".".join(unicode_labels) + trail)


def parse_target(text: str) -> Target:
    """Classify one `resolve` argument, refusing anything that must not be looked up."""
    if not isinstance(text, str) or text == "":
        raise BadInput(f"host '' is empty; {ACCEPTED_HOST}")
    _refuse_unprintable(text, "host")
    address = parse_address(text)
    if address is not None:
        return Target(text=text, address=str(address), version=address.version)
    if ":" in text:
        raise BadInput(f"host {show(text)} is not a valid IPv6 address; {ACCEPTED_HOST}")
    last = text.rstrip(".").split(".")[-1]
    if _NUMERIC_LABEL.match(last):
        reading = read_inet_aton(text)
        if reading is not None:
            raise BadInput(f"host {show(text)} is a short or numeric IPv4 form (inet_aton reads it as {reading.dotted}); "
                           f"write the dotted quad {reading.dotted}, or see 'netinspect resolve --forms {text}'")
        raise BadInput(f"host {show(text)} is neither an IPv4 address nor a host name (the last label is numeric); {ACCEPTED_HOST}")
    return Target(text=text, name=validate_host_name(text, what="host"))


# --- inet_aton's reading of numeric forms ------------------------------------------------

@dataclass(frozen=True)
class AtonPart:
    text: str
    base: int          # 8, 10 or 16
    value: int
    bits: int          # how many bits of the address this part fills


@dataclass(frozen=True)
class AtonReading:
    text: str
    value: int
    parts: tuple[AtonPart, ...] = field(default_factory=tuple)

    @property
    def dotted(self) -> str:
        return str(ipaddress.IPv4Address(self.value))

    @property
    def strict(self) -> bool:
        """True when the text is also the strict dotted-decimal form."""
        return parse_address(self.text) is not None and "." in self.text and self.text.count(".") == 3


# The last part fills whatever bytes remain: a (32 bits), a.b (8, 24), a.b.c (8, 8, 16).
_LAST_BITS = {1: 32, 2: 24, 3: 16, 4: 8}


def read_inet_aton(text: str) -> AtonReading | None:
    """How glibc's inet_aton reads `text` (without its trailing-garbage leniency), or None.

    Each part is C-style: `0x` hex, a leading `0` octal, else decimal. With fewer than four
    parts the last one fills the remaining bytes, so `127.1` is 127.0.0.1.
    """
    if not isinstance(text, str) or not text.isascii() or text == "":
        return None
    pieces = text.split(".")
    if len(pieces) > 4:
        return None
    parts = []
    value = 0
    for index, piece in enumerate(pieces):
        if not _ATON_PART.match(piece):
            return None
        if piece[:2].lower() == "0x":
            base, number = 16, int(piece[2:], 16)
        elif piece.startswith("0") and len(piece) > 1:
            base, number = 8, int(piece[1:], 8)
        else:
            base, number = 10, int(piece, 10)
        last = index == len(pieces) - 1
        bits = _LAST_BITS[len(pieces)] if last else 8
        if number >= 1 << bits:
            return None
        parts.append(AtonPart(piece, base, number, bits))
        value = (value << bits) | number
    return AtonReading(text=text, value=value, parts=tuple(parts))


def equivalent_forms(value: int) -> dict[str, str]:
    """The same IPv4 address written in each form inet_aton accepts."""
    a, b, c, d = value.to_bytes(4, "big")
    return {
        "dotted": f"{a}.{b}.{c}.{d}",
        "decimal": str(value),
        "hex": f"0x{value:08x}",
        "octal": f"0{value:o}" if value else "0",
        "short a.b": f"{a}.{value & 0xFFFFFF}",
        "short a.b.c": f"{a}.{b}.{value & 0xFFFF}",
    }


# --- `resolve --server ADDR[:PORT]` and `--type` -------------------------------------------

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT")
_ACCEPTED_SERVER = "accepted: an IPv4 or IPv6 address with an optional port: 10.0.0.53, 10.0.0.53:5353, fd00::53, [fd00::53]:5353"


def parse_server(text: str) -> tuple[str, int]:
    """(address, port) of a DNS server given as ADDR, ADDR:PORT, IPv6 or [IPv6]:PORT."""
    from netinspect.core.ports import parse_port_number

    if not isinstance(text, str) or text == "":
        raise BadInput(f"--server '' is empty; {_ACCEPTED_SERVER}")
    for index, ch in enumerate(text):
        if ord(ch) < 33 or ord(ch) == 127:
            raise BadInput(f"--server {show(text)} contains a space or control character at position {index}; {_ACCEPTED_SERVER}")
    host, port = text, 53
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise BadInput(f"--server {show(text)} has '[' without ']'; {_ACCEPTED_SERVER}")
        host, rest = text[1:close], text[close + 1:]
        if rest:
            if not rest.startswith(":"):
                raise BadInput(f"--server {show(text)}: expected ':PORT' after ']'; {_ACCEPTED_SERVER}")
            port = parse_port_number(rest[1:], what="--server port", allow_zero=False)
        address = parse_address(host)
        if address is None or address.version != 6:
            raise BadInput(f"--server {show(text)}: {host!r} is not an IPv6 address; {_ACCEPTED_SERVER}")
        return str(address), port
    if text.count(":") == 1:
        host, port_text = text.split(":")
        port = parse_port_number(port_text, what="--server port", allow_zero=False)
    address = parse_address(host)
    if address is None:
        raise BadInput(f"--server {show(text)} is not an IP address (a DNS server is given by address); {_ACCEPTED_SERVER}")
    return str(address), port


def parse_record_types(values: list[str] | None) -> list[str]:
    """`--type A --type aaaa,cname` -> ['A', 'AAAA', 'CNAME']; default A and AAAA."""
    if not values:
        return ["A", "AAAA"]
    out = []
    for value in values:
        for piece in value.split(","):
            upper = piece.strip().upper()
            if upper not in RECORD_TYPES:
                raise BadInput(f"--type {show(piece)} is not a supported record type; accepted: {', '.join(RECORD_TYPES)}")
            if upper not in out:
                out.append(upper)
    return out
