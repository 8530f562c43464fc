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


def test_own_host_name_resolves_like_getent():
    import socket

    name = names.host_name()
    assert name == socket.gethostname()
    oracle = _getent("ahosts", name)
    if oracle.returncode != 0:
        with pytest.raises(RuntimeFailure):
            names.forward(name)
        return
    expected = {line.split()[0] for line in oracle.stdout.splitlines() if line.strip()}
    assert {a for _f, a in names.forward(name).addresses} == expected


def test_no_such_name_is_named_as_such():
    oracle = _getent("ahosts", "ni-absent.invalid")
    assert oracle.returncode == 2
    with pytest.raises(RuntimeFailure) as caught:
        names.forward("ni-absent.invalid", 5)
    assert "no such name" in caught.value.message or "temporary failure" in caught.value.message


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
