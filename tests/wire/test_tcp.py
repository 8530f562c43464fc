"""TCP header and options on byte literals: every option kind, and option walks that must stop."""

import struct
import time

import pytest

from netinspect.wire import tcp

LINUX_SYN_OPTIONS = bytes.fromhex("020405b4" "0402" "080a" "0000abcd" "00000000" "01" "030307")


def header(options=b"", flags=0x02, doff=None, seq=1, ack=0):
    doff = (20 + len(options)) // 4 if doff is None else doff
    return struct.pack("!HHIIBBHHH", 40000, 80, seq, ack, doff << 4, flags, 64240, 0, 0) + options


def test_fixed_fields():
    raw = header(flags=0x18, seq=0xFFFFFFFF, ack=7) + b"data"
    h = tcp.decode(raw, 0, len(raw))
    assert (h.src_port, h.dst_port, h.seq, h.ack, h.header_len, h.flags, h.window) == (40000, 80, 0xFFFFFFFF, 7, 20, 0x18, 64240)
    assert h.options_start == h.options_end == 20
    assert h.malformed == ""


def test_linux_syn_options():
    raw = header(LINUX_SYN_OPTIONS)
    h = tcp.decode(raw, 0, len(raw))
    opts, bad = tcp.parse_options(raw, h.options_start, h.options_end)
    assert (opts.mss, opts.wscale, opts.sack_permitted, opts.ts_val, opts.ts_ecr, bad) == (1460, 7, True, 0xABCD, 0, "")


def test_other_option_order_takes_the_general_walk():
    options = bytes.fromhex("020405b4" "01" "030308" "0101" "0402" "01010101")   # Windows-like order
    raw = header(options)
    opts, bad = tcp.parse_options(raw, 20, len(raw))
    assert (opts.mss, opts.wscale, opts.sack_permitted, opts.ts_val, bad) == (1460, 8, True, None, "")


def test_sack_blocks_and_timestamps():
    options = bytes.fromhex("0101" "080a" "00000010" "00000020") + bytes.fromhex("0101" "0512") + \
        struct.pack("!IIII", 100, 200, 300, 400) + b"\x00\x00"
    raw = header(options, flags=0x10)
    opts, bad = tcp.parse_options(raw, 20, len(raw))
    assert (opts.ts_val, opts.ts_ecr, opts.sack_blocks, bad) == (16, 32, ((100, 200), (300, 400)), "")


@pytest.mark.parametrize("options, reason", [
    (bytes([2, 0, 0, 0]), "tcp option 2 has length 0"),
    (bytes([30, 1, 0, 0]), "tcp option 30 has length 1"),
    (bytes([1, 1, 1, 2]), "tcp option 2 cut off"),
    (bytes([8, 40, 0, 0]), "tcp option 8 length 40 beyond header"),
    (bytes([2, 3, 0, 0]), "tcp option 2 has length 3, expected 4"),
    (bytes([5, 7, 0, 0, 0, 0, 0, 0]), "tcp sack option has length 7"),
])
def test_bad_option_lengths_stop_with_a_flag(options, reason):
    raw = header(options)
    start = time.monotonic()
    opts, bad = tcp.parse_options(raw, 20, len(raw))
    assert bad == reason
    assert time.monotonic() - start < 1.0


def test_forty_bytes_of_zero_length_options_terminate():
    raw = header(bytes([99, 0]) * 20)
    assert tcp.parse_options(raw, 20, len(raw))[1] == "tcp option 99 has length 0"


@pytest.mark.parametrize("doff, reason", [(4, "tcp data offset 16 below minimum 20"), (0, "tcp data offset 0 below minimum 20")])
def test_data_offset_below_five(doff, reason):
    raw = header(doff=doff)
    assert tcp.decode(raw, 0, len(raw)) == reason


def test_data_offset_beyond_packet():
    raw = header(doff=15)
    h = tcp.decode(raw, 0, len(raw))
    assert h.malformed == "tcp header length 60 beyond packet (20 bytes)"
    assert h.options_end == len(raw)


def test_truncated_header():
    assert tcp.decode(header(), 0, 13) == "truncated tcp header (13 of 20 bytes)"
