"""How `review` shows what it found: the connection table, UDP flows, ICMP messages,
findings, a conn_state legend, plain-sentence explanations, and the record forms for
JSON, JSON Lines and CSV.

Two table forms: small captures get a tabulate table (rows in connection order, widths
fitted); large ones stream fixed-width rows (`StreamTable`) as connections finish, so
output starts at once and memory does not grow with the file.
"""

from __future__ import annotations

import json

from netinspect.core.flows import ConnRecord, IcmpGroup
from netinspect.core.zeek import CONN_STATE_TEXT
from netinspect.render.color import paint
from netinspect.render.table import table

HEADERS = ["#", "originator", "responder", "start s", "dur ms", "pkts →/←", "bytes →/←", "iRTT ms",
           "opened", "closed", "by", "state", "history"]
ALIGN = ["right", "left", "left", "right", "right", "left", "left", "right", "left", "left", "left", "left", "left"]
# Widths of the streamed form: wide enough for IPv4 endpoints and typical values.
STREAM_WIDTHS = [6, 21, 21, 9, 9, 10, 14, 8, 11, 13, 4, 6, 10]
UDP_HEADERS = ["#", "originator", "responder", "start s", "dur ms", "pkts →/←", "bytes →/←", "state"]
UDP_ALIGN = ["right", "left", "left", "right", "right", "left", "left", "left"]

CSV_FIELDS = ["file", "uid", "conn", "ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
              "duration", "orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "conn_state", "history",
              "handshake", "teardown", "closed_by", "irtt", "retransmissions", "analyses", "port_reuse",
              "started_before_capture", "time_wait", "explanation"]

_STATE_STYLE = {"SF": "green", "S1": "green", "REJ": "red", "RSTO": "yellow", "RSTR": "yellow",
                "S0": "red", "RSTOS0": "red", "SH": "yellow", "OTH": "dim"}
SHORT_STATE_TEXT = {
    "S0": "SYN unanswered", "S1": "established, not closed", "SF": "normal open and close", "REJ": "refused",
    "S2": "originator closed, no reply seen", "S3": "responder closed, no reply seen",
    "RSTO": "originator aborted with RST", "RSTR": "responder aborted with RST",
    "RSTOS0": "originator SYN then RST", "RSTRH": "responder SYN+ACK then RST", "SH": "SYN then FIN, half open",
    "SHR": "responder SYN+ACK then FIN", "OTH": "no SYN seen (mid-stream)",
}
# Zeek gives UDP flows only these two codes.
UDP_STATE_TEXT = {"S0": "no reply seen", "SF": "both sides sent"}
_SIDE = {"orig": "orig", "resp": "resp", None: "-"}
_TEARDOWN_WORDS = {
    "four-way": "four-segment close (FIN, ACK, FIN, ACK)",
    "three-segment": "three-segment close (FIN, FIN+ACK, ACK: the second side acknowledged and closed in one segment)",
    "simultaneous": "simultaneous close (both sides sent FIN before seeing the other's)",
    "reset": "ended by RST",
    "refused": "refused: the SYN was answered with RST (nothing listening)",
    "unanswered": "the SYN was never answered",
    "incomplete": "a close began but did not finish within the capture",
}


def ms(ns: int | None, digits: int = 3) -> str:
    return "-" if ns is None else f"{ns / 1e6:.{digits}f}"


def seconds(ns: int, digits: int = 3) -> str:
    return f"{ns / 1e9:.{digits}f}"


def _opened(record: ConnRecord) -> str:
    kind = record.handshake
    if kind == "three-way":
        return "handshake"
    return kind or "-"


def _closed(record: ConnRecord) -> str:
    if record.teardown == "refused" or record.teardown == "unanswered":
        return "-"   # the "opened" column already says it
    if record.teardown:
        return record.teardown
    if record.handshake in ("three-way", "simultaneous", "mid-stream"):
        return "open"
    return "-"


