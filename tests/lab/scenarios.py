"""Real TCP/UDP scenarios between two lab namespaces, captured to pcap with tcpdump.

The client runs in namespace A, the server in namespace B, both small Python socket
programs started with `ip netns exec`; tcpdump captures on A's veth. Each scenario
uses its own port, so several can share one capture:

    from tests.lab.scenarios import capture_scenarios
    pcap = capture_scenarios(a, b, ["normal", "refused", "udp"], tmp_path / "s.pcap")

Scenarios (name: what happens on the wire):
  normal               client sends, server echoes upper-case, client closes first
  server_closes_first  server replies and closes first; client closes after EOF
  half_close           client shuts down its write side; server replies, then closes
  rst_abort            client closes with SO_LINGER 0: RST instead of FIN
  refused              SYN to a closed port, answered by RST
  filtered             SYN to a port dropped by iptables in B: SYN retransmissions
  delay_loss           20 ms added to what B receives, the first SYN and first data dropped (NFQUEUE)
  port_reuse           two connections from the same client port, one after the other
  ipv6                 the normal scenario over IPv6
  concurrent           40 connections open at the same time
  udp                  UDP echo, and a datagram to a closed port (ICMP port unreachable)
  port_scan            one client tries 30 closed ports of B: 30 refused connections
  syn_flood            120 SYNs to one port that B drops, never answered

Every step is bounded in time: programs carry socket timeouts, subprocesses have
timeouts, and tcpdump is stopped by its PID with SIGINT.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.lab.impair import Impairment

PORTS = {
    "normal": 7001, "server_closes_first": 7002, "half_close": 7003, "rst_abort": 7004,
    "refused": 7005, "filtered": 7006, "delay_loss": 7007, "port_reuse": 7008, "ipv6": 7009,
    "concurrent": 7010, "udp": 7011, "port_scan": 7200, "syn_flood": 7012,
}
# The two attack patterns are separate: review's findings test uses them.
ATTACKS = ["port_scan", "syn_flood"]
ALL = [name for name in PORTS if name not in ATTACKS]
SCAN_PORTS = 30          # closed ports 7200..7229 tried once each: refused
FLOOD_SYNS = 120         # SYNs to a dropped port, abandoned before any retransmission
QUICK = [name for name in ALL if name not in ("filtered",)]
REUSED_CLIENT_PORT = 40000
CONCURRENT = 40
# A short pause after tcpdump's "listening on" before the first packet of a scenario.
READY_SETTLE_S = 0.1

SERVER = r'''
import socket, sys, threading
mode, family, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fam = socket.AF_INET6 if family == "6" else socket.AF_INET
if mode == "udp":
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", port))
    s.settimeout(15)
    print("up", flush=True)
    for _ in range(count):
        data, peer = s.recvfrom(2048)
        s.sendto(data.upper(), peer)
    sys.exit(0)
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", port))
s.listen(128)
s.settimeout(15)
print("up", flush=True)

def serve(c):
    c.settimeout(10)
    try:
        data = c.recv(4096)
        if mode == "server_first":
            c.sendall(data.upper())
            c.close()
            return
        while data:
            if mode != "half_close":
                c.sendall(data.upper())
            data = c.recv(4096)
        if mode == "half_close":
            c.sendall(b"BYE\n")
    except OSError:
        pass
    c.close()

threads = []
for _ in range(count):
    c, _ = s.accept()
    t = threading.Thread(target=serve, args=(c,))
    t.start()
    threads.append(t)
for t in threads:
    t.join(12)
'''

CLIENT = r'''
import socket, struct, sys, threading, time
mode, family, host, port, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
fam = socket.AF_INET6 if family == "6" else socket.AF_INET

def one(i, src_port=0):
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.settimeout(8)
    if src_port:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind(("", src_port))
    try:
        c.connect((host, port))
    except OSError as e:
        print("connect", type(e).__name__, flush=True)
        c.close()
        return
    if mode == "delay_loss":
        for word in (b"one\n", b"two\n", b"three\n"):
            c.sendall(word)
            c.recv(100)
    else:
        c.sendall(b"hello %d\n" % i)
        if mode == "half_close":
            c.shutdown(socket.SHUT_WR)
            while c.recv(4096):
                pass
        elif mode == "server_first":
            c.recv(4096)
            while c.recv(4096):
                pass
        else:
            c.recv(4096)
    if mode == "abort":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()

if mode == "udp":
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.settimeout(3)
    for i in range(count):
        u.sendto(b"ping %d\n" % i, (host, port))
        u.recvfrom(2048)
    u.sendto(b"nobody\n", (host, port + 100))
    time.sleep(0.2)
elif mode == "concurrent":
    ts = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(12)
elif mode == "port_reuse":
    for i in range(count):
        one(i, int(sys.argv[6]))
        time.sleep(0.1)
else:
    for i in range(count):
        one(i)
print("done", flush=True)
'''


class Tcpdump:
    """tcpdump writing a pcap inside a namespace; ready before traffic, stopped by PID."""

    def __init__(self, host, path: Path, bpf: str = "tcp or udp or icmp or (icmp6 and ip6[40] < 128)"):
        self.host, self.path, self.bpf = host, Path(path), bpf
        self.process: subprocess.Popen | None = None
        self.report = ""   # tcpdump's closing lines: packets captured, dropped by kernel

    def __enter__(self) -> "Tcpdump":
        self.process = self.host.popen("tcpdump", "-i", self.host.ifname, "-w", str(self.path), "-U", "-B", "16384",
                                       "--immediate-mode", "-n", "-s", "0", self.bpf,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        seen = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stderr], [], [], 0.5)
            if ready:
                line = self.process.stderr.readline()
                seen += line
                if "listening on" in line:
                    time.sleep(READY_SETTLE_S)
                    return self
                if not line and self.process.poll() is not None:
                    break
        self._stop()
        raise RuntimeError(f"tcpdump did not start: {seen.strip()!r}")

    def _stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process and self.process.stderr:
            try:
                self.report = self.process.stderr.read()
            except (OSError, ValueError):
                self.report = ""
            self.process.stderr.close()

    def __exit__(self, *exc) -> None:
        time.sleep(0.3)  # let the last segments (final ACK, RST) reach the capture
        self._stop()
        # A capture with holes would make every comparison wrong: say so loudly. (The
        # 16 MiB buffer, -B, keeps bursts such as the SYN flood from overflowing it.)
        dropped = re.search(r"(\d+) packets? dropped by kernel", self.report)
        if exc[0] is None and dropped and int(dropped.group(1)):
            raise RuntimeError(f"tcpdump lost packets: {self.report.strip()!r}")


def _start_server(b, mode: str, family: str, port: int, count: int) -> subprocess.Popen:
    server = b.popen(sys.executable, "-c", SERVER, mode, family, str(port), str(count), text=True)
    ready, _, _ = select.select([server.stdout], [], [], 10)
    if not ready or server.stdout.readline().strip() != "up":
        server.kill()
        raise RuntimeError(f"server for {mode} did not start: {server.stderr.read()[:300]}")
    return server


def _client(a, mode: str, family: str, host: str, port: int, count: int, *extra: str) -> str:
    return a.run(sys.executable, "-c", CLIENT, mode, family, host, str(port), str(count), *extra,
                 timeout=30).stdout


def _finish(server: subprocess.Popen) -> None:
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)
    for stream in (server.stdout, server.stderr):
        if stream:
            stream.close()


def run_scenario(a, b, name: str) -> str:
    """Run one scenario (traffic only; the caller captures). Returns the client's output."""
    port = PORTS[name]
    if name == "refused":
        return _client(a, "plain", "4", b.ip4, port, 1)
    if name == "port_scan":
        return a.run(sys.executable, "-c",
                     "import socket\n"
                     f"for p in range({port}, {port + SCAN_PORTS}):\n"
                     " c=socket.socket(); c.settimeout(2)\n"
                     f" try: c.connect(({b.ip4!r}, p))\n"
                     " except OSError: pass\n"
                     " c.close()\n", timeout=60).stdout
    if name == "syn_flood":
        rule = ["INPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP"]
        b.run("iptables", "-I", *rule)
        try:
            # Non-blocking connects send one SYN each; closing before the 1 s
            # retransmission timer leaves exactly one unanswered SYN per connection.
            return a.run(sys.executable, "-c",
                         "import socket,time\ns=[]\n"
                         f"for i in range({FLOOD_SYNS}):\n"
                         f" c=socket.socket(); c.setblocking(False); c.connect_ex(({b.ip4!r},{port})); s.append(c); time.sleep(0.002)\n"
                         "time.sleep(0.3)\n[c.close() for c in s]\n", timeout=30).stdout
        finally:
            b.run("iptables", "-D", *rule, check=False)
    if name == "filtered":
        rule = ["INPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP"]
        b.run("iptables", "-I", *rule)
        try:
            # 3.5 s: the SYN at 0 s and its retransmissions at 1 s and 3 s (Linux RTO 1 s).
            return a.run(sys.executable, "-c",
                         f"import socket\nc=socket.socket()\nc.settimeout(3.5)\n"
                         f"try:\n c.connect(({b.ip4!r},{port}))\nexcept OSError as e:\n print(type(e).__name__)\n",
                         timeout=15).stdout
        finally:
            b.run("iptables", "-D", *rule, check=False)
    server_mode = {"server_closes_first": "server_first", "half_close": "half_close", "udp": "udp"}.get(name, "echo")
    client_mode = {"server_closes_first": "server_first", "half_close": "half_close", "rst_abort": "abort",
                   "delay_loss": "delay_loss", "port_reuse": "port_reuse", "concurrent": "concurrent",
                   "udp": "udp"}.get(name, "plain")
    count = {"concurrent": CONCURRENT, "port_reuse": 2, "udp": 3}.get(name, 1)
    family = "6" if name == "ipv6" else "4"
    host = b.ip6 if family == "6" else b.ip4
    server = _start_server(b, server_mode, family, port, count)
    try:
        if name == "delay_loss":
            # On B's INPUT chain, so the capture on A's veth shows the lost SYN and data
            # segment and their retransmissions.
            with Impairment(b, port, direction="in", delay_ms=20, drop_nth=[1, 4], max_seconds=20):
                return _client(a, client_mode, family, host, port, count)
        extra = (str(REUSED_CLIENT_PORT),) if name == "port_reuse" else ()
        return _client(a, client_mode, family, host, port, count, *extra)
    finally:
        _finish(server)


def capture_scenarios(a, b, names, path: Path) -> Path:
    """Run `names` one after the other inside one tcpdump capture on A's veth."""
    path = Path(path)
    with Tcpdump(a, path):
        for name in names:
            run_scenario(a, b, name)
    os.chmod(path, 0o644)
    return path


if __name__ == "__main__":
    # Regenerate the sample captures: python -m tests.lab.scenarios OUTDIR (as root).
    from tests.lab.netns import Lab

    outdir = Path(sys.argv[1] if len(sys.argv) > 1 else "captures")
    lab = Lab()
    try:
        a, b = lab.pair(subnet=0)
        capture_scenarios(a, b, ["normal", "server_closes_first", "half_close", "rst_abort", "refused",
                                 "port_reuse", "ipv6", "udp"], outdir / "scenarios.pcap")
        capture_scenarios(a, b, ["delay_loss"], outdir / "lossy-handshake.pcap")
        capture_scenarios(a, b, ["filtered"], outdir / "filtered-port.pcap")
    finally:
        lab.close()
