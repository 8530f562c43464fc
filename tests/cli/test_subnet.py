"""`netinspect subnet` end to end, in process: text, JSON, split, hosts, contains, supernet."""

import ipaddress
import json
import pathlib
import re
import subprocess
import sys

import pytest

GOLDEN = pathlib.Path(__file__).parents[1] / "render" / "golden"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def doc(cli, *argv):
    result = cli("subnet", *argv, "--json")
    assert result.status == 0, result.err
    assert result.err == ""
    data = json.loads(result.out)
    assert data["schema_version"] >= 1 and data["kind"] == "subnet"
    return data


def test_mockup_example_matches_golden(cli):
    result = cli("subnet", "192.168.12.84/24")
    assert result.status == 0 and result.err == ""
    assert result.out == (GOLDEN / "subnet_ipv4_24.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("argv", [["192.168.12.84/255.255.255.0"], ["192.168.12.84", "255.255.255.0"],
                                  ["192.168.12.84 255.255.255.0"], ["192.168.12.84", "24"]])
def test_every_accepted_form_gives_the_same_screen(cli, argv):
    assert cli("subnet", *argv).out == cli("subnet", "192.168.12.84/24").out


def test_ipv6_and_31_match_golden(cli):
    assert cli("subnet", "2001:db8::1/64").out == (GOLDEN / "subnet_ipv6_64.txt").read_text(encoding="utf-8")
    assert cli("subnet", "10.77.0.0/31").out == (GOLDEN / "subnet_ipv4_31.txt").read_text(encoding="utf-8")


def test_json_fields_agree_with_ipaddress(cli):
    for text in ["192.168.12.84/24", "10.77.3.9/20", "100.64.1.1/10", "8.8.8.8", "2001:db8::1/64", "fe80::1/10"]:
        data = doc(cli, text)
        net = ipaddress.ip_interface(text).network
        assert data["network"] == str(net.network_address)
        assert data["prefixlen"] == net.prefixlen
        assert data["netmask"] == str(net.netmask)
        assert data["hostmask"] == data["wildcard"] == str(net.hostmask)
        assert data["num_addresses"] == net.num_addresses
        assert data["last_address"] == str(net.broadcast_address)
        assert data["mode"] == "overview"
        assert data["summary"] and data["kind_rfc"].startswith("RFC ")


def test_json_for_the_mockup_example(cli):
    data = doc(cli, "192.168.12.84/24")
    assert data["broadcast"] == "192.168.12.255"
    assert (data["first_host"], data["last_host"]) == ("192.168.12.1", "192.168.12.254")
    assert data["usable_hosts"] == 254
    assert data["netmask_hex"] == "0xffffff00"
    assert data["class"] == "C"
    assert (data["address_kind"], data["kind_rfc"], data["kind_range"]) == ("private-use", "RFC 1918", "192.168.0.0/16")
    assert data["address_role"] == "host"
    assert data["binary"]["address"] == "11000000.10101000.00001100.01010100"
    assert data["binary"]["netmask"] == "11111111.11111111.11111111.00000000"
    assert data["binary"]["network"] == "11000000.10101000.00001100.00000000"


def test_31_and_32_are_stated(cli):
    text = cli("subnet", "10.77.0.1/31").out
    assert "2 usable of 2 addresses" in text and "RFC 3021" in text
    assert "broadcast    none: a /31 has no broadcast address" in text
    assert doc(cli, "10.77.0.1/31")["broadcast"] is None
    text = cli("subnet", "10.77.0.1").out
    assert text.startswith("10.77.0.1/32: a single host")
    assert "1 usable of 1 address" in text
    data = doc(cli, "10.77.0.1")
    assert (data["prefixlen"], data["usable_hosts"], data["broadcast"], data["address_role"]) == (32, 1, None, "single-host")


def test_ipv6_screen(cli):
    text = cli("subnet", "2001:db8::1/64").out
    assert "exploded     2001:0db8:0000:0000:0000:0000:0000:0001/64" in text
    assert "2^64 = 18,446,744,073,709,551,616" in text
    assert "IPv6 has no broadcast" in text
    data = doc(cli, "2001:db8::1/64")
    assert data["broadcast"] is None and data["num_addresses"] == 2**64
    assert data["num_addresses_power_of_two"] == 64
    assert data["address_exploded"] == "2001:0db8:0000:0000:0000:0000:0000:0001"
    assert doc(cli, "::1")["prefixlen"] == 128


@pytest.mark.parametrize("cidr, words", [
    ("2001:db8::/127", "127 network bits, 1 host bit"),
    ("8000::/1", "1 network bit, 127 host bits"),
    ("2001:db8::1/128", "128 network bits, 0 host bits"),
])
def test_ipv6_bit_counts_are_singular_for_one(cli, cidr, words):
    assert words + "\n" in cli("subnet", cidr).out


def test_unknown_option_points_at_subnets_own_help(cli):
    result = cli("subnet", "192.168.12.84/24", "--bogus")
    assert result.status == 2 and result.out == ""
    assert result.err == "netinspect: unrecognized arguments: --bogus (see 'netinspect subnet --help')\n"


def test_split_lists_every_child_and_marks_the_address(cli):
    result = cli("subnet", "192.168.12.84/24", "--split", "26")
    assert result.status == 0
    rows = [line for line in result.out.splitlines() if re.match(r"^\d+ +192\.168\.12\.", line)]
    assert [r.split()[1] for r in rows] == [str(n) for n in ipaddress.ip_network("192.168.12.0/24").subnets(new_prefix=26)]
    assert "<- 192.168.12.84" in rows[1]
    assert "4 subnets of 64 addresses (62 usable hosts each)" in result.out


