"""Framers: bytes in, messages or one error out, whatever the chunking."""

import struct

import pytest
from hypothesis import given, settings, strategies as st

from netinspect.core.framing import (FramingError, LengthPrefixFramer, LineFramer, Message, RawFramer,
                                     incomplete_utf8_tail, make_framer)


def feed_in_chunks(framer, data, cuts):
    out = []
    last = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        out += framer.feed(data[last:cut])
        last = cut
    return out + framer.finish()


def texts(items):
    return [item.text if isinstance(item, Message) else item.code for item in items]


def test_line_framer_splits_lines_and_drops_cr():
    framer = LineFramer()
    assert texts(framer.feed(b"hello\r\nwor")) == ["hello"]
    assert texts(framer.feed(b"ld\n\n")) == ["world", ""]
    assert framer.buffered == 0


def test_line_framer_delivers_an_unterminated_last_line_at_end():
    framer = LineFramer()
    assert framer.feed(b"no newline") == []
    assert texts(framer.finish()) == ["no newline"]


def test_line_longer_than_the_cap_is_one_error_then_nothing():
    framer = LineFramer(max_message=10)
    items = framer.feed(b"x" * 11)
    assert len(items) == 1 and isinstance(items[0], FramingError)
    assert items[0].code == "line-too-long" and "10 bytes" in items[0].text
    assert framer.feed(b"more\n") == []
    assert framer.finish() == []


def test_line_at_exactly_the_cap_passes_and_buffer_never_exceeds_it():
    framer = LineFramer(max_message=10)
    assert texts(framer.feed(b"y" * 10 + b"\n")) == ["y" * 10]
    framer.feed(b"z" * 10)
    assert framer.buffered == 10
    assert texts(framer.feed(b"z")) == ["line-too-long"]


def test_long_line_in_one_read_with_newline_is_still_refused():
    framer = LineFramer(max_message=4)
    assert texts(framer.feed(b"ok\n" + b"toolong\n")) == ["ok", "line-too-long"]


def test_utf8_character_split_across_two_line_reads():
    framer = LineFramer()
    data = "ä€😀\n".encode()
    assert framer.feed(data[:1]) == []
    assert texts(framer.feed(data[1:])) == ["ä€😀"]


@pytest.mark.parametrize("cut", range(1, 10))
def test_raw_framer_never_cuts_a_character(cut):
    data = "ä€😀".encode()  # 2 + 3 + 4 bytes
    framer = RawFramer()
    items = framer.feed(data[:cut]) + framer.feed(data[cut:]) + framer.finish()
    assert all(isinstance(item, Message) and item.text is not None for item in items)
    assert "".join(item.text for item in items) == "ä€😀"


def test_raw_framer_reports_binary_garbage_as_bytes_without_text():
    framer = RawFramer()
    garbage = bytes([0xFF, 0xFE, 0x00, 0x80, 0xC3])
    items = framer.feed(garbage) + framer.finish()
    assert b"".join(item.data for item in items) == garbage
    assert any(item.text is None for item in items)


def test_incomplete_tail():
    assert incomplete_utf8_tail(b"abc") == 0
    assert incomplete_utf8_tail("é".encode()[:1]) == 1
    assert incomplete_utf8_tail("€".encode()[:2]) == 2
    assert incomplete_utf8_tail("😀".encode()[:3]) == 3
    assert incomplete_utf8_tail("😀".encode()) == 0
    assert incomplete_utf8_tail(b"\x80\x80\x80\x80") == 0


def test_length_prefix_round_trip_and_split_header():
    framer = LengthPrefixFramer()
    wire = framer.encode(b"hello") + framer.encode("wörld".encode()) + framer.encode(b"")
    assert wire[:4] == struct.pack("!I", 5)
    got = []
    for byte in wire:  # one byte at a time: header and body split everywhere
        got += framer.feed(bytes([byte]))
    assert texts(got) == ["hello", "wörld", ""]


def test_length_prefix_of_4_gib_is_refused_without_allocating():
    framer = LengthPrefixFramer(max_message=65536)
    items = framer.feed(struct.pack("!I", 0xFFFFFFFF) + b"abc")
    assert texts(items) == ["message-too-large"]
    assert "4294967295" in items[0].text and "65536" in items[0].text
    assert framer.buffered == 0
    assert framer.feed(b"x" * 100) == []


def test_length_prefix_truncated_at_end_is_reported():
    framer = LengthPrefixFramer()
    framer.feed(struct.pack("!I", 10) + b"abc")
    items = framer.finish()
    assert texts(items) == ["truncated"] and "3 of 10" in items[0].text


def test_make_framer_rejects_unknown():
    with pytest.raises(ValueError):
        make_framer("json")


messages = st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b and not b.endswith(b"\r")), max_size=8)


@settings(max_examples=200, deadline=None)
@given(messages, st.lists(st.integers(min_value=0, max_value=400), max_size=10))
def test_line_framing_is_independent_of_chunking(payloads, cuts):
    framer = LineFramer()
    data = b"".join(framer.encode(p) for p in payloads)
    got = feed_in_chunks(LineFramer(), data, [c for c in cuts if c <= len(data)])
    assert [item.data for item in got] == payloads


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=8), st.lists(st.integers(min_value=0, max_value=600), max_size=10))
def test_length_framing_is_independent_of_chunking(payloads, cuts):
    data = b"".join(LengthPrefixFramer().encode(p) for p in payloads)
    got = feed_in_chunks(LengthPrefixFramer(), data, [c for c in cuts if c <= len(data)])
    assert [item.data for item in got] == payloads


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50), st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_raw_framing_keeps_every_byte_and_every_character(text, cuts):
    data = text.encode()
    got = feed_in_chunks(RawFramer(), data, [c for c in cuts if c <= len(data)])
    assert b"".join(item.data for item in got) == data
    assert "".join(item.text for item in got) == text


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["line", "raw", "length"]))
def test_any_bytes_give_messages_or_one_error_and_bounded_buffer(data, name):
    framer = make_framer(name, max_message=32)
    items = feed_in_chunks(framer, data, list(range(0, len(data), 7)))
    errors = [item for item in items if isinstance(item, FramingError)]
    assert len(errors) <= 1
    assert framer.buffered <= 32 + 4
    assert all(len(item.data) <= 32 for item in items if isinstance(item, Message))
