"""Write frames to a classic pcap file (nanosecond timestamps), with struct.

The nanosecond variant (magic 0xa1b23c4d) keeps the capture's own resolution; tshark,
tcpdump, Wireshark and `netinspect review` all read it.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path
from typing import Iterable

from netinspect.core.errors import RuntimeFailure
from netinspect.core.records import Frame

PCAP_MAGIC_NS = 0xA1B23C4D
SNAPLEN = 262144
CAPTURES_DIR = "captures"


def write_pcap(path: str | os.PathLike, frames: Iterable[Frame], linktype: int, snaplen: int = SNAPLEN) -> int:
    """Write `frames` to `path`; return the number of packets written."""
    path = Path(path)
    count = 0
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            out.write(struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, snaplen, linktype))
            for frame in frames:
                data = frame.data[:snaplen]
                seconds, nanos = divmod(frame.ts_ns, 1_000_000_000)
                out.write(struct.pack("<IIII", seconds, nanos, len(data), max(frame.orig_len, len(data))))
                out.write(data)
                count += 1
    except OSError as error:
        raise RuntimeFailure(f"cannot write the capture to {path}: {error.strerror or error}") from None
    return count


def default_capture_path(cwd: str | os.PathLike, prefix: str = "handshake", when: float | None = None) -> Path:
    """captures/<prefix>-YYYYMMDDTHHMMSS.pcap under `cwd`, made unique if that name exists."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(time.time() if when is None else when))
    folder = Path(cwd) / CAPTURES_DIR
    candidate = folder / f"{prefix}-{stamp}.pcap"
    suffix = 1
    while candidate.exists() and suffix < 1000:
        candidate = folder / f"{prefix}-{stamp}-{suffix}.pcap"
        suffix += 1
    return candidate
