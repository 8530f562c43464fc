"""What `review` reports besides TCP connections: UDP flows, ICMP messages, and the
plain connection record every output format is written from (sans-IO).

- `UdpFlows`: datagrams in, one `FlowRecord` per UDP flow out. A flow is the two
  endpoints regardless of direction; the originator is the sender of the first datagram
  seen (Zeek's rule for UDP). A flow idle for `idle_ns` (capture time) ends and a later
  datagram starts a new one; beyond `max_flows` active flows the least recently active
  end early, so memory stays bounded.
- `IcmpTable`: ICMP/ICMPv6 messages grouped by (source, destination, type, code), with
  plain names for the common types; the number of groups is capped.
- `ConnRecord`: the picklable, plain record of one TCP connection or UDP flow, made from a
  tracker `Connection` by `conn_record()`; records are what the per-file function returns
  and what text, JSON, JSON Lines and CSV are written from.

Times are integer nanoseconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from netinspect.core.records import Datagram, Endpoint, IcmpMessage

UDP_IDLE_NS = 60 * 1_000_000_000      # Zeek's default UDP inactivity timeout
MAX_UDP_FLOWS = 16_384                 # active flows held at once (memory bound)
MAX_ICMP_GROUPS = 10_000


@dataclass(slots=True)
class ConnRecord:
    """One TCP connection or UDP flow as review reports it (Zeek conn.log naming)."""

    index: int                 # connection number within its file (tshark tcp.stream for TCP)
    proto: str                 # "tcp" or "udp"
    ts_ns: int                 # first packet
    orig: Endpoint
    resp: Endpoint
    duration_ns: int
    orig_pkts: int
    resp_pkts: int
    orig_bytes: int            # payload bytes
    resp_bytes: int
    conn_state: str
    history: str
    handshake: str | None = None
    teardown: str | None = None
    closed_by: str | None = None        # "orig", "resp" or None
    irtt_ns: int | None = None
    retransmissions: int = 0
    analyses: dict = field(default_factory=dict)   # Wireshark expert name -> count
    port_reuse: bool = False
    partial: bool = False               # started before the capture
    time_wait: str | None = None
    evicted: bool = False

    def involves(self, host: str | None, port: int | None) -> bool:
        """True when an endpoint matches `host` (address text) and/or `port`."""
        for ep in (self.orig, self.resp):
            if (host is None or ep.ip == host) and (port is None or ep.port == port):
                return True
        return False


def conn_record(conn) -> ConnRecord:
    """A final tracker `Connection` as a plain record (no tracker state kept)."""
    return ConnRecord(*conn_fields(conn))


def conn_fields(conn) -> tuple:
    """The ConnRecord fields of a final tracker `Connection`, in field order, as a tuple
    (what a review worker sends: a plain tuple pickles many times faster than a record)."""
    return (conn.index, "tcp", conn.ts_first, conn.orig, conn.resp, conn.duration_ns, conn.orig_pkts,
            conn.resp_pkts, conn.orig_bytes, conn.resp_bytes, conn.conn_state, conn.history, conn.handshake,
            conn.teardown, conn.closed_by, conn.irtt_ns, conn.retransmissions, conn.analysis_counts(),
            conn.port_reuse, conn.partial, conn.time_wait, conn.evicted)


def record_fields(record: ConnRecord) -> tuple:
    """A ConnRecord as the tuple conn_fields gives (ConnRecord(*fields) is the record again)."""
    return (record.index, record.proto, record.ts_ns, record.orig, record.resp, record.duration_ns,
            record.orig_pkts, record.resp_pkts, record.orig_bytes, record.resp_bytes, record.conn_state,
            record.history, record.handshake, record.teardown, record.closed_by, record.irtt_ns,
            record.retransmissions, record.analyses, record.port_reuse, record.partial, record.time_wait,
            record.evicted)


class _Flow:
    __slots__ = ("index", "orig", "resp", "first", "last", "opk", "rpk", "oby", "rby")

    def __init__(self, index: int, d: Datagram):
        self.index = index
        self.orig, self.resp = d.src, d.dst
        self.first = self.last = d.ts_ns
        self.opk = self.rpk = self.oby = self.rby = 0


class UdpFlows:
    """UDP datagrams in, finished `ConnRecord`s (proto "udp") out."""

    def __init__(self, idle_ns: int = UDP_IDLE_NS, max_flows: int = MAX_UDP_FLOWS):
        self.idle_ns = idle_ns
        self.max_flows = max_flows
        self.evicted = 0
        self._flows: dict = {}       # (src, dst) and (dst, src) -> _Flow
        self._next = 0
        self._done: list[ConnRecord] = []
        self._last_sweep = 0
        self.first_frames: list | None = None   # as ConnectionTracker.first_frames

    def feed(self, d: Datagram) -> bool:
        """Count one datagram; True when some flow has ended and waits for drain()."""
        flow = self._flows.get((d.src, d.dst))
        if flow is not None and d.ts_ns - flow.last > self.idle_ns:
            self._end(flow)
            flow = None
        if flow is None:
            if len(self._flows) >= 2 * self.max_flows:
                self._evict()
            flow = _Flow(self._next, d)
            self._next += 1
            if self.first_frames is not None:
                self.first_frames.append(d.frame_index)
            self._flows[(d.src, d.dst)] = self._flows[(d.dst, d.src)] = flow
        flow.last = d.ts_ns if d.ts_ns > flow.last else flow.last
        if d.src == flow.orig:
            flow.opk += 1
            flow.oby += d.payload_len
        else:
            flow.rpk += 1
            flow.rby += d.payload_len
        if d.ts_ns - self._last_sweep > self.idle_ns:
            self._sweep(d.ts_ns)
        return bool(self._done)

    def _sweep(self, now: int) -> None:
        self._last_sweep = now
        for flow in {id(f): f for f in self._flows.values()}.values():
            if now - flow.last > self.idle_ns:
                self._end(flow)

    def _evict(self) -> None:
        """End the least recently active eighth of the flows early (bounded memory)."""
        flows = sorted({id(f): f for f in self._flows.values()}.values(), key=lambda f: f.last)
        for flow in flows[: max(1, self.max_flows // 8)]:
            self.evicted += 1
            self._end(flow)

    def _end(self, flow: _Flow) -> None:
        for key in ((flow.orig, flow.resp), (flow.resp, flow.orig)):
            if self._flows.get(key) is flow:
                del self._flows[key]
        both = flow.rpk > 0
        self._done.append(ConnRecord(
            index=flow.index, proto="udp", ts_ns=flow.first, orig=flow.orig, resp=flow.resp,
            duration_ns=flow.last - flow.first, orig_pkts=flow.opk, resp_pkts=flow.rpk,
            orig_bytes=flow.oby, resp_bytes=flow.rby,
            # Zeek's UDP conn_state: SF once both sides spoke, S0 when only the originator did.
            conn_state="SF" if both else "S0", history="Dd" if both else "D"))

    def drain(self) -> Iterator[ConnRecord]:
        done, self._done = self._done, []
        return iter(done)

    def finish(self) -> list[ConnRecord]:
        for flow in sorted({id(f): f for f in self._flows.values()}.values(), key=lambda f: f.index):
            self._end(flow)
        return sorted(self.drain(), key=lambda r: r.index)


ICMP4_TYPES = {
    0: "echo reply", 3: "destination unreachable", 4: "source quench", 5: "redirect", 8: "echo request",
    9: "router advertisement", 10: "router solicitation", 11: "time exceeded", 12: "parameter problem",
    13: "timestamp", 14: "timestamp reply",
}
ICMP4_UNREACH = {
    0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable", 3: "port unreachable",
    4: "fragmentation needed", 5: "source route failed", 9: "network prohibited", 10: "host prohibited",
    13: "administratively prohibited",
}
ICMP6_TYPES = {
    1: "destination unreachable", 2: "packet too big", 3: "time exceeded", 4: "parameter problem",
    128: "echo request", 129: "echo reply", 133: "router solicitation", 134: "router advertisement",
    135: "neighbor solicitation", 136: "neighbor advertisement", 137: "redirect",
}
ICMP6_UNREACH = {0: "no route", 1: "administratively prohibited", 3: "address unreachable", 4: "port unreachable"}


def icmp_name(version: int, type_: int, code: int) -> str:
    """'destination unreachable (port unreachable)', 'echo request', or 'type 42 code 0'."""
    types, unreach, unreach_type = (ICMP4_TYPES, ICMP4_UNREACH, 3) if version == 4 else (ICMP6_TYPES, ICMP6_UNREACH, 1)
    name = types.get(type_)
    if name is None:
        return f"type {type_} code {code}"
    if type_ == unreach_type:
        return f"{name} ({unreach.get(code, f'code {code}')})"
    if version == 4 and type_ == 11:
        return f"{name} ({'TTL' if code == 0 else 'fragment reassembly'})"
    return name


@dataclass(slots=True)
class IcmpGroup:
    src: str
    dst: str
    version: int
    type: int
    code: int
    count: int
    first_ns: int
    last_ns: int

    @property
    def name(self) -> str:
        return icmp_name(self.version, self.type, self.code)


class IcmpTable:
    """ICMP messages grouped by (src, dst, version, type, code), first-seen order."""

    def __init__(self, max_groups: int = MAX_ICMP_GROUPS):
        self.max_groups = max_groups
        self.groups: dict = {}
        self.messages = 0
        self.ungrouped = 0          # messages past the group cap (counted, not listed)

    def feed(self, m: IcmpMessage) -> None:
        self.messages += 1
        key = (m.src, m.dst, m.version, m.type, m.code)
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= self.max_groups:
                self.ungrouped += 1
                return
            group = self.groups[key] = IcmpGroup(m.src, m.dst, m.version, m.type, m.code, 0, m.ts_ns, m.ts_ns)
        group.count += 1
        group.last_ns = max(group.last_ns, m.ts_ns)

    def rows(self) -> list[IcmpGroup]:
        return list(self.groups.values())
