"""The interface reader against iproute2 on this machine (the namespace cases are in
tests/cli/test_iface.py, where the values are known in advance)."""

import json
import subprocess


from netinspect.adapters import interfaces
from tests.conftest import need_tool


def _ip(*argv):
    need_tool("ip")
    return json.loads(subprocess.run(["ip", "-j", *argv], capture_output=True, text=True, check=True, timeout=10).stdout or "[]")


def _addr_key(entry):
    return (entry["family"], entry["local"], entry["prefixlen"], entry.get("broadcast"), entry["scope"])


def _link_facts(entries):
    """What the comparison looks at (address lifetimes tick, so they are left out)."""
    return {i["ifname"]: (i["ifindex"], i["mtu"], i["operstate"], i.get("address"), sorted(i["flags"]),
                          sorted(map(_addr_key, i["addr_info"]))) for i in entries}


def _stable_snapshot(attempts=5):
    """Our reading between two equal readings of `ip addr`: the machine is shared, and an
    interface coming or going, or a capture switching lo to promiscuous, between the two
    reads would otherwise look like a disagreement. Bounded; fails if it never settles."""
    for _ in range(attempts):
        before = _ip("addr", "show")
        ours = {i.ifname: i.as_json() for i in interfaces.list_interfaces()}
        after = _ip("addr", "show")
        if _link_facts(before) == _link_facts(after):
            return ours, {i["ifname"]: i for i in after}
    raise AssertionError(f"interfaces kept changing during {attempts} readings of ip addr")


def test_every_interface_matches_ip_addr():
    ours, theirs = _stable_snapshot()
    assert sorted(ours) == sorted(theirs)
    for name, reference in theirs.items():
        mine = ours[name]
        assert mine["ifindex"] == reference["ifindex"]
        assert mine["mtu"] == reference["mtu"]
        assert mine["operstate"] == reference["operstate"]
        assert mine["address"] == reference.get("address")
        assert set(mine["flags"]) <= set(reference["flags"])
        assert sorted(map(_addr_key, mine["addr_info"])) == sorted(map(_addr_key, reference["addr_info"]))


def test_netmask_agrees_with_prefixlen():
    import ipaddress

    for iface in interfaces.list_interfaces():
        for addr in iface.addr_info:
            mask = ipaddress.ip_address(addr.netmask)
            width = mask.max_prefixlen
            # a netmask is prefixlen one-bits followed by zero-bits
            assert int(mask) == ((1 << addr.prefixlen) - 1) << (width - addr.prefixlen)


def test_default_gateways_match_ip_route_and_proc():
    expected = []
    for family, argv in (("inet", ("route",)), ("inet6", ("-6", "route"))):
        for route in _ip(*argv):
            if route.get("dst") == "default" and "gateway" in route:
                expected.append((family, route["gateway"], route["dev"]))
    got = [(g.family, g.gateway, g.dev) for g in interfaces.default_gateways()]
    from_proc = [(g.family, g.gateway, g.dev) for g in interfaces.proc_default_gateways()]
    assert sorted(got) == sorted(expected)
    assert sorted(from_proc) == sorted(expected)


def test_one_interface_by_name():
    assert [i.ifname for i in interfaces.list_interfaces("lo")] == ["lo"]
    assert interfaces.list_interfaces("ni-absent0") == []


def test_no_scapy_or_psutil_import():
    code = "import sys; from netinspect.adapters import interfaces; interfaces.list_interfaces(); " \
           "interfaces.default_gateways(); print('scapy' in sys.modules, 'psutil' in sys.modules)"
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.split() == ["False", "False"]
