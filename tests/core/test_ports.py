"""Port text parsing and the IANA range class."""

import string

import pytest
from hypothesis import given, strategies as st

from netinspect.core.errors import BadInput
from netinspect.core.ports import parse_port_number, parse_port_spec, range_class
from netinspect.core.timeouts import parse_timeout


@pytest.mark.parametrize("text, number, service, proto", [
    ("80", 80, None, None),
    ("0", 0, None, None),
    ("65535", 65535, None, None),
    ("8080/udp", 8080, None, "udp"),
    ("53/TCP", 53, None, "tcp"),
    ("mysql", None, "mysql", None),
    ("MySQL/tcp", None, "mysql", "tcp"),
    ("http-alt", None, "http-alt", None),
    ("3com-tsmux", None, "3com-tsmux", None),   # IANA names may start with a digit
])
def test_accepted(text, number, service, proto):
    spec = parse_port_spec(text)
    assert (spec.number, spec.service, spec.proto) == (number, service, proto)


@pytest.mark.parametrize("text, phrase", [
    ("65536", "out of range"), ("99999", "out of range"), ("-1", "no sign"), ("+80", "no sign"),
    ("８０", "ASCII"), ("٨٠", "ASCII"), ("8_0", "underscore"), ("0x50", "decimal only"), ("1e3", "decimal"),
    ("80/icmp", "not tcp or udp"), ("80/", "nothing after"), ("/tcp", "before '/'"), ("", "empty"),
    ("80 ", "spaces"), ("8\x000", "control"), ("123456", "more than 5 digits"), ("-http", "no sign"),
    ("http-", "hyphen"), ("a" * 40, "32"), ("ht_tp", "letters"), ("80/tcp/udp", "not tcp or udp"),
])
def test_refused(text, phrase):
    with pytest.raises(BadInput) as caught:
        parse_port_spec(text)
    assert phrase in caught.value.message
    assert repr(text)[:20].rstrip("'") in caught.value.message
    assert "\n" not in caught.value.message


@given(st.integers(min_value=0, max_value=65535))
def test_every_decimal_port_round_trips(port):
    assert parse_port_spec(str(port)).number == port
    assert parse_port_number(str(port)) == port


@given(st.text(min_size=1, max_size=8))
def test_number_parser_accepts_only_ascii_decimal(text):
    try:
        value = parse_port_number(text)
    except BadInput:
        assert not (text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535)
    else:
        assert all(ch in string.digits for ch in text) and value == int(text) <= 65535


@pytest.mark.parametrize("port, name", [
    (0, "well-known"), (1023, "well-known"), (1024, "registered"), (49151, "registered"),
    (49152, "dynamic"), (65535, "dynamic"),
])
def test_range_class_boundaries(port, name):
    assert range_class(port)[0] == name


def test_port_zero_refused_where_a_connection_is_needed():
    with pytest.raises(BadInput):
        parse_port_number("0", allow_zero=False)


@pytest.mark.parametrize("text, value", [("5", 5.0), ("0.5", 0.5), ("300", 300.0), ("1.25", 1.25)])
def test_timeout_accepted(text, value):
    assert parse_timeout(text) == value


@pytest.mark.parametrize("text", ["0", "0.0", "-1", "nan", "inf", "1e9", "301", "", " 5", "５", "1_0", "0x5", "5s"])
def test_timeout_refused(text):
    with pytest.raises(BadInput):
        parse_timeout(text)
