"""`iface` against iproute2 inside a namespace with known addresses, MACs and MTU."""

import json
import sys

import pytest

from tests.lab.netns import sh

KNOWN_FLAGS = {"UP", "BROADCAST", "LOOPBACK", "POINTOPOINT", "NOARP", "PROMISC", "ALLMULTI", "MULTICAST", "LOWER_UP"}


def _addr_key(entry):
    return (entry["family"], entry["local"], entry["prefixlen"], entry.get("broadcast"), entry["scope"],
            entry.get("address"))


@pytest.fixture
def iface_lab(lab_pair):
    """Host a of the pair, made interesting: MTU 1400, a second IPv4 address with a
    broadcast, a labelled alias, and a second veth pair left down."""
    a, _b = lab_pair
    ns = a.netns
    sh("ip", "-n", ns, "link", "set", a.ifname, "mtu", "1400")
    sh("ip", "-n", ns, "addr", "add", "10.77.250.5/28", "brd", "+", "dev", a.ifname)
    sh("ip", "-n", ns, "addr", "add", "10.77.251.9/24", "brd", "+", "dev", a.ifname, "label", f"{a.ifname}:7")
    sh("ip", "-n", ns, "link", "add", "ni-d0", "type", "veth", "peer", "name", "ni-d1")
    sh("ip", "-n", ns, "addr", "add", "10.77.252.1/30", "dev", "ni-d0")
    return lab_pair


def _netinspect(host, *argv):
    return host.run(sys.executable, "-m", "netinspect", *argv, check=False, timeout=60)


def test_json_agrees_with_ip_addr_and_ip_route_field_by_field(iface_lab):
    a, b = iface_lab
    result = _netinspect(a, "iface", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1 and doc["kind"] == "iface"
    ours = {i["ifname"]: i for i in doc["interfaces"]}
    theirs = {i["ifname"]: i for i in a.ip_json("addr", "show")}
    assert sorted(ours) == sorted(theirs) == sorted(["lo", a.ifname, "ni-d0", "ni-d1"])
    assert [i["ifindex"] for i in doc["interfaces"]] == sorted(i["ifindex"] for i in theirs.values())
    for name, reference in theirs.items():
        mine = ours[name]
        for key in ("ifindex", "mtu", "operstate", "address"):
            assert mine[key] == reference[key], (name, key)
        assert set(mine["flags"]) == set(reference["flags"]) & KNOWN_FLAGS, name
        assert sorted(map(_addr_key, mine["addr_info"])) == sorted(map(_addr_key, reference["addr_info"])), name
    # The values the lab set, not only agreement with ip.
    veth = ours[a.ifname]
    assert veth["mtu"] == 1400 and veth["address"] == a.mac and veth["operstate"] == "UP"
    by_local = {x["local"]: x for x in veth["addr_info"]}
    assert by_local[a.ip4]["prefixlen"] == 24 and by_local[a.ip4]["netmask"] == "255.255.255.0"
    assert "broadcast" not in by_local[a.ip4]          # the lab adds it without `brd`
    assert by_local["10.77.250.5"]["netmask"] == "255.255.255.240"
    assert by_local["10.77.250.5"]["broadcast"] == "10.77.250.15"
    assert by_local["10.77.251.9"]["label"] == f"{a.ifname}:7"
    assert by_local[a.ip6]["scope"] == "global" and by_local[a.ip6]["prefixlen"] == 64
    assert any(x["scope"] == "link" and x["local"].startswith("fe80:") for x in veth["addr_info"])
    assert ours["ni-d0"]["operstate"] == "DOWN"
    assert ours["lo"]["addr_info"][0]["scope"] == "host"
    # Default gateways: each family, with the interface that reaches it.
    expected = []
    for family, argv in (("inet", ("route",)), ("inet6", ("-6", "route"))):
        expected += [{"family": family, "gateway": r["gateway"], "dev": r["dev"]}
                     for r in a.ip_json(*argv) if r.get("dst") == "default" and "gateway" in r]
    assert sorted(doc["gateways"], key=str) == sorted(expected, key=str)
    assert {g["gateway"] for g in doc["gateways"]} == {b.ip4, b.ip6}


def test_text_shows_dotted_mask_next_to_prefix_and_gateways(iface_lab):
    a, b = iface_lab
    result = _netinspect(a, "iface", a.ifname)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == [a.ifname, "UP"] and "mtu 1400" in lines[0] and a.mac in lines[0]
    row = next(line for line in lines if f"{a.ip4}/24" in line)
    assert row.split()[:3] == ["inet", f"{a.ip4}/24", "255.255.255.0"]
    row = next(line for line in lines if "10.77.250.5/28" in line)
    assert row.split()[2:4] == ["255.255.255.240", "10.77.250.15"]
    assert f"IPv4  {b.ip4}  via {a.ifname}" in result.stdout
    assert f"IPv6  {b.ip6}  via {a.ifname}" in result.stdout
    assert "ni-d0" not in result.stdout


def test_unknown_interface_is_bad_input_naming_it(iface_lab):
    a, _b = iface_lab
    result = _netinspect(a, "iface", "ni-absent")
    assert result.returncode == 2
    assert "ni-absent" in result.stderr and a.ifname in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_in_process_lo(cli):
    result = cli("iface", "lo", "--json")
    assert result.status == 0
    (lo,) = json.loads(result.out)["interfaces"]
    assert lo["ifname"] == "lo" and {"local": "127.0.0.1", "prefixlen": 8}.items() <= lo["addr_info"][0].items()


def test_flags_in_the_order_ip_prints_them(cli):
    # `ip` shows <BROADCAST,MULTICAST,UP,LOWER_UP>; the same words in the same order here.
    theirs = {i["ifname"]: [f for f in i["flags"] if f in KNOWN_FLAGS]
              for i in json.loads(sh("ip", "-j", "addr", "show").stdout)}
    doc = json.loads(cli("iface", "--json").out)
    ours = {i["ifname"]: i["flags"] for i in doc["interfaces"]}
    assert ours == theirs
    text = cli("iface", "lo").out
    assert "flags  " + " ".join(theirs["lo"]) in text
