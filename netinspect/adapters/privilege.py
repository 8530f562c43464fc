"""Whether this process may open packet sockets: one check and one message for every
command that captures or sends raw frames (trace-handshake, serve/connect --trace,
arp IP, layers --live)."""

from __future__ import annotations

import os
import socket

from netinspect.core.errors import PrivilegeError, RuntimeFailure

CAP_NET_RAW = 13
RAW_PRIVILEGE_NEEDED = ("needs root or the CAP_NET_RAW capability "
                        "(run with sudo, or grant it: setcap cap_net_raw+ep on the Python interpreter)")


def has_raw_privilege(status_path: str = "/proc/self/status") -> bool:
    """CAP_NET_RAW in the effective capability set (root has it unless it was dropped)."""
    try:
        with open(status_path, "rb") as handle:
            for line in handle:
                if line.startswith(b"CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_RAW & 1)
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0   # no capability information: assume root can


def require_raw_privilege(what: str) -> None:
    """PrivilegeError before anything is opened or sent: no CAP_NET_RAW, or the kernel
    refuses a packet socket. `what` names the action, e.g. "capturing packets"."""
    if not has_raw_privilege():
        raise PrivilegeError(f"{what} {RAW_PRIVILEGE_NEEDED}")
    try:
        probe = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise PrivilegeError(f"{what} {RAW_PRIVILEGE_NEEDED}") from None
    except OSError as error:
        raise RuntimeFailure(f"{what}: cannot open a packet socket: {error.strerror or error}") from None
    probe.close()
