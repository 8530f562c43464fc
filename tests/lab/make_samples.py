"""Make the small sample captures in captures/ inside a namespace pair, with tcpdump.

    python -m tests.lab.make_samples [OUTDIR]      (root; OUTDIR defaults to captures/)

Each sample is captured on host A's veth while A sends the traffic, so the files hold
real kernel-made frames: an ARP exchange (who-has and is-at), multicast (UDP to an IPv4
group and to the IPv6 all-nodes group) and broadcast (UDP to the subnet's directed
broadcast and to 255.255.255.255). Subnet 10.77.7.0/24, MACs 02:77:00:07:00:01 and :02.
"""

from __future__ import annotations

import pathlib
import sys
import time

from tests.lab.netns import Host, Lab

SUBNET = 7
ROOT = pathlib.Path(__file__).resolve().parents[2]
CAPTURE_TIMEOUT = 15

# Run inside host A: one UDP datagram per destination, each with the options it needs.
SENDER = r"""
import socket, sys
kind, ifname = sys.argv[1], sys.argv[2].encode()
dests = sys.argv[3:]
for dest in dests:
    if ":" in dest:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(ifname.decode()))
        s.sendto(b"hello ff02::1 all nodes", (dest, 5000, 0, socket.if_nametoindex(ifname.decode())))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname)
        if kind == "broadcast":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        else:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        s.sendto(f"hello {dest} {kind}".encode(), (dest, 5000))
    s.close()
"""


def _capture(host: Host, path: pathlib.Path, count: int, bpf: str, action) -> None:
    dump = host.popen("tcpdump", "-i", host.ifname, "-U", "-n", "-c", str(count), "-w", str(path), bpf)
    try:
        deadline = time.monotonic() + CAPTURE_TIMEOUT
        line = b""
        while time.monotonic() < deadline:
            line = dump.stderr.readline()
            if b"listening on" in line or not line:
                break
        if b"listening on" not in line:
            raise RuntimeError(f"tcpdump did not start: {line!r}")
        action()
        dump.wait(timeout=CAPTURE_TIMEOUT)
    finally:
        if dump.poll() is None:
            dump.terminate()
            dump.wait(timeout=5)
    if dump.returncode != 0:
        raise RuntimeError(f"tcpdump for {path.name} ended with status {dump.returncode}")


def make_samples(outdir: pathlib.Path) -> dict[str, pathlib.Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    lab = Lab(tag="samples")
    made: dict[str, pathlib.Path] = {}
    try:
        a, b = lab.pair(subnet=SUBNET)
        net = f"10.77.{SUBNET}"

        def send(kind, *dests):
            a.run(sys.executable, "-c", SENDER, kind, a.ifname, *dests)

        # 1. ARP: A has no entry for B yet, so its first datagram to B waits for who-has/is-at.
        path = outdir / "arp-exchange.pcap"
        _capture(a, path, 2, "arp", lambda: send("unicast", b.ip4))
        made["arp-exchange"] = path

        # 2. Multicast: an IPv4 group (01:00:5e:01:02:03) and IPv6 all-nodes (33:33:00:00:00:01).
        path = outdir / "multicast.pcap"
        _capture(a, path, 2, "udp and (dst host 239.1.2.3 or dst host ff02::1)",
                 lambda: send("multicast", "239.1.2.3", "ff02::1"))
        made["multicast"] = path

        # 3. Broadcast: the subnet's directed broadcast and the limited broadcast, both to ff:ff:ff:ff:ff:ff.
        path = outdir / "broadcast.pcap"
        _capture(a, path, 2, f"udp and (dst host {net}.255 or dst host 255.255.255.255)",
                 lambda: send("broadcast", f"{net}.255", "255.255.255.255"))
        made["broadcast"] = path
    finally:
        lab.close()
    return made


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "captures"
    for name, p in make_samples(target).items():
        print(f"{name}: {p} ({p.stat().st_size} bytes)")
