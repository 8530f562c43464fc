"""`port`: the services database through getent as the oracle, and open/closed/filtered
checks against a namespace with a listener, a closed port and an iptables DROP rule."""

import json
import socket
import sys
import time

import pytest

from tests.conftest import need_tool
from tests.lab.getent_services import getent_services


def _rows(result):
    assert result.status == 0, result.err
    return [(r["port"], r["proto"], r["service"], r["range"]) for r in json.loads(result.out)["ports"]]


def test_mysql_is_3306_tcp(cli):
    oracle = getent_services("mysql/tcp")
    if oracle is None:
        pytest.skip("mysql is not in this machine's services database")
    assert oracle[1] == 3306
    assert (3306, "tcp", "mysql", "registered") in _rows(cli("port", "mysql", "--json"))
    text = cli("port", "mysql")
    assert "3306" in text.out and "registered" in text.out and "1024-49151" in text.out


def test_53_is_domain_on_tcp_and_udp(cli):
    for proto in ("tcp", "udp"):
        if getent_services(f"53/{proto}") is None:
            pytest.skip(f"53/{proto} is not in this machine's services database")
    rows = _rows(cli("port", "53", "--json"))
    assert rows == [(53, "tcp", getent_services("53/tcp")[0], "well-known"), (53, "udp", getent_services("53/udp")[0], "well-known")]


@pytest.mark.parametrize("key", ["ssh", "domain", "http", "https", "ntp", "smtp", "imaps"])
def test_service_names_agree_with_getent(cli, key):
    expected = sorted(filter(None, (getent_services(f"{key}/{p}") for p in ("tcp", "udp"))), key=lambda t: t[2])
    if not expected:
        pytest.skip(f"{key} is not in this machine's services database")
    rows = _rows(cli("port", key, "--json"))
    assert [(port, proto, name) for port, proto, name, _r in rows] == [(p, pr, n) for n, p, pr in expected]


def test_numbers_with_protocol_and_range_class(cli):
    rows = _rows(cli("port", "8080/udp", "0", "1023", "1024", "49151", "49152", "65535/tcp", "--json"))
    assert rows[0][:2] == (8080, "udp") and rows[0][3] == "registered"
    classes = {(port, proto): cls for port, proto, _n, cls in rows}
    assert classes[(0, "tcp")] == classes[(1023, "udp")] == "well-known"
    assert classes[(1024, "tcp")] == classes[(49151, "tcp")] == "registered"
    assert classes[(49152, "udp")] == classes[(65535, "tcp")] == "dynamic"
    assert (65535, "udp") not in classes
    for port, proto, name, _cls in rows:
        oracle = getent_services(f"{port}/{proto}")
        assert name == (oracle[0] if oracle else None)


def test_dynamic_note_names_the_range_linux_really_uses(cli):
    # A learner's client ports (seen in every ladder) usually lie below 49152 on Linux:
    # the note must not say clients get their ports from IANA's dynamic range.
    low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    server = socket.create_server(("127.0.0.1", 0))
    try:
        with socket.create_connection(server.getsockname()) as client:
            ephemeral = client.getsockname()[1]
    finally:
        server.close()
    assert low <= ephemeral <= high
    note = cli("port", "55000/tcp").out.splitlines()[-1]
    assert note.startswith("dynamic: 49152-65535")
    assert "ip_local_port_range" in note and "clients get ephemeral ports from here" not in note


def test_alias_shows_canonical_name(cli):
    oracle = getent_services("www/tcp")
    if oracle is None:
        pytest.skip("www is not an alias in this machine's services database")
    assert _rows(cli("port", "www/tcp", "--json")) == [(oracle[1], "tcp", oracle[0], "well-known")]


def test_check_open_and_closed_on_loopback(cli):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    try:
        result = cli("port", f"{port}/tcp", "--check", "127.0.0.1", "--timeout", "2", "--json")
        assert result.status == 0
        assert json.loads(result.out)["checks"][0]["state"] == "open"
    finally:
        listener.close()
    result = cli("port", f"{port}/tcp", "--check", "localhost", "--timeout", "2")
    assert result.status == 1
    assert "closed" in result.out and "RST" in result.out


@pytest.fixture
def target(lab_pair):
    """b listens on one port, has nothing on another, and DROPs SYNs to a third."""
    a, b = lab_pair
    need_tool("iptables")
    listening, closed, dropped = 7101, 7102, 7103
    server = b.popen(sys.executable, "-c",
                     "import socket,time\n"
                     "s=socket.socket(socket.AF_INET6);s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)\n"
                     f"s.bind(('::',{listening}));s.listen(8);print('ready',flush=True);time.sleep(120)",
                     text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        b.run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", str(dropped), "-j", "DROP")
        b.run("ip6tables", "-A", "INPUT", "-p", "tcp", "--dport", str(dropped), "-j", "DROP", check=False)
        yield a, b, listening, closed, dropped
    finally:
        server.kill()
        server.wait(timeout=10)
        server.stdout.close()
        server.stderr.close()


def test_check_open_closed_filtered_across_namespaces(target):
    a, b, listening, closed, dropped = target
    for address in (b.ip4, b.ip6):
        started = time.monotonic()
        result = a.run(sys.executable, "-m", "netinspect", "port", str(listening), str(closed), f"{dropped}/tcp",
                       "--check", address, "--timeout", "1", "--json", check=False, timeout=60)
        assert result.returncode == 1, result.stderr   # not all open
        states = {c["port"]: c["state"] for c in json.loads(result.stdout)["checks"]}
        assert states == {listening: "open", closed: "closed", dropped: "filtered"}, address
        assert result.stderr == f"netinspect: {address}: not every port is open: {closed}/tcp closed, {dropped}/tcp filtered\n"
        assert time.monotonic() - started < 30      # bounded: the filtered port waits --timeout, not the kernel's 2 min
    result = a.run(sys.executable, "-m", "netinspect", "port", str(listening), "--check", b.ip4, "--timeout", "1",
                   check=False, timeout=60)
    assert result.returncode == 0 and f"port {listening}/tcp: open" in result.stdout


def test_check_udp_only_is_bad_input(cli):
    result = cli("port", "53/udp", "--check", "127.0.0.1")
    assert result.status == 2 and "53/udp" in result.err