def conn_row(record: ConnRecord, t0: int, color: bool = False) -> list[str]:
    state = paint(record.conn_state, _STATE_STYLE.get(record.conn_state, ""), color)
    return [str(record.index), str(record.orig), str(record.resp), seconds(record.ts_ns - t0),
            ms(record.duration_ns, 2), f"{record.orig_pkts}/{record.resp_pkts}",
            f"{record.orig_bytes}/{record.resp_bytes}", ms(record.irtt_ns), _opened(record),
            _closed(record), _SIDE.get(record.closed_by, "-"), state, record.history or "-"]


def conn_table(records: list[ConnRecord], t0: int, color: bool = False) -> str:
    return table((conn_row(r, t0, color) for r in records), HEADERS, align=ALIGN)


def udp_row(record: ConnRecord, t0: int) -> list[str]:
    return [str(record.index), str(record.orig), str(record.resp), seconds(record.ts_ns - t0),
            ms(record.duration_ns, 2), f"{record.orig_pkts}/{record.resp_pkts}",
            f"{record.orig_bytes}/{record.resp_bytes}", record.conn_state]


def udp_table(records: list[ConnRecord], t0: int) -> str:
    return table((udp_row(r, t0) for r in records), UDP_HEADERS, align=UDP_ALIGN)


def icmp_table(groups: list[IcmpGroup], t0: int) -> str:
    rows = [[g.src, g.dst, f"ICMPv{g.version}" if g.version == 6 else "ICMP", f"{g.type}/{g.code}", g.name,
             str(g.count), seconds(g.first_ns - t0)] for g in groups]
    return table(rows, ["source", "destination", "proto", "type/code", "message", "count", "first s"],
                 align=["left", "left", "left", "right", "left", "right", "right"])


class StreamTable:
    """Fixed-width rows for streaming: a header line, then one line per record.

    The row is one f-string (this runs once per connection of a large capture); it gives
    the same cells as `conn_row`, padded to STREAM_WIDTHS.
    """

    def __init__(self, t0: int, color: bool = False):
        self.t0 = t0
        self.color = color
        self._format = "  ".join(f"{{:{'>' if align == 'right' else '<'}{width}}}"
                                 for width, align in zip(STREAM_WIDTHS, ALIGN)).format
        self._names: dict = {}      # Endpoint -> text (servers and reused ports repeat)

    def _line(self, cells: list[str]) -> str:
        return self._format(*cells).rstrip()

    def header(self) -> str:
        return self._line(HEADERS)

    def _name(self, endpoint) -> str:
        text = self._names.get(endpoint)
        if text is None:
            if len(self._names) > 65536:
                self._names.clear()
            text = self._names[endpoint] = str(endpoint)
        return text

    def row(self, r: ConnRecord) -> str:
        irtt = "-" if r.irtt_ns is None else f"{r.irtt_ns / 1e6:.3f}"
        state = r.conn_state
        if self.color:
            state = paint(state, _STATE_STYLE.get(state, ""), True) + " " * max(0, 6 - len(state))
        line = (f"{r.index:>6}  {self._name(r.orig):<21}  {self._name(r.resp):<21}  "
                f"{(r.ts_ns - self.t0) / 1e9:>9.3f}  {r.duration_ns / 1e6:>9.2f}  "
                f"{f'{r.orig_pkts}/{r.resp_pkts}':<10}  {f'{r.orig_bytes}/{r.resp_bytes}':<14}  {irtt:>8}  "
                f"{_opened(r):<11}  {_closed(r):<13}  {_SIDE.get(r.closed_by, '-'):<4}  {state:<6}  "
                f"{r.history or '-'}")
        return line


