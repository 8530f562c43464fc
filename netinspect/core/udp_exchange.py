"""A UDP session as `--trace` shows it: the datagrams between two endpoints, in order.

UDP has no connection to track, so "a session" is review's UDP flow (`core.flows.UdpFlows`:
the endpoint pair, originator = first sender, idle timeout): the flow gives the counts and
Zeek's conn_state/history, and this module keeps the datagrams of each flow as rows, plus
the ICMP errors that quote one of its datagrams (a closed port answers "port unreachable").

    exchanges(packets, icmp_errors) -> list[UdpExchange]     # packets: wire.udp_view.UdpPacket
    summary_lines(exchange, names) -> list[(heading, sentence)]

Pure: records in, records out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netinspect.core.flows import ConnRecord, UdpFlows, icmp_name
from netinspect.core.records import Endpoint

CONNECTIONLESS = ("no handshake and no teardown: UDP is connectionless; each datagram stands alone "
                  "and keeps its boundaries")


@dataclass(slots=True)
class UdpRow:
    """One line of the ladder: a datagram, or an ICMP error about one."""

    ts_ns: int
    from_orig: bool              # sent by the originator's side (for ICMP: by the originator's host)
    kind: str                    # "udp" or "icmp"
    payload_len: int = 0
    udp_length: int = 0
    payload: bytes = b""
    frame_index: int = 0
    icmp: object = None          # wire.udp_view.IcmpError for kind "icmp"


@dataclass(slots=True)
class UdpExchange:
    record: ConnRecord           # proto "udp": endpoints, packet and byte counts, conn_state, history
    rows: list = field(default_factory=list)

    @property
    def orig(self) -> Endpoint:
        return self.record.orig

    @property
    def resp(self) -> Endpoint:
        return self.record.resp

    @property
    def ts_first(self) -> int:
        return self.rows[0].ts_ns if self.rows else self.record.ts_ns

    @property
    def icmp_errors(self) -> list:
        return [r.icmp for r in self.rows if r.kind == "icmp"]

    def involves(self, ip: str, port: int) -> bool:
        return any(e.ip == ip and e.port == port for e in (self.orig, self.resp))


def exchanges(packets, icmp_errors=(), idle_ns: int | None = None) -> list[UdpExchange]:
    """Group captured datagrams into flows (in first-seen order) and attach the ICMP errors.

    An ICMP error whose quoted datagram belongs to no captured flow (the datagram itself
    was not captured) gets an exchange of its own, with no datagram rows.
    """
    flows = UdpFlows() if idle_ns is None else UdpFlows(idle_ns=idle_ns)
    ordered = sorted(packets, key=lambda p: (p.datagram.ts_ns, p.datagram.frame_index))
    for packet in ordered:
        flows.feed(packet.datagram)
    result = [UdpExchange(record) for record in flows.finish()]
    by_pair: dict = {}
    for exchange in result:
        by_pair.setdefault(frozenset((exchange.orig, exchange.resp)), []).append(exchange)
    for packet in ordered:
        d = packet.datagram
        exchange = _owner(by_pair.get(frozenset((d.src, d.dst)), []), d.ts_ns)
        exchange.rows.append(UdpRow(d.ts_ns, d.src == exchange.orig, "udp", d.payload_len, packet.udp_length,
                                    packet.payload, d.frame_index))
    for error in sorted(icmp_errors, key=lambda e: (e.ts_ns, e.frame_index)):
        candidates = by_pair.get(frozenset((error.quoted_src, error.quoted_dst)))
        if not candidates:
            record = ConnRecord(index=len(result), proto="udp", ts_ns=error.ts_ns, orig=error.quoted_src,
                                resp=error.quoted_dst, duration_ns=0, orig_pkts=0, resp_pkts=0, orig_bytes=0,
                                resp_bytes=0, conn_state="OTH", history="")
            candidates = by_pair[frozenset((error.quoted_src, error.quoted_dst))] = [UdpExchange(record)]
            result.append(candidates[0])
        exchange = _owner(candidates, error.ts_ns)
        # The quoted datagram went quoted_src -> quoted_dst; the error comes back from its destination.
        exchange.rows.append(UdpRow(error.ts_ns, error.quoted_src != exchange.orig, "icmp",
                                    frame_index=error.frame_index, icmp=error))
    for exchange in result:
        exchange.rows.sort(key=lambda r: (r.ts_ns, r.frame_index))
    return result


def _owner(candidates: list, ts_ns: int):
    """The flow of this pair active at ts_ns (flows of one pair are disjoint in time)."""
    best = candidates[0]
    for exchange in candidates:
        if exchange.record.ts_ns <= ts_ns:
            best = exchange
    return best


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_lines(exchange: UdpExchange, names=("client", "server")) -> list[tuple[str, str]]:
    r = exchange.record
    left, right = f"the {names[0]} {r.orig}", f"the {names[1]} {r.resp}"
    back = (f"{right} sent {_plural(r.resp_pkts, 'datagram')} ({_plural(r.resp_bytes, 'byte')})" if r.resp_pkts
            else f"{right} sent none")
    lines = [("Datagrams", f"{left} sent {_plural(r.orig_pkts, 'datagram')} ({_plural(r.orig_bytes, 'byte')} "
                           f"of payload); {back}."),
             ("Connection", CONNECTIONLESS[0].upper() + CONNECTIONLESS[1:] + ".")]
    findings = []
    errors = exchange.icmp_errors
    unreachable = [e for e in errors if e.port_unreachable]
    if unreachable:
        e = unreachable[0]
        findings.append(f"the port was closed: {e.src} answered {_plural(len(unreachable), 'datagram')} to udp port "
                        f"{e.quoted_dst.port} with ICMP{'v6' if e.version == 6 else ''} port unreachable "
                        "(nothing was listening there); UDP itself never says so, only this ICMP error does.")
    for e in errors:
        if not e.port_unreachable:
            findings.append(f"{e.src} answered a datagram to {e.quoted_dst} with ICMP{'v6' if e.version == 6 else ''} "
                            f"{icmp_name(e.version, e.type, e.code)}.")
            break
    if r.orig_pkts and not r.resp_pkts and not errors:
        findings.append(f"no reply from {right}: UDP gives no delivery receipt, so an unanswered datagram "
                        "may have been lost, dropped or simply ignored.")
    if findings:
        lines.append(("Findings", " ".join(f[0].upper() + f[1:] for f in findings)))
    lines.append(("Zeek", f"proto udp, conn_state {r.conn_state}, history {r.history or '-'}"))
    return lines
