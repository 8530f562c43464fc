"""Session services: messages in, send/close actions out, no sockets."""

import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from netinspect.core.framing import Message
from netinspect.core.sessions import (ALLOWED_DIRECTIVES, DEFAULT_TIME_FORMAT, MAX_FORMAT_LENGTH, ChatRoom,
                                      DiscardService, EchoService, Send, TimeFormatError, TimeService,
                                      UpperService, make_service, validate_time_format)

FIXED = dt.datetime(2026, 11, 25, 23, 30, 5, tzinfo=dt.timezone.utc)


def msg(text):
    return Message.of(text.encode() if isinstance(text, str) else text)


def test_echo_returns_the_same_bytes_even_when_not_utf8():
    assert EchoService().on_message(1, msg(b"\xff\x00ab")) == [Send(1, b"\xff\x00ab")]


def test_upper_handles_unicode_and_leaves_binary_bytes_alone():
    service = UpperService()
    assert service.on_message(1, msg("straße ä")) == [Send(1, "STRASSE Ä".encode())]
    assert service.on_message(1, msg(b"ab\xff\xfe")) == [Send(1, b"AB\xff\xfe")]


def test_discard_answers_nothing():
    assert DiscardService().on_message(1, msg("x")) == []


def test_chat_relays_to_every_other_member_with_sender_address():
    room = ChatRoom()
    first = room.on_connect("a", "127.0.0.1:1001")
    assert [a.client for a in first] == ["a"] and b"1 in the room" in first[0].payload
    joined = room.on_connect("b", "127.0.0.1:1002")
    assert {a.client for a in joined} == {"a", "b"}
    room.on_connect("c", "127.0.0.1:1003")
    relayed = room.on_message("b", msg("hi all"))
    assert sorted(a.client for a in relayed) == ["a", "c"]
    assert all(a.payload == b"[127.0.0.1:1002] hi all" for a in relayed)
    left = room.on_close("b")
    assert sorted(a.client for a in left) == ["a", "c"] and b"left (2 in the room)" in left[0].payload
    assert room.on_close("b") == []
    assert room.on_message("b", msg("ghost")) == []


def test_chat_relays_binary_untouched():
    room = ChatRoom()
    room.on_connect(1, "p1")
    room.on_connect(2, "p2")
    assert room.on_message(1, msg(b"\xff\xfe")) == [Send(2, b"[p1] \xff\xfe")]


def test_time_default_and_custom_format():
    service = TimeService(clock=lambda: FIXED)
    assert service.on_message(1, msg("")) == [Send(1, FIXED.strftime(DEFAULT_TIME_FORMAT).encode())]
    assert service.on_message(1, msg("%Y-%m-%d %H:%M:%S")) == [Send(1, b"2026-11-25 23:30:05")]
    assert service.on_message(1, msg("year %Y, 100%%")) == [Send(1, b"year 2026, 100%")]


@pytest.mark.parametrize("fmt", ["%n", "%-d", "%Ey", "%Od", "%+", "%s", "%k", "%P", "%", "abc%", "%\x00"])
def test_time_refuses_disallowed_directives(fmt):
    with pytest.raises(TimeFormatError):
        validate_time_format(fmt)
    reply = TimeService(clock=lambda: FIXED).on_message(7, msg(fmt))
    assert len(reply) == 1 and reply[0].client == 7 and reply[0].payload.startswith(b"error: ")


def test_time_refuses_10000_characters_and_names_the_limit():
    reply = TimeService(clock=lambda: FIXED).on_message(1, msg("%Y" * 5000))
    assert reply[0].payload == f"error: format is 10000 characters; the limit is {MAX_FORMAT_LENGTH}".encode()


def test_time_refuses_non_utf8_request():
    assert TimeService(clock=lambda: FIXED).on_message(1, msg(b"\xff%Y"))[0].payload.startswith(b"error:")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_time_any_request_gets_exactly_one_bounded_answer(fmt):
    reply = TimeService(clock=lambda: FIXED).on_message(1, msg(fmt))
    assert len(reply) == 1
    assert len(reply[0].payload) < 4096


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(ALLOWED_DIRECTIVES)), min_size=1, max_size=30))
def test_every_allowed_directive_formats(directives):
    fmt = " ".join("%" + d for d in directives)
    assert validate_time_format(fmt) == fmt
    FIXED.strftime(fmt)


def test_make_service_knows_every_mode_and_refuses_others():
    for mode in ("echo", "upper", "chat", "time", "discard"):
        assert make_service(mode).mode == mode
    with pytest.raises(ValueError):
        make_service("shell")
