"""Output sinks of `review`: text, JSON, JSON Lines, CSV, and the one-connection ladder.

A sink gets, per file, `start(info)` (info has .path and .t0_ns), `record(ConnRecord)`
for every connection/flow as it becomes final, and `end(FileSummary)`; `close()` once at
the end. Records are written as they come where the format allows, so memory stays flat.
"""

from __future__ import annotations

import csv
import json

from netinspect.core.records import flag_text
from netinspect.render import review_view as view
from netinspect.render.color import paint
from netinspect.render.jsonout import SCHEMA_VERSION, document, dumps

BUFFER_ROWS = 2000
UDP_ROWS_SHOWN = 2000


def _finding_text(finding) -> str:
    return getattr(finding, "text", None) or str(finding)


def _finding_json(finding) -> dict:
    if hasattr(finding, "as_json"):
        return finding.as_json()
    if hasattr(finding, "_asdict"):
        return finding._asdict()
    if hasattr(finding, "__dataclass_fields__"):
        from dataclasses import asdict
        return asdict(finding)
    return {"text": str(finding)}


def _icmp_json(group) -> dict:
    return {"src": group.src, "dst": group.dst, "version": group.version, "type": group.type,
            "code": group.code, "message": group.name, "count": group.count,
            "ts": group.first_ns / 1e9, "last_ts": group.last_ns / 1e9}


def summary_json(summary) -> dict:
    return {
        "file": summary.path, "format": summary.format, "compressed": summary.compressed,
        "packets": summary.packets, "captured_bytes": summary.captured_bytes,
        "first_ts": None if summary.first_ns is None else summary.first_ns / 1e9,
        "duration": summary.duration_ns / 1e9,
        "tcp_connections": summary.tcp_connections, "udp_flows": summary.udp_flows,
        "icmp_messages": summary.icmp_messages,
        "malformed_packets": summary.malformed, "malformed_reasons": summary.malformed_reasons,
        "other_frames": summary.other_frames, "fragments": summary.fragments,
        "evicted_connections": summary.evicted,
        "damage": None if summary.damage is None else {"offset": summary.damage[0], "reason": summary.damage[1]},
    }


class Sink:
    found_ladder = True

    def __init__(self, env, args):
        self.env = env
        self.args = args
        self.counts: list[tuple[str, int]] = []

    def start(self, info) -> None:
        self.path = info.path
        self.t0 = info.t0_ns or 0

    def record(self, record) -> None:
        raise NotImplementedError

    def end(self, summary) -> None:
        self.counts.append((summary.path, summary.tcp_connections))

    def close(self) -> None:
        pass


class TextSink(Sink):
    def start(self, info) -> None:
        super().start(info)
        self.tcp: list = []
        self.udp: list = []
        self.udp_more = 0
        self.states: set = set()
        self.udp_states: set = set()
        self.selected_tcp = 0
        self.stream = None

    def _selection_line(self) -> None:
        """With --host/--port the head line still counts the whole file: say what was kept."""
        host, port = self.args.host, self.args.port
        if host is None and port is None:
            return
        if host is not None and port is not None:   # one endpoint holds both (flows.involves)
            where = f"endpoint [{host}]:{port}" if ":" in host else f"endpoint {host}:{port}"
        else:
            where = f"host {host}" if host is not None else f"port {port}"
        udp = len(self.udp) + self.udp_more
        self.env.out(f"selected ({where}): {self.selected_tcp:,} TCP connection{'' if self.selected_tcp == 1 else 's'}, "
                     f"{udp:,} UDP flow{'' if udp == 1 else 's'}")

    def record(self, record) -> None:
        if record.proto != "tcp":
            self.udp_states.add(record.conn_state)
            if len(self.udp) < UDP_ROWS_SHOWN:
                self.udp.append(record)
            else:
                self.udp_more += 1
            return
        self.states.add(record.conn_state)
        self.selected_tcp += 1
        if self.stream is not None:
            self._stream_row(record)
            return
        self.tcp.append(record)
        if len(self.tcp) > BUFFER_ROWS:
            # A large capture: stream from here on, rows in the order connections finish.
            out = self.env.out
            out(f"{self.path}: large capture; connections are listed as they finish, the summary follows them")
            out("")
            self.stream = view.StreamTable(self.t0, self.env.color)
            out(self.stream.header())
            for held in sorted(self.tcp, key=lambda r: r.index):
                self._stream_row(held)
            self.tcp = []

    def _stream_row(self, record) -> None:
        self.env.out(self.stream.row(record))
        if self.args.explain:
            self.env.out(f"{'':8}{view.explanation(record)}")

    def end(self, summary) -> None:
        super().end(summary)
        out = self.env.out
        color = self.env.color
        head = view.summary_line(summary.path, summary.packets, summary.duration_ns, summary.tcp_connections,
                                 summary.udp_flows, summary.icmp_messages)
        if self.stream is None:
            out(head)
            self._selection_line()
            self.tcp.sort(key=lambda r: r.index)
            if self.tcp:
                out("")
                out(view.conn_table(self.tcp, self.t0, color))
        else:
            out("")
            out(head)
            self._selection_line()
        if self.udp:
            self.udp.sort(key=lambda r: r.index)
            out("")
            out(paint("UDP flows", "bold", color))
            out(view.udp_table(self.udp, self.t0))
            if self.udp_more:
                out(f"... and {self.udp_more:,} more UDP flows (--jsonl or --csv lists them all)")
        icmp = summary.icmp
        if self.args.host is not None:
            icmp = [g for g in icmp if self.args.host in (str(g.src), str(g.dst))]
        if icmp:
            out("")
            out(paint("ICMP messages", "bold", color))
            out(view.icmp_table(icmp, self.t0))
            if summary.icmp_ungrouped:
                out(f"... and {summary.icmp_ungrouped:,} more messages in further groups")
        for section in summary.extra.get("sections", []):
            out("")
            out(section)
        if summary.findings:
            out("")
            out(paint("Findings", "bold", color))
            for finding in summary.findings:
                out(f"  {_finding_text(finding)}")
        if summary.malformed:
            reasons = ", ".join(f"{k} ({v})" for k, v in sorted(summary.malformed_reasons.items()))
            out("")
            out(f"Flagged: {summary.malformed:,} malformed packet{'' if summary.malformed == 1 else 's'}: {reasons}")
        if self.args.explain and self.stream is None and (self.tcp or self.udp):
            out("")
            out(paint("Explanations", "bold", color))
            for record in self.tcp:
                out(f"  {record.index:>4}  {view.explanation(record)}")
            for record in self.udp:
                out(f"  udp {record.index:>2}  {view.explanation(record)}")
        legend = view.legend(self.states, everything=self.args.explain, udp_states=self.udp_states)
        if legend:
            out("")
            out(legend)


