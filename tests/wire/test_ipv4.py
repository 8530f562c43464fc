"""IPv4 header decoding on byte literals: good, options, fragments, and every malformation."""

import pytest

from netinspect.wire import ipv4

# 10.0.0.1 -> 10.0.0.2, TCP, total 40, id 0x1234, DF, TTL 64.
GOOD = bytes.fromhex("45000028123440004006" "0000" "0a000001" "0a000002") + bytes(20)


def test_good_header():
    h = ipv4.decode(GOOD, 0, len(GOOD))
    assert (h.header_len, h.total_len, h.ident, h.dont_fragment, h.more_fragments, h.frag_offset) == (20, 40, 0x1234, True, False, 0)
    assert (h.ttl, h.protocol, h.src, h.dst, h.payload_end, h.malformed) == (64, 6, b"\n\0\0\1", b"\n\0\0\2", 40, "")


def test_ethernet_padding_is_cut_off_by_total_length():
    padded = GOOD[:20] .replace(b"\x00\x28", b"\x00\x1e", 1) + bytes(26)   # total 30, 46 bytes present
    h = ipv4.decode(padded, 0, len(padded))
    assert (h.total_len, h.payload_end, h.malformed) == (30, 30, "")


def test_options_are_walked_and_listed():
    # IHL 7: option type 7 (record route) of length 7, then a NOP filling the last byte.
    opts = bytes([7, 7, 4, 0, 0, 0, 0, 1])
    raw = bytes([0x47]) + GOOD[1:2] + (28 + 20).to_bytes(2, "big") + GOOD[4:20] + opts + bytes(20)
    h = ipv4.decode(raw, 0, len(raw))
    assert (h.header_len, h.options, h.malformed) == (28, (7,), "")


@pytest.mark.parametrize("opts, reason", [
    (bytes([7, 0, 0, 0]), "ipv4 option 7 has bad length 0"),
    (bytes([7, 1, 0, 0]), "ipv4 option 7 has bad length 1"),
    (bytes([1, 1, 1, 68]), "ipv4 option cut off"),
    (bytes([7, 9, 0, 0]), "ipv4 option 7 has bad length 9"),
])
def test_bad_option_lengths_are_flagged_not_looped(opts, reason):
    raw = bytes([0x46]) + GOOD[1:2] + (24 + 20).to_bytes(2, "big") + GOOD[4:20] + opts + bytes(20)
    h = ipv4.decode(raw, 0, len(raw))
    assert h.malformed == reason


@pytest.mark.parametrize("first, reason", [
    (0x44, "ipv4 header length 16 below minimum 20"),
    (0x40, "ipv4 header length 0 below minimum 20"),
    (0x65, "ip version 6 in an ipv4 packet"),
])
def test_impossible_first_byte(first, reason):
    raw = bytes([first]) + GOOD[1:]
    assert ipv4.decode(raw, 0, len(raw)) == reason


def test_header_length_beyond_packet():
    raw = bytes([0x4F]) + GOOD[1:24]
    assert ipv4.decode(raw, 0, len(raw)) == "ipv4 header length 60 beyond packet (24 bytes)"


def test_truncated_header():
    assert ipv4.decode(GOOD, 0, 19) == "truncated ipv4 header (19 of 20 bytes)"


def test_total_length_beyond_capture_is_flagged_unless_snapped():
    raw = GOOD[:2] + (1500).to_bytes(2, "big") + GOOD[4:]
    h = ipv4.decode(raw, 0, len(raw))
    assert h.malformed == "ipv4 total length 1500 beyond capture (40 bytes)"
    assert h.payload_end == 40
    assert ipv4.decode(raw, 0, len(raw), snapped=True).malformed == ""


def test_total_length_below_header_length():
    raw = GOOD[:2] + (12).to_bytes(2, "big") + GOOD[4:]
    h = ipv4.decode(raw, 0, len(raw))
    assert h.malformed == "ipv4 total length 12 below header length 20"


def test_fragment_fields():
    raw = GOOD[:6] + (0x2000 | 185).to_bytes(2, "big") + GOOD[8:]      # MF, offset 185*8
    h = ipv4.decode(raw, 0, len(raw))
    assert (h.more_fragments, h.dont_fragment, h.frag_offset) == (True, False, 1480)
