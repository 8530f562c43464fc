"""The strict parser: what it accepts, what it refuses, and the reasons it gives."""

import pytest

from netinspect.core.errors import BadInput
from netinspect.core import subnet as core
from netinspect.core.subnet import AddressSyntaxError, Subnet


@pytest.mark.parametrize("args, expected", [
    (("192.168.12.84/24",), Subnet(4, 0xC0A80C54, 24)),
    (("192.168.12.84/255.255.255.0",), Subnet(4, 0xC0A80C54, 24)),
    (("192.168.12.84", "255.255.255.0"), Subnet(4, 0xC0A80C54, 24)),
    (("192.168.12.84 255.255.255.0",), Subnet(4, 0xC0A80C54, 24)),
    (("192.168.12.84", "24"), Subnet(4, 0xC0A80C54, 24)),
    (("192.168.12.84", "/24"), Subnet(4, 0xC0A80C54, 24)),
    (("192.168.12.84",), Subnet(4, 0xC0A80C54, 32)),
    (("0.0.0.0/0",), Subnet(4, 0, 0)),
    (("10.0.0.1/0.0.0.0",), Subnet(4, 0x0A000001, 0)),
    (("10.0.0.1/255.255.255.255",), Subnet(4, 0x0A000001, 32)),
    (("2001:db8::1/64",), Subnet(6, 0x20010DB8 << 96 | 1, 64)),
    (("2001:DB8::1/64",), Subnet(6, 0x20010DB8 << 96 | 1, 64)),
    (("::1",), Subnet(6, 1, 128)),
    (("::",), Subnet(6, 0, 128)),
    (("::/0",), Subnet(6, 0, 0)),
    (("::ffff:192.0.2.1/120",), Subnet(6, 0xFFFF << 32 | 0xC0000201, 120)),
    (("1:2:3:4:5:6:7::",), Subnet(6, 0x0001000200030004000500060007 << 16, 128)),
])
def test_accepted_forms(args, expected):
    assert core.parse_subnet(*args) == expected


@pytest.mark.parametrize("text, reason", [
    ("1.2.3.4/33", "beyond /32"),
    ("::1/129", "beyond /128"),
    ("1.2.3.4/-1", "sign"),
    ("1.2.3.4/ 24", "space"),
    ("300.1.1.1", "above 255"),
    ("1.2.3/24", "short form"),
    ("1.2.3.4.5", "5 parts"),
    ("010.1.1.1", "leading zero"),
    ("127.1", "127.0.0.1"),
    ("0x7f.1.1.1", "127.1.1.1"),
    ("2130706433", "127.0.0.1"),
    ("1.2.3.4/255.0.255.0", "not contiguous"),
    ("1.2.3.4/0.0.0.255", "wildcard"),
    ("\uff11\uff19\uff12.168.1.1", "FULLWIDTH DIGIT ONE"),
    ("\u0661.2.3.4", "ARABIC-INDIC DIGIT ONE"),
    ("", "empty"),
    ("   ", "whitespace"),
    ("1.2.3.4\x00", "NUL"),
    ("1.2.3.4/24/8", "'/' signs"),
    ("2001:db8:::1", "':::'"),
    ("1::2::3", "only once"),
    ("fe80::1%eth0/64", "zone index"),
    ("[::1]", "brackets"),
    ("12345::", "more than 4 hex digits"),
    ("1:2:3:4:5:6:7:8:9", "9 groups"),
    ("1.2.3.4/024", "leading zero"),
    ("1.2.3.4/", "missing prefix"),
    ("/24", "missing address"),
    ("1.2.3.4/1_6", "not a number"),
    ("localhost", "host names"),
    ("::1/255.255.255.0", "prefix length /0 to /128"),
])
def test_rejected_with_reason(text, reason):
    with pytest.raises(BadInput) as caught:
        core.parse_subnet(text)
    message = caught.value.message
    assert reason in message
    assert "accepted:" in message
    assert "\n" not in message


def test_mask_as_second_word_is_checked_too():
    with pytest.raises(BadInput, match="not contiguous"):
        core.parse_subnet("10.0.0.1", "255.0.255.0")
    with pytest.raises(BadInput, match="both a '/' prefix and a separate mask"):
        core.parse_subnet("10.0.0.1/8", "255.0.0.0")


def test_control_and_invisible_characters_are_escaped_in_messages():
    with pytest.raises(BadInput) as caught:
        core.parse_subnet("1.2.3.4\u202e/24")
    assert "\u202e" not in caught.value.message
    assert "\\u202e" in caught.value.message


def test_inet_aton_reading_of_ambiguous_forms():
    assert core.inet_aton_reading("127.1") == 0x7F000001
    assert core.inet_aton_reading("010.1.1.1") == 0x08010101
    assert core.inet_aton_reading("0x7f.1") == 0x7F000001
    assert core.inet_aton_reading("2130706433") == 0x7F000001
    assert core.inet_aton_reading("1.2.3.4.5") is None
    assert core.inet_aton_reading("08.1.1.1") is None  # 8 is not an octal digit


def test_python_int_would_accept_what_we_refuse():
    # The reason the parser checks ASCII itself: int() reads these happily.
    assert int("\u0661\u0662") == 12 and int("1_0") == 10
    for text in ("\u0661.1.1.1", "1_0.1.1.1", "1.1.1.1/2_4"):
        with pytest.raises(AddressSyntaxError):
            core.parse_network_text(text)


def test_address_role():
    assert core.parse_subnet("192.168.12.0/24").address_role == "network"
    assert core.parse_subnet("192.168.12.255/24").address_role == "broadcast"
    assert core.parse_subnet("192.168.12.84/24").address_role == "host"
    assert core.parse_subnet("10.0.0.0/31").address_role == "point-to-point"
    assert core.parse_subnet("10.0.0.1/32").address_role == "single-host"
    assert core.parse_subnet("2001:db8::/64").address_role == "subnet-router-anycast"
    assert core.parse_subnet("2001:db8::ffff/112").address_role == "host"  # no broadcast in IPv6


def test_legacy_class_boundaries():
    for text, cls in [("0.0.0.0", "A"), ("127.255.255.255", "A"), ("128.0.0.0", "B"), ("191.255.0.1", "B"),
                      ("192.0.0.1", "C"), ("223.255.255.255", "C"), ("224.0.0.1", "D"), ("239.1.1.1", "D"),
                      ("240.0.0.1", "E"), ("255.255.255.255", "E")]:
        assert core.parse_subnet(text).legacy_class == cls
    assert core.parse_subnet("::1").legacy_class is None


def test_usable_hosts_edges():
    assert core.usable_hosts(4, 32) == 1
    assert core.usable_hosts(4, 31) == 2
    assert core.usable_hosts(4, 30) == 2
    assert core.usable_hosts(4, 24) == 254
    assert core.usable_hosts(6, 128) == 1
    assert core.usable_hosts(6, 127) == 2
    assert core.usable_hosts(6, 64) == 2**64 - 1
    assert core.prefix_for_hosts(4, 50) == 26
    assert core.prefix_for_hosts(4, 2**32) is None
