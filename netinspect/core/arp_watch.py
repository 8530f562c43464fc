"""ARP exchanges from a stream of ARP packets: who asked, who answered, who did not.

Feed `ArpPacket`s in capture order; `report()` gives the exchanges (a request and its
reply, with the time it took), unanswered requests, gratuitous ARP and probes, and the
conflicts: one IPv4 address claimed by two MAC addresses. Two MACs answering for one
IP is exactly what ARP spoofing (or a duplicate address) looks like on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

REQUEST = 1
REPLY = 2
ZERO_IP = "0.0.0.0"
ZERO_MAC = "00:00:00:00:00:00"


class ArpPacket(NamedTuple):
    ts_ns: int
    op: int                 # 1 request, 2 reply (others are kept but not matched)
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str
    frame_index: int = 0    # as the producer numbers frames (review and layers: 1 for the first)
    eth_src: str = ""
    eth_dst: str = ""

    @property
    def gratuitous(self) -> bool:
        """Sender and target IP are the same: an announcement of the sender's own address."""
        return self.sender_ip == self.target_ip and self.sender_ip != ZERO_IP

    @property
    def probe(self) -> bool:
        """RFC 5227 address probe: a request from 0.0.0.0 asking whether anyone holds target_ip."""
        return self.op == REQUEST and self.sender_ip == ZERO_IP


@dataclass(slots=True)
class Exchange:
    asker_mac: str
    asker_ip: str
    target_ip: str
    requests: int           # requests before the answer (retries included)
    request_ts_ns: int      # time of the first request
    request_frame: int
    answer_mac: str = ""
    reply_ts_ns: int | None = None
    reply_frame: int | None = None
    request_eth_dst: str = ""
    reply_eth_dst: str = ""

    @property
    def answered(self) -> bool:
        return self.reply_ts_ns is not None

    @property
    def rtt_ns(self) -> int | None:
        return None if self.reply_ts_ns is None else self.reply_ts_ns - self.last_request_ts_ns

    last_request_ts_ns: int = 0

    def as_dict(self) -> dict:
        return {
            "asker_mac": self.asker_mac,
            "asker_ip": self.asker_ip,
            "target_ip": self.target_ip,
            "requests": self.requests,
            "request_time": self.request_ts_ns / 1e9,
            "request_frame": self.request_frame,
            "request_eth_dst": self.request_eth_dst,
            "answered": self.answered,
            "answer_mac": self.answer_mac or None,
            "reply_time": None if self.reply_ts_ns is None else self.reply_ts_ns / 1e9,
            "reply_frame": self.reply_frame,
            "reply_eth_dst": self.reply_eth_dst or None,
            "rtt_seconds": None if self.rtt_ns is None else self.rtt_ns / 1e9,
        }


@dataclass(slots=True)
class Conflict:
    ip: str
    macs: dict              # mac -> list of frame indexes where it claimed ip
    in_replies: list        # macs that claimed ip in a reply (answering for it)

    def as_dict(self) -> dict:
        return {"ip": self.ip, "macs": sorted(self.macs), "frames": {m: f[:10] for m, f in sorted(self.macs.items())},
                "answered_by": sorted(self.in_replies)}


@dataclass
class ArpReport:
    packets: int = 0
    requests: int = 0
    replies: int = 0
    exchanges: list = field(default_factory=list)      # answered Exchange, in order of request
    unanswered: list = field(default_factory=list)     # Exchange without reply
    unsolicited_replies: list = field(default_factory=list)   # ArpPacket replies nobody asked for
    gratuitous: list = field(default_factory=list)     # ArpPacket
    probes: list = field(default_factory=list)         # ArpPacket
    conflicts: list = field(default_factory=list)      # Conflict
    # How many of each there were; the lists above keep at most MAX_LISTED of each.
    totals: dict = field(default_factory=lambda: dict.fromkeys(
        ("exchanges", "unanswered", "unsolicited_replies", "gratuitous", "probes"), 0))
    claims_truncated: bool = False  # more claimed addresses than MAX_CLAIMED_IPS: conflicts may be missed

    def add(self, kind: str, item) -> None:
        self.totals[kind] += 1
        listed = getattr(self, kind)
        if len(listed) < MAX_LISTED:
            listed.append(item)

    def as_dict(self) -> dict:
        return {
            "packets": self.packets,
            "requests": self.requests,
            "replies": self.replies,
            "totals": dict(self.totals),
            "listed_at_most": MAX_LISTED,
            "claims_truncated": self.claims_truncated,
            "exchanges": [e.as_dict() for e in self.exchanges],
            "unanswered": [e.as_dict() for e in self.unanswered],
            "unsolicited_replies": [_packet_dict(p) for p in self.unsolicited_replies],
            "gratuitous": [_packet_dict(p) for p in self.gratuitous],
            "probes": [_packet_dict(p) for p in self.probes],
            "conflicts": [c.as_dict() for c in self.conflicts],
        }


