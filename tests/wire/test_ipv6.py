"""IPv6 header and extension-header chain on byte literals, including deep and looping chains."""

import struct

import pytest

from netinspect.wire import ipv6

SRC = bytes.fromhex("fd770000000000000000000000000001")
DST = bytes.fromhex("fd770000000000000000000000000002")


def header(nxt, body, plen=None):
    return struct.pack("!IHBB16s16s", 0x60000000, len(body) if plen is None else plen, nxt, 64, SRC, DST) + body


def ext(nxt, length_units=0):
    """A generic extension header of (length_units + 1) * 8 bytes."""
    return bytes([nxt, length_units]) + bytes(6 + 8 * length_units)


def test_plain_tcp():
    raw = header(6, bytes(20))
    h = ipv6.decode(raw, 0, len(raw))
    assert (h.protocol, h.extensions, h.transport_offset, h.payload_end, h.hop_limit, h.malformed) == (6, (), 40, 60, 64, "")
    assert (h.src, h.dst) == (SRC, DST)


def test_chain_hop_by_hop_routing_destination_then_udp():
    body = ext(43) + ext(60, 1) + ext(17) + bytes(8)
    raw = header(0, body)
    h = ipv6.decode(raw, 0, len(raw))
    assert (h.extensions, h.protocol, h.transport_offset, h.malformed) == ((0, 43, 60), 17, 40 + 8 + 16 + 8, "")


def test_fragment_header():
    frag = struct.pack("!BxHI", 6, (100 << 3) | 1, 0xABCD)        # offset 800 bytes, more fragments
    raw = header(44, frag + bytes(16))
    h = ipv6.decode(raw, 0, len(raw))
    assert (h.fragmented, h.frag_offset, h.more_fragments, h.protocol, h.extensions) == (True, 800, True, 6, (44,))


def test_authentication_header_length_is_in_four_byte_units():
    ah = bytes([6, 4]) + bytes(22)       # (4 + 2) * 4 = 24 bytes
    raw = header(51, ah + bytes(20))
    h = ipv6.decode(raw, 0, len(raw))
    assert (h.protocol, h.transport_offset) == (6, 64)


def test_deep_chain_is_bounded():
    # Destination options may appear twice, then routing, and the rest: build a 12-deep
    # chain of alternating allowed types so only the depth bound can stop it.
    kinds = [60, 43, 60, 135, 139, 140, 51, 44]
    body = b""
    for i, kind in enumerate(kinds):
        nxt = kinds[i + 1] if i + 1 < len(kinds) else 60
        body += struct.pack("!BxHI", nxt, 0, 0) if kind == 44 else (bytes([nxt, 0]) + bytes(22) if kind == 51 else ext(nxt))
    body += ext(6) + bytes(20)
    raw = header(60, body)
    h = ipv6.decode(raw, 0, len(raw))
    assert len(h.extensions) == ipv6.MAX_EXTENSIONS
    assert h.malformed == "ipv6 extension chain longer than 8"


def test_looping_chain_is_flagged():
    # Routing header pointing at another routing header, over and over.
    body = ext(43) * 20
    raw = header(43, body)
    h = ipv6.decode(raw, 0, len(raw))
    assert h.malformed == "ipv6 extension header 43 repeated (loop)"
    assert h.extensions == (43,)


def test_hop_by_hop_not_first_is_flagged():
    raw = header(60, ext(0) + ext(6) + bytes(20))
    assert ipv6.decode(raw, 0, len(raw)).malformed == "ipv6 hop-by-hop header not first"


def test_extension_length_beyond_packet():
    raw = header(60, bytes([6, 200]) + bytes(14))
    h = ipv6.decode(raw, 0, len(raw))
    assert h.malformed == "ipv6 extension header 60 length 1608 beyond packet"


@pytest.mark.parametrize("cut", [0, 39])
def test_truncated_fixed_header(cut):
    raw = header(6, bytes(20))[:cut]
    assert ipv6.decode(raw, 0, len(raw)) == f"truncated ipv6 header ({cut} of 40 bytes)"


def test_wrong_version():
    raw = b"\x45" + header(6, bytes(20))[1:]
    assert ipv6.decode(raw, 0, len(raw)) == "ip version 4 in an ipv6 packet"


def test_payload_length_beyond_capture_flagged_unless_snapped():
    raw = header(6, bytes(20), plen=1000)
    assert ipv6.decode(raw, 0, len(raw)).malformed == "ipv6 payload length 1000 beyond capture (20 bytes)"
    assert ipv6.decode(raw, 0, len(raw), snapped=True).malformed == ""
