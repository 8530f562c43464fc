"""Cast at layer 2 (I/G bit) and layer 3 (IPv4 broadcast/multicast, IPv6 multicast scope)."""

import ipaddress

import pytest
from hypothesis import given, strategies as st

from netinspect.core import cast


@pytest.mark.parametrize("mac,kind", [
    ("ff:ff:ff:ff:ff:ff", "broadcast"),
    ("FF-FF-FF-FF-FF-FF", "broadcast"),
    ("01:00:5e:01:02:03", "multicast"),
    ("33:33:00:00:00:01", "multicast"),
    ("01:80:c2:00:00:0e", "multicast"),
    ("03:00:00:00:00:00", "multicast"),      # I/G set, U/L set
    ("02:77:00:03:00:01", "unicast"),        # U/L set, I/G clear: still unicast
    ("00:1a:2b:3c:4d:5e", "unicast"),
    ("fe:ff:ff:ff:ff:ff", "unicast"),        # all ones except the I/G bit
    (b"\xff" * 6, "broadcast"),
])
def test_l2_cast(mac, kind):
    assert cast.l2_cast(mac).kind == kind


def test_l2_group_names():
    assert "IPv4 multicast" in cast.l2_cast("01:00:5e:7f:00:01").group
    assert "IPv6 multicast" in cast.l2_cast("33:33:ff:00:00:02").group
    assert cast.l2_cast("01:80:c2:00:00:0e").group == "LLDP"


@given(st.binary(min_size=6, max_size=6))
def test_l2_cast_is_the_ig_bit(raw):
    result = cast.l2_cast(raw)
    if raw == b"\xff" * 6:
        assert result.kind == "broadcast"
    else:
        assert (result.kind == "multicast") == bool(raw[0] & 1)
    assert cast.ig_bit(raw) == raw[0] & 1
    assert cast.ul_bit(raw) == (raw[0] >> 1) & 1


@pytest.mark.parametrize("bad", ["", "ff:ff", "gg:00:00:00:00:00", "00:00:00:00:00:00:00", b"\x00" * 5])
def test_bad_mac_is_value_error(bad):
    with pytest.raises(ValueError):
        cast.l2_cast(bad)


@pytest.mark.parametrize("ip,subnet,kind,scope", [
    ("255.255.255.255", None, "broadcast", "limited"),
    ("10.77.3.255", "10.77.3.0/24", "broadcast", "directed"),
    ("10.77.3.255", None, "unicast", ""),          # without the subnet it cannot be known
    ("10.77.3.255", "10.77.0.0/16", "unicast", ""),
    ("10.77.255.255", "10.77.3.9/16", "broadcast", "directed"),
    ("10.77.3.1", "10.77.3.0/31", "unicast", ""),  # /31 has no broadcast (RFC 3021)
    ("224.0.0.251", None, "multicast", "link-local (224.0.0.0/24, TTL 1, never routed)"),
    ("239.1.2.3", None, "multicast", "administratively scoped (239.0.0.0/8, organization-local)"),
    ("232.1.1.1", None, "multicast", "source-specific (232.0.0.0/8)"),
    ("233.1.1.1", None, "multicast", "global"),
    ("192.0.2.1", None, "unicast", ""),
    ("ff02::1", None, "multicast", "link-local"),
    ("ff05::1:3", None, "multicast", "site-local"),
    ("ff0e::101", None, "multicast", "global"),
    ("ff01::1", None, "multicast", "interface-local"),
    ("fd77::2", None, "unicast", ""),
    ("fe80::1", None, "unicast", ""),
])
def test_l3_cast(ip, subnet, kind, scope):
    result = cast.l3_cast(ip, subnet)
    assert (result.kind, result.scope) == (kind, scope)


def test_l3_groups_are_named():
    assert cast.l3_cast("224.0.0.251").group == "mDNS"
    assert cast.l3_cast("ff02::1").group == "all nodes"
    assert cast.l3_cast("239.9.9.9").group == "239.9.9.9"
    assert "solicited-node" in cast.l3_cast("ff02::1:ff00:2").group
    assert "00:0002" in cast.l3_cast("ff02::1:ff00:2").group


@given(st.integers(min_value=int(ipaddress.IPv4Address("224.0.0.0")), max_value=int(ipaddress.IPv4Address("239.255.255.255"))))
def test_ipv4_multicast_mac_mapping(value):
    ip = str(ipaddress.IPv4Address(value))
    mac = cast.multicast_mac(ip)
    assert mac.startswith("01:00:5e:")
    assert int(mac.replace(":", ""), 16) & 0x7FFFFF == value & 0x7FFFFF
    assert cast.l2_cast(mac).kind == "multicast"
    assert cast.consistency(cast.l2_cast(mac), cast.l3_cast(ip)) == ""


def test_ipv6_multicast_mac_mapping():
    assert cast.multicast_mac("ff02::1") == "33:33:00:00:00:01"
    assert cast.multicast_mac("ff02::1:ff00:2") == "33:33:ff:00:00:02"
    with pytest.raises(ValueError):
        cast.multicast_mac("10.0.0.1")


def test_consistency_flags_mismatch():
    wrong = cast.consistency(cast.l2_cast("01:00:5e:00:00:01"), cast.l3_cast("239.1.2.3"))
    assert "01:00:5e:01:02:03" in wrong
    assert cast.consistency(cast.l2_cast("02:00:00:00:00:01"), cast.l3_cast("255.255.255.255"))
    assert cast.consistency(cast.l2_cast("ff:ff:ff:ff:ff:ff"), cast.l3_cast("10.0.0.1"))
    assert cast.consistency(cast.l2_cast("ff:ff:ff:ff:ff:ff"), cast.l3_cast("255.255.255.255")) == ""


def test_sll_packet_types():
    assert cast.l2_cast_from_sll(1).kind == "broadcast"
    assert cast.l2_cast_from_sll(2).kind == "multicast"
    assert cast.l2_cast_from_sll(0).kind == "unicast"
    assert cast.l2_cast_from_sll(4) is None


def test_summary_counts():
    summary = cast.summarize([
        ("ff:ff:ff:ff:ff:ff", "255.255.255.255"),
        ("ff:ff:ff:ff:ff:ff", None),               # ARP request: no layer 3 cast
        ("01:00:5e:01:02:03", "239.1.2.3"),
        ("02:00:00:00:00:01", "10.0.0.1"),
        ("02:00:00:00:00:01", "10.0.0.2"),
        (None, "10.0.0.3"),                          # raw IP capture: no MAC
    ])
    d = summary.as_dict()
    assert d["frames"] == 6
    assert d["layer2"] == {"unicast": 2, "broadcast": 2, "multicast": 1, "unknown": 1}
    assert d["layer3"] == {"unicast": 3, "broadcast": 1, "multicast": 1}
    assert d["multicast_groups"] == {"239.1.2.3": 1}
