"""Send ARP who-has requests with scapy and record the exchange (request, reply, time).

Privilege is checked before anything is sent (root or CAP_NET_RAW), and a
PermissionError from the socket is still mapped to PrivilegeError, so the user gets one
line saying what is needed, never a traceback.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from netinspect.adapters import scapy_io
from netinspect.adapters.privilege import RAW_PRIVILEGE_NEEDED, require_raw_privilege
from netinspect.core.errors import BadInput, PrivilegeError, RuntimeFailure

# One check and one message for every raw-socket command.
PRIVILEGE_MESSAGE = RAW_PRIVILEGE_NEEDED
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"


@dataclass
class ArpFrame:
    """One ARP frame of the exchange, as sent or received."""

    ts: float
    eth_src: str
    eth_dst: str
    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Attempt:
    seq: int
    request: ArpFrame
    reply: ArpFrame | None = None

    @property
    def rtt_s(self) -> float | None:
        return None if self.reply is None else max(0.0, self.reply.ts - self.request.ts)


@dataclass
class ProbeResult:
    target_ip: str
    iface: str
    src_mac: str
    src_ip: str
    timeout_s: float
    attempts: list = field(default_factory=list)

    @property
    def answered(self) -> list:
        return [a for a in self.attempts if a.reply is not None]

    @property
    def macs(self) -> list:
        """Distinct MACs that answered, in order of first answer (two or more: a conflict)."""
        seen: list = []
        for a in self.answered:
            if a.reply.sender_mac not in seen:
                seen.append(a.reply.sender_mac)
        return seen


def _frame(pkt, s, ts: float) -> ArpFrame:
    arp = pkt[s.ARP]
    return ArpFrame(ts, pkt[s.Ether].src, pkt[s.Ether].dst, int(arp.op), arp.hwsrc, arp.psrc, arp.hwdst, arp.pdst)


def check_iface(iface: str) -> None:
    try:
        socket.if_nametoindex(iface)
    except OSError:
        names = ", ".join(name for _, name in socket.if_nameindex())
        raise BadInput(f"interface {iface!r} does not exist; interfaces here: {names}") from None


def probe(target_ip: str, iface: str | None = None, count: int = 1, timeout_s: float = 1.0) -> ProbeResult:
    """Send `count` who-has requests for target_ip, one at a time, each waiting up to timeout_s."""
    require_raw_privilege("sending ARP")
    if iface is not None:
        check_iface(iface)
    s = scapy_io.load()
    if iface is None:
        iface, _src, _gw = s.conf.route.route(target_ip)
        if not iface or iface == "lo":
            raise RuntimeFailure(f"no interface leads to {target_ip} (ARP needs a broadcast link); give one with -i IFACE")
    src_mac = s.get_if_hwaddr(iface)
    src_ip = s.get_if_addr(iface)
    if not src_mac or src_mac == "00:00:00:00:00:00":
        raise RuntimeFailure(f"interface {iface} has no MAC address; ARP needs an Ethernet-like link")
    result = ProbeResult(target_ip, iface, src_mac, src_ip, timeout_s)
    request = s.Ether(dst=BROADCAST_MAC, src=src_mac) / s.ARP(op=1, hwsrc=src_mac, psrc=src_ip, pdst=target_ip)
    for seq in range(1, count + 1):
        try:
            answered, _unanswered = s.srp(request, iface=iface, timeout=timeout_s, verbose=0)
        except PermissionError:
            raise PrivilegeError(f"sending ARP {PRIVILEGE_MESSAGE}") from None
        except OSError as error:
            raise RuntimeFailure(f"sending ARP on {iface} failed: {error.strerror or error}") from None
        if answered:
            sent, received = answered[0]
            attempt = Attempt(seq, _frame(sent, s, _sent_time(sent, timeout_s)), _frame(received, s, float(received.time)))
        else:
            sent = _unanswered[0] if _unanswered else request
            attempt = Attempt(seq, _frame(sent, s, _sent_time(sent, timeout_s)))
        result.attempts.append(attempt)
    return result


def _sent_time(pkt, timeout_s: float) -> float:
    """scapy stamps each packet it sends with sent_time; fall back to an estimate if it did not."""
    stamp = getattr(pkt, "sent_time", None)
    return float(stamp) if stamp else time.time() - timeout_s
