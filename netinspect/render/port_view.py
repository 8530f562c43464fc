"""Plain-text view of `port`: one row per port and protocol, then any reachability checks."""

from __future__ import annotations

from netinspect.render.color import paint
from netinspect.render.table import table

_CHECK_STYLE = {"open": "green", "closed": "red", "filtered": "yellow", "unreachable": "red", "error": "red"}


def render_ports(rows: list[dict], ranges: dict[str, str], checks: list[dict], *, color: bool = False) -> str:
    body = table([[r["port"], r["proto"], r["service"] or "-", r["range"], r["query"]] for r in rows],
                 ["port", "proto", "service", "range", "asked"])
    out = [body, ""]
    for name in dict.fromkeys(r["range"] for r in rows):
        out.append(f"{name}: {ranges[name]}")
    for check in checks:
        state = paint(check["state"], _CHECK_STYLE.get(check["state"], "bold"), color)
        where = check["address"] if check["address"] == check["host"] else f"{check['host']} ({check['address']})"
        out.append("")
        out.append(f"check {where} port {check['port']}/tcp: {state}, {check['detail']} "
                   f"[{check['seconds'] * 1000:.1f} ms]")
    return "\n".join(out)
