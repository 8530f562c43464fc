"""What a UDP trace needs from each frame beyond `wire.decode`'s records.

`decode_frame` gives a `Datagram` (endpoints, payload length) and an `IcmpMessage` (type,
code) but neither the datagram's bytes nor the datagram an ICMP error quotes. The ladder
shows a payload preview, and an ICMP "port unreachable" matters only when it says which
datagram it answers, so this module reads both from the frame, at the transport offset the
decoder found. Pure: bytes in, records out.

    udp_frames(frames) -> (list[UdpPacket], list[IcmpError])
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from netinspect.core.records import Datagram, Endpoint

PREVIEW_BYTES = 64          # payload bytes kept per datagram (the ladder shows fewer)

@dataclass(slots=True)
class UdpPacket:
    """One captured UDP datagram with the start of its payload."""

    datagram: Datagram
    payload: bytes            # at most PREVIEW_BYTES
    udp_length: int           # the UDP header's length field (8 + payload), as tshark's udp.length


@dataclass(slots=True)
class IcmpError:
    """An ICMP/ICMPv6 destination-unreachable (or other error) quoting a UDP datagram."""

    ts_ns: int
    src: str                  # who sent the ICMP message
    dst: str
    version: int              # 4 or 6
    type: int
    code: int
    quoted_src: Endpoint      # the datagram it answers: its sender ...
    quoted_dst: Endpoint      # ... and where it was going
    frame_index: int

    @property
    def port_unreachable(self) -> bool:
        return (self.version, self.type, self.code) in ((4, 3, 3), (6, 1, 4))


def udp_payload(data: bytes, decoded, limit: int = PREVIEW_BYTES) -> tuple[bytes, int]:
    """(first `limit` payload bytes, UDP length field) of a decoded UDP frame."""
    start = decoded.transport_offset
    if start < 0 or len(data) < start + 8:
        return b"", 0
    length = struct.unpack_from("!H", data, start + 4)[0]
    payload_len = decoded.datagram.payload_len if decoded.datagram is not None else 0
    return bytes(data[start + 8:start + 8 + min(payload_len, limit)]), length


def quoted_udp(data: bytes, decoded) -> tuple[Endpoint, Endpoint] | None:
    """(sender, destination) of the UDP datagram an ICMP error quotes, or None."""
    icmp = decoded.icmp
    if icmp is None:
        return None
    error_types = (3, 4, 5, 11, 12) if icmp.version == 4 else (1, 2, 3, 4)
    if icmp.type not in error_types:
        return None
    start = decoded.transport_offset
    if start < 0:
        return None
    inner = start + 8
    if len(data) < inner + 1:
        return None
    version = data[inner] >> 4
    if version == 4:
        ihl = (data[inner] & 0x0F) * 4
        if ihl < 20 or len(data) < inner + ihl + 4 or data[inner + 9] != 17:
            return None
        src = str(ipaddress.IPv4Address(data[inner + 12:inner + 16]))
        dst = str(ipaddress.IPv4Address(data[inner + 16:inner + 20]))
        ports = inner + ihl
    elif version == 6:
        if len(data) < inner + 44 or data[inner + 6] != 17:
            return None
        src = str(ipaddress.IPv6Address(data[inner + 8:inner + 24]))
        dst = str(ipaddress.IPv6Address(data[inner + 24:inner + 40]))
        ports = inner + 40
    else:
        return None
    sport, dport = struct.unpack_from("!HH", data, ports)
    return Endpoint(src, sport), Endpoint(dst, dport)


def udp_frames(frames) -> tuple[list[UdpPacket], list[IcmpError]]:
    """Decode frames with the shared decoder; keep UDP datagrams and ICMP errors quoting UDP."""
    from netinspect.wire.decode import decode_frame

    packets: list[UdpPacket] = []
    errors: list[IcmpError] = []
    for frame in frames:
        decoded = decode_frame(frame)
        if decoded.datagram is not None:
            payload, length = udp_payload(frame.data, decoded)
            packets.append(UdpPacket(decoded.datagram, payload, length))
        elif decoded.icmp is not None:
            quoted = quoted_udp(frame.data, decoded)
            if quoted is not None:
                m = decoded.icmp
                errors.append(IcmpError(m.ts_ns, m.src, m.dst, m.version, m.type, m.code, quoted[0], quoted[1],
                                        m.frame_index))
    return packets, errors
