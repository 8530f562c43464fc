"""Subnet arithmetic for IPv4 and IPv6, with a strict parser of netinspect's own.

Pure: integers in, integers out. Addresses are plain ints plus a version (4 or 6).

The parser accepts only unambiguous text: four decimal octets without leading zeros
for IPv4, RFC 4291 text for IPv6, ASCII only. `inet_aton` (and therefore much socket
code) also reads short forms (`127.1`), octal (`010`), hex (`0x7f`) and plain integers
(`2130706433`); those are rejected with a hint that says how `inet_aton` would read
them, instead of guessing. Python's `int()` accepts non-ASCII digits and underscores,
so every digit is checked against ASCII here before any conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from netinspect.core.errors import BadInput

BITS = {4: 32, 6: 128}
ACCEPTED = ('accepted: 192.168.12.84/24, 192.168.12.84/255.255.255.0, "192.168.12.84 255.255.255.0", '
            "a bare address (192.168.12.84 = /32), or IPv6 such as 2001:db8::1/64")
ACCEPTED_ADDRESS = "accepted: an IPv4 address such as 192.168.12.84 or an IPv6 address such as 2001:db8::1"

_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_MAX_TEXT = 200  # longer text is not an address; do not echo megabytes back


class AddressSyntaxError(ValueError):
    """Why a piece of text is not an address or prefix (reason only, no value)."""


# --------------------------------------------------------------------------- text

def shown(text: str) -> str:
    """The user's text quoted for a one-line message: control and invisible characters
    escaped (a NUL or a bidi override must not reach the terminal), printable
    non-ASCII kept as typed so the user recognises it."""
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT] + "..."
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "'" + "".join(out) + "'"


def _char_name(ch: str) -> str:
    import unicodedata  # stdlib C module; only needed on the error path

    name = unicodedata.name(ch, "")
    if not name:
        name = {0: "NUL", 9: "TAB", 10: "LINE FEED", 13: "CARRIAGE RETURN", 127: "DELETE"}.get(ord(ch), "control")
    return f"U+{ord(ch):04X} {name}"


def _check_characters(text: str) -> None:
    """Reject empty text, control characters and any non-ASCII character."""
    if text == "":
        raise AddressSyntaxError("empty text")
    if not text.strip():
        raise AddressSyntaxError("only whitespace")
    for position, ch in enumerate(text, 1):
        code = ord(ch)
        if code < 0x20 or code == 0x7F:
            raise AddressSyntaxError(f"control character {_char_name(ch)} at position {position}")
        if code > 0x7E:
            import unicodedata

            hint = ""
            if unicodedata.digit(ch, None) is not None:
                hint = f" (it looks like the digit {unicodedata.digit(ch)}; type the ASCII digit)"
            elif ch in "\u3002\uff0e\uff61":
                hint = " (type the ASCII full stop '.')"
            elif ch in "\uff0f\u2044\u2215":
                hint = " (type the ASCII slash '/')"
            elif ch in "\uff1a":
                hint = " (type the ASCII colon ':')"
            raise AddressSyntaxError(
                f"non-ASCII character {shown(ch)} ({_char_name(ch)}) at position {position}{hint}")


def _ascii_decimal(text: str) -> int:
    """Digits 0-9 only (no sign, underscore, space or non-ASCII digit), then int()."""
    if not text or not set(text) <= _DIGITS:
        raise AddressSyntaxError(f"'{text}' is not a decimal number")
    return int(text)


# ------------------------------------------------------------------ inet_aton view

def inet_aton_reading(text: str) -> int | None:
    """The 32-bit value glibc's inet_aton would give for `text`, or None if it refuses.

    Used only for hints: short forms (a.b, a.b.c, a), octal (leading 0) and hex (0x).
    """
    if not text or not text.isascii() or text.strip() != text:
        return None
    parts = text.split(".")
    if len(parts) > 4:
        return None
    values = []
    for part in parts:
        lowered = part.lower()
        try:
            if lowered.startswith("0x"):
                digits = lowered[2:]
                if not digits or not set(digits) <= _HEX:
                    return None
                values.append(int(digits, 16))
            elif lowered.startswith("0") and len(lowered) > 1:
                if not set(lowered) <= set("01234567"):
                    return None
                values.append(int(lowered, 8))
            else:
                if not lowered or not set(lowered) <= _DIGITS:
                    return None
                values.append(int(lowered))
        except ValueError:
            return None
    # a: 32 bits; a.b: 8.24; a.b.c: 8.8.16; a.b.c.d: 8.8.8.8
    last_bits = 32 - 8 * (len(values) - 1)
    if any(v > 255 for v in values[:-1]) or values[-1] >= 1 << last_bits:
        return None
    result = 0
    for v in values[:-1]:
        result = (result << 8) | v
    return (result << last_bits) | values[-1]


# ------------------------------------------------------------------- formatting

def format_ipv4(value: int) -> str:
    return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def ipv6_groups(value: int) -> list[int]:
    return [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]


def format_ipv6(value: int) -> str:
    """RFC 5952 text: lower case, no leading zeros, the longest run (two or more) of
    zero groups as '::' (the first such run on a tie); IPv4-mapped addresses in mixed
    notation (RFC 5952 section 5)."""
    groups = ipv6_groups(value)
    if value >> 32 == 0xFFFF:
        return "::ffff:" + format_ipv4(value & 0xFFFFFFFF)
    best_start, best_len = -1, 0
    run_start, run_len = -1, 0
    for i, group in enumerate(groups):
        if group == 0:
            if run_len == 0:
                run_start = i
            run_len += 1
            if run_len > best_len:
                best_start, best_len = run_start, run_len
        else:
            run_len = 0
    texts = [f"{g:x}" for g in groups]
    if best_len < 2:
        return ":".join(texts)
    head = ":".join(texts[:best_start])
    tail = ":".join(texts[best_start + best_len:])
    return f"{head}::{tail}"


def format_ipv6_exploded(value: int) -> str:
    return ":".join(f"{g:04x}" for g in ipv6_groups(value))


def format_address(version: int, value: int) -> str:
    return format_ipv4(value) if version == 4 else format_ipv6(value)


def binary_text(version: int, value: int) -> str:
    """Bits in octets (IPv4, '.'-separated) or 16-bit groups (IPv6, ':'-separated)."""
    bits = format(value, f"0{BITS[version]}b")
    size = 8 if version == 4 else 16
    sep = "." if version == 4 else ":"
    return sep.join(bits[i:i + size] for i in range(0, len(bits), size))


# ---------------------------------------------------------------------- parsing

def _ipv4_hint(text: str) -> str:
    reading = inet_aton_reading(text)
    if reading is None:
        return ""
    return f"; inet_aton would read it as {format_ipv4(reading)}, write that if it is what you mean"


def parse_ipv4(text: str) -> int:
    """Four decimal octets 0-255, no leading zeros, ASCII only."""
    if any(ch in "xX" for ch in text):
        raise AddressSyntaxError("hexadecimal parts (0x..) are not accepted" + _ipv4_hint(text))
    for ch in text:
        if ch not in _DIGITS and ch != ".":
            hint = ""
            if any(c.isalpha() for c in text):
                hint = "; host names are not accepted here (netinspect resolve NAME looks one up)"
            raise AddressSyntaxError(f"character '{ch}' does not belong in an IPv4 address "
                                     f"(digits 0-9 and '.' only){hint}")
    parts = text.split(".")
    if len(parts) == 1:
        raise AddressSyntaxError("a bare number is not accepted as an address (write four parts a.b.c.d)"
                                 + _ipv4_hint(text))
    if any(part == "" for part in parts):
        raise AddressSyntaxError("empty part between dots" if len(parts) <= 4 else
                                 f"{len(parts)} parts; an IPv4 address has exactly 4")
    if len(parts) < 4:
        raise AddressSyntaxError(f"short form with {len(parts)} parts; an IPv4 address has exactly 4"
                                 + _ipv4_hint(text))
    if len(parts) > 4:
        raise AddressSyntaxError(f"{len(parts)} parts; an IPv4 address has exactly 4")
    value = 0
    for part in parts:
        if len(part) > 1 and part[0] == "0":
            reading = inet_aton_reading(text)
            also = f" (this address as {format_ipv4(reading)})" if reading is not None else ""
            raise AddressSyntaxError(
                f"part '{part}' has a leading zero, which is ambiguous: inet_aton reads a leading 0 as octal"
                f"{also}, other parsers as decimal; write it without leading zeros")
        octet = _ascii_decimal(part)
        if octet > 255:
            raise AddressSyntaxError(f"part '{part}' is above 255")
        value = (value << 8) | octet
    return value


def parse_ipv6(text: str) -> int:
    """RFC 4291 text form: up to 8 groups of 1-4 hex digits, at most one '::', an
    optional dotted IPv4 tail. No zone index, no brackets."""
    if "%" in text:
        zone = text[text.index("%"):]
        raise AddressSyntaxError(
            f"zone index '{zone}' names an interface, it is not part of an address or subnet; drop it")
    if "[" in text or "]" in text:
        raise AddressSyntaxError("brackets belong in URLs and host:port text; drop them")
    if ":::" in text:
        raise AddressSyntaxError("':::' is not valid; '::' stands for one or more zero groups")
    if text.count("::") > 1:
        raise AddressSyntaxError("'::' may appear only once")
    for ch in text:
        if ch not in _HEX and ch not in ":.":
            raise AddressSyntaxError(f"character '{ch}' does not belong in an IPv6 address "
                                     "(hex digits 0-9 a-f, ':' and '::')")

    def groups_of(piece: str, allow_ipv4_tail: bool) -> list[int]:
        if piece == "":
            return []
        items = piece.split(":")
        result: list[int] = []
        for index, item in enumerate(items):
            if "." in item:
                if not allow_ipv4_tail or index != len(items) - 1:
                    raise AddressSyntaxError("a dotted IPv4 part may only end an IPv6 address")
                v4 = parse_ipv4(item)
                result += [v4 >> 16, v4 & 0xFFFF]
                continue
            if item == "":
                raise AddressSyntaxError("empty group (a single ':' at the start or end, or '::' misplaced)")
            if len(item) > 4:
                raise AddressSyntaxError(f"group '{item}' has more than 4 hex digits")
            result.append(int(item, 16))  # ASCII hex checked above
        return result

    if "::" in text:
        head_text, tail_text = text.split("::")
        head = groups_of(head_text, allow_ipv4_tail=False)
        tail = groups_of(tail_text, allow_ipv4_tail=True)
        if len(head) + len(tail) > 7:
            raise AddressSyntaxError(f"{len(head) + len(tail)} groups plus '::'; an IPv6 address has 8 groups")
        groups = head + [0] * (8 - len(head) - len(tail)) + tail
    else:
        groups = groups_of(text, allow_ipv4_tail=True)
        if len(groups) != 8:
            raise AddressSyntaxError(f"{len(groups)} groups; an IPv6 address has 8 (or use '::')")
    value = 0
    for group in groups:
        value = (value << 16) | group
    return value


def parse_address_text(text: str) -> tuple[int, int]:
    """(version, value) for one address; AddressSyntaxError with a reason otherwise."""
    _check_characters(text)
    if any(ch.isspace() for ch in text):
        raise AddressSyntaxError("space inside the address")
    if ":" in text or "%" in text or "[" in text:
        return 6, parse_ipv6(text)
    return 4, parse_ipv4(text)


def _mask_to_prefix(mask: int) -> int | None:
    """Prefix length of a contiguous IPv4 netmask, or None."""
    inverted = ~mask & 0xFFFFFFFF
    if (inverted + 1) & inverted:
        return None
    return 32 - inverted.bit_length()


def parse_prefix_text(text: str, version: int) -> int:
    """A prefix length (decimal, no leading zeros) or, for IPv4, a dotted netmask."""
    if text == "":
        raise AddressSyntaxError("missing prefix length after '/'")
    if any(ch.isspace() for ch in text):
        raise AddressSyntaxError(f"space in the prefix '{text}'; write /24 with no spaces")
    if "." in text:
        if version != 4:
            raise AddressSyntaxError("an IPv6 network takes a prefix length /0 to /128, not a dotted mask")
        try:
            mask = parse_ipv4(text)
        except AddressSyntaxError as error:
            raise AddressSyntaxError(f"netmask '{text}': {error}") from None
        prefix = _mask_to_prefix(mask)
        if prefix is None:
            hint = ""
            if mask and (mask + 1) & mask == 0:
                hint = (f"; it looks like a wildcard (inverse) mask, whose netmask is "
                        f"{format_ipv4(~mask & 0xFFFFFFFF)}")
            raise AddressSyntaxError(
                f"netmask '{text}' is not contiguous ({binary_text(4, mask)}): its ones must all come "
                f"before its zeros{hint}")
        return prefix
    if text.startswith(("-", "+")):
        raise AddressSyntaxError(f"prefix length '{text}' has a sign; write 0 to {BITS[version]}")
    if not set(text) <= _DIGITS:
        raise AddressSyntaxError(f"prefix length '{text}' is not a number 0 to {BITS[version]}")
    if len(text) > 1 and text[0] == "0":
        raise AddressSyntaxError(f"prefix length '{text}' has a leading zero; write {int(text)}")
    prefix = int(text) if len(text) <= 4 else 10 ** 4
    if prefix > BITS[version]:
        raise AddressSyntaxError(f"prefix length /{text} is beyond /{BITS[version]} for IPv{version}")
    return prefix


@dataclass(frozen=True)
class Subnet:
    """An address with its prefix length: both the host and the segment it is on."""

    version: int
    address: int
    prefixlen: int

    # ---- derived values
    @property
    def bits(self) -> int:
        return BITS[self.version]

    @property
    def host_bits(self) -> int:
        return self.bits - self.prefixlen

    @property
    def all_ones(self) -> int:
        return (1 << self.bits) - 1

    @property
    def netmask(self) -> int:
        return self.all_ones ^ self.hostmask

    @property
    def hostmask(self) -> int:
        """The wildcard (inverse) mask: NOT netmask."""
        return (1 << self.host_bits) - 1

    @property
    def network(self) -> int:
        return self.address & self.netmask

    @property
    def last_address(self) -> int:
        """network OR NOT mask; the broadcast address for IPv4 /0 to /30."""
        return self.network | self.hostmask

    @property
    def num_addresses(self) -> int:
        return 1 << self.host_bits

    @property
    def broadcast(self) -> int | None:
        """None for IPv6 (no broadcast) and for IPv4 /31 (RFC 3021) and /32."""
        if self.version == 6 or self.prefixlen >= 31:
            return None
        return self.last_address

    @property
    def first_host(self) -> int:
        if self.host_bits <= 1:  # /31 /32, /127 /128: every address is a host
            return self.network
        return self.network + 1

    @property
    def last_host(self) -> int:
        if self.version == 4 and self.host_bits > 1:
            return self.last_address - 1
        return self.last_address

    @property
    def usable_hosts(self) -> int:
        return usable_hosts(self.version, self.prefixlen)

    @property
    def legacy_class(self) -> str | None:
        """Historical classful addressing (before CIDR, RFC 1519): A to E from the first bits."""
        if self.version != 4:
            return None
        first = self.address >> 24
        if first < 128:
            return "A"
        if first < 192:
            return "B"
        if first < 224:
            return "C"
        if first < 240:
            return "D"
        return "E"

    @property
    def address_role(self) -> str:
        """network, broadcast, host, point-to-point (/31, /127), single-host (/32, /128),
        or subnet-router-anycast (the IPv6 all-zero host part)."""
        if self.host_bits == 0:
            return "single-host"
        if self.host_bits == 1:
            return "point-to-point"
        if self.address == self.network:
            return "network" if self.version == 4 else "subnet-router-anycast"
        if self.version == 4 and self.address == self.last_address:
            return "broadcast"
        return "host"

    # ---- relations
    def as_network(self) -> "Subnet":
        return Subnet(self.version, self.network, self.prefixlen)

    def contains_address(self, version: int, value: int) -> bool:
        return version == self.version and self.network <= value <= self.last_address

    def contains_subnet(self, other: "Subnet") -> bool:
        return (other.version == self.version and other.prefixlen >= self.prefixlen
                and self.contains_address(other.version, other.network))

    def split_count(self, new_prefix: int) -> int:
        return 1 << (new_prefix - self.prefixlen)

    def split(self, new_prefix: int, *, start: int = 0, limit: int | None = None) -> Iterator["Subnet"]:
        """Children of prefix `new_prefix`, lazily (a /64 has 2^64 /128s)."""
        if not self.prefixlen <= new_prefix <= self.bits:
            raise ValueError(f"new prefix {new_prefix} outside /{self.prefixlen}../{self.bits}")
        size = 1 << (self.bits - new_prefix)
        count = self.split_count(new_prefix)
        stop = count if limit is None else min(count, start + limit)
        for index in range(start, stop):
            yield Subnet(self.version, self.network + index * size, new_prefix)

    # ---- text
    @property
    def address_text(self) -> str:
        return format_address(self.version, self.address)

    @property
    def network_text(self) -> str:
        return f"{format_address(self.version, self.network)}/{self.prefixlen}"

    def __str__(self) -> str:
        return f"{self.address_text}/{self.prefixlen}"


def usable_hosts(version: int, prefixlen: int) -> int:
    """Addresses a host may use: IPv4 drops network and broadcast except /31 (RFC 3021,
    two hosts) and /32; IPv6 drops the Subnet-Router anycast address (RFC 4291 2.6.1)
    except /127 (RFC 6164) and /128."""
    host_bits = BITS[version] - prefixlen
    if host_bits <= 1:
        return 1 << host_bits
    return (1 << host_bits) - (2 if version == 4 else 1)


def prefix_for_hosts(version: int, hosts: int) -> int | None:
    """The longest prefix (smallest network) with at least `hosts` usable addresses."""
    if hosts < 1:
        return None
    for prefixlen in range(BITS[version], -1, -1):
        if usable_hosts(version, prefixlen) >= hosts:
            return prefixlen
    return None


def parse_subnet(text: str, mask_word: str | None = None) -> Subnet:
    """`a.b.c.d/len`, `a.b.c.d/mask`, ("a.b.c.d", "mask") as two words, a bare address,
    or IPv6 `addr/len`. Raises BadInput naming the bad part and the accepted forms."""
    try:
        return _parse_subnet(text, mask_word)
    except AddressSyntaxError as error:
        where = shown(text) if mask_word is None else f"{shown(text)} {shown(mask_word)}"
        raise BadInput(f"bad subnet {where}: {error}; {ACCEPTED}") from None


def _parse_subnet(text: str, mask_word: str | None) -> Subnet:
    _check_characters(text)
    if mask_word is None:
        words = text.split(" ")
        words = [w for w in words if w != ""]
        if len(words) == 2 and "/" not in words[0] and "/" not in words[1]:
            text, mask_word = words  # "192.168.12.84 255.255.255.0" quoted as one word
        elif len(words) > 1:
            raise AddressSyntaxError("space inside the text; write 192.168.12.84/24 with no spaces, "
                                     "or the address and the mask as two words")
        else:
            text = words[0]
    if text.count("/") > 1:
        raise AddressSyntaxError(f"{text.count('/')} '/' signs; one prefix only, as in 1.2.3.4/24")
    if mask_word is not None:
        _check_characters(mask_word)
        if "/" in text:
            raise AddressSyntaxError("both a '/' prefix and a separate mask were given")
        address_text, prefix_text = text, mask_word.strip(" ")
        if prefix_text.startswith("/"):
            prefix_text = prefix_text[1:]
    elif "/" in text:
        address_text, prefix_text = text.split("/")
    else:
        address_text, prefix_text = text, None
    if address_text == "":
        raise AddressSyntaxError("missing address before '/'")
    version, value = parse_address_text(address_text)
    prefixlen = BITS[version] if prefix_text is None else parse_prefix_text(prefix_text, version)
    return Subnet(version, value, prefixlen)


def parse_network_text(text: str) -> Subnet:
    """Like parse_subnet but raising AddressSyntaxError (for data tables and tests)."""
    return _parse_subnet(text, None)


def parse_address(text: str, what: str = "address") -> tuple[int, int]:
    try:
        return parse_address_text(text)
    except AddressSyntaxError as error:
        raise BadInput(f"bad {what} {shown(text)}: {error}; {ACCEPTED_ADDRESS}") from None


# --------------------------------------------------------------- ranges, supernet

def range_to_subnets(version: int, first: int, last: int) -> list[Subnet]:
    """The fewest CIDR networks covering exactly first..last (inclusive)."""
    bits = BITS[version]
    result = []
    while first <= last:
        # largest block aligned at `first` that does not pass `last`
        size_bits = (first & -first).bit_length() - 1 if first else bits
        while size_bits and first + (1 << size_bits) - 1 > last:
            size_bits -= 1
        result.append(Subnet(version, first, bits - size_bits))
        first += 1 << size_bits
    return result


def merge_ranges(subnets: Iterable[Subnet]) -> list[tuple[int, int]]:
    """The union of the networks as sorted, non-overlapping, non-adjacent (first, last) ranges."""
    ranges = sorted((s.network, s.last_address) for s in subnets)
    merged: list[list[int]] = []
    for first, last in ranges:
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return [(a, b) for a, b in merged]


@dataclass(frozen=True)
class Supernet:
    inputs: tuple[Subnet, ...]
    supernet: Subnet
    union_ranges: tuple[tuple[int, int], ...]

    @property
    def covered_addresses(self) -> int:
        return sum(last - first + 1 for first, last in self.union_ranges)

    @property
    def exact(self) -> bool:
        """True when the given networks fill the supernet with no gap."""
        return self.covered_addresses == self.supernet.num_addresses

    def summary(self) -> list[Subnet]:
        """The fewest networks covering exactly the given ones (collapsed)."""
        out = []
        for first, last in self.union_ranges:
            out += range_to_subnets(self.supernet.version, first, last)
        return out

    def gaps(self) -> list[Subnet]:
        """Networks inside the supernet that none of the inputs covers."""
        version = self.supernet.version
        out = []
        cursor = self.supernet.network
        for first, last in self.union_ranges:
            if first > cursor:
                out += range_to_subnets(version, cursor, first - 1)
            cursor = last + 1
        if cursor <= self.supernet.last_address:
            out += range_to_subnets(version, cursor, self.supernet.last_address)
        return out


def supernet_of(subnets: Iterable[Subnet]) -> Supernet:
    """The smallest single network covering all the given networks (same version)."""
    nets = tuple(s.as_network() for s in subnets)
    if not nets:
        raise ValueError("no networks")
    version = nets[0].version
    if any(n.version != version for n in nets):
        raise ValueError("mixed IPv4 and IPv6")
    bits = BITS[version]
    low = min(n.network for n in nets)
    high = max(n.last_address for n in nets)
    # common leading bits of the lowest and highest address
    prefixlen = bits - (low ^ high).bit_length()
    prefixlen = min(prefixlen, min(n.prefixlen for n in nets))
    return Supernet(nets, Subnet(version, low, prefixlen).as_network(), tuple(merge_ranges(nets)))


def common_prefix_bits(version: int, values: Iterable[int]) -> int:
    values = list(values)
    bits = BITS[version]
    low, high = min(values), max(values)
    diff = 0
    for v in values:
        diff |= v ^ low
    return bits - diff.bit_length() if diff else bits
