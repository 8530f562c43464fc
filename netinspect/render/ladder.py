"""The ladder diagram of one TCP connection: one row per segment, both endpoints' states.

``render_ladder(conn, *, verbose=False, color=False, names=None, ascii_only=False) -> str``
draws a ``netinspect.core.tracker.Connection`` whose ``rows`` were kept
(``ConnectionTracker(keep_segments=True)``). Columns: time in ms since the first packet,
the originator's RFC 9293 state after the segment, an arrow carrying flags, payload
length and relative seq/ack (absolute with ``verbose``), the responder's state, and a
label (``handshake 1/3 SYN``, ``data "hello"``, ``teardown 2/3 FIN+ACK ...``).
With ``verbose`` every row gets a second line: window, TCP options and both states
before the segment. ``names`` overrides the column titles (default client/server, or
originator/responder for a connection that began before the capture).

``segment_label(conn, row, context) -> str`` is the label alone, and ``LEGEND`` explains
the abbreviations.
"""

from __future__ import annotations

from netinspect.core.records import ACK, FIN, SYN, flag_text
from netinspect.core.tracker import (
    FOUR_WAY, REFUSED, SIMULTANEOUS, SIMULTANEOUS_OPEN, THREE_SEGMENT, UNANSWERED, Connection, Row,
)
from netinspect.render.color import paint

LEGEND = ("seq/ack are relative to each side's initial sequence number (0 = the ISN; -v shows "
          "absolute numbers). States are RFC 9293's, as netstat and ss print them, after the segment.")

_NOTE_WORDS = {
    "tcp.analysis.retransmission": "retransmission",
    "tcp.analysis.spurious_retransmission": "spurious retransmission",
    "tcp.analysis.out_of_order": "out of order",
    "tcp.analysis.lost_segment": "previous segment not captured",
    "tcp.analysis.zero_window": "zero window",
    "tcp.analysis.keep_alive": "keep-alive",
    "tcp.analysis.duplicate_ack": "duplicate ACK",
}

_STATE_STYLE = {
    "ESTABLISHED": "green", "SYN_SENT": "yellow", "SYN_RECEIVED": "yellow", "CLOSED": "dim",
    "TIME_WAIT": "cyan", "FIN_WAIT_1": "blue", "FIN_WAIT_2": "blue", "CLOSE_WAIT": "blue",
    "CLOSING": "blue", "LAST_ACK": "blue", "LISTEN": "dim",
}


def preview(data: bytes, limit: int = 16) -> str:
    """Payload as safe, short, quoted text: printable ASCII kept, the rest escaped."""
    out = []
    for byte in data[:limit]:
        if byte == 0x5C:
            out.append("\\\\")
        elif byte == 0x22:
            out.append('\\"')
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        elif byte == 0x0A:
            out.append("\\n")
        elif byte == 0x0D:
            out.append("\\r")
        elif byte == 0x09:
            out.append("\\t")
        else:
            out.append(f"\\x{byte:02x}")
    more = "…" if len(data) > limit else ""
    return '"' + "".join(out) + more + '"'


class _Context:
    """What earlier rows tell about a later one (half close)."""

    def __init__(self):
        self.fin_from_orig = False
        self.fin_from_resp = False


# Teardown step labels: role -> (label for each teardown kind, label for any other kind).
_TEARDOWN_LABELS = {
    "fin_1": ({FOUR_WAY: "teardown 1/4 FIN (active close)", THREE_SEGMENT: "teardown 1/3 FIN (active close)",
               SIMULTANEOUS: "simultaneous close FIN"}, "FIN (active close)"),
    "ack_fin_1": ({FOUR_WAY: "teardown 2/4 ACK of the FIN"}, "ACK of the FIN"),
    "fin_2": ({FOUR_WAY: "teardown 3/4 FIN (passive close)",
               THREE_SEGMENT: "teardown 2/3 FIN+ACK (passive close, ACK merged)",
               SIMULTANEOUS: "simultaneous close FIN (the FINs crossed)"}, "FIN (passive close)"),
    "ack_fin_2": ({FOUR_WAY: "teardown 4/4 ACK", THREE_SEGMENT: "teardown 3/3 ACK",
                   SIMULTANEOUS: "simultaneous close ACK"}, "ACK of the last FIN"),
}


def segment_label(conn: Connection, row: Row, ctx: _Context | None = None) -> str:
    role = row.role
    teardown = conn.teardown
    simultaneous_open = conn.handshake == SIMULTANEOUS_OPEN
    if role == "syn":
        if simultaneous_open:
            text = "simultaneous open SYN"
        elif conn.handshake in (REFUSED, UNANSWERED):
            text = "SYN (connection attempt)"
        else:
            text = "handshake 1/3 SYN"
    elif role == "syn_simultaneous":
        text = "simultaneous open SYN (the SYNs crossed)"
    elif role == "syn_retx":
        text = "SYN retransmission"
    elif role == "synack":
        text = "simultaneous open SYN-ACK" if simultaneous_open else "handshake 2/3 SYN-ACK"
    elif role == "synack_retx":
        text = "SYN-ACK retransmission"
    elif role == "hs_ack":
        text = "simultaneous open complete" if simultaneous_open else "handshake 3/3 ACK"
        if row.payload_len:
            text += " with data " + preview(row.payload)
    elif role == "data":
        text = "data " + preview(row.payload) if row.payload else "data"
        if ctx is not None and (ctx.fin_from_resp if row.from_orig else ctx.fin_from_orig):
            text += " (half close: the peer already sent its FIN)"
    elif role in _TEARDOWN_LABELS:
        by_kind, other = _TEARDOWN_LABELS[role]
        text = by_kind.get(teardown, other)
    elif role == "fin_retx":
        text = "FIN retransmission"
    elif role == "refused_rst":
        text = "refused: RST, nothing listens on this port"
    elif role == "rst":
        text = "reset: RST aborts the connection"
    elif role == "ack":
        text = ""
    else:
        text = ""
    if row.payload_len and role in ("fin_1", "fin_2", "rst", "ack_fin_1", "ack_fin_2", "fin_retx"):
        text += (", with data " + preview(row.payload)) if row.payload else f", with {row.payload_len} B of data"
    if (role == "ack_fin_1" and row.payload_len and ctx is not None
            and (ctx.fin_from_resp if row.from_orig else ctx.fin_from_orig)):
        text += " (half close: the peer already sent its FIN)"
    if row.notes:
        words = ", ".join(_NOTE_WORDS.get(n, n) for n in row.notes)
        text = f"{text} [{words}]" if text else f"[{words}]"
    if ctx is not None and row.flags & FIN:
        if row.from_orig:
            ctx.fin_from_orig = True
        else:
            ctx.fin_from_resp = True
    return text


