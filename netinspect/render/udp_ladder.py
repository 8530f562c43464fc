"""The ladder of one UDP exchange: one row per datagram (and per ICMP error about one).

``render_datagram_ladder(exchange, *, verbose=False, color=False, names=None, ascii_only=False)``
draws a ``netinspect.core.udp_exchange.UdpExchange`` in the TCP ladder's layout
(render/ladder.py): time in ms since the first packet, an arrow from one endpoint's
column to the other's carrying ``UDP`` and the payload length, and a label (the payload
preview). The TCP ladder's state columns are left out: UDP keeps no connection state.
With ``verbose`` each row gets a second line: the UDP length field and the frame number.

``render_udp_summary(exchange, names)`` is the plain-sentence summary under it.
"""

from __future__ import annotations

from netinspect.core import udp_exchange
from netinspect.core.flows import icmp_name
from netinspect.render.color import paint
from netinspect.render.ladder import preview
from netinspect.render.summary import render_lines


def _body(row) -> str:
    if row.kind == "icmp":
        e = row.icmp
        short = "port unreachable" if e.port_unreachable else icmp_name(e.version, e.type, e.code)
        return f"ICMP{'v6' if e.version == 6 else ''} {short}"
    return f"UDP {row.payload_len} B"


def _label(row) -> str:
    if row.kind == "icmp":
        e = row.icmp
        return f"quoting udp {e.quoted_src} -> {e.quoted_dst}: " + (
            "the port is closed" if e.port_unreachable else "the datagram was not delivered")
    if not row.payload_len:
        return "(empty datagram)"
    return preview(row.payload, 24 if row.payload_len > 24 else row.payload_len)


def render_datagram_ladder(exchange, *, verbose: bool = False, color: bool = False,
                           names: tuple[str, str] | None = None, ascii_only: bool = False) -> str:
    names = names or ("client", "server")
    left_title = f"{names[0]} {exchange.orig}"
    right_title = f"{names[1]} {exchange.resp}"
    dash, right_head, left_head = ("-", ">", "<") if ascii_only else ("─", "▶", "◀")
    # wide enough that the right endpoint's title starts past the arrow heads, as in the TCP ladder
    body_w = max([len(_body(r)) for r in exchange.rows] + [8, len(left_title) - 11])
    arrow_w = 3 + body_w + 2 + 6
    lines = []
    header = f"{'time ms':>10}  {left_title}"
    pad = 10 + 2 + arrow_w + 2
    header = header + " " * (pad - len(header)) if len(header) < pad else header + "  "
    lines.append((header + right_title).rstrip())
    t0 = exchange.ts_first
    for row in exchange.rows:
        body = f"{_body(row):<{body_w}}"
        if row.from_orig:
            arrow = f"{dash}{dash} {body}  {dash * 5}{right_head}"
        else:
            arrow = f"{left_head}{dash} {body}  {dash * 6}"
        if color:
            arrow = paint(arrow, "red" if row.kind == "icmp" else "dim", True)
        t_ms = (row.ts_ns - t0) / 1e6
        lines.append(f"{t_ms:>10.3f}  {arrow}  {_label(row)}".rstrip())
        if verbose:
            extra = ([f"udp length {row.udp_length}"] if row.kind == "udp" else
                     [f"icmp type {row.icmp.type} code {row.icmp.code} from {row.icmp.src}"])
            extra.append(f"frame {row.frame_index + 1}")  # 1 for the first, as tshark and layers --frame count
            lines.append(" " * 12 + "   ".join(extra))
    return "\n".join(lines) + "\n"


def render_udp_summary(exchange, names=("client", "server"), width: int = 88) -> str:
    return render_lines(udp_exchange.summary_lines(exchange, names), width)
