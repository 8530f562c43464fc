"""`arp`: the neighbour table against `ip -j neigh`, who-has exchanges in a namespace pair,
no answer, bad input and the privilege error."""

from __future__ import annotations

import json
import pathlib
import sys
import time

import pytest

from tests.conftest import need_tool

ROOT = str(pathlib.Path(__file__).resolve().parents[2])


def netinspect(host, *argv, check=False, prefix=()):
    return host.run(*prefix, "env", f"PYTHONPATH={ROOT}", "NO_COLOR=1", sys.executable, "-m", "netinspect", *argv,
                    check=check, timeout=60)


def make_traffic(a, b):
    """One UDP datagram each way per family, so both sides learn each other's MAC."""
    code = ("import socket,sys\n"
            "for fam, ip in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):\n"
            "    s = socket.socket(fam, socket.SOCK_DGRAM); s.sendto(b'x', (ip, 9)); s.close()\n")
    a.run(sys.executable, "-c", code, b.ip4, b.ip6)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = a.ip_json("neigh")
        if {e.get("dst") for e in entries if e.get("lladdr")} >= {b.ip4, b.ip6}:
            return
        time.sleep(0.05)
    raise AssertionError(f"neighbour entries did not appear: {entries}")


def oracle(host):
    return {(e["dst"], e.get("lladdr") or None, e["dev"], tuple(e.get("state", ())))
            for e in host.ip_json("neigh")}


def test_table_matches_ip_neigh(lab_pair):
    a, b = lab_pair
    make_traffic(a, b)
    # an entry that exists but never resolved: INCOMPLETE/FAILED without MAC
    a.run("ip", "neigh", "add", f"10.77.{a.ip4.split('.')[2]}.77", "dev", a.ifname, "nud", "permanent",
          "lladdr", "02:77:aa:bb:cc:dd")
    a.run("ip", "-6", "neigh", "add", f"{b.ip6.rsplit(':', 1)[0]}:66", "dev", a.ifname, "lladdr", "02:77:aa:bb:cc:66",
          "router", "nud", "stale")
    result = netinspect(a, "arp", "--json", check=True)
    doc = json.loads(result.stdout)
    assert doc["kind"] == "arp-table" and doc["source"] == "netlink"
    ours = {(n["ip"], n["mac"], n["dev"], tuple(n["state"])) for n in doc["neighbours"]}
    assert ours == oracle(a)
    # `ip -j neigh` marks NTF_ROUTER entries with a "router" key
    assert {n["ip"] for n in doc["neighbours"] if n["router"]} == {e["dst"] for e in a.ip_json("neigh") if "router" in e}
    assert any(n["router"] for n in doc["neighbours"])
    assert (b.ip4, b.mac, a.ifname, ("REACHABLE",)) in ours
    assert (b.ip6, b.mac, a.ifname, ("REACHABLE",)) in ours
    assert any(state == ("PERMANENT",) for _ip, _mac, _dev, state in ours)


def test_text_table_lists_both_families(lab_pair):
    a, b = lab_pair
    make_traffic(a, b)
    out = netinspect(a, "arp", check=True).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["IP", "MAC", "STATE", "IFACE"]
    assert any(line.split()[:2] == [b.ip4, b.mac] for line in lines)
    assert any(line.split()[:2] == [b.ip6, b.mac] for line in lines)
    v6 = netinspect(a, "arp", "-6", "--json", check=True)
    assert {n["family"] for n in json.loads(v6.stdout)["neighbours"]} == {6}


def test_proc_source_matches_ip_neigh_for_ipv4(lab_pair):
    a, b = lab_pair
    make_traffic(a, b)
    doc = json.loads(netinspect(a, "arp", "--source", "proc", "--json", check=True).stdout)
    ours = {(n["ip"], n["mac"], n["dev"]) for n in doc["neighbours"]}
    expected = {(e["dst"], e.get("lladdr"), e["dev"]) for e in a.ip_json("-4", "neigh")}
    assert ours == expected
    assert all(n["family"] == 4 and n["source"] == "proc" for n in doc["neighbours"])


