"""Hostile text for iface, resolve and port: exit 2, one line on stderr naming the value,
no traceback, and no lookup or connection for text that is refused.

"No lookup" is proved twice: in-process, every name/connect entry point of the socket
module and dnspython is replaced by a trap that records the call; and in a namespace
whose only DNS server is a dnsmasq that logs every query it receives, the same table is
run and the log must stay empty (while a valid name, run last, does show up in it).
"""

import json
import socket
import sys

import pytest

SERVER = "{server}"      # replaced by a real DNS server address where the test has one

LONG_LABEL = "x" * 300 + ".example"
NAME_254 = ".".join(["a" * 63] * 3 + ["b" * 62])
assert len(NAME_254) == 254

# (argv, the value the error line must name)
CASES = [
    # iface
    (["iface", "a" * 16], "a" * 16),
    (["iface", "eth0/1"], "eth0/1"),
    (["iface", "et\x00h0"], "et\\x00h0"),
    (["iface", "eth0:1"], "eth0:1"),
    (["iface", ".."], ".."),
    (["iface", "et h0"], "et h0"),
    (["iface", "ni-absent9"], "ni-absent9"),
    # resolve: names
    (["resolve", "exa\x00mple.com"], "exa\\x00mple.com"),
    (["resolve", "exa\x1bmple.com"], "exa\\x1bmple.com"),
    (["resolve", "exa\nmple.com"], "exa\\nmple.com"),
    (["resolve", "ok.example", "exa\tmple.com"], "exa\\tmple.com"),
    (["resolve", LONG_LABEL], "xxxxxxxxxxxxxxxxxxxx"),
    (["resolve", NAME_254], "aaaaaaaaaaaaaaaaaaaa"),
    (["resolve", "exa mple.com"], "exa mple.com"),
    (["resolve", ""], "''"),
    (["resolve", "--", "-lead.example"], "-lead.example"),
    (["resolve", "a..b.example"], "a..b.example"),
    (["resolve", "xn--zz.example"], "xn--zz.example"),
    (["resolve", "127.1"], "127.1"),
    (["resolve", "256.1.1.1"], "256.1.1.1"),
    (["resolve", "fe80::zz"], "fe80::zz"),
    (["resolve", "semi;colon.example"], "semi;colon.example"),
    (["resolve", "bücher..example"], "bücher..example"),
    (["resolve", "\u202eevil.example"], "evil.example"),
    # resolve: options
    (["resolve", "--forms", "abc"], "abc"),
    (["resolve", "--forms", "1.2.3.4.5"], "1.2.3.4.5"),
    (["resolve", "--forms", "0x"], "'0x'"),
    (["resolve", "--forms", ""], "''"),
    (["resolve", "--timeout", "-1", "localhost"], "-1"),
    (["resolve", "--timeout", "0", "localhost"], "'0'"),
    (["resolve", "--timeout", "nan", "localhost"], "nan"),
    (["resolve", "--timeout", "1e9", "localhost"], "1e9"),
    (["resolve", "--server", "dns.example", "localhost"], "dns.example"),
    (["resolve", "--server", "10.77.0.1:99999", "localhost"], "99999"),
    (["resolve", "--server", SERVER, "bad\x00name.example"], "bad\\x00name.example"),
    (["resolve", "--server", SERVER, "--type", "ANY", "localhost"], "ANY"),
    (["resolve", "--server", SERVER, "x" * 64 + ".example"], "xxxxxxxxxxxxxxxxxxxx"),
    # port
    (["port", "65536"], "65536"),
    (["port", "-1"], "-1"),
    (["port", "+80"], "+80"),
    (["port", "８０"], "８０"),
    (["port", "8_0"], "8_0"),
    (["port", "0x50"], "0x50"),
    (["port", "1e3"], "1e3"),
    (["port", "80/icmp"], "80/icmp"),
    (["port", "80/"], "80/"),
    (["port", "/tcp"], "/tcp"),
    (["port", "8\x000"], "8\\x000"),
    (["port", "nosuchservice"], "nosuchservice"),
    (["port", "80", "--check", "bad\x00host"], "bad\\x00host"),
    (["port", "80", "--check", "exa mple.com"], "exa mple.com"),
    (["port", "80", "--check", "127.1"], "127.1"),
    (["port", "80", "--check", "127.0.0.1", "--timeout", "inf"], "inf"),
    (["port", "0", "--check", "127.0.0.1"], "port 0"),
]

assert len(CASES) >= 25


def _argv(argv, server):
    return [server if part == SERVER else part for part in argv]