def _packet_dict(p: ArpPacket) -> dict:
    return {"time": p.ts_ns / 1e9, "frame": p.frame_index, "op": p.op, "sender_mac": p.sender_mac,
            "sender_ip": p.sender_ip, "target_mac": p.target_mac, "target_ip": p.target_ip}


# A cap on the pending requests kept, so a flood of distinct requests cannot grow memory
# without bound; the oldest are declared unanswered first.
MAX_PENDING = 65536
MAX_CLAIM_FRAMES = 10
# Bounds on what is kept, so an ARP-heavy capture of any size stays in bounded memory.
MAX_LISTED = 10_000
MAX_CLAIMED_IPS = 262_144


class ArpWatch:
    """Incremental: `feed(packet)` for each ARP packet, `report()` at the end."""

    def __init__(self, reply_window_ns: int = 5_000_000_000):
        self.reply_window_ns = reply_window_ns
        self._report = ArpReport()
        self._pending: dict[tuple[str, str], Exchange] = {}   # (asker_ip, target_ip) -> open exchange
        self._claims: dict[str, dict[str, list]] = {}        # ip -> mac -> frames
        self._reply_claims: dict[str, set] = {}              # ip -> macs that answered for it

    def feed(self, p: ArpPacket) -> None:
        r = self._report
        r.packets += 1
        if p.sender_ip != ZERO_IP:
            macs = self._claims.get(p.sender_ip)
            if macs is None and len(self._claims) >= MAX_CLAIMED_IPS:
                r.claims_truncated = True
            else:
                if macs is None:
                    macs = self._claims[p.sender_ip] = {}
                frames = macs.setdefault(p.sender_mac, [])
                if len(frames) < MAX_CLAIM_FRAMES:
                    frames.append(p.frame_index)
        if p.gratuitous:
            r.add("gratuitous", p)
        if p.op == REQUEST:
            r.requests += 1
            if p.probe:
                r.add("probes", p)
            if p.gratuitous or p.probe:
                return
            key = (p.sender_ip, p.target_ip)
            open_ = self._pending.get(key)
            if open_ is not None and p.ts_ns - open_.last_request_ts_ns <= self.reply_window_ns:
                open_.requests += 1          # a retry of the same question
                open_.last_request_ts_ns = p.ts_ns
                return
            if open_ is not None:
                r.add("unanswered", self._pending.pop(key))
            if len(self._pending) >= MAX_PENDING:
                oldest = next(iter(self._pending))
                r.add("unanswered", self._pending.pop(oldest))
            self._pending[key] = Exchange(p.sender_mac, p.sender_ip, p.target_ip, 1, p.ts_ns, p.frame_index,
                                          request_eth_dst=p.eth_dst, last_request_ts_ns=p.ts_ns)
        elif p.op == REPLY:
            r.replies += 1
            if p.sender_ip in self._claims:       # bounded with the claims
                self._reply_claims.setdefault(p.sender_ip, set()).add(p.sender_mac)
            key = (p.target_ip, p.sender_ip)
            open_ = self._pending.pop(key, None)
            if open_ is not None:
                open_.answer_mac = p.sender_mac
                open_.reply_ts_ns = p.ts_ns
                open_.reply_frame = p.frame_index
                open_.reply_eth_dst = p.eth_dst
                r.add("exchanges", open_)
            elif not p.gratuitous:
                # A second answer to a question already answered is how a spoofer races
                # the real owner; it shows up as a conflict too.
                r.add("unsolicited_replies", p)

    def report(self) -> ArpReport:
        """The report so far; pending requests count as unanswered."""
        r = self._report
        for pending in self._pending.values():
            r.add("unanswered", pending)
        self._pending.clear()
        r.unanswered.sort(key=lambda e: e.request_ts_ns)
        r.conflicts = [
            Conflict(ip, macs, sorted(self._reply_claims.get(ip, ())))
            for ip, macs in sorted(self._claims.items())
            if len(macs) > 1
        ]
        return r


def analyse(packets: Iterable[ArpPacket], reply_window_ns: int = 5_000_000_000) -> ArpReport:
    watch = ArpWatch(reply_window_ns)
    for p in packets:
        watch.feed(p)
    return watch.report()
