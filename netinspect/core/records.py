"""The records that flow through the pipeline: frames, then decoded packets, then segments.

Times are integer nanoseconds since the epoch inside the program (floats only in JSON).
Records are slotted dataclasses or NamedTuples: millions of them pass through `review`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

# TCP flag bits as on the wire (RFC 9293 section 3.1, plus ECE/CWR from RFC 3168).
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80

FLAG_NAMES = ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"), (URG, "URG"), (ECE, "ECE"), (CWR, "CWR"))


def flag_text(flags: int) -> str:
    """'SYN+ACK', 'PSH+ACK', 'FIN+ACK', or '-' when no flag is set."""
    names = [name for bit, name in FLAG_NAMES if flags & bit]
    return "+".join(names) if names else "-"


class Frame(NamedTuple):
    """One captured frame as the capture source gave it, before decoding."""

    ts_ns: int          # capture time, nanoseconds since the epoch
    linktype: int       # LINKTYPE_* value (1 Ethernet, 113 SLL, 276 SLL2, 101 raw, 0 null, ...)
    data: bytes         # the captured bytes (caplen of them)
    orig_len: int       # length on the wire
    index: int = 0      # 0-based position in its source (file or live capture)
    interface: int = 0  # pcapng interface id, 0 for classic pcap and live capture


class Endpoint(NamedTuple):
    ip: str
    port: int

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


class FlowKey(NamedTuple):
    """Direction-free key of a transport flow: the two endpoints in sorted order, plus protocol."""

    proto: int  # 6 TCP, 17 UDP
    a: Endpoint
    b: Endpoint

    @staticmethod
    def of(proto: int, src: Endpoint, dst: Endpoint) -> "FlowKey":
        return FlowKey(proto, src, dst) if (src.ip, src.port) <= (dst.ip, dst.port) else FlowKey(proto, dst, src)


@dataclass(slots=True)
class TcpOptions:
    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    sack_blocks: tuple = ()
    ts_val: int | None = None
    ts_ecr: int | None = None


@dataclass(slots=True)
class Segment:
    """One TCP segment, decoded: what the tracker consumes."""

    ts_ns: int
    src: Endpoint
    dst: Endpoint
    seq: int
    ack: int
    flags: int
    window: int
    payload_len: int
    frame_index: int = 0
    options: TcpOptions | None = None
    payload: bytes = b""        # first bytes of payload, kept short (for ladder labels)
    malformed: str = ""         # non-empty when the decoder flagged something (e.g. "truncated")


@dataclass(slots=True)
class Datagram:
    """One UDP datagram."""

    ts_ns: int
    src: Endpoint
    dst: Endpoint
    payload_len: int
    frame_index: int = 0
    malformed: str = ""


@dataclass(slots=True)
class IcmpMessage:
    ts_ns: int
    src: str
    dst: str
    version: int        # 4 or 6
    type: int
    code: int
    frame_index: int = 0
    malformed: str = ""
