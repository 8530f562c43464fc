"""Subnet arithmetic checked against the standard library's ipaddress as an oracle.

ipaddress is trusted here for arithmetic only (network, masks, host ranges, splitting,
summarising), never for classification (is_private and friends change between
patch releases; netinspect keeps its own table).
"""

import ipaddress
import socket

from hypothesis import given, settings, strategies as st

from netinspect.core.errors import BadInput
from netinspect.core import subnet as core
from netinspect.core.subnet import Subnet

v4_value = st.integers(0, 2**32 - 1)
v6_value = st.integers(0, 2**128 - 1)
v4_subnet = st.builds(lambda a, p: Subnet(4, a, p), v4_value, st.integers(0, 32))
v6_subnet = st.builds(lambda a, p: Subnet(6, a, p), v6_value, st.integers(0, 128))
any_subnet = st.one_of(v4_subnet, v6_subnet)


def oracle(s: Subnet):
    return ipaddress.ip_network((s.address, s.prefixlen) if s.version == 4 else
                                (ipaddress.IPv6Address(s.address), s.prefixlen), strict=False)


@given(any_subnet)
def test_network_masks_and_last_address_match_ipaddress(s):
    net = oracle(s)
    assert s.network == int(net.network_address)
    assert s.netmask == int(net.netmask)
    assert s.hostmask == int(net.hostmask)
    assert s.last_address == int(net.broadcast_address)
    assert s.num_addresses == net.num_addresses
    assert s.network_text == str(net) or s.version == 6 and s.network >> 32 == 0xFFFF


@given(any_subnet)
def test_and_or_identities(s):
    assert s.network == s.address & s.netmask
    assert s.last_address == s.network | (~s.netmask & s.all_ones)
    assert s.netmask & s.hostmask == 0
    assert s.netmask | s.hostmask == s.all_ones
    assert s.network & s.hostmask == 0
    assert s.network <= s.address <= s.last_address
    assert bin(s.netmask).count("1") == s.prefixlen


@given(st.one_of(st.builds(lambda a, p: Subnet(4, a, p), v4_value, st.integers(22, 32)),
                 st.builds(lambda a, p: Subnet(6, a, p), v6_value, st.integers(118, 128))))
def test_host_range_and_count_match_ipaddress_hosts(s):
    hosts = list(oracle(s).hosts())
    assert s.usable_hosts == len(hosts)
    assert s.first_host == int(hosts[0])
    assert s.last_host == int(hosts[-1])
    if s.version == 4 and s.prefixlen <= 30:
        assert s.broadcast == s.last_address
    else:
        assert s.broadcast is None


@given(any_subnet, st.integers(0, 6))
def test_split_children_cover_parent_exactly(s, extra):
    new = min(s.bits, s.prefixlen + extra)
    children = list(s.split(new))
    assert len(children) == s.split_count(new) == 2 ** (new - s.prefixlen)
    assert children[0].network == s.network
    assert children[-1].last_address == s.last_address
    for left, right in zip(children, children[1:]):
        assert left.last_address + 1 == right.network
    assert [c.network_text for c in children] == [str(n) for n in oracle(s).subnets(new_prefix=new)] \
        or s.version == 6


@given(any_subnet, st.integers(0, 20), st.integers(1, 20))
def test_split_window_is_a_slice_of_the_whole(s, start, limit):
    new = min(s.bits, s.prefixlen + 5)
    whole = list(s.split(new))
    assert list(s.split(new, start=start, limit=limit)) == whole[start:start + limit]


@given(any_subnet, st.one_of(v4_value, v6_value))
def test_contains_matches_integer_range_and_ipaddress(s, value):
    version = 4 if value < 2**32 and s.version == 4 else 6
    inside = s.network <= value <= s.last_address and version == s.version
    assert s.contains_address(version, value) == inside
    address = ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)
    assert inside == (address in oracle(s))


@given(any_subnet, any_subnet)
def test_contains_subnet_matches_subnet_of(a, b):
    expected = a.version == b.version and oracle(b).subnet_of(oracle(a))
    assert a.contains_subnet(b) == expected


@given(st.sampled_from([4, 6]), st.integers(1, 2**40))
def test_prefix_for_hosts_is_the_smallest_that_fits(version, k):
    p = core.prefix_for_hosts(version, k)
    if p is None:  # more than the whole address space holds
        assert k > core.usable_hosts(version, 0)
        return
    assert core.usable_hosts(version, p) >= k
    if p < core.BITS[version]:
        assert core.usable_hosts(version, p + 1) < k