def test_split_listing_is_capped_and_says_how_many(cli):
    result = cli("subnet", "10.0.0.0/8", "--split", "/24")
    assert "showing the first 256 of 65,536 subnets" in result.out
    data = doc(cli, "10.0.0.0/8", "--split", "24", "--limit", "1000")
    assert (data["subnet_count"], data["listed"], data["truncated"]) == (65536, 1000, True)
    assert data["subnets"][999]["cidr"] == "10.3.231.0/24"


def test_split_of_ipv6_into_single_addresses_stays_lazy(cli):
    data = doc(cli, "2001:db8::/64", "--split", "128", "--limit", "3")
    assert data["subnet_count"] == 2**64
    assert [s["cidr"] for s in data["subnets"]] == ["2001:db8::/128", "2001:db8::1/128", "2001:db8::2/128"]


def test_hosts_picks_the_smallest_prefix_then_splits(cli):
    result = cli("subnet", "10.77.0.0/24", "--hosts", "50")
    assert "Smallest subnet for 50 usable hosts: /26 (62 usable; a /27 holds only 30)" in result.out
    data = doc(cli, "10.77.0.0/24", "--hosts", "50")
    assert (data["hosts_prefixlen"], data["subnet_count"]) == (26, 4)
    assert doc(cli, "10.77.0.0/24", "--hosts", "254")["hosts_prefixlen"] == 24
    assert "RFC 3021" in cli("subnet", "10.77.0.0/24", "--hosts", "2").out


@pytest.mark.parametrize("net, query, answer", [
    ("10.0.0.0/8", "10.20.30.40", True),
    ("10.0.0.0/8", "11.0.0.1", False),
    ("192.168.12.0/24", "192.168.12.255", True),
    ("192.168.12.0/24", "192.168.13.0", False),
    ("10.0.0.0/8", "10.2.0.0/16", True),
    ("10.0.0.0/16", "10.0.0.0/8", False),
    ("2001:db8::/32", "2001:db8:ffff::1", True),
    ("2001:db8::/32", "2001:db9::1", False),
    ("10.0.0.0/8", "::ffff:10.0.0.1", False),
])
def test_contains_answers_yes_or_no_with_exit_0(cli, net, query, answer):
    result = cli("subnet", net, "--contains", query)
    assert result.status == 0
    assert result.out.splitlines()[0].endswith(": yes" if answer else ": no")
    data = doc(cli, net, "--contains", query)
    assert data["contains"] is answer
    assert data["contains_reason"].startswith("yes" if answer else "no")
    oracle_net = ipaddress.ip_network(net)
    if "/" in query:
        q = ipaddress.ip_network(query)
        expected = q.version == oracle_net.version and q.subnet_of(oracle_net)
    else:
        q = ipaddress.ip_address(query)
        expected = q.version == oracle_net.version and q in oracle_net
    assert answer == expected


def test_contains_points_at_the_first_differing_bit(cli):
    lines = cli("subnet", "10.0.0.0/8", "--contains", "11.0.0.1").out.splitlines()
    caret = next(line for line in lines if "^" in line)
    given = next(line for line in lines if line.startswith("given"))
    column = caret.index("^")
    assert given[column] == "1" and given[column - 7:column + 1] == "00001011"


def test_supernet_exact_and_not(cli):
    result = cli("subnet", "--supernet", "10.0.0.0/24", "10.0.1.0/24")
    assert result.out.startswith("Supernet of 2 networks: 10.0.0.0/23")
    assert "exact        yes" in result.out
    data = doc(cli, "--supernet", "10.0.0.0/24", "10.0.1.0/24", "10.0.3.0/24")
    assert data["supernet"] == "10.0.0.0/22" and data["exact"] is False
    assert data["uncovered"] == ["10.0.2.0/24"]
    assert data["summary"] == ["10.0.0.0/23", "10.0.3.0/24"]
    # the positional CIDR joins the set
    data = doc(cli, "10.0.2.0/24", "--supernet", "10.0.0.0/24", "10.0.1.0/24", "10.0.3.0/24")
    assert data["exact"] is True and data["supernet"] == "10.0.0.0/22"
    data = doc(cli, "--supernet", "2001:db8::/48", "2001:db8:1::/48")
    assert data["supernet"] == "2001:db8::/47" and data["exact"] is True


def test_colour_on_a_terminal_and_never_with_no_color(cli):
    coloured = cli("subnet", "192.168.12.84/24", environ={"TERM": "xterm"}, tty=True).out
    plain = cli("subnet", "192.168.12.84/24", environ={"TERM": "xterm", "NO_COLOR": "1"}, tty=True).out
    assert "\x1b[" in coloured and "\x1b[" not in plain
    assert ANSI.sub("", coloured) == plain


def test_help_has_examples(cli):
    result = cli("subnet", "--help")
    assert result.status == 0
    assert "netinspect subnet 192.168.12.84/24" in result.out
    assert "--supernet" in result.out and "--contains" in result.out


def test_subnet_path_imports_neither_scapy_nor_socket_in_its_own_modules():
    code = ("import sys\n"
            "import netinspect.core.subnet, netinspect.core.special_ranges, netinspect.render.subnet_view\n"
            "import netinspect.cli.subnet\n"
            "print(sorted(m for m in ('scapy', 'socket', 'tabulate') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_runs_as_a_program(tmp_path):
    result = subprocess.run([sys.executable, "-m", "netinspect", "subnet", "192.168.12.84/24"],
                            capture_output=True, text=True, timeout=60, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0
    assert result.stdout == (GOLDEN / "subnet_ipv4_24.txt").read_text(encoding="utf-8")
