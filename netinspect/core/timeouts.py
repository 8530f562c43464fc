"""`--timeout SECONDS` text: a plain positive decimal number of seconds, bounded.

Python's float() takes `nan`, `inf`, `1e9`, `１` and `1_0`; none of those is a deadline a
person means, so they are refused before any lookup or connect is tried.
"""

from __future__ import annotations

import re

from netinspect.core.errors import BadInput

MAX_TIMEOUT = 300.0
_DECIMAL = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,6})?\Z", re.ASCII)


def parse_timeout(text: str, *, option: str = "--timeout", maximum: float = MAX_TIMEOUT) -> float:
    accepted = f"accepted: seconds as a plain decimal number, more than 0 and at most {maximum:g} (e.g. 5, 0.5)"
    if not isinstance(text, str) or not _DECIMAL.match(text):
        raise BadInput(f"{option} {text!r} is not a number of seconds; {accepted}")
    value = float(text)
    if value <= 0:
        raise BadInput(f"{option} {text!r} must be more than 0 seconds; {accepted}")
    if value > maximum:
        raise BadInput(f"{option} {text!r} is too long; {accepted}")
    return value
