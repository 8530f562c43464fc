"""Network namespaces joined by veth pairs, for tests that cross a network.

Rules this module keeps: names start with `ni-`, addresses are in 10.77.0.0/16 and
fd77::/64-style prefixes, every command has a timeout, and everything created is removed
in `close()` (called by the fixtures even when a test fails, and at interpreter exit).
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field

_COUNTER = itertools.count(1)
_OPEN_LABS: list["Lab"] = []
COMMAND_TIMEOUT = 30


def can_build_labs() -> str | None:
    """None when namespaces can be built here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    return None


def sh(*argv: str, check: bool = True, timeout: float = COMMAND_TIMEOUT, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, timeout=timeout, input=input)


@dataclass
class Host:
    """One network namespace with one veth interface."""

    netns: str
    ifname: str
    mac: str
    ipv4: str          # with prefix, e.g. 10.77.3.1/24
    ipv6: str          # with prefix, e.g. fd77:0:0:3::1/64
    peer: "Host | None" = field(default=None, repr=False)

    @property
    def ip4(self) -> str:
        return self.ipv4.split("/")[0]

    @property
    def ip6(self) -> str:
        return self.ipv6.split("/")[0]

    def argv(self, *argv: str) -> list[str]:
        """argv that runs a command inside this namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(self, *argv: str, check: bool = True, timeout: float = COMMAND_TIMEOUT, input: str | None = None) -> subprocess.CompletedProcess:
        return sh(*self.argv(*argv), check=check, timeout=timeout, input=input)

    def popen(self, *argv: str, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.argv(*argv), **kwargs)

    def ip_json(self, *argv: str):
        return json.loads(self.run("ip", "-j", *argv).stdout or "[]")


class Lab:
    """A set of namespaces; `pair()` builds two hosts joined by one veth link."""

    def __init__(self, tag: str = "t"):
        self.tag = tag
        self.namespaces: list[str] = []
        _OPEN_LABS.append(self)

    def _unique(self) -> int:
        return next(_COUNTER)

    def pair(self, subnet: int | None = None, default_route: bool = True) -> tuple[Host, Host]:
        """Two namespaces `a` and `b` joined by veth: 10.77.S.1/24 and 10.77.S.2/24,
        fd77:0:0:S::1/64 and ::2/64, MACs 02:77:00:S:00:01 and :02, and a default
        route (v4 and v6) from each to the other."""
        n = self._unique()
        s = subnet if subnet is not None else (os.getpid() * 7 + n) % 200 + 20
        base = f"ni-{os.getpid() % 100000}-{n}"
        hosts = []
        for idx, side in ((1, "a"), (2, "b")):
            netns = f"{base}-{side}"
            sh("ip", "netns", "add", netns)
            self.namespaces.append(netns)
            sh("ip", "-n", netns, "link", "set", "lo", "up")
            hosts.append(Host(netns=netns, ifname=f"ni{side}{n % 10000}x{os.getpid() % 1000}"[:15],
                              mac=f"02:77:00:{s:02x}:00:{idx:02x}", ipv4=f"10.77.{s}.{idx}/24",
                              ipv6=f"fd77:0:0:{s:x}::{idx}/64"))
        a, b = hosts
        a.peer, b.peer = b, a
        sh("ip", "link", "add", a.ifname, "netns", a.netns, "type", "veth", "peer", "name", b.ifname, "netns", b.netns)
        for host in hosts:
            ns = host.netns
            sh("ip", "-n", ns, "link", "set", host.ifname, "address", host.mac)
            # No DAD delay: tests use the IPv6 address at once.
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{host.ifname}.accept_dad=0")
            sh("ip", "-n", ns, "addr", "add", host.ipv4, "dev", host.ifname)
            sh("ip", "-n", ns, "-6", "addr", "add", host.ipv6, "dev", host.ifname, "nodad")
            sh("ip", "-n", ns, "link", "set", host.ifname, "up")
        if default_route:
            for host in hosts:
                sh("ip", "-n", host.netns, "route", "add", "default", "via", host.peer.ip4, "dev", host.ifname)
                sh("ip", "-n", host.netns, "-6", "route", "add", "default", "via", host.peer.ip6, "dev", host.ifname)
        return a, b

    def close(self) -> None:
        for netns in reversed(self.namespaces):
            # Kill only processes still running inside namespaces we created ourselves.
            pids = sh("ip", "netns", "pids", netns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", netns, check=False)
        self.namespaces.clear()
        if self in _OPEN_LABS:
            _OPEN_LABS.remove(self)


@atexit.register
def _close_all() -> None:
    for lab in list(_OPEN_LABS):
        lab.close()
