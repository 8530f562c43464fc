"""Lookups with deadlines: getent is the oracle for the system resolver."""

import subprocess
import threading
import time

import pytest

from netinspect.adapters import names
from netinspect.core.errors import RuntimeFailure
from tests.conftest import need_tool


def _getent(*argv):
    need_tool("getent")
    return subprocess.run(["getent", *argv], capture_output=True, text=True, timeout=20)


def test_forward_localhost_matches_getent_ahosts():
    oracle = _getent("ahosts", "localhost")
    assert oracle.returncode == 0
    expected = {line.split()[0] for line in oracle.stdout.splitlines() if line.strip()}
    got = names.forward("localhost")
    assert {address for _family, address in got.addresses} == expected
    assert len(got.addresses) == len(set(got.addresses))   # deduplicated


def test_reverse_loopback_matches_getent_hosts():
    oracle = _getent("hosts", "127.0.0.1")
    assert oracle.returncode == 0
    fields = oracle.stdout.split()
    got = names.reverse("127.0.0.1")
    assert got.name == fields[1]


@pytest.fixture
def dns_lab(lab, tmp_path):
    from tests.lab.dns import close_dns_lab, open_dns_lab

    built = open_dns_lab(lab, tmp_path)
    try:
        yield built
    finally:
        close_dns_lab(built)


# Names that are not in /etc/hosts are only ever asked of the lab's own dnsmasq: a test
# must not send queries to the machine's configured resolver.
_IN_NAMESPACE = """
import json, sys
from netinspect.adapters import names
from netinspect.core.errors import RuntimeFailure
out = []
for kind, arg in json.loads(sys.argv[1]):
    try:
        r = names.forward(arg, 3) if kind == "forward" else names.reverse(arg, 3)
        out.append({"ok": True, **r.__dict__})
    except RuntimeFailure as error:
        out.append({"ok": False, "error": error.message})
print(json.dumps(out))
"""


def _in_namespace(host, *calls):
    import json
    import sys

    result = host.run(sys.executable, "-c", _IN_NAMESPACE, json.dumps(calls), timeout=60)
    return json.loads(result.stdout)


def test_forward_reverse_and_no_such_name_against_lab_dns(dns_lab):
    from tests.lab.dns import CNAME, HOST_RECORD, NX_DOMAIN

    client = dns_lab.client
    alias, host, nx = _in_namespace(client, ("forward", CNAME[0]), ("reverse", HOST_RECORD[1]),
                                    ("forward", f"ni-absent.{NX_DOMAIN}"))
    oracle = client.run("getent", "ahosts", CNAME[0]).stdout.splitlines()
    assert alias["ok"] and {a for _f, a in alias["addresses"]} == {line.split()[0] for line in oracle}
    assert alias["canonical"] == oracle[0].split()[2] == HOST_RECORD[0]
    assert host["ok"] and host["name"] == client.run("getent", "hosts", HOST_RECORD[1]).stdout.split()[1]
    assert client.run("getent", "ahosts", f"ni-absent.{NX_DOMAIN}", check=False).returncode == 2
    assert not nx["ok"] and "no such name (EAI_NONAME)" in nx["error"]


def test_deadline_stops_waiting_for_a_call_that_does_not_return():
    release = threading.Event()
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeFailure) as caught:
            names.with_deadline(release.wait, (30,), 0.3, "blocked.example")
    finally:
        release.set()
    assert time.monotonic() - started < 10   # well before the 30 s the call would take
    assert "timeout" in caught.value.message and "blocked.example" in caught.value.message


def test_deadline_passes_results_and_errors_through():
    assert names.with_deadline(lambda x: x * 2, (21,), 5, "x") == 42

    def fail():
        raise ValueError("boom")

    with pytest.raises(ValueError):
        names.with_deadline(fail, (), 5, "x")


def test_libc_inet_aton_cross_check():
    assert names.libc_inet_aton("127.1") == "127.0.0.1"
    assert names.libc_inet_aton("256.1.1.1") is None