def explanation(record: ConnRecord) -> str:
    """One or two plain sentences: who opened, how it went, how it ended."""
    if record.proto == "udp":
        if record.resp_pkts:
            return (f"UDP flow: {record.orig} sent {_count(record.orig_pkts, 'datagram')} "
                    f"({_count(record.orig_bytes, 'byte')}) and {record.resp} answered with {record.resp_pkts} "
                    f"({_count(record.resp_bytes, 'byte')}).")
        return (f"UDP flow: {record.orig} sent {_count(record.orig_pkts, 'datagram')} "
                f"({_count(record.orig_bytes, 'byte')}); no answer was seen.")
    parts = []
    if record.handshake == "three-way":
        rtt = f" (initial round trip {ms(record.irtt_ns)} ms)" if record.irtt_ns is not None else ""
        parts.append(f"{record.orig} opened a connection to {record.resp} with the three-way handshake{rtt}")
    elif record.handshake == "simultaneous":
        parts.append(f"{record.orig} and {record.resp} opened the connection simultaneously")
    elif record.handshake == "mid-stream":
        parts.append(f"the connection {record.orig} -> {record.resp} was already open when the capture began")
    elif record.handshake == "refused":
        parts.append(f"{record.orig} tried to connect to {record.resp}, which refused: the SYN was answered with RST, "
                     f"so nothing listens on port {record.resp.port}")
    elif record.handshake == "unanswered":
        syns = record.orig_pkts
        parts.append(f"{record.orig} sent {_count(syns, 'SYN')} to {record.resp} and got no answer "
                     f"(a filtered port, a host that is down, or the capture missed the reply)")
    else:
        parts.append(f"{record.orig} began a connection to {record.resp} whose handshake did not complete")
    if record.handshake in ("three-way", "simultaneous", "mid-stream"):
        parts.append(f"it carried {_count(record.orig_bytes, 'byte')} from the originator and {record.resp_bytes} back")
        who = {"orig": "the originator", "resp": "the responder"}.get(record.closed_by)
        if record.teardown == "reset":
            parts.append(f"{who or 'one side'} aborted it with RST")
        elif record.teardown in ("four-way", "three-segment", "simultaneous"):
            closer = f"{who} closed first" if who else "both closed"
            tw = {"orig": "the originator holds", "resp": "the responder holds", "both": "both hold"}.get(record.time_wait)
            parts.append(f"{closer}; {_TEARDOWN_WORDS[record.teardown]}" + (f"; {tw} TIME_WAIT" if tw else ""))
        elif record.teardown == "incomplete":
            parts.append(_TEARDOWN_WORDS["incomplete"])
        else:
            parts.append("it was still open when the capture ended")
    if record.retransmissions:
        parts.append(_count(record.retransmissions, "retransmission"))
    if record.port_reuse:
        parts.append("it reused the ports of an earlier, finished connection")
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def legend(states: set[str], everything: bool = False, udp_states: set[str] = frozenset()) -> str:
    """`states` are TCP conn_state codes; `udp_states` those of UDP flows, where Zeek's S0 and
    SF mean no reply / a reply (there is no SYN to answer)."""
    codes = sorted(CONN_STATE_TEXT) if everything else sorted(s for s in states if s in CONN_STATE_TEXT)
    udp_codes = sorted(s for s in udp_states if s in UDP_STATE_TEXT)
    if not codes and not udp_codes:
        return ""
    if everything:
        lines = ["conn_state (Zeek):"] + [f"  {code:<7}{CONN_STATE_TEXT[code]}" for code in codes]
        lines.append("history (Zeek): S SYN, H SYN+ACK, A pure ACK, D data, F FIN, R RST, T retransmitted data, "
                     "W zero window; upper case = originator, lower case = responder.")
        lines.append("columns: →/← originator to responder / responder to originator; bytes are payload bytes; "
                     "iRTT initial round trip (SYN to the first ACK, tshark's tcp.analysis.initial_rtt); "
                     "by: who closed first (orig originator, resp responder).")
        lines.append("UDP flows (no handshake): " + "; ".join(f"{code} {text}" for code, text in UDP_STATE_TEXT.items())
                     + "; history D data from the originator, d from the responder.")
        return "\n".join(lines)
    short = [f"{code} {SHORT_STATE_TEXT.get(code, code)}" for code in codes]
    short += [f"{code} {UDP_STATE_TEXT[code]} (UDP)" for code in udp_codes]
    return f"conn_state: {' · '.join(short)}  (--explain for all)"