def test_who_has_gets_the_known_mac(lab_pair):
    a, b = lab_pair
    result = netinspect(a, "arp", b.ip4, "-i", a.ifname, "--count", "2", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["kind"] == "arp-probe"
    assert doc["macs"] == [b.mac]
    assert doc["sent"] == 2 and doc["answered"] == 2
    for attempt in doc["attempts"]:
        req, rep = attempt["request"], attempt["reply"]
        assert (req["eth_dst"], attempt["request_cast"]) == ("ff:ff:ff:ff:ff:ff", "broadcast")
        assert (req["eth_src"], req["sender_ip"], req["target_ip"], req["op"]) == (a.mac, a.ip4, b.ip4, 1)
        assert (rep["eth_src"], rep["eth_dst"], attempt["reply_cast"]) == (b.mac, a.mac, "unicast")
        assert (rep["sender_mac"], rep["sender_ip"], rep["op"]) == (b.mac, b.ip4, 2)
        assert 0 <= attempt["rtt_seconds"] < 1.0


def test_who_has_text_without_iface_uses_the_route(lab_pair):
    a, b = lab_pair
    result = netinspect(a, "arp", b.ip4)
    assert result.returncode == 0, result.stderr
    assert f"{b.ip4} is at {b.mac}: 1/1 answered" in result.stdout
    assert "ff:ff:ff:ff:ff:ff" in result.stdout and "broadcast" in result.stdout and "unicast" in result.stdout


def test_who_has_agrees_with_tshark_on_the_wire(lab_pair, tmp_path):
    need_tool("tcpdump")
    need_tool("tshark")
    a, b = lab_pair
    pcap = tmp_path / "arp.pcap"
    dump = b.popen("tcpdump", "-i", b.ifname, "-U", "-n", "-c", "2", "-w", str(pcap), "arp")
    try:
        _wait_listening(dump)
        result = netinspect(a, "arp", b.ip4, "--json")
        assert result.returncode == 0, result.stderr
        dump.wait(timeout=10)
    finally:
        if dump.poll() is None:
            dump.terminate()
            dump.wait(timeout=5)
    fields = _tshark(pcap, "eth.dst", "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.proto_ipv4")
    assert fields == [["ff:ff:ff:ff:ff:ff", "1", a.mac, a.ip4, b.ip4], [a.mac, "2", b.mac, b.ip4, a.ip4]]


def test_no_answer_is_exit_1(lab_pair):
    a, _b = lab_pair
    absent = f"10.77.{a.ip4.split('.')[2]}.99"
    result = netinspect(a, "arp", absent, "-i", a.ifname, "--timeout", "0.3", "--count", "2")
    assert result.returncode == 1
    assert f"no answer from {absent} on {a.ifname} after 2 requests" in result.stdout
    assert "Traceback" not in result.stderr
    js = netinspect(a, "arp", absent, "--timeout", "0.2", "--json")
    assert js.returncode == 1
    assert json.loads(js.stdout)["answered"] == 0
    assert js.stderr.strip().splitlines()[-1].startswith("netinspect: no answer from")


# The interpreter and its libraries may live where an unprivileged user cannot read them,
# so the child imports everything as root and then drops to nobody before running.
DROP_TO_NOBODY = (
    "import os, sys, encodings.ascii, encodings.utf_8\n"
    "import tabulate, netinspect.cli.main, netinspect.cli.arp, netinspect.adapters.arp_probe\n"
    "import netinspect.render.arp_view, netinspect.render.jsonout\n"
    "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
    "from netinspect.cli.main import main\n"
    "sys.argv = ['netinspect'] + sys.argv[1:]\n"
    "main()\n"
)


@pytest.mark.parametrize("how", ["nobody", "root-without-cap-net-raw"])
def test_without_privilege_one_line_exit_1(lab_pair, how):
    a, b = lab_pair
    if how == "nobody":
        result = a.run("env", f"PYTHONPATH={ROOT}", sys.executable, "-c", DROP_TO_NOBODY, "arp", b.ip4,
                       check=False, timeout=60)
    else:
        need_tool("setpriv")
        result = netinspect(a, "arp", b.ip4, prefix=("setpriv", "--inh-caps=-all", "--bounding-set=-net_raw"))
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1
    assert "needs root or the CAP_NET_RAW capability" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("argv,needle", [
    (("arp", "1.2.3"), "'1.2.3'"),
    (("arp", "::1"), "IPv4 only"),
    (("arp", "224.0.0.1"), "224.0.0.1"),
    (("arp", "10.0.0.1", "--count", "0"), "--count '0'"),
    (("arp", "10.0.0.1", "--count", "1e3"), "--count '1e3'"),
    (("arp", "10.0.0.1", "--timeout=-1"), "--timeout '-1'"),
    (("arp", "10.0.0.1", "--timeout", "inf"), "--timeout 'inf'"),
    (("arp", "10.0.0.1", "-i", "ni-no-such-if"), "'ni-no-such-if'"),
    (("arp", "--source", "files"), "files"),
])
def test_bad_input_exit_2(cli, argv, needle):
    result = cli(*argv)
    assert result.status == 2, result.err
    assert result.err.count("\n") == 1 and needle in result.err
    assert "Traceback" not in result.err


def test_listing_does_not_import_scapy():
    code = ("import io, sys\nfrom netinspect.cli.main import raw_main\n"
            "from netinspect.cli.environment import Environment\n"
            "status = raw_main(['arp', '--json'], Environment(stdout=io.StringIO(), stderr=io.StringIO()))\n"
            "print(status, 'scapy' in sys.modules)")
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.stdout.split() == ["0", "False"], result.stderr


def test_listing_in_process(cli):
    result = cli("arp", "--json")
    assert result.status == 0
    doc = json.loads(result.out)
    assert doc["schema_version"] == 1 and isinstance(doc["neighbours"], list)


def test_json_kind_is_spelled_like_every_other_commands(cli):
    # "resolve-forms", "review-connection", "trace-handshake": words joined by hyphens.
    import re

    kind = json.loads(cli("arp", "--json").out)["kind"]
    assert kind == "arp-table"
    for other in (json.loads(cli("resolve", "--forms", "127.1", "--json").out)["kind"],
                  json.loads(cli("review", str(pathlib.Path(ROOT) / "captures" / "scenarios.pcap"), "--conn", "0",
                                "--json").out)["kind"]):
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", other) and re.fullmatch(r"[a-z]+(-[a-z]+)*", kind)


def _wait_listening(proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if b"listening on" in line or not line:
            break
    assert b"listening on" in line, line


def _tshark(pcap, *fields):
    import subprocess

    argv = ["tshark", "-n", "-r", str(pcap), "-T", "fields"]
    for f in fields:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]