def _seq_ack(row: Row, verbose: bool) -> str:
    if verbose:
        text = f"seq {row.seq}"
        if row.flags & ACK:
            text += f" ack {row.ack}"
        return text
    text = f"seq {row.rel_seq}"
    if row.rel_ack is not None:
        text += f" ack {row.rel_ack}"
    return text


def _options_text(options) -> str:
    if options is None:
        return ""
    parts = []
    if getattr(options, "mss", None) is not None:
        parts.append(f"mss {options.mss}")
    if getattr(options, "sack_permitted", False):
        parts.append("sack_perm")
    if getattr(options, "sack_blocks", ()):
        parts.append("sack " + " ".join(f"{a}-{b}" for a, b in options.sack_blocks))
    if getattr(options, "wscale", None) is not None:
        parts.append(f"wscale {options.wscale}")
    if getattr(options, "ts_val", None) is not None:
        parts.append(f"ts {options.ts_val}/{options.ts_ecr if options.ts_ecr is not None else 0}")
    return " ".join(parts)


def _state(state) -> str:
    return "-" if state is None else str(state)


def render_ladder(conn: Connection, *, verbose: bool = False, color: bool = False,
                  names: tuple[str, str] | None = None, ascii_only: bool = False) -> str:
    rows = conn.rows
    if rows is None:
        raise ValueError("this connection was tracked without keep_segments: no rows to draw")
    if names is None:
        names = ("originator", "responder") if conn.partial else ("client", "server")
    left_title = f"{names[0]} {conn.orig}"
    right_title = f"{names[1]} {conn.resp}"
    dash, right_head, left_head = ("-", ">", "<") if ascii_only else ("─", "▶", "◀")

    flag_w = max([len(flag_text(r.flags)) for r in rows] + [3])
    len_w = max([len(f"{r.payload_len} B") for r in rows if r.payload_len] + [0])
    sa_w = max([len(_seq_ack(r, verbose)) for r in rows] + [5])
    state_w = 12
    t0 = conn.ts_first

    lines = []
    middle_w = 3 + flag_w + 1 + len_w + 2 + sa_w + 2 + 6
    header = f"{'time ms':>10}  {left_title:<{state_w}}"
    pad = 10 + 2 + state_w + 1 + middle_w + 2
    if len(header) < pad:
        header = header + " " * (pad - len(header))
    else:
        header += "  "
    header += right_title
    lines.append(header.rstrip())

    # Window scaling (RFC 7323) applies when both SYNs carried the option, never to SYNs.
    scales = {}
    for row in rows:
        if row.flags & SYN and row.from_orig not in scales:
            scales[row.from_orig] = getattr(row.options, "wscale", None)
    if None in scales.values() or len(scales) < 2:
        scales = {}

    ctx = _Context()
    for row in rows:
        t_ms = (row.ts_ns - t0) / 1e6
        flags = flag_text(row.flags)
        length = f"{row.payload_len} B" if row.payload_len else ""
        body = f"{flags:<{flag_w}} {length:>{len_w}}  {_seq_ack(row, verbose):<{sa_w}}"
        if row.from_orig:
            arrow = f"{dash}{dash} {body}  {dash * 5}{right_head}"
        else:
            arrow = f"{left_head}{dash} {body}  {dash * 6}"
        left = _state(row.orig_after)
        right = _state(row.resp_after)
        label = segment_label(conn, row, ctx)
        left_cell = paint(f"{left:<{state_w}}", _STATE_STYLE.get(left, ""), color)
        right_cell = paint(f"{right:<{state_w + 2}}" if label else right, _STATE_STYLE.get(right, ""), color)
        if color:
            arrow = paint(arrow, "red" if row.role in ("rst", "refused_rst") else "dim", True)
            if label.startswith(("handshake", "teardown", "simultaneous")):
                label = paint(label, "bold", True)
        line = f"{t_ms:>10.3f}  {left_cell} {arrow}  {right_cell} {label}"
        lines.append(line.rstrip())
        if verbose:
            shift = scales.get(row.from_orig)
            if shift and not row.flags & SYN:
                extra = [f"win {row.window} (scaled x{1 << shift} = {row.window << shift})"]
            else:
                extra = [f"win {row.window}"]
            opts = _options_text(row.options)
            if opts:
                extra.append(opts)
            extra.append(f"before: {_state(row.orig_before)} / {_state(row.resp_before)}")
            extra.append(f"frame {row.frame_index + 1}")  # 1 for the first, as tshark and layers --frame count
            lines.append(" " * 12 + "   ".join(extra))
    return "\n".join(lines) + "\n"
