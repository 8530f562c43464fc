"""A DNS server for lab namespaces (dnsmasq), and per-namespace resolver files.

`ip netns exec NS` bind-mounts every file under /etc/netns/NS/ over /etc/, so a test can
give one namespace its own resolv.conf and hosts without touching the machine's. The
directory is removed in `close()` (fixtures call it in `finally`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.lab.netns import Host

DOMAIN = "ni-test.example"          # every name under it answers 10.77.9.9 (dnsmasq --address)
NX_DOMAIN = "ni-nx.example"         # answered NXDOMAIN by dnsmasq itself (--local)
HOST_RECORD = ("host.ni-test.example", "10.77.9.10", "fd77:0:0:9::10")
CNAME = ("alias.ni-test.example", "host.ni-test.example")
TTL = 321


class ResolverFiles:
    """/etc/netns/<ns>/{resolv.conf,hosts} for one namespace."""

    def __init__(self, host: Host, nameserver: str, *, options: str = "timeout:2 attempts:1",
                 hosts: str = "127.0.0.1 localhost\n::1 localhost\n"):
        self.dir = Path("/etc/netns") / host.netns
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "resolv.conf").write_text(f"nameserver {nameserver}\noptions {options}\n")
        (self.dir / "hosts").write_text(hosts)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            self.dir.parent.rmdir()  # only when no other namespace's files are left
        except OSError:
            pass


class Dnsmasq:
    """dnsmasq in the foreground inside one namespace, logging every query to a file."""

    def __init__(self, host: Host, listen: list[str], workdir: Path, extra: list[str] | None = None):
        self.log = workdir / f"dnsmasq-{host.netns}.log"
        self.pidfile = workdir / f"dnsmasq-{host.netns}.pid"
        self.log.write_text("")
        argv = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--port", "53", *(f"--listen-address={address}" for address in listen), "--bind-interfaces",
                f"--pid-file={self.pidfile}", "--log-queries", f"--log-facility={self.log}",
                f"--local-ttl={TTL}", "--user=root",
                f"--address=/{DOMAIN}/10.77.9.9",
                f"--host-record={HOST_RECORD[0]},{HOST_RECORD[1]},{HOST_RECORD[2]}",
                f"--cname={CNAME[0]},{CNAME[1]}",
                f"--local=/{NX_DOMAIN}/",
                *(extra or [])]
        self.proc = host.popen(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dnsmasq exited: {self.proc.stderr.read().decode(errors='replace')}")
            if "started" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError("dnsmasq did not start within 10 s")

    def queries(self) -> list[str]:
        """The query lines logged so far (`query[A] name from addr`)."""
        return [line for line in self.log.read_text(errors="replace").splitlines() if "query[" in line]

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # `ip netns exec` execs dnsmasq: same PID
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self.proc.stderr:
            self.proc.stderr.close()


class DnsLab:
    """Two namespaces: `client` resolves through `server`, where dnsmasq answers."""

    def __init__(self, client: Host, server: Host, dnsmasq: Dnsmasq, files: ResolverFiles):
        self.client, self.server, self.dnsmasq, self.files = client, server, dnsmasq, files


def open_dns_lab(lab, workdir: Path, *, extra: list[str] | None = None):
    """Build a DnsLab on `lab`; the caller closes it with `close_dns_lab` in finally."""
    client, server = lab.pair()
    dnsmasq = Dnsmasq(server, [server.ip4, server.ip6], workdir, extra)
    try:
        files = ResolverFiles(client, server.ip4)
    except BaseException:
        dnsmasq.close()
        raise
    return DnsLab(client, server, dnsmasq, files)


def close_dns_lab(dns_lab: DnsLab) -> None:
    try:
        dns_lab.files.close()
    finally:
        dns_lab.dnsmasq.close()
