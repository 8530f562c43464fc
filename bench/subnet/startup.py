"""Start-up of `netinspect subnet` as a ratio to a bare `python -c pass` (SPEC 4: under 3x).

Runs each command N times alternately in the same run and prints medians and the ratio;
also the throughput of the pure parser+arithmetic against the standard library's
ipaddress on the same inputs. Not a test: the machine is shared and noisy.

    python bench/subnet/startup.py [N]
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time


def wall(argv: list[str]) -> float:
    env = dict(os.environ, NO_COLOR="1")
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False, timeout=60)
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "netinspect subnet 192.168.12.84/24": [sys.executable, "-m", "netinspect", "subnet", "192.168.12.84/24"],
        "netinspect subnet 2001:db8::1/64 --json": [sys.executable, "-m", "netinspect", "subnet", "2001:db8::1/64",
                                                    "--json"],
        "netinspect subnet 10.0.0.0/16 --split 24": [sys.executable, "-m", "netinspect", "subnet", "10.0.0.0/16",
                                                     "--split", "24"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(n):
        for name, argv in commands.items():
            times[name].append(wall(argv))
    base = statistics.median(times["python -c pass"])
    print(f"start-up, median of {n} runs")
    for name, samples in times.items():
        med = statistics.median(samples)
        print(f"  {name:<44} {med * 1000:7.1f} ms   {med / base:4.2f}x python -c pass")

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
    import ipaddress

    from netinspect.core.subnet import parse_subnet

    rng = random.Random(7)
    texts = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}/"
             f"{rng.randrange(8, 31)}" for _ in range(50_000)]
    start = time.perf_counter()
    for text in texts:
        s = parse_subnet(text)
        (s.network, s.broadcast, s.usable_hosts)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for text in texts:
        i = ipaddress.ip_interface(text)
        (i.network.network_address, i.network.broadcast_address, i.network.num_addresses)
    theirs = time.perf_counter() - start
    print(f"parse + network/broadcast/hosts of {len(texts):,} IPv4 CIDRs")
    print(f"  netinspect.core.subnet {len(texts) / ours:10,.0f}/s   ipaddress {len(texts) / theirs:10,.0f}/s   "
          f"ratio {theirs / ours:4.2f}x")


if __name__ == "__main__":
    main()
