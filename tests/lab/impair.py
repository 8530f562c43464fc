"""Delay, drop and reorder packets of one test connection inside a lab namespace (NFQUEUE).

The kernels these tests run on are built without `sch_netem`, so lossy and delayed
cases use the netfilter queue instead: an iptables rule inside the namespace sends only
the test's packets to queue Q, and a small userspace loop (this file, pure Python over a
raw AF_NETLINK / NETLINK_NETFILTER socket speaking nfnetlink_queue) decides each
packet's fate: accept now, accept after a delay, accept after the next packet
(reorder), or drop.

API (from a test, with hosts from `tests.lab.netns`):

    from tests.lab.impair import Impairment

    with Impairment(host_a, port=7007, direction="out", delay_ms=40):
        ...  # every packet host_a sends to or from TCP port 7007 is 40 ms late

    with Impairment(host_a, port=7007, drop_nth=[1]) as imp:   # drop the first SYN
        ...
    imp.stats  # {"seen": 5, "accepted": 4, "dropped": 1, "delayed": 0, "reordered": 0}

Parameters of `Impairment(host, port, ...)`:
  - `host`: the `Host` whose namespace gets the rule and runs the loop.
  - `port`: TCP (or UDP with `proto="udp"`) port; the rule matches `--dport P` and a
    second rule `--sport P`, so both directions of the connection through that chain.
  - `direction`: "out" (OUTPUT chain: packets this host sends, the default), "in"
    (INPUT: packets it receives) or "both".
  - `delay_ms`: fixed delay added to every queued packet.
  - `drop_nth`: 1-based numbers (in queue order) of packets to drop, e.g. [1] drops
    the first SYN when the rule sits on the client's OUTPUT chain.
  - `drop_prob` with `seed`: drop each packet with this probability, reproducibly.
  - `reorder_nth`: 1-based numbers of packets held back until the next packet has been
    let through (that pair swaps on the wire).
  - `extra_match`: more iptables match arguments, e.g. ["--tcp-flags", "SYN", "SYN"]
    to queue only SYNs.
  - `queue`: queue number (default: picked from the port); `max_packets`, `max_seconds`:
    bounds after which the loop exits; the rules carry `--queue-bypass`, so with no
    loop bound to the queue packets pass unimpaired rather than being dropped.
  - `stats`: filled in on exit (what the loop did), read from the loop's last line.

The rules are removed and the loop stopped by its PID on exit, even when the body
raises. The loop can also run alone: `ip netns exec NS python3 impair.py --queue 7
--delay-ms 40` (see --help); it prints "ready" once bound, and a JSON stats line at exit.
Everything here is stdlib only, so it needs no compiler and no PyPI package.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_UNBIND = 2
NFQNL_COPY_META = 1
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 0x2
NF_DROP = 0
NF_ACCEPT = 1


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


class QueueSocket:
    """One bound nfnetlink_queue: receive queued packet ids, send verdicts."""

    def __init__(self, queue: int):
        self.queue = queue
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._seq = 0
        self._config(_attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0)))
        # Metadata only: verdicts need the packet id, not the packet bytes.
        self._config(_attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)))

    def _send(self, msg_type: int, body: bytes, flags: int = NLM_F_REQUEST) -> None:
        self._seq += 1
        nfgen = struct.pack("!BBH", socket.AF_UNSPEC, 0, self.queue)
        payload = nfgen + body
        header = struct.pack("=IHHII", 16 + len(payload), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, self._seq, 0)
        self.sock.send(header + payload)

    def _config(self, body: bytes) -> None:
        self._send(NFQNL_MSG_CONFIG, body, NLM_F_REQUEST | NLM_F_ACK)
        data = self.sock.recv(65536)
        length, kind = struct.unpack_from("=IH", data)
        if kind == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", data, 16)
            if error:
                raise OSError(-error, f"nfnetlink_queue config failed for queue {self.queue}: {os.strerror(-error)}")

    def verdict(self, packet_id: int, verdict: int) -> None:
        self._send(NFQNL_MSG_VERDICT, _attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id)))

    def packets(self) -> list[int]:
        """Packet ids in one recv (non-blocking use after select)."""
        data = self.sock.recv(1 << 16)
        ids = []
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                pos = offset + 20
                end = offset + length
                while pos + 4 <= end:
                    alen, atype = struct.unpack_from("=HH", data, pos)
                    if alen < 4:
                        break
                    if atype & 0x7FFF == NFQA_PACKET_HDR:
                        ids.append(struct.unpack_from("!I", data, pos + 4)[0])
                    pos += (alen + 3) & ~3
            offset += (length + 3) & ~3
        return ids

    def close(self) -> None:
        try:
            self._config(_attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_UNBIND, 0)))
        except OSError:
            pass
        self.sock.close()


def run_loop(queue: int, delay_ms: float = 0.0, drop_nth=(), drop_prob: float = 0.0, seed: int = 1,
             reorder_nth=(), max_packets: int = 10_000, max_seconds: float = 30.0, out=sys.stdout) -> dict:
    """Bind queue `queue` and impair what arrives, until a bound is hit or SIGTERM/SIGINT."""
    rng = random.Random(seed)
    drop_nth, reorder_nth = set(drop_nth), set(reorder_nth)
    stats = {"seen": 0, "accepted": 0, "dropped": 0, "delayed": 0, "reordered": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    qs = QueueSocket(queue)
    held: list[tuple[float, int, int]] = []   # (release time, order, packet id)
    reorder_waiting: list[int] = []            # ids held until the next packet passes
    deadline = time.monotonic() + max_seconds
    out.write("ready\n")
    out.flush()

    def release(packet_id: int, when: float) -> None:
        if when <= time.monotonic():
            qs.verdict(packet_id, NF_ACCEPT)
            stats["accepted"] += 1
        else:
            heapq.heappush(held, (when, stats["seen"], packet_id))

    try:
        while not stop and time.monotonic() < deadline and stats["seen"] < max_packets:
            now = time.monotonic()
            while held and held[0][0] <= now:
                qs.verdict(heapq.heappop(held)[2], NF_ACCEPT)
                stats["accepted"] += 1
            timeout = min(0.2, max(0.0, held[0][0] - now)) if held else 0.2
            try:
                readable, _, _ = select.select([qs.sock], [], [], timeout)
            except InterruptedError:
                continue
            if not readable:
                continue
            for packet_id in qs.packets():
                stats["seen"] += 1
                number = stats["seen"]
                if number in drop_nth or (drop_prob and rng.random() < drop_prob):
                    qs.verdict(packet_id, NF_DROP)
                    stats["dropped"] += 1
                    continue
                if number in reorder_nth:
                    reorder_waiting.append(packet_id)
                    stats["reordered"] += 1
                    continue
                when = time.monotonic() + delay_ms / 1000.0
                if delay_ms:
                    stats["delayed"] += 1
                release(packet_id, when)
                for waiting in reorder_waiting:   # after the packet that overtook them
                    release(waiting, when)
                reorder_waiting.clear()
    finally:
        # Nothing stays queued when we stop: held packets go out now.
        for _, _, packet_id in held:
            qs.verdict(packet_id, NF_ACCEPT)
            stats["accepted"] += 1
        for packet_id in reorder_waiting:
            qs.verdict(packet_id, NF_ACCEPT)
            stats["accepted"] += 1
        qs.close()
        out.write(json.dumps(stats) + "\n")
        out.flush()
    return stats


class Impairment:
    """Context manager: NFQUEUE rules for one port in `host`'s namespace plus the loop."""

    def __init__(self, host, port: int, *, direction: str = "out", proto: str = "tcp", delay_ms: float = 0.0,
                 drop_nth=(), drop_prob: float = 0.0, seed: int = 1, reorder_nth=(), extra_match=(),
                 queue: int | None = None, max_packets: int = 10_000, max_seconds: float = 30.0):
        if direction not in ("out", "in", "both"):
            raise ValueError(f"direction {direction!r}: use 'out', 'in' or 'both'")
        self.host = host
        self.port = int(port)
        self.proto = proto
        self.queue = queue if queue is not None else 100 + self.port % 60000
        self.chains = {"out": ["OUTPUT"], "in": ["INPUT"], "both": ["OUTPUT", "INPUT"]}[direction]
        self.extra_match = list(extra_match)
        self.loop_argv = [sys.executable, os.path.abspath(__file__), "--queue", str(self.queue),
                          "--delay-ms", str(delay_ms), "--drop-prob", str(drop_prob), "--seed", str(seed),
                          "--max-packets", str(max_packets), "--max-seconds", str(max_seconds)]
        for n in drop_nth:
            self.loop_argv += ["--drop-nth", str(n)]
        for n in reorder_nth:
            self.loop_argv += ["--reorder-nth", str(n)]
        self.max_seconds = max_seconds
        self.process: subprocess.Popen | None = None
        self.rules: list[list[str]] = []
        self.stats: dict = {}

    def _rule_specs(self) -> list[list[str]]:
        specs = []
        for chain in self.chains:
            for side in ("--dport", "--sport"):
                specs.append([chain, "-p", self.proto, side, str(self.port), *self.extra_match,
                              "-j", "NFQUEUE", "--queue-num", str(self.queue), "--queue-bypass"])
        return specs

    def __enter__(self) -> "Impairment":
        self.process = self.host.popen(*self.loop_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], 10.0)
        line = self.process.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self._stop()
            raise RuntimeError(f"impairment loop did not start: {line!r} {self.process.stderr.read()[:500]!r}")
        try:
            for spec in self._rule_specs():
                self.host.run("iptables", "-I", *spec)
                self.rules.append(spec)
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def _stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            # `ip netns exec` execs the program, so this PID is the loop itself.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        rest = process.stdout.read() if process.stdout else ""
        for line in rest.splitlines()[::-1]:
            if line.startswith("{"):
                self.stats = json.loads(line)
                break
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
        self.process = None

    def __exit__(self, *exc) -> None:
        # Rules first: with no listener the queue would drop the connection's packets.
        for spec in reversed(self.rules):
            self.host.run("iptables", "-D", *spec, check=False)
        self.rules.clear()
        self._stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="NFQUEUE impairment loop (run inside a lab namespace)")
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--drop-nth", type=int, action="append", default=[])
    parser.add_argument("--drop-prob", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reorder-nth", type=int, action="append", default=[])
    parser.add_argument("--max-packets", type=int, default=10_000)
    parser.add_argument("--max-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    run_loop(args.queue, args.delay_ms, args.drop_nth, args.drop_prob, args.seed, args.reorder_nth,
             args.max_packets, args.max_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
