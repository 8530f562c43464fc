"""tshark read of a saved trace: one row per TCP frame, and the teardown kind derived
from those rows alone (independently of netinspect's tracker)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
FIELDS = ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.len",
          "tcp.seq", "tcp.ack", "tcp.analysis.retransmission", "tcp.checksum.status", "frame.time_relative",
          "tcp.analysis.out_of_order", "tcp.analysis.duplicate_ack"]


@dataclass
class TsharkRow:
    stream: int
    src: str
    sport: int
    dport: int
    flags: int
    length: int
    seq: int
    ack: int
    retransmission: bool
    checksum_status: str
    time: float
    out_of_order: bool = False
    duplicate_ack: bool = False


def tshark_rows(tshark: str, path) -> list[TsharkRow]:
    argv = [tshark, "-n", "-r", str(path), "-Y", "tcp", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for name in FIELDS:
        argv += ["-e", name]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    rows = []
    for line in done.stdout.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        rows.append(TsharkRow(int(v["tcp.stream"]), v["ip.src"] or v["ipv6.src"], int(v["tcp.srcport"]),
                              int(v["tcp.dstport"]), int(v["tcp.flags"], 16), int(v["tcp.len"] or 0),
                              int(v["tcp.seq"] or 0), int(v["tcp.ack"] or 0), bool(v["tcp.analysis.retransmission"]),
                              v["tcp.checksum.status"], float(v["frame.time_relative"]),
                              bool(v["tcp.analysis.out_of_order"]), bool(v["tcp.analysis.duplicate_ack"])))
    return rows


def flags_text(flags: int) -> str:
    names = [name for bit, name in ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"))
             if flags & bit]
    return "+".join(names) or "-"


def teardown_kind(rows: list[TsharkRow]) -> tuple[str, str | None]:
    """(kind, first closer's port role 'client'/'server') from one stream's rows."""
    client_port = rows[0].sport if rows[0].flags & SYN and not rows[0].flags & ACK else rows[0].dport
    side = lambda r: "client" if r.sport == client_port else "server"  # noqa: E731
    synack = any(r.flags & SYN and r.flags & ACK for r in rows)
    rsts = [r for r in rows if r.flags & RST]
    if rsts and not synack:
        return "refused", side(rsts[0])
    if rsts:
        return "reset", side(rsts[0])
    fins = [i for i, r in enumerate(rows) if r.flags & FIN]
    if not fins:
        return "none", None
    first = rows[fins[0]]
    closer = side(first)
    later = [i for i in fins if side(rows[i]) != closer]
    if not later:
        return "incomplete", closer
    second_index = later[0]
    second = rows[second_index]
    if not (second.flags & ACK and second.ack >= first.seq + first.length + 1):
        return "simultaneous", closer
    # Did the passive side acknowledge the first FIN in a segment of its own before its FIN?
    separate_ack = any(side(r) != closer and r.flags & ACK and r.ack >= first.seq + first.length + 1
                       for r in rows[fins[0] + 1: second_index])
    return ("four-way" if separate_ack else "three-segment"), closer
