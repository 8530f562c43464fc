"""The subnet screens against golden files (plain text, no colour).

Regenerate after an intended change with NETINSPECT_UPDATE_GOLDEN=1, then read the diff.
"""

import os
import pathlib
import re

import pytest

from netinspect.core.subnet import parse_subnet
from netinspect.render import subnet_view as view

GOLDEN = pathlib.Path(__file__).parent / "golden"
CASES = {
    "subnet_ipv4_24.txt": "192.168.12.84/24",     # the mockup example
    "subnet_ipv4_31.txt": "10.77.0.0/31",
    "subnet_ipv6_64.txt": "2001:db8::1/64",
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("name, text", CASES.items())
def test_overview_matches_golden(name, text):
    rendered = view.overview_text(parse_subnet(text), color=False) + "\n"
    path = GOLDEN / name
    if os.environ.get("NETINSPECT_UPDATE_GOLDEN") == "1":
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8")


def test_mockup_lines_are_present():
    text = view.overview_text(parse_subnet("192.168.12.84/24"))
    assert text.splitlines()[0] == "192.168.12.84/24: a host in the private network 192.168.12.0/24 (RFC 1918)"
    assert re.search(r"^address +192\.168\.12\.84 +11000000\.10101000\.00001100 \| 01010100$", text, re.M)
    assert re.search(r"^mask /24 +255\.255\.255\.0 +11111111\.11111111\.11111111 \| 00000000$", text, re.M)
    assert re.search(r"^address AND mask +192\.168\.12\.0 +11000000\.10101000\.00001100 \| 00000000 +network$",
                     text, re.M)
    assert re.search(r"^network OR NOT mask +192\.168\.12\.255 +11000000\.10101000\.00001100 \| 11111111 +broadcast$",
                     text, re.M)
    assert "0xffffff00" in text and "wildcard 0.0.0.255" in text
    assert "254 usable of 256 addresses" in text
    assert "C (historical classful addressing" in text


@pytest.mark.parametrize("prefix", range(0, 33))
def test_boundary_marker_sits_after_prefix_bits(prefix):
    marked = view.marked_binary(4, 0xFFFFFFFF, prefix)
    left, _, right = marked.partition("|")
    assert left.count("1") == prefix
    assert right.count("1") == 32 - prefix


@pytest.mark.parametrize("prefix", [0, 7, 16, 56, 64, 100, 128])
def test_ipv6_derivation_marks_the_boundary_once(prefix):
    text = view.overview_text(parse_subnet(f"2001:db8:1234:5678:9abc:def0:1234:5678/{prefix}"))
    derivation = text.split("\n\n")[2]
    rows = derivation.splitlines()
    group_rows = [r for r in rows if re.match(r"^\d ", r)]
    assert len(group_rows) == 8
    if prefix % 16 == 0:
        assert sum("network above | host below" in r for r in rows) == 1
        assert not any("|" in r for r in group_rows)
    else:
        marked = [r for r in group_rows if "|" in r]
        assert len(marked) == 1 and marked[0].startswith(str(prefix // 16 + 1))
    # every AND column bit equals address bit AND mask bit
    for r in group_rows:
        cells = r.replace("|", "").split()
        address_bits, mask_bits, and_bits = cells[2], cells[3], cells[4]
        assert and_bits == "".join("1" if a == m == "1" else "0" for a, m in zip(address_bits, mask_bits))


def test_colour_only_adds_escape_codes():
    s = parse_subnet("172.16.5.4/26")
    plain = view.overview_text(s, color=False)
    coloured = view.overview_text(s, color=True)
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain


def test_summary_sentences_for_each_role():
    def first(text):
        return view.overview_text(parse_subnet(text)).splitlines()[0]

    assert first("192.168.12.0/24") == "192.168.12.0/24: the network address of the private network 192.168.12.0/24 (RFC 1918)"
    assert first("192.168.12.255/24").startswith("192.168.12.255/24: the broadcast address of")
    assert "point-to-point link 10.77.0.0/31 (RFC 3021)" in first("10.77.0.1/31")
    assert first("8.8.8.8") == "8.8.8.8/32: a single host, public unicast (no special-purpose range)"
    assert first("224.0.0.251/24").startswith("224.0.0.251/24: an address in the local network control multicast")
    assert "point-to-point link 2001:db8::/127 (RFC 6164)" in first("2001:db8::1/127")


def test_partial_and_inside_ranges_are_noted():
    text = view.overview_text(parse_subnet("192.168.1.1/15"))
    assert "192.168.0.0/15 is larger than the private-use range 192.168.0.0/16" in text
    text = view.overview_text(parse_subnet("172.0.0.1/8"))
    assert "also inside  172.16.0.0/12 private-use (RFC 1918)" in text
