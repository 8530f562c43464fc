"""`resolve`: getent as the oracle, a dnsmasq in a namespace for --server and for
everything that leaves /etc/hosts (no query goes to the machine's own resolver)."""

import json
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import need_tool
from tests.lab.dns import CNAME, DOMAIN, HOST_RECORD, NX_DOMAIN, TTL, ResolverFiles, close_dns_lab, open_dns_lab


@pytest.fixture
def dns_lab(lab, tmp_path):
    need_tool("dnsmasq")
    built = open_dns_lab(lab, tmp_path)
    try:
        yield built
    finally:
        close_dns_lab(built)


def _run(host, *argv, timeout=60):
    return host.run(sys.executable, "-m", "netinspect", "resolve", *argv, check=False, timeout=timeout)


def _getent_addresses(host, name):
    out = host.run("getent", "ahosts", name, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


# --- in-process, names from /etc/hosts only ------------------------------------------------

def test_localhost_matches_getent(cli):
    need_tool("getent")
    oracle = subprocess.run(["getent", "ahosts", "localhost"], capture_output=True, text=True, timeout=20).stdout
    result = cli("resolve", "localhost", "--json")
    assert result.status == 0, result.err
    (found,) = json.loads(result.out)["results"]
    assert {a["address"] for a in found["addresses"]} == {line.split()[0] for line in oracle.splitlines()}


def test_reverse_loopback_matches_getent(cli):
    oracle = subprocess.run(["getent", "hosts", "127.0.0.1"], capture_output=True, text=True, timeout=20).stdout
    result = cli("resolve", "127.0.0.1")
    assert result.status == 0
    assert result.out.split()[:3] == ["127.0.0.1", "name", oracle.split()[1]]


@pytest.mark.parametrize("text, dotted, bases", [
    ("127.1", "127.0.0.1", [10, 10]), ("2130706433", "127.0.0.1", [10]), ("0x7f000001", "127.0.0.1", [16]),
    ("017700000001", "127.0.0.1", [8]), ("0127.0.0.1", "87.0.0.1", [8, 10, 10, 10]), ("10.0.0.1", "10.0.0.1", [10] * 4),
])
def test_forms(cli, text, dotted, bases):
    result = cli("resolve", "--forms", text, "--json")
    assert result.status == 0, result.err
    doc = json.loads(result.out)
    assert doc["dotted"] == dotted == socket.inet_ntoa(socket.inet_aton(text)) == doc["libc"]
    assert [p["base"] for p in doc["parts"]] == bases
    assert doc["strict"] is (text == dotted)
    assert set(doc["equivalents"].values()) >= {"2130706433", "0x7f000001", "017700000001", "127.1"} or dotted != "127.0.0.1"
    plain = cli("resolve", "--forms", text).out
    assert f"reads it as {dotted}" in plain
    assert ("netinspect refuses this text" in plain) is (text != dotted)


def test_forms_refuses_what_inet_aton_refuses(cli):
    for text in ("256.1.1.1", "1.2.3.4.5", "0x", "09", "abc", "127.1 x"):
        result = cli("resolve", "--forms", text)
        assert result.status == 2 and result.err.count("\n") == 1


def test_short_form_as_host_points_to_forms(cli):
    result = cli("resolve", "127.1")
    assert result.status == 2 and "127.0.0.1" in result.err and "--forms" in result.err


# --- in a namespace, against dnsmasq --------------------------------------------------------

def test_names_cname_ipv6_and_reverse_agree_with_getent(dns_lab):
    client = dns_lab.client
    result = _run(client, CNAME[0], HOST_RECORD[0], "plain.ni-test.example", HOST_RECORD[1], HOST_RECORD[2], "--json")
    assert result.returncode == 0, result.stderr
    alias, host, plain, rev4, rev6 = json.loads(result.stdout)["results"]
    assert {a["address"] for a in alias["addresses"]} == _getent_addresses(client, CNAME[0]) == {HOST_RECORD[1], HOST_RECORD[2]}
    assert {a["family"] for a in alias["addresses"]} == {"inet", "inet6"}
    assert alias["canonical"] == HOST_RECORD[0]
    assert {a["address"] for a in host["addresses"]} == _getent_addresses(client, HOST_RECORD[0])
    assert [a["address"] for a in plain["addresses"]] == ["10.77.9.9"]
    for rev in (rev4, rev6):
        assert rev["name"] == client.run("getent", "hosts", rev["address"]).stdout.split()[1] == HOST_RECORD[0]
    text = _run(client, CNAME[0]).stdout
    assert f"canonical name  {HOST_RECORD[0]}" in text and "IPv6" in text and "IPv4" in text


def test_idna_name_is_sent_as_a_label_and_shown_in_both_forms(dns_lab):
    result = _run(dns_lab.client, f"bücher.{DOMAIN}")
    assert result.returncode == 0, result.stderr
    assert f"bücher.{DOMAIN}  (IDNA: xn--bcher-kva.{DOMAIN})" in result.stdout
    assert any(f"xn--bcher-kva.{DOMAIN}" in q for q in dns_lab.dnsmasq.queries())


def test_no_such_name(dns_lab):
    result = _run(dns_lab.client, f"x.{NX_DOMAIN}", "plain.ni-test.example")
    assert result.returncode == 1
    assert result.stderr == f"netinspect: x.{NX_DOMAIN}: no such name (EAI_NONAME)\n"
    assert "10.77.9.9" in result.stdout        # the other name still answered


def test_failed_idna_name_is_named_in_both_forms(dns_lab):
    result = _run(dns_lab.client, f"bücher.{NX_DOMAIN}")
    assert result.returncode == 1
    assert result.stderr == f"netinspect: bücher.{NX_DOMAIN} (IDNA: xn--bcher-kva.{NX_DOMAIN}): no such name (EAI_NONAME)\n"


def test_host_name_without_arguments(dns_lab, tmp_path):
    client = dns_lab.client
    name = socket.gethostname()
    # The namespace's own hosts file names this host, so nothing is asked of any resolver.
    (dns_lab.files.dir / "hosts").write_text(f"127.0.0.1 localhost\n10.77.9.30 {name}\nfd77:0:0:9::30 {name}\n")
    result = _run(client, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["host"]["hostname"] == name == client.run("hostname").stdout.strip()
    assert {a["address"] for a in doc["results"][0]["addresses"]} == _getent_addresses(client, name) == {"10.77.9.30", "fd77:0:0:9::30"}
    text = _run(client).stdout.splitlines()
    assert text[0].split() == ["host", "name", name]
    assert sorted(line.split()[0] + " " + line.split()[1] for line in text[1:]) == ["IPv4 10.77.9.30", "IPv6 fd77:0:0:9::30"]


def test_temporary_failure_when_the_server_refuses(dns_lab):
    # dnsmasq has no upstream: a name outside its own domains is answered REFUSED.
    result = _run(dns_lab.client, "other.ni-other.example")
    assert result.returncode == 1
    assert "temporary failure" in result.stderr and "EAI_AGAIN" in result.stderr and "no network" not in result.stderr
    assert any("other.ni-other.example" in q for q in dns_lab.dnsmasq.queries())


def test_server_records_with_ttl(dns_lab):
    server = dns_lab.server.ip4
    result = _run(dns_lab.client, "--server", server, "--type", "A,AAAA,CNAME", CNAME[0], HOST_RECORD[1], "--json")
    assert result.returncode == 0, result.stderr
    answers = {(r["query"], r["type"]): r for r in json.loads(result.stdout)["results"]}
    a_records = answers[(CNAME[0], "A")]["records"]
    assert [(r["type"], r["data"], r["ttl"]) for r in a_records] == [("CNAME", HOST_RECORD[0] + ".", TTL), ("A", HOST_RECORD[1], TTL)]
    assert answers[(CNAME[0], "AAAA")]["records"][-1]["data"] == HOST_RECORD[2]
    assert [r["type"] for r in answers[(CNAME[0], "CNAME")]["records"]] == ["CNAME"]
    assert answers[(HOST_RECORD[1], "PTR")]["records"][0]["data"] == HOST_RECORD[0] + "."
    assert all(q.endswith(f"from {dns_lab.client.ip4}") for q in dns_lab.dnsmasq.queries())
    text = _run(dns_lab.client, "--server", f"[{dns_lab.server.ip6}]:53", CNAME[0]).stdout
    assert f"{CNAME[0]} A from [{dns_lab.server.ip6}]:53: NOERROR" in text and str(TTL) in text


def test_server_nxdomain_and_silence(dns_lab):
    result = _run(dns_lab.client, "--server", dns_lab.server.ip4, f"x.{NX_DOMAIN}")
    assert result.returncode == 1 and "no such name" in result.stderr and result.stderr.count("\n") == 1
    dns_lab.server.run("iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP")
    started = time.monotonic()
    result = _run(dns_lab.client, "--server", dns_lab.server.ip4, "--timeout", "1", "--type", "A,AAAA,MX", "plain.ni-test.example")
    assert result.returncode == 1 and "timeout" in result.stderr and result.stderr.count("\n") == 1
    assert time.monotonic() - started < 20


def test_deadline_cuts_a_resolver_that_would_wait_much_longer(dns_lab):
    client = dns_lab.client
    # The system resolver is told to wait 20 s x 3 tries; the server drops every query.
    (dns_lab.files.dir / "resolv.conf").write_text(f"nameserver {dns_lab.server.ip4}\noptions timeout:20 attempts:3\n")
    dns_lab.server.run("iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP")
    started = time.monotonic()
    result = _run(client, "--timeout", "1", "slow.ni-test.example", timeout=90)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stderr.startswith("netinspect: slow.ni-test.example: timeout: no answer within 1 s")
    assert elapsed < 20   # the resolver alone would take 60 s


def test_temporary_failure_when_server_fails(lab, tmp_path):
    need_tool("dnsmasq")
    # No route anywhere: the resolver cannot send, glibc reports EAI_AGAIN.
    client, server = lab.pair(default_route=False)
    files = ResolverFiles(client, "10.77.254.254")
    try:
        client.run("ip", "route", "del", f"{client.ipv4.rsplit('.', 1)[0]}.0/24", "dev", client.ifname, check=False)
        result = _run(client, "--timeout", "5", "plain.ni-test.example")
        assert result.returncode == 1
        assert "EAI_AGAIN" in result.stderr and "no network" in result.stderr
    finally:
        files.close()