@given(v4_value)
def test_ipv4_text_round_trip(value):
    text = core.format_ipv4(value)
    assert text == str(ipaddress.IPv4Address(value))
    assert core.parse_address_text(text) == (4, value)


@given(v6_value)
def test_ipv6_text_round_trip(value):
    text = core.format_ipv6(value)
    if value >> 32 != 0xFFFF:  # IPv4-mapped text differs between Python versions
        assert text == str(ipaddress.IPv6Address(value))
    assert core.format_ipv6_exploded(value) == ipaddress.IPv6Address(value).exploded
    assert core.parse_address_text(text) == (6, value)
    assert core.parse_address_text(core.format_ipv6_exploded(value)) == (6, value)
    assert core.parse_address_text(core.format_ipv6_exploded(value).upper()) == (6, value)


@given(st.text(alphabet="0123456789abcdefx.:/% ", max_size=45))
@settings(max_examples=3000)
def test_whatever_we_accept_ipaddress_reads_the_same(text):
    try:
        ours = core.parse_subnet(text)
    except BadInput as error:
        assert "\n" not in error.message
        return
    theirs = ipaddress.ip_interface(" ".join(text.split()).replace(" ", "/"))
    assert ours.address == int(theirs.ip)
    assert ours.prefixlen == theirs.network.prefixlen


@given(st.text(max_size=40))
@settings(max_examples=2000)
def test_any_text_gives_a_subnet_or_one_line_bad_input(text):
    try:
        core.parse_subnet(text)
    except BadInput as error:
        assert "\n" not in error.message and "\x00" not in error.message


@given(st.text(alphabet="0123456789x.", min_size=1, max_size=20))
@settings(max_examples=2000)
def test_inet_aton_reading_matches_the_c_library(text):
    ours = core.inet_aton_reading(text)
    if ours is None:
        return
    assert ours == int.from_bytes(socket.inet_aton(text), "big")


@given(st.sampled_from([4, 6]), st.data())
def test_range_to_subnets_matches_summarize_address_range(version, data):
    top = 2**32 - 1 if version == 4 else 2**128 - 1
    first = data.draw(st.integers(0, top))
    last = data.draw(st.integers(first, min(top, first + data.draw(st.sampled_from([10, 2**20, 2**40, top])))))
    ip = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    expected = [(int(n.network_address), n.prefixlen) for n in ipaddress.summarize_address_range(ip(first), ip(last))]
    assert [(s.network, s.prefixlen) for s in core.range_to_subnets(version, first, last)] == expected


@given(st.lists(st.builds(lambda a, p: Subnet(4, a, p), v4_value, st.integers(8, 32)), min_size=1, max_size=8))
def test_supernet_is_the_smallest_cover_and_summary_matches_collapse(nets):
    result = core.supernet_of(nets)
    sup = result.supernet
    for n in nets:
        assert sup.contains_subnet(n.as_network())
    if sup.prefixlen < 32:  # one bit longer no longer covers everything
        halves = list(sup.split(sup.prefixlen + 1))
        assert not any(all(h.contains_subnet(n.as_network()) for n in nets) for h in halves)
    collapsed = list(ipaddress.collapse_addresses(oracle(n) for n in nets))
    assert [s.network_text for s in result.summary()] == [str(c) for c in collapsed]
    assert result.exact == (len(collapsed) == 1 and str(collapsed[0]) == sup.network_text)
    gaps = result.gaps()
    assert result.covered_addresses + sum(g.num_addresses for g in gaps) == sup.num_addresses
    for g in gaps:
        assert not any(g.contains_subnet(n.as_network()) or n.as_network().contains_subnet(g) for n in nets)


@given(st.lists(st.builds(lambda a, p: Subnet(6, a, p), v6_value, st.integers(32, 128)), min_size=1, max_size=6))
def test_ipv6_supernet_covers_and_collapses_like_ipaddress(nets):
    result = core.supernet_of(nets)
    for n in nets:
        assert result.supernet.contains_subnet(n.as_network())
    collapsed = list(ipaddress.collapse_addresses(oracle(n) for n in nets))
    assert [(s.network, s.prefixlen) for s in result.summary()] == \
        [(int(c.network_address), c.prefixlen) for c in collapsed]
