"""Synthetic TCP conversations for tracker tests: each method appends one Segment.

``Talk`` keeps both sides' sequence numbers the way real stacks do, so a scenario reads
like the packet list it stands for; ``seq=``/``ack=`` override for retransmissions.
"""

from __future__ import annotations

from netinspect.core.records import ACK, FIN, PSH, RST, SYN, Endpoint, Segment

__all__ = ["Talk", "ACK", "FIN", "PSH", "RST", "SYN"]


class Talk:
    def __init__(self, client=("10.77.0.1", 40000), server=("10.77.0.2", 7007), *,
                 t0_ns=1_700_000_000_000_000_000, step_ns=100_000, cisn=1000, sisn=5000, frame0=0):
        self.c = Endpoint(*client)
        self.s = Endpoint(*server)
        self.t = t0_ns
        self.step = step_ns
        self.next = {self.c: cisn, self.s: sisn}      # next sequence number each side sends
        self.rcv = {self.c: 0, self.s: 0}             # what each side acknowledges
        self.segments: list[Segment] = []
        self.frame = frame0

    def _send(self, src, dst, flags, data=b"", *, seq=None, ack=None, window=65535, dt=None, advance=True):
        self.t += self.step if dt is None else dt
        s = self.next[src] if seq is None else seq
        a = self.rcv[src] if ack is None else ack
        seg = Segment(ts_ns=self.t, src=src, dst=dst, seq=s & 0xFFFFFFFF,
                      ack=(a & 0xFFFFFFFF) if flags & ACK else 0, flags=flags, window=window,
                      payload_len=len(data), frame_index=self.frame, payload=data[:64])
        self.frame += 1
        self.segments.append(seg)
        if advance and seq is None:
            used = len(data) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
            self.next[src] = (s + used)
        if advance:
            end = s + len(data) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
            if end > self.rcv[dst] or self.rcv[dst] == 0:
                self.rcv[dst] = end
        return seg

    def client(self, flags, data=b"", **kw):
        return self._send(self.c, self.s, flags, data, **kw)

    def server(self, flags, data=b"", **kw):
        return self._send(self.s, self.c, flags, data, **kw)

    def handshake(self):
        self.client(SYN)
        self.server(SYN | ACK)
        self.client(ACK)
        return self

    def exchange(self, request=b"hello", reply=b"HELLO"):
        self.client(PSH | ACK, request)
        self.server(PSH | ACK, reply)
        self.client(ACK)
        return self
