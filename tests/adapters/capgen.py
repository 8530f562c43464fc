"""Build packets and capture files byte by byte (struct only), for the reader's tests.

Kept independent of the code under test: every layout here is written from the format
documents (pcap: draft-ietf-opsawg-pcap, pcapng: draft-ietf-opsawg-pcapng), not imported.
"""

from __future__ import annotations

import struct

ZERO_MAC = b"\0" * 6


def ipv4_bytes(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, options: bytes = b"", payload: bytes = b"",
        window: int = 65535, data_offset: int | None = None) -> bytes:
    hlen = 20 + len(options)
    doff = data_offset if data_offset is not None else hlen // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, window, 0, 0) + options + payload


def udp(sport: int, dport: int, payload: bytes = b"", length: int | None = None) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload) if length is None else length, 0) + payload


def ipv4(src: str, dst: str, proto: int, body: bytes, ttl: int = 64, ident: int = 1, flags_frag: int = 0x4000,
         options: bytes = b"", ihl: int | None = None, total: int | None = None) -> bytes:
    hlen = 20 + len(options)
    ihl = hlen // 4 if ihl is None else ihl
    total = hlen + len(body) if total is None else total
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, ident, flags_frag, ttl, proto, 0,
                       ipv4_bytes(src), ipv4_bytes(dst)) + options + body


def ipv6(src: bytes, dst: bytes, next_header: int, body: bytes, hops: int = 64, payload_len: int | None = None) -> bytes:
    plen = len(body) if payload_len is None else payload_len
    return struct.pack("!IHBB16s16s", 6 << 28, plen, next_header, hops, src, dst) + body


def ethernet(payload: bytes, ethertype: int = 0x0800, src: bytes = ZERO_MAC, dst: bytes = ZERO_MAC,
             vlans: tuple = ()) -> bytes:
    head = dst + src
    for tpid, vid in vlans:
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", ethertype) + payload


def pcap(frames, linktype: int = 1, order: str = "<", nano: bool = False, snaplen: int = 262144,
         start_s: int = 1_700_000_000) -> bytes:
    """frames: iterable of bytes, or (bytes, seconds, fraction[, wire_len]) tuples."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = bytearray(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    for i, item in enumerate(frames):
        if isinstance(item, (bytes, bytearray)):
            data, sec, frac, wire = bytes(item), start_s + i, i, len(item)
        else:
            data, sec, frac = item[0], item[1], item[2]
            wire = item[3] if len(item) > 3 else len(data)
        out += struct.pack(order + "IIII", sec, frac, len(data), wire) + data
    return bytes(out)


def _block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * ((-len(body)) % 4)
    blen = 12 + len(body)
    return struct.pack(order + "II", btype, blen) + body + struct.pack(order + "I", blen)


def shb(order: str = "<") -> bytes:
    return _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype: int, order: str = "<", tsresol: int | None = None, snaplen: int = 262144,
        tsoffset: int | None = None) -> bytes:
    body = struct.pack(order + "HHI", linktype, 0, snaplen)
    if tsresol is not None:
        body += struct.pack(order + "HHB3x", 9, 1, tsresol)
    if tsoffset is not None:
        body += struct.pack(order + "HHq", 14, 8, tsoffset)
    if tsresol is not None or tsoffset is not None:
        body += struct.pack(order + "HH", 0, 0)
    return _block(order, 1, body)


def epb(iface: int, ts: int, data: bytes, order: str = "<", wire_len: int | None = None) -> bytes:
    wire = len(data) if wire_len is None else wire_len
    return _block(order, 6, struct.pack(order + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), wire) + data)


def spb(data: bytes, order: str = "<") -> bytes:
    return _block(order, 3, struct.pack(order + "I", len(data)) + data)


def custom_block(btype: int, body: bytes, order: str = "<") -> bytes:
    return _block(order, btype, body)
