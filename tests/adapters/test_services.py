"""Services database and TCP checks: getent services is the oracle; sockets are real."""

import socket

import pytest

from netinspect.adapters import services
from tests.lab.getent_services import getent_services


@pytest.mark.parametrize("name, proto", [("ssh", "tcp"), ("domain", "udp"), ("domain", "tcp"), ("mysql", "tcp"),
                                         ("http", "tcp"), ("ntp", "udp")])
def test_port_of_matches_getent(name, proto):
    oracle = getent_services(f"{name}/{proto}")
    if oracle is None:
        pytest.skip(f"{name}/{proto} is not in this machine's services database")
    assert services.port_of(name, proto) == oracle[1]
    assert services.service_of(oracle[1], proto) == oracle[0]


def test_unknown_service_and_port():
    assert getent_services("ni-nosuchservice/tcp") is None
    assert services.port_of("ni-nosuchservice", "tcp") is None
    assert services.service_of(65531, "udp") == (getent_services("65531/udp") or (None,))[0]


def test_tcp_check_open_and_closed_on_loopback():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        assert services.tcp_check("127.0.0.1", "127.0.0.1", "inet", port, 2).state == "open"
    finally:
        listener.close()
    # Now nothing listens there: the kernel answers the SYN with RST.
    assert services.tcp_check("127.0.0.1", "127.0.0.1", "inet", port, 2).state == "closed"
