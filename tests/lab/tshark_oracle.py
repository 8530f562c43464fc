"""Per-connection facts from tshark, the oracle `review` is compared against.

`tcp_streams(pcap)` runs tshark once with `-T fields` and folds its rows by
`tcp.stream` (tshark's notion of a connection: a new SYN after a finished connection
on the same ports starts a new stream). For each stream it returns a `StreamFacts`:
who sent the first SYN (the originator), packets, payload bytes (`tcp.len`) and frame
bytes each way, `tcp.analysis.initial_rtt` in integer nanoseconds, which side sent FIN
and RST first, SYN/SYN-ACK counts and retransmissions as tshark flags them.

`udp_flows(pcap)` does the same for UDP conversations (`udp.stream`).
ICMP error messages quote the offending header, so TCP and UDP rows are selected with
`not icmp and not icmpv6` to keep quoted headers out of the counts.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

FIELDS = ["tcp.stream", "frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst",
          "ipv6.dst", "tcp.dstport", "tcp.flags", "tcp.len", "frame.len", "tcp.analysis.initial_rtt",
          "tcp.analysis.retransmission"]
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def _endpoint(ip: str, port: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@dataclass
class StreamFacts:
    stream: int
    originator: str = ""
    responder: str = ""
    first_ts_ns: int = 0
    last_ts_ns: int = 0
    orig_pkts: int = 0
    resp_pkts: int = 0
    orig_payload: int = 0
    resp_payload: int = 0
    orig_frame_bytes: int = 0
    resp_frame_bytes: int = 0
    irtt_ns: int | None = None
    syns: int = 0
    synacks: int = 0
    first_fin_by: str | None = None     # "orig" or "resp"
    first_rst_by: str | None = None
    fins: dict = field(default_factory=lambda: {"orig": 0, "resp": 0})
    rsts: dict = field(default_factory=lambda: {"orig": 0, "resp": 0})
    retransmissions: int = 0
    frames: list = field(default_factory=list)


def _run(pcap: Path, display_filter: str, fields: list[str]) -> list[list[str]]:
    argv = ["tshark", "-n", "-r", str(pcap), "-Y", display_filter, "-T", "fields", "-E", "separator=\t",
            "-E", "occurrence=f"]
    for name in fields:
        argv += ["-e", name]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def _ns(epoch_text: str) -> int:
    return int(Decimal(epoch_text) * 1_000_000_000)


def tcp_streams(pcap: Path) -> dict[int, StreamFacts]:
    streams: dict[int, StreamFacts] = {}
    for row in _run(pcap, "tcp and not icmp and not icmpv6", FIELDS):
        values = dict(zip(FIELDS, row))
        sid = int(values["tcp.stream"])
        src = _endpoint(values["ip.src"] or values["ipv6.src"], values["tcp.srcport"])
        dst = _endpoint(values["ip.dst"] or values["ipv6.dst"], values["tcp.dstport"])
        flags = int(values["tcp.flags"], 16)
        ts = _ns(values["frame.time_epoch"])
        facts = streams.get(sid)
        if facts is None:
            facts = streams[sid] = StreamFacts(sid, first_ts_ns=ts)
            # The originator sent the SYN; without one seen, the first packet's sender.
            if flags & SYN and flags & ACK:
                facts.originator, facts.responder = dst, src
            else:
                facts.originator, facts.responder = src, dst
        side = "orig" if src == facts.originator else "resp"
        facts.last_ts_ns = ts
        facts.frames.append(int(values["frame.number"]))
        payload, frame_len = int(values["tcp.len"] or 0), int(values["frame.len"])
        if side == "orig":
            facts.orig_pkts += 1
            facts.orig_payload += payload
            facts.orig_frame_bytes += frame_len
        else:
            facts.resp_pkts += 1
            facts.resp_payload += payload
            facts.resp_frame_bytes += frame_len
        if values["tcp.analysis.initial_rtt"]:
            facts.irtt_ns = _ns(values["tcp.analysis.initial_rtt"])
        if flags & SYN:
            if flags & ACK:
                facts.synacks += 1
            else:
                facts.syns += 1
        if flags & FIN:
            facts.fins[side] += 1
            facts.first_fin_by = facts.first_fin_by or side
        if flags & RST:
            facts.rsts[side] += 1
            facts.first_rst_by = facts.first_rst_by or side
        if values["tcp.analysis.retransmission"]:
            facts.retransmissions += 1
    return streams


@dataclass
class UdpFacts:
    stream: int
    a: str
    b: str
    a_pkts: int = 0
    b_pkts: int = 0
    a_payload: int = 0
    b_payload: int = 0


def udp_flows(pcap: Path) -> dict[int, UdpFacts]:
    fields = ["udp.stream", "ip.src", "ipv6.src", "udp.srcport", "ip.dst", "ipv6.dst", "udp.dstport", "udp.length"]
    flows: dict[int, UdpFacts] = {}
    for row in _run(pcap, "udp and not icmp and not icmpv6", fields):
        values = dict(zip(fields, row))
        sid = int(values["udp.stream"])
        src = _endpoint(values["ip.src"] or values["ipv6.src"], values["udp.srcport"])
        dst = _endpoint(values["ip.dst"] or values["ipv6.dst"], values["udp.dstport"])
        flow = flows.setdefault(sid, UdpFacts(sid, src, dst))
        payload = int(values["udp.length"]) - 8
        if src == flow.a:
            flow.a_pkts += 1
            flow.a_payload += payload
        else:
            flow.b_pkts += 1
            flow.b_payload += payload
    return flows


def icmp_count(pcap: Path) -> int:
    return len(_run(pcap, "icmp or icmpv6", ["frame.number"]))
