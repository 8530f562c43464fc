"""IP address bytes to text, cached: the same few addresses recur in millions of packets."""

from __future__ import annotations

import ipaddress

_CACHE_LIMIT = 65536
_v4: dict = {}
_v6: dict = {}


def ipv4_text(raw: bytes) -> str:
    text = _v4.get(raw)
    if text is None:
        if len(_v4) >= _CACHE_LIMIT:
            _v4.clear()
        text = _v4[raw] = "%d.%d.%d.%d" % tuple(raw)
    return text


def ipv6_text(raw: bytes) -> str:
    text = _v6.get(raw)
    if text is None:
        if len(_v6) >= _CACHE_LIMIT:
            _v6.clear()
        text = _v6[raw] = ipaddress.IPv6Address(bytes(raw)).compressed
    return text