class JsonSink(Sink):
    """One JSON document: {"schema_version", "kind": "review", "files": [...]}, written as it goes."""

    def __init__(self, env, args):
        super().__init__(env, args)
        self.files = 0
        env.stdout.write(f'{{"schema_version": {SCHEMA_VERSION}, "kind": "review", "files": [')

    def start(self, info) -> None:
        super().start(info)
        write = self.env.stdout.write
        write(",\n" if self.files else "\n")
        self.files += 1
        write(f'{{"file": {json.dumps(info.path)}, "connections": [')
        self.n = 0

    def record(self, record) -> None:
        self.env.stdout.write((",\n  " if self.n else "\n  ") + view.record_json_line(record))
        self.n += 1

    def end(self, summary) -> None:
        super().end(summary)
        write = self.env.stdout.write
        body = summary_json(summary)
        body.pop("file")
        write("],\n")
        write(f' "summary": {json.dumps(body, ensure_ascii=False)},\n')
        write(f' "icmp": {json.dumps([_icmp_json(g) for g in summary.icmp], ensure_ascii=False)},\n')
        extra = {k: v for k, v in summary.extra.items() if k != "sections" and isinstance(v, (dict, list)) and k != "arp"}
        for key, value in extra.items():
            write(f' {json.dumps(key)}: {dumps(value, indent=None)},\n')
        write(f' "findings": {dumps([_finding_json(f) for f in summary.findings], indent=None)}}}')

    def close(self) -> None:
        self.env.stdout.write("\n]}\n")


class JsonlSink(Sink):
    """One JSON object per line per connection/flow (loads into DuckDB, Spark, pandas)."""

    def start(self, info) -> None:
        super().start(info)
        self.file_json = json.dumps(info.path, ensure_ascii=False)

    def record(self, record) -> None:
        self.env.stdout.write(view.record_json_line(record, self.file_json) + "\n")


class CsvSink(Sink):
    def __init__(self, env, args):
        super().__init__(env, args)
        self.writer = csv.writer(env.stdout, lineterminator="\n")
        self.writer.writerow(view.CSV_FIELDS)

    def record(self, record) -> None:
        self.writer.writerow(view.record_csv(record, self.path))


class LadderSink(Sink):
    """--conn N: the ladder of connection N (per file that has it), with its summary."""

    def __init__(self, env, args):
        super().__init__(env, args)
        self.found_ladder = False
        self.docs = []

    def start(self, info) -> None:
        super().start(info)
        self.wanted = None

    def record(self, record) -> None:
        if record.proto == "tcp" and record.index == self.args.conn:
            self.wanted = record

    def end(self, summary) -> None:
        super().end(summary)
        conn = summary.ladder
        if conn is None or self.wanted is None:
            return
        self.found_ladder = True
        record = self.wanted
        if self.args.json:
            self.docs.append({"file": summary.path, "connection": view.record_json(record),
                              "segments": [_row_json(row, conn.ts_first) for row in conn.rows]})
            return
        from netinspect.render.ladder import render_ladder
        out = self.env.out
        if len(self.counts) > 1:
            out("")
        out(f"{summary.path}: connection {record.index}, {record.orig} -> {record.resp}, "
            f"{record.orig_pkts + record.resp_pkts} packet{'' if record.orig_pkts + record.resp_pkts == 1 else 's'}, state {record.conn_state} {record.history}")
        out("")
        out(render_ladder(conn, verbose=bool(self.args.verbose), color=self.env.color, ascii_only=self.args.ascii).rstrip("\n"))
        out("")
        out(view.explanation(record))

    def close(self) -> None:
        if self.args.json:
            self.env.out(dumps(document("review-connection", connections=self.docs)))


def _row_json(row, t0) -> dict:
    state = lambda s: None if s is None else getattr(s, "name", str(s))  # noqa: E731
    return {"ts": row.ts_ns / 1e9, "t": (row.ts_ns - t0) / 1e9, "from": "orig" if row.from_orig else "resp",
            "flags": flag_text(row.flags), "seq": row.seq, "ack": row.ack, "rel_seq": row.rel_seq, "rel_ack": row.rel_ack,
            "len": row.payload_len, "window": row.window, "frame": row.frame_index + 1, "role": row.role,
            "orig_state": state(row.orig_after), "resp_state": state(row.resp_after), "analyses": list(row.notes)}
