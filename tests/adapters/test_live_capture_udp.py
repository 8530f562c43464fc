"""LiveCapture(protocol="udp"): the UDP port and the ICMP errors quoting it, each packet once,
with netinspect's own filter and with libpcap's compile of the same expression (needs root)."""

from __future__ import annotations

import socket
import time

import pytest

from netinspect.adapters.live_capture import LiveCapture
from netinspect.core import udp_exchange
from netinspect.core.errors import BadInput
from netinspect.wire.decode import decode_frame
from netinspect.wire.udp_view import udp_frames
from tests.conftest import need_root

pytestmark = pytest.mark.lab


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _traffic(port: int, compiler=None):
    """An echo exchange on `port`, datagrams to a closed neighbour port, and noise on others."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", port))
        with LiveCapture("lo", port, compiler=compiler, protocol="udp") as cap:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as noise:
                client.settimeout(5)
                for size in (0, 1, 300, 1400):
                    client.sendto(b"a" * size, ("127.0.0.1", port))
                    data, peer = server.recvfrom(2000)
                    server.sendto(data.upper(), peer)
                    client.recvfrom(2000)
                closed = _free_udp_port()
                noise.sendto(b"to nobody", ("127.0.0.1", closed))       # its ICMP quotes another port
                server.sendto(b"late", ("127.0.0.1", _free_udp_port()))  # from the port, to a closed one
                time.sleep(0.2)
    return cap


@pytest.mark.parametrize("compiler", ["netinspect", "libpcap"])
def test_udp_capture_keeps_the_port_and_its_icmp_errors_once(compiler):
    need_root()
    port = _free_udp_port()
    cap = _traffic(port, compiler)
    frames = cap.frames()
    decoded = [decode_frame(f) for f in frames]
    datagrams = [d.datagram for d in decoded if d.datagram is not None]
    icmps = [d.icmp for d in decoded if d.icmp is not None]
    assert len(datagrams) + len(icmps) == len(frames)              # nothing else passed the filter
    assert all(port in (d.src.port, d.dst.port) for d in datagrams)
    assert sorted(d.payload_len for d in datagrams) == [0, 0, 1, 1, 4, 300, 300, 1400, 1400]
    assert [(m.type, m.code) for m in icmps] == [(3, 3)]          # only the one quoting our port
    packets, errors = udp_frames(frames)
    assert [e.quoted_src.port for e in errors] == [port] and errors[0].port_unreachable
    found = udp_exchange.exchanges(packets, errors)
    assert sorted((e.record.orig_pkts, e.record.resp_pkts) for e in found) == [(1, 0), (4, 4)]
    lone = next(e for e in found if e.record.orig_pkts == 1)
    assert [r.kind for r in lone.rows] == ["udp", "icmp"] and lone.orig.port == port
    assert cap.expression.startswith(f"udp port {port} or (icmp[0] = 3")
    assert ("compiled by libpcap" in cap.path_description) == (compiler == "libpcap")


def test_protocol_is_checked_and_tcp_stays_the_default():
    assert LiveCapture("lo", 80).expression == "tcp port 80"
    assert LiveCapture("lo", 80, protocol="udp").short_expression == "udp port 80 + ICMP errors quoting it"
    with pytest.raises(BadInput):
        LiveCapture("lo", 80, protocol="sctp")
