"""The services database through `getent services`, the oracle for `port` and services.py."""

from __future__ import annotations

import subprocess

from tests.conftest import need_tool


def getent_services(key):
    """(name, port, proto) for a key such as "ssh/tcp" or "53/udp", or None when getent
    knows no such entry."""
    need_tool("getent")
    result = subprocess.run(["getent", "services", key], capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        return None
    name, port_proto = result.stdout.split()[:2]
    port, proto = port_proto.split("/")
    return name, int(port), proto