@pytest.fixture
def trap(monkeypatch):
    """Replace every name lookup and connect entry point with a recorder that refuses."""
    calls = []

    def recorder(name):
        def refuse(*args, **kwargs):
            calls.append((name, args))
            raise OSError(f"trap: {name} must not be called for refused text")
        return refuse

    for name in ("getaddrinfo", "gethostbyaddr", "gethostbyname", "gethostbyname_ex", "getnameinfo",
                 "create_connection"):
        monkeypatch.setattr(socket, name, recorder(name))
    monkeypatch.setattr(socket.socket, "connect", recorder("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", recorder("connect_ex"))
    import dns.query

    monkeypatch.setattr(dns.query, "udp", recorder("dns.query.udp"))
    monkeypatch.setattr(dns.query, "tcp", recorder("dns.query.tcp"))
    return calls


@pytest.mark.parametrize("argv, named", CASES, ids=[repr(c[0])[:60] for c in CASES])
def test_refused_in_process_without_lookups(cli, trap, argv, named):
    result = cli(*_argv(argv, "127.0.0.1"))
    assert result.status == 2, (result.out, result.err)
    assert result.err.count("\n") == 1 and result.err.startswith("netinspect: ")
    assert named in result.err
    assert "Traceback" not in result.err and result.out == ""
    assert trap == []


def test_the_trap_does_catch_lookups(cli, trap):
    """Control: a valid name does reach getaddrinfo, so an empty trap above means something."""
    result = cli("resolve", "localhost")
    assert result.status == 1 and [name for name, _ in trap] == ["getaddrinfo"]


_RUN_TABLE = """
import io, json, sys
from netinspect.cli.environment import Environment
from netinspect.cli.main import raw_main
out = []
for argv in json.loads(sys.stdin.read()):
    o, e = io.StringIO(), io.StringIO()
    status = raw_main(argv, Environment(stdout=o, stderr=e, environ={"NO_COLOR": "1"}))
    out.append([status, e.getvalue()])
print(json.dumps(out))
"""


def test_refused_in_a_namespace_send_no_dns_query(lab, tmp_path):
    from tests.conftest import need_tool
    from tests.lab.dns import DOMAIN, close_dns_lab, open_dns_lab

    need_tool("dnsmasq")
    dns_lab = open_dns_lab(lab, tmp_path)
    try:
        client, server = dns_lab.client, dns_lab.server
        table = [_argv(argv, server.ip4) for argv, _named in CASES]
        result = client.run(sys.executable, "-c", _RUN_TABLE, input=json.dumps(table), timeout=120)
        answers = json.loads(result.stdout)
        for (argv, named), (status, err) in zip(CASES, answers):
            assert status == 2 and named in err and err.count("\n") == 1, (argv, err)
        assert dns_lab.dnsmasq.queries() == []
        # Control: valid text does reach the server, through both paths.
        control = [["resolve", f"ok.{DOMAIN}"], ["resolve", "--server", server.ip4, "--type", "A", f"ok2.{DOMAIN}"]]
        result = client.run(sys.executable, "-c", _RUN_TABLE, input=json.dumps(control), timeout=60)
        assert [status for status, _ in json.loads(result.stdout)] == [0, 0]
        logged = " ".join(dns_lab.dnsmasq.queries())
        assert f"ok.{DOMAIN}" in logged and f"ok2.{DOMAIN}" in logged
    finally:
        close_dns_lab(dns_lab)


# --- property: for any text, refused (exit 2) and looked up are mutually exclusive ----------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_HOSTILE_TEXT = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.sampled_from("ab-_.0x9\x00\t ８é:/%"), max_size=30),
    st.builds(lambda label, n: ".".join([label] * n), st.text(alphabet="abc-", min_size=1, max_size=70), st.integers(1, 6)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_HOSTILE_TEXT)
def test_any_host_text_is_refused_or_looked_up_never_both(cli, monkeypatch, text):
    calls = []

    def no_such_name(*args, **kwargs):
        calls.append(args)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    monkeypatch.setattr(socket, "gethostbyaddr", lambda *a: (calls.append(a), (_ for _ in ()).throw(socket.herror(1, "Unknown host")))[1])
    result = cli("resolve", "--", text)
    assert "Traceback" not in result.err and result.err.count("\n") == 1
    if result.status == 2:
        assert calls == []
    else:
        assert result.status == 1 and len(calls) == 1
        assert "no such name" in result.err or "no name is recorded" in result.err


@settings(max_examples=300, deadline=None)
@given(text=_HOSTILE_TEXT)
def test_any_port_text_is_answered_or_refused_in_one_line(text):
    from tests.conftest import run_cli

    result = run_cli("port", "--", text)
    assert result.status in (0, 2)
    assert "Traceback" not in result.err
    assert (result.status == 2) == (result.err.count("\n") == 1)
