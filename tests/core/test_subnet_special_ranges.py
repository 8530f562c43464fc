"""netinspect's own special-range table: well-formed, most-specific match, known rows."""

import re

import pytest

from netinspect.core import special_ranges
from netinspect.core.subnet import parse_address_text, parse_network_text


def kind_of(text):
    version, value = parse_address_text(text)
    return special_ranges.classify(version, value)


def test_every_row_is_an_aligned_network_with_an_rfc():
    rows = special_ranges.table()
    assert len(rows) >= 50
    for row in rows:
        bits = 32 if row.version == 4 else 128
        assert row.network & ((1 << (bits - row.prefixlen)) - 1) == 0
        assert re.fullmatch(r"RFC \d{3,4}", row.rfc), row
        assert row.kind and row.label and row.phrase


def test_no_two_rows_cover_the_same_range():
    seen = set()
    for row in special_ranges.table():
        key = (row.version, row.network, row.prefixlen)
        assert key not in seen, row
        seen.add(key)


def test_rows_are_sorted_most_specific_first():
    prefixes = [row.prefixlen for row in special_ranges.table()]
    assert prefixes == sorted(prefixes, reverse=True)


@pytest.mark.parametrize("address, kind, rfc", [
    ("127.0.0.1", "loopback", "RFC 1122"),
    ("127.255.255.254", "loopback", "RFC 1122"),
    ("10.77.0.1", "private-use", "RFC 1918"),
    ("172.16.0.1", "private-use", "RFC 1918"),
    ("172.31.255.255", "private-use", "RFC 1918"),
    ("172.32.0.1", "public", "RFC 791"),
    ("172.15.255.255", "public", "RFC 791"),
    ("192.168.12.84", "private-use", "RFC 1918"),
    ("100.64.0.1", "shared-address-space", "RFC 6598"),
    ("100.127.255.255", "shared-address-space", "RFC 6598"),
    ("100.128.0.0", "public", "RFC 791"),
    ("169.254.1.1", "link-local", "RFC 3927"),
    ("224.0.0.251", "multicast-local-control", "RFC 5771"),
    ("225.1.2.3", "multicast", "RFC 5771"),
    ("239.255.255.250", "multicast-admin-scoped", "RFC 2365"),
    ("192.0.2.7", "documentation", "RFC 5737"),
    ("198.51.100.7", "documentation", "RFC 5737"),
    ("203.0.113.7", "documentation", "RFC 5737"),
    ("198.18.0.1", "benchmarking", "RFC 2544"),
    ("198.19.255.255", "benchmarking", "RFC 2544"),
    ("198.20.0.0", "public", "RFC 791"),
    ("240.0.0.1", "reserved", "RFC 1112"),
    ("255.255.255.254", "reserved", "RFC 1112"),
    ("255.255.255.255", "limited-broadcast", "RFC 919"),
    ("0.1.2.3", "this-network", "RFC 791"),
    ("0.0.0.0", "unspecified", "RFC 1122"),
    ("192.0.0.1", "ipv4-service-continuity", "RFC 7335"),
    ("192.0.0.9", "pcp-anycast", "RFC 7723"),
    ("192.0.0.100", "ietf-protocol-assignments", "RFC 6890"),
    ("8.8.8.8", "public", "RFC 791"),
    ("::1", "loopback", "RFC 4291"),
    ("::", "unspecified", "RFC 4291"),
    ("::ffff:10.0.0.1", "ipv4-mapped", "RFC 4291"),
    ("64:ff9b::192.0.2.1", "ipv4-ipv6-translation", "RFC 6052"),
    ("2001:db8::1", "documentation", "RFC 3849"),
    ("3fff::1", "documentation", "RFC 9637"),
    ("fd77::1", "unique-local", "RFC 4193"),
    ("fc00::1", "unique-local", "RFC 4193"),
    ("fe80::1", "link-local", "RFC 4291"),
    ("febf::1", "link-local", "RFC 4291"),
    ("fec0::1", "site-local", "RFC 3879"),
    ("ff02::1", "multicast-all-nodes", "RFC 4291"),
    ("ff02::1:ff12:3456", "multicast-solicited-node", "RFC 4291"),
    ("ff0e::101", "multicast", "RFC 4291"),
    ("2001::1", "teredo", "RFC 4380"),
    ("2001:2::1", "benchmarking", "RFC 5180"),
    ("2001:100::1", "ietf-protocol-assignments", "RFC 2928"),
    ("2002:c000:201::1", "6to4", "RFC 3056"),
    ("2a00:1450::1", "global-unicast", "RFC 4291"),
    ("4000::1", "ietf-reserved", "RFC 4291"),
])
def test_known_addresses(address, kind, rfc):
    row = kind_of(address)
    assert (row.kind, row.rfc) == (kind, rfc)


def test_multicast_scope_comes_from_the_fourth_hex_digit():
    for text, scope in [("ff01::1", "interface-local"), ("ff02::1", "link-local"), ("ff05::2", "site-local"),
                        ("ff08::1", "organization-local"), ("ff0e::1", "global"), ("ff12::1", "link-local")]:
        assert special_ranges.multicast_scope_v6(parse_address_text(text)[1]) == scope
    assert special_ranges.multicast_scope_v6(parse_address_text("fe80::1")[1]) is None


def test_inside_lists_ranges_within_a_network():
    net = parse_network_text("172.0.0.0/8")
    rows = special_ranges.inside(4, net.network, net.prefixlen)
    assert [(r.kind, r.prefixlen) for r in rows] == [("private-use", 12)]
    net = parse_network_text("192.168.12.0/24")
    assert special_ranges.inside(4, net.network, net.prefixlen) == []
