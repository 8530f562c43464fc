"""The OSI / TCP-IP placement table."""

import pytest

from netinspect.core import osi


@pytest.mark.parametrize("protocol,osi_layer,tcpip_name", [
    ("Ethernet", 2, "Data Link"),
    ("802.1Q", 2, "Data Link"),
    ("ARP", 2, "Data Link"),
    ("IPv4", 3, "Network"),
    ("IPv6", 3, "Network"),
    ("ICMP", 3, "Network"),
    ("ICMPv6", 3, "Network"),
    ("TCP", 4, "Transport"),
    ("UDP", 4, "Transport"),
    ("TLS", 6, "Application"),
    ("NetBIOS", 5, "Application"),
    ("DNS", 7, "Application"),
    ("HTTP", 7, "Application"),
])
def test_placements(protocol, osi_layer, tcpip_name):
    p = osi.placement(protocol)
    assert p.osi == osi_layer
    assert p.tcpip_name == tcpip_name
    assert p.osi_name == osi.OSI_LAYERS[osi_layer]


def test_every_row_is_consistent():
    for name, p in osi.PLACEMENTS.items():
        assert p.protocol == name
        assert 1 <= p.osi <= 7
        assert p.tcpip == osi.OSI_TO_TCPIP[p.osi]
        assert p.meaning and "\n" not in p.meaning
        assert set(p.as_dict()) == {"protocol", "osi_layer", "osi_name", "tcpip_layer", "tcpip_name", "meaning"}


def test_models_fold_session_and_presentation_into_application():
    assert [osi.OSI_TO_TCPIP[n] for n in range(1, 8)] == [1, 2, 3, 4, 5, 5, 5]
    assert len(osi.OSI_LAYERS) == 7 and len(osi.TCPIP_LAYERS) == 5


def test_unknown_protocol_and_field():
    assert osi.placement("Carrier pigeon") is None
    assert osi.field_meaning("IPv4", "ttl").startswith("time to live")
    assert osi.field_meaning("IPv4", "nonsense") == ""
    assert all(proto in osi.PLACEMENTS for proto, _ in osi.FIELD_MEANINGS)
