"""Plain-language summary of one TCP connection (trace-handshake, review --conn N).

``summary_lines(conn, names=("client", "server")) -> list[tuple[str, str]]`` gives
(heading, sentence) pairs: Handshake, Data, Teardown, Findings (when any), Zeek;
``render_summary(conn, names=..., width=88) -> str`` lays them out with the sentences
wrapped under their heading. ``teardown_sentence(conn, names)`` and
``handshake_sentence(conn, names)`` are the single sentences, for tables and JSON
(``explanation``).
"""

from __future__ import annotations

import textwrap

from netinspect.core.tracker import (
    FOUR_WAY, HANDSHAKE_INCOMPLETE, INCOMPLETE, MID_STREAM, REFUSED, RESET, SIMULTANEOUS,
    SIMULTANEOUS_OPEN, THREE_SEGMENT, THREE_WAY, UNANSWERED, Connection,
)

_TIME_WAIT_NOTE = "(60 s on Linux)"


def ms(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:.3f} ms"


def _names(conn: Connection, names):
    if names is None:
        names = ("originator", "responder") if conn.partial else ("client", "server")
    return names


def _side(conn: Connection, who: str | None, names) -> str:
    if who == "orig":
        return f"the {names[0]}"
    if who == "resp":
        return f"the {names[1]}"
    return "neither side"


def handshake_sentence(conn: Connection, names=None) -> str:
    names = _names(conn, names)
    kind = conn.handshake
    if kind == THREE_WAY:
        rtt = conn.syn_synack_ns
        return (f"complete: SYN, SYN+ACK, ACK in {ms(conn.handshake_ns)}"
                + (f" (SYN to SYN+ACK {ms(rtt)})" if rtt is not None else "") + ".")
    if kind == SIMULTANEOUS_OPEN:
        return (f"simultaneous open: both sides sent a SYN before receiving the other's; "
                f"established after {ms(conn.handshake_ns)}.")
    if kind == REFUSED:
        return (f"refused: the {names[1]} answered the SYN with RST, so nothing listens on port "
                f"{conn.resp.port} (connect() fails with 'Connection refused').")
    if kind == UNANSWERED:
        syns = f"{conn.orig_pkts} SYN" + ("" if conn.orig_pkts == 1 else "s")
        return (f"unanswered: the {names[0]} sent {syns} and nothing came back "
                f"(a firewall dropping them, or no such host).")
    if kind == MID_STREAM:
        return "not seen: the connection was already open when the capture began."
    if kind == HANDSHAKE_INCOMPLETE:
        return "incomplete: the SYN was answered but the final ACK of the handshake was not seen."
    return "in progress."


def data_sentence(conn: Connection, names=None) -> str:
    names = _names(conn, names)
    a, b = conn.orig_bytes, conn.resp_bytes
    if a == b:
        return "no payload either way." if a == 0 else f"{_bytes(a)} each way."
    return f"the {names[0]} sent {_bytes(a)}, the {names[1]} sent {_bytes(b)}."


def _bytes(n: int) -> str:
    return f"{n} byte{'' if n == 1 else 's'}"


def teardown_sentence(conn: Connection, names=None) -> str:
    names = _names(conn, names)
    kind = conn.teardown
    first = _side(conn, conn.closed_by, names)
    other = _side(conn, "resp" if conn.closed_by == "orig" else "orig", names)
    tw = conn.time_wait
    if tw == "both":
        tw_text = f"Both sides hold TIME_WAIT {_TIME_WAIT_NOTE}."
    elif tw in ("orig", "resp"):
        holder = _side(conn, tw, names)
        free = _side(conn, "resp" if tw == "orig" else "orig", names)
        tw_text = (f"{holder[0].upper()}{holder[1:]} closed first, so {holder} holds TIME_WAIT "
                   f"{_TIME_WAIT_NOTE} and {free}'s port is free again immediately.")
    else:
        tw_text = ""
    if kind == THREE_SEGMENT:
        text = ("three-segment close. The lessons' \"four-way\" teardown has four steps (FIN, ACK, "
                f"FIN, ACK); here {other}'s ACK of {first}'s FIN travelled in the same segment as "
                "its own FIN, which Linux does when the application closes at once.")
    elif kind == FOUR_WAY:
        text = (f"four-way close: {first} sent FIN, {other} acknowledged it, later sent its own FIN, "
                f"and {first} acknowledged that.")
        if conn.half_closed:
            text += f" Between the two FINs {other} kept sending data (a half close)."
    elif kind == SIMULTANEOUS:
        text = ("simultaneous close: both sides sent FIN before receiving the other's, so both "
                "went through CLOSING.")
    elif kind == RESET:
        text = f"reset: {first} aborted the connection with RST (no orderly FIN exchange)."
        tw_text = "No TIME_WAIT after a reset."
    elif kind == REFUSED:
        return "refused: there was no connection to close."
    elif kind == UNANSWERED:
        return "unanswered: there was no connection to close."
    elif kind == INCOMPLETE:
        text = f"incomplete: {first} sent FIN; the rest of the close was not captured."
    else:
        return "not closed within the capture."
    return f"{text} {tw_text}".strip()


def summary_lines(conn: Connection, names=None) -> list[tuple[str, str]]:
    names = _names(conn, names)
    lines = [
        ("Handshake", handshake_sentence(conn, names)),
        ("Data", data_sentence(conn, names)),
        ("Teardown", teardown_sentence(conn, names)),
    ]
    counts = conn.analysis_counts()
    if counts:
        lines.append(("Findings", ", ".join(f"{n} x {name}" for name, n in counts.items()) + "."))
    lines.append(("Zeek", f"conn_state {conn.conn_state}, history {conn.history or '-'}: {conn.explanation}"))
    return lines


def render_summary(conn: Connection, names=None, width: int = 88) -> str:
    return render_lines(summary_lines(conn, names), width)


def render_lines(lines, width: int = 88) -> str:
    """(heading, sentence) pairs laid out with each sentence wrapped under its heading."""
    out = []
    for heading, sentence in lines:
        wrapped = textwrap.wrap(sentence, width=width - 11) or [""]
        out.append(f"{heading:<10} {wrapped[0]}")
        out.extend(" " * 11 + line for line in wrapped[1:])
    return "\n".join(out) + "\n"
