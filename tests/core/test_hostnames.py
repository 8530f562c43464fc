"""Host name validation, target classification and inet_aton's reading of numeric forms.

The C library is the oracle for inet_aton: socket.inet_aton must agree with our pure
reading on every string drawn from the alphabet the forms use.
"""

import socket

import pytest
from hypothesis import given, settings, strategies as st

from netinspect.core.errors import BadInput
from netinspect.core.hostnames import (
    equivalent_forms, parse_record_types, parse_server, parse_target, read_inet_aton, validate_host_name,
)


@pytest.mark.parametrize("text, ascii_form, unicode_form", [
    ("localhost", "localhost", "localhost"),
    ("example.org.", "example.org.", "example.org."),
    ("bücher.example", "xn--bcher-kva.example", "bücher.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example", "bücher.example"),
    ("ПРИМЕР.испытание", "xn--e1afmkfd.xn--80akhbyknj4f", "пример.испытание"),
    ("_dmarc.example.com", "_dmarc.example.com", "_dmarc.example.com"),
    ("a" * 63 + ".example", "a" * 63 + ".example", "a" * 63 + ".example"),
])
def test_names_accepted_in_both_forms(text, ascii_form, unicode_form):
    name = validate_host_name(text)
    assert name.ascii == ascii_form
    assert name.unicode == unicode_form


def test_253_characters_is_the_limit():
    name = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(name) == 253
    assert validate_host_name(name).ascii == name
    with pytest.raises(BadInput, match="at most 253"):
        validate_host_name(name + "b")


@pytest.mark.parametrize("text, phrase", [
    ("", "empty"), ("a\x00b.example", "NUL"), ("a\x07b", "U+0007"), ("a\x7fb", "U+007F"), ("a\x85b", "U+0085"),
    ("exa mple.com", "space"), ("tab\there", "U+0009"), ("x" * 300 + ".com", "300 characters"),
    ("-lead.example", "hyphen"), ("trail-.example", "hyphen"), ("a..b", "empty label"), (".lead", "empty label"),
    (".", "root"), ("semi;colon.example", "';'"), ("slash/x.example", "'/'"), ("xn--zz.example", "punycode"),
])
def test_names_refused(text, phrase):
    with pytest.raises(BadInput) as caught:
        validate_host_name(text)
    assert phrase in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("text, address, version", [
    ("127.0.0.1", "127.0.0.1", 4), ("::1", "::1", 6), ("fd77::0:1", "fd77::1", 6), ("fe80::1%lo", "fe80::1%lo", 6),
])
def test_addresses_are_reverse_targets(text, address, version):
    target = parse_target(text)
    assert (target.address, target.version) == (address, version)


@pytest.mark.parametrize("text, reads_as", [
    ("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"), ("0127.0.0.1", "87.0.0.1"), ("10.1.257", "10.1.1.1"),
])
def test_numeric_forms_are_refused_as_hosts_with_their_reading(text, reads_as):
    with pytest.raises(BadInput) as caught:
        parse_target(text)
    assert reads_as in caught.value.message and "--forms" in caught.value.message


@pytest.mark.parametrize("text", ["256.1.1.1", "example.123", "1.2.3.4.5", "fe80::zz", "1:2"])
def test_not_an_address_and_not_a_name(text):
    with pytest.raises(BadInput):
        parse_target(text)


@pytest.mark.parametrize("text", ["127.1", "2130706433", "0x7f000001", "017700000001", "0377.0xff.65535",
                                  "4294967295", "0", "0x0", "1.2.3.4", "09", "0x", "1.2.3.4.", "4294967296",
                                  "1..2", ".1", "0xfffffffff", "1.2.3.256", "1.2.65536", "1.16777216"])
def test_inet_aton_reading_matches_the_c_library(text):
    _agrees_with_libc(text)


@settings(max_examples=400)
@given(st.text(alphabet="0123456789abcdefxX.", min_size=1, max_size=14))
def test_inet_aton_reading_matches_the_c_library_on_random_text(text):
    _agrees_with_libc(text)


def _agrees_with_libc(text):
    try:
        expected = socket.inet_ntoa(socket.inet_aton(text))
    except OSError:
        expected = None
    reading = read_inet_aton(text)
    assert (reading.dotted if reading else None) == expected


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_equivalent_form_reads_back_to_the_same_address(value):
    forms = equivalent_forms(value)
    for text in forms.values():
        assert read_inet_aton(text).value == value
        assert int.from_bytes(socket.inet_aton(text), "big") == value


@pytest.mark.parametrize("text, expected", [
    ("10.77.1.2", ("10.77.1.2", 53)), ("10.77.1.2:5353", ("10.77.1.2", 5353)),
    ("fd77::2", ("fd77::2", 53)), ("[fd77::2]:5353", ("fd77::2", 5353)), ("[fd77::2]", ("fd77::2", 53)),
])
def test_server_accepted(text, expected):
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["", "dns.example", "10.77.1.2:", "10.77.1.2:0", "10.77.1.2:65536", "10.77.1.2:+53",
                                  "[fd77::2", "[10.0.0.1]:53", "[fd77::2]53", "1.2.3.4 ", "127.1"])
def test_server_refused(text):
    with pytest.raises(BadInput):
        parse_server(text)


def test_record_types():
    assert parse_record_types(None) == ["A", "AAAA"]
    assert parse_record_types(["a,cname", "AAAA", "A"]) == ["A", "CNAME", "AAAA"]
    with pytest.raises(BadInput):
        parse_record_types(["ANY"])
