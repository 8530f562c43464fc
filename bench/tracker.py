"""Benchmark: ConnectionTracker.feed over 1,000,000 synthetic segments of 100,000 short connections.

Prints segments/s of feed() and of a bare loop over the same segments, and their ratio.
Each segment carries fresh Endpoint tuples and address strings, as a decoder produces them.
Segments are generated in batches (1,000 connections each, like a streaming decoder's short-lived objects) so memory stays small; only the
loops are timed, in CPU time of this process (the machine is shared, wall time is noisy).

    python bench/tracker.py [--connections 100000] [--keep-segments]
"""

from __future__ import annotations

import argparse
import time

from netinspect.core.records import ACK, FIN, PSH, SYN, Endpoint, Segment
from netinspect.core.tracker import ConnectionTracker

STEP = 10_000   # ns between segments of one connection
INTERLEAVE = 50  # connections open at once, their segments interleaved


def one_connection(i: int, t0: int) -> list[Segment]:
    """Ten segments: handshake, request, reply, ACK, three-segment close, final ACK."""
    cip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    sip = "10.255.0.1"
    cport = 1024 + (i % 60000)
    c = lambda: Endpoint(str(cip + ""), cport)  # noqa: E731
    s = lambda: Endpoint("".join(sip), 80)      # noqa: E731
    ci, si = (i * 7919) & 0xFFFFFFFF, (i * 104729) & 0xFFFFFFFF
    req, rsp = 100, 1400
    spec = [
        (True, SYN, ci, 0, 0),
        (False, SYN | ACK, si, ci + 1, 0),
        (True, ACK, ci + 1, si + 1, 0),
        (True, PSH | ACK, ci + 1, si + 1, req),
        (False, ACK, si + 1, ci + 1 + req, 0),
        (False, PSH | ACK, si + 1, ci + 1 + req, rsp),
        (True, ACK, ci + 1 + req, si + 1 + rsp, 0),
        (True, FIN | ACK, ci + 1 + req, si + 1 + rsp, 0),
        (False, FIN | ACK, si + 1 + rsp, ci + 2 + req, 0),
        (True, ACK, ci + 2 + req, si + 2 + rsp, 0),
    ]
    out = []
    for k, (from_client, flags, seq, ack, n) in enumerate(spec):
        src, dst = (c(), s()) if from_client else (s(), c())
        out.append(Segment(t0 + k * STEP, src, dst, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags,
                           65535, n, 0))
    return out


def batch(first: int, count: int) -> list[Segment]:
    segs: list[Segment] = []
    for g in range(first, first + count, INTERLEAVE):
        group = [one_connection(i, g * 1_000_000) for i in range(g, min(g + INTERLEAVE, first + count))]
        for k in range(10):
            for conn in group:
                segs.append(conn[k])
    for n, seg in enumerate(segs):
        seg.frame_index = first * 10 + n
    return segs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--keep-segments", action="store_true")
    args = ap.parse_args()
    tracker = ConnectionTracker(keep_segments=args.keep_segments)
    feed = tracker.feed
    per_batch = 1_000
    t_feed = t_bare = 0.0
    total = 0
    finals = 0
    for first in range(0, args.connections, per_batch):
        segs = batch(first, min(per_batch, args.connections - first))
        total += len(segs)
        t = time.process_time()
        for seg in segs:
            pass
        t_bare += time.process_time() - t
        t = time.process_time()
        for seg in segs:
            feed(seg)
        t_feed += time.process_time() - t
        finals += sum(1 for _ in tracker.drain())
    tracker.finish()
    finals += sum(1 for _ in tracker.drain())
    print(f"segments              {total:,}")
    print(f"connections           {finals:,} (expected {args.connections:,})")
    print(f"feed()                {total / t_feed:,.0f} segments/s  ({t_feed * 1e9 / total:.0f} ns per segment)")
    print(f"bare loop             {total / t_bare:,.0f} segments/s  ({t_bare * 1e9 / total:.0f} ns per segment)")
    print(f"ratio feed/bare time  {t_feed / t_bare:.1f}")


if __name__ == "__main__":
    main()
