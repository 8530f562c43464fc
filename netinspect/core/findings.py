"""Findings over connection records: per-connection analyses and capture-wide patterns.

    collector = FindingsCollector(syn_flood_threshold=100, scan_threshold=20)
    for record in records:           # final tracker Connections or review ConnRecords
        collector.add(record)
    for finding in collector.findings():
        print(finding.text)          # or finding.as_json()

A record needs ``index``, ``orig``, ``resp`` (Endpoints), ``conn_state``, ``handshake``,
``teardown``, ``port_reuse`` and either ``analyses`` (dict) or ``analysis_counts()``.

Per connection, summed over the capture, with Wireshark's expert-info names:
``tcp.analysis.retransmission``, ``spurious_retransmission``, ``out_of_order``,
``lost_segment``, ``zero_window``, ``keep_alive``, ``duplicate_ack``.
Capture-wide: ``refused`` (SYN answered by RST), ``unanswered`` (SYN, no reply),
``half_open`` (SYN answered, final ACK never came, or one side's FIN after a SYN that
was never answered: Zeek SH/SHR), ``syn_flood`` (at least ``syn_flood_threshold``
connections to one ip:port left unanswered or half open), ``port_scan`` (one source
refused or unanswered on at least ``scan_threshold`` distinct ports of one host) and
``port_reuse``. Memory is bounded: a few example connection numbers per finding, and
per-source port sets capped at ``max_tracked_ports``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_EXAMPLES = 5

_ANALYSIS_TEXT = {
    "tcp.analysis.retransmission": "retransmitted segments",
    "tcp.analysis.spurious_retransmission": "spurious retransmissions (data the peer had already acknowledged)",
    "tcp.analysis.out_of_order": "out-of-order segments",
    "tcp.analysis.lost_segment": "gaps: a previous segment was not captured",
    "tcp.analysis.zero_window": "zero-window advertisements (a receiver's buffer was full)",
    "tcp.analysis.keep_alive": "keep-alive probes",
    "tcp.analysis.duplicate_ack": "duplicate ACKs",
}


@dataclass(frozen=True)
class Finding:
    kind: str                    # Wireshark name, or refused/unanswered/half_open/syn_flood/port_scan/port_reuse
    text: str                    # one plain sentence
    count: int                   # segments (analyses) or connections (patterns)
    connections: tuple = ()      # a few example connection numbers
    target: str = ""             # ip:port or host concerned, when there is one

    def as_json(self) -> dict:
        return {"kind": self.kind, "text": self.text, "count": self.count,
                "connections": list(self.connections), "target": self.target}


def _examples(indices: list, total: int) -> str:
    shown = ", ".join(str(i) for i in indices)
    more = total - len(indices)
    if total == 1:
        return f"connection {shown}"
    return f"connections {shown}" + (f" and {more} more" if more > 0 else "")


@dataclass
class _Tally:
    count: int = 0
    conns: int = 0
    examples: list = field(default_factory=list)

    def add(self, index: int, count: int = 1) -> None:
        self.count += count
        self.conns += 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append(index)


class FindingsCollector:
    def __init__(self, *, syn_flood_threshold: int = 100, scan_threshold: int = 20,
                 max_tracked_ports: int = 4096, max_tracked_keys: int = 100_000):
        if syn_flood_threshold < 1 or scan_threshold < 1:
            raise ValueError("thresholds must be at least 1")
        self.syn_flood_threshold = syn_flood_threshold
        self.scan_threshold = scan_threshold
        self.max_tracked_ports = max_tracked_ports
        self.max_tracked_keys = max_tracked_keys
        self.records = 0
        self._analyses: dict[str, _Tally] = {}
        self._refused = _Tally()
        self._unanswered = _Tally()
        self._half_open = _Tally()
        self._reuse = _Tally()
        self._reuse_targets: list[str] = []
        self._syn_targets: dict = {}     # resp Endpoint -> _Tally (unanswered or half open)
        self._scan: dict = {}            # (orig ip, resp ip) -> set of ports refused/unanswered
        self._scan_examples: dict = {}

    def add(self, record) -> None:
        self.records += 1
        index = record.index
        analyses = getattr(record, "analyses", None)
        if analyses is None:
            analyses = record.analysis_counts()
        for name, n in analyses.items():
            tally = self._analyses.get(name)
            if tally is None:
                tally = self._analyses[name] = _Tally()
            tally.add(index, n)
        handshake = record.handshake
        state = record.conn_state
        failed = False
        if handshake == "refused" or state == "REJ":
            self._refused.add(index)
            failed = True
        elif handshake == "unanswered" or state == "S0":
            self._unanswered.add(index)
            failed = True
        if (handshake == "incomplete" and record.teardown in (None, "unanswered", "incomplete")) or state in ("SH", "SHR"):
            self._half_open.add(index)
            failed = True
        if failed:
            self._note_failed(record, index)
        if record.port_reuse:
            self._reuse.add(index)
            if len(self._reuse_targets) < _EXAMPLES:
                self._reuse_targets.append(f"{record.orig} -> {record.resp}")

    def _note_failed(self, record, index: int) -> None:
        target = record.resp
        tally = self._syn_targets.get(target)
        if tally is None and len(self._syn_targets) < self.max_tracked_keys:
            tally = self._syn_targets[target] = _Tally()
        if tally is not None:
            tally.add(index)
        key = (record.orig.ip, record.resp.ip)
        ports = self._scan.get(key)
        if ports is None and len(self._scan) < self.max_tracked_keys:
            ports = self._scan[key] = set()
            self._scan_examples[key] = []
        if ports is not None and len(ports) < self.max_tracked_ports:
            ports.add(record.resp.port)
            if len(self._scan_examples[key]) < _EXAMPLES:
                self._scan_examples[key].append(index)

    def findings(self) -> list[Finding]:
        out: list[Finding] = []
        for name in sorted(self._analyses, key=lambda n: -self._analyses[n].count):
            tally = self._analyses[name]
            what = _ANALYSIS_TEXT.get(name, name)
            out.append(Finding(name, f"{tally.count} {what} ({name}) in {_examples(tally.examples, tally.conns)}.",
                               tally.count, tuple(tally.examples)))
        floods = set()
        for target, tally in self._syn_targets.items():
            if tally.conns >= self.syn_flood_threshold:
                floods.add(target)
                out.append(Finding(
                    "syn_flood",
                    f"possible SYN flood: {tally.conns} connection attempts to {target} were left unanswered "
                    f"or half open ({_examples(tally.examples, tally.conns)}).",
                    tally.conns, tuple(tally.examples), str(target)))
        for (src, dst), ports in self._scan.items():
            if len(ports) >= self.scan_threshold:
                at_least = "at least " if len(ports) >= self.max_tracked_ports else ""
                sample = ", ".join(str(p) for p in sorted(ports)[:8])
                out.append(Finding(
                    "port_scan",
                    f"possible port scan: {src} tried {at_least}{len(ports)} distinct ports on {dst} that refused "
                    f"or did not answer (ports {sample}{', ...' if len(ports) > 8 else ''}).",
                    len(ports), tuple(self._scan_examples[(src, dst)]), dst))
        if self._refused.conns:
            t = self._refused
            out.append(Finding("refused", f"{_examples(t.examples, t.conns)}: refused — the responder answered the "
                               "SYN with RST: nothing listens on that port.", t.conns, tuple(t.examples)))
        if self._unanswered.conns:
            t = self._unanswered
            out.append(Finding("unanswered", f"{_examples(t.examples, t.conns)}: unanswered — the SYN got no reply "
                               "(dropped by a firewall, or no such host).", t.conns, tuple(t.examples)))
        if self._half_open.conns:
            t = self._half_open
            out.append(Finding("half_open", f"{_examples(t.examples, t.conns)}: half open — the handshake never "
                               "completed on both sides.", t.conns, tuple(t.examples)))
        if self._reuse.conns:
            t = self._reuse
            where = "; ".join(self._reuse_targets)
            verb = "reuses" if t.conns == 1 else "reuse"
            out.append(Finding("port_reuse", f"{_examples(t.examples, t.conns)} {verb} the ports of an earlier, "
                               f"finished connection ({where}).", t.conns, tuple(t.examples)))
        return out