def record_json(record: ConnRecord, file: str | None = None) -> dict:
    """Zeek conn.log names where they exist, plain names for the rest; times in float seconds."""
    out = {
        "ts": record.ts_ns / 1e9,
        "uid": f"{'C' if record.proto == 'tcp' else 'U'}{record.index}",
        "conn": record.index,
        "id.orig_h": record.orig.ip, "id.orig_p": record.orig.port,
        "id.resp_h": record.resp.ip, "id.resp_p": record.resp.port,
        "proto": record.proto,
        "duration": record.duration_ns / 1e9,
        "orig_pkts": record.orig_pkts, "resp_pkts": record.resp_pkts,
        "orig_bytes": record.orig_bytes, "resp_bytes": record.resp_bytes,
        "conn_state": record.conn_state, "history": record.history,
        "handshake": record.handshake, "teardown": record.teardown, "closed_by": record.closed_by,
        "irtt": None if record.irtt_ns is None else record.irtt_ns / 1e9,
        "retransmissions": record.retransmissions,
        "analyses": record.analyses,
        "port_reuse": record.port_reuse,
        "started_before_capture": record.partial,
        "time_wait": record.time_wait,
        "explanation": explanation(record),
    }
    if file is not None:
        out = {"file": file, **out}
    return out


def _js(text) -> str:
    """A JSON string (or null): quoted directly when it has nothing to escape
    (printable ASCII without quote or backslash; the checks run in C)."""
    if text is None:
        return "null"
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    return json.dumps(text, ensure_ascii=False)


def record_json_line(record: ConnRecord, file_json: str | None = None) -> str:
    """`json.dumps(record_json(record, file))` written directly (the bulk output path).

    `file_json` is the file name already encoded as a JSON string, or None to leave it out.
    """
    irtt = "null" if record.irtt_ns is None else repr(record.irtt_ns / 1e9)
    analyses = json.dumps(record.analyses) if record.analyses else "{}"
    head = f'{{"file": {file_json}, ' if file_json is not None else "{"
    return (f'{head}"ts": {record.ts_ns / 1e9!r}, "uid": "{"C" if record.proto == "tcp" else "U"}{record.index}", '
            f'"conn": {record.index}, "id.orig_h": {_js(record.orig.ip)}, "id.orig_p": {record.orig.port}, '
            f'"id.resp_h": {_js(record.resp.ip)}, "id.resp_p": {record.resp.port}, "proto": "{record.proto}", '
            f'"duration": {record.duration_ns / 1e9!r}, "orig_pkts": {record.orig_pkts}, '
            f'"resp_pkts": {record.resp_pkts}, "orig_bytes": {record.orig_bytes}, '
            f'"resp_bytes": {record.resp_bytes}, "conn_state": {_js(record.conn_state)}, '
            f'"history": {_js(record.history)}, "handshake": {_js(record.handshake)}, '
            f'"teardown": {_js(record.teardown)}, "closed_by": {_js(record.closed_by)}, "irtt": {irtt}, '
            f'"retransmissions": {record.retransmissions}, "analyses": {analyses}, '
            f'"port_reuse": {"true" if record.port_reuse else "false"}, '
            f'"started_before_capture": {"true" if record.partial else "false"}, '
            f'"time_wait": {_js(record.time_wait)}, "explanation": {_js(explanation(record))}}}')


def record_csv(record: ConnRecord, file: str) -> list:
    doc = record_json(record, file)
    doc["analyses"] = ";".join(f"{k}={v}" for k, v in sorted(record.analyses.items()))
    return ["" if doc.get(name) is None else doc.get(name) for name in CSV_FIELDS]


def summary_line(path: str, packets: int, duration_ns: int, tcp: int, udp: int, icmp: int) -> str:
    return (f"{path}: {_count(packets, 'packet')} in {duration_ns / 1e9:.2f} s, {_count(tcp, 'TCP connection')}, "
            f"{_count(udp, 'UDP flow')}, {_count(icmp, 'ICMP message')}")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
