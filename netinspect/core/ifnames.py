"""Interface name text, checked the way the Linux kernel checks it (dev_valid_name):
1 to 15 bytes, not `.` or `..`, no `/`, no `:` , no whitespace, and no control characters.
"""

from __future__ import annotations

from netinspect.core.errors import BadInput

IFNAMSIZ = 16
ACCEPTED = "accepted: an interface name of 1-15 characters without '/', ':', spaces or control characters (e.g. eth0, lo)"


def validate_ifname(text: str) -> str:
    shown = repr(text) if len(repr(text)) <= 60 else repr(text)[:50] + f"...' ({len(text)} characters)"
    if not isinstance(text, str) or text == "":
        raise BadInput(f"interface name {shown} is empty; {ACCEPTED}")
    for index, ch in enumerate(text):
        if ord(ch) < 32 or ord(ch) == 127:
            what = "NUL" if ch == "\0" else f"control character U+{ord(ch):04X}"
            raise BadInput(f"interface name {shown} contains {what} at position {index}; {ACCEPTED}")
    if len(text.encode("utf-8")) >= IFNAMSIZ:
        raise BadInput(f"interface name {shown} is longer than {IFNAMSIZ - 1} bytes; {ACCEPTED}")
    if text in (".", ".."):
        raise BadInput(f"interface name {shown} is not allowed; {ACCEPTED}")
    for ch in text:
        if ch in "/:" or ch.isspace():
            raise BadInput(f"interface name {shown} contains {ch!r}; {ACCEPTED}")
    return text
