"""Name lookups with a real deadline, and direct DNS queries through dnspython.

getaddrinfo, gethostbyaddr and friends have no timeout of their own (the resolver's
`options timeout:N attempts:M` can add up to minutes), so each blocking call runs in a
daemon thread and we stop waiting at the deadline. A thread left behind is daemonic and
dies with the process. Errors become RuntimeFailure with their cause named.

Callers pass only text that `core.hostnames` has accepted: nothing here validates.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from netinspect.core.errors import RuntimeFailure

DEFAULT_TIMEOUT = 5.0


@dataclass
class Forward:
    name: str                                   # the ASCII name asked for
    canonical: str | None
    addresses: list[tuple[str, str]] = field(default_factory=list)   # (inet|inet6, address)


@dataclass
class Reverse:
    address: str
    name: str
    aliases: list[str] = field(default_factory=list)


@dataclass
class DnsRecord:
    name: str
    ttl: int
    rdtype: str
    value: str

    def as_json(self) -> dict:
        return {"name": self.name, "ttl": self.ttl, "type": self.rdtype, "data": self.value}


@dataclass
class DnsAnswer:
    qname: str
    rdtype: str
    rcode: str
    records: list[DnsRecord] = field(default_factory=list)


def _gai_cause(error: socket.gaierror, name: str) -> str:
    code = error.errno
    table = {
        getattr(socket, "EAI_NONAME", -2): "no such name (EAI_NONAME)",
        getattr(socket, "EAI_AGAIN", -3): "temporary failure in name resolution: the DNS server did not answer, "
                                          "or refused or failed the query (EAI_AGAIN)",
        getattr(socket, "EAI_FAIL", -4): "non-recoverable failure in name resolution (EAI_FAIL)",
        getattr(socket, "EAI_NODATA", -5): "the name exists but has no address records (EAI_NODATA)",
        getattr(socket, "EAI_ADDRFAMILY", -9): "the name has no address in the requested family (EAI_ADDRFAMILY)",
        getattr(socket, "EAI_MEMORY", -10): "out of memory (EAI_MEMORY)",
    }
    cause = table.get(code)
    if cause is None and code == getattr(socket, "EAI_SYSTEM", -11):
        cause = f"system error during lookup (EAI_SYSTEM): {error.strerror}"
    if cause is None:
        cause = f"lookup failed: {error.strerror or error} (code {code})"
    if code == getattr(socket, "EAI_AGAIN", -3) and not _network_present():
        cause = "no network: there is no default route, so the DNS server cannot be reached (EAI_AGAIN)"
    return f"{name}: {cause}"


def _network_present() -> bool:
    from netinspect.adapters.interfaces import has_default_route

    try:
        return has_default_route()
    except Exception:  # noqa: BLE001 - a best-effort hint, never the error itself
        return True


def with_deadline(call: Callable, args: tuple, timeout: float, what: str):
    """Run a blocking call in a daemon thread; give up waiting after `timeout` seconds."""
    box: dict = {}
    done = threading.Event()

    def worker():
        try:
            box["value"] = call(*args)
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = error
        finally:
            done.set()

    thread = threading.Thread(target=worker, name=f"lookup {what}", daemon=True)
    thread.start()
    if not done.wait(timeout):
        raise RuntimeFailure(f"{what}: timeout: no answer within {timeout:g} s "
                             "(the resolver is still waiting; raise --timeout to wait longer)")
    if "error" in box:
        raise box["error"]
    return box["value"]


def host_name() -> str:
    return socket.gethostname()


def forward(name: str, timeout: float = DEFAULT_TIMEOUT) -> Forward:
    """Every address getaddrinfo returns for `name` (IPv4 and IPv6), deduplicated in order."""
    try:
        infos = with_deadline(socket.getaddrinfo, (name, None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                                                   socket.AI_CANONNAME), timeout, name)
    except socket.gaierror as error:
        raise RuntimeFailure(_gai_cause(error, name)) from None
    except UnicodeError as error:
        raise RuntimeFailure(f"{name}: cannot be encoded for lookup ({error})") from None
    result = Forward(name=name, canonical=None)
    seen = set()
    for family, _type, _proto, canonical, sockaddr in infos:
        if canonical and result.canonical is None:
            result.canonical = canonical
        family_name = "inet6" if family == socket.AF_INET6 else "inet"
        key = (family_name, sockaddr[0])
        if key not in seen:
            seen.add(key)
            result.addresses.append(key)
    return result


_HERRNO = {1: "no such name (HOST_NOT_FOUND)", 2: "temporary failure: the DNS server did not answer (TRY_AGAIN)",
           3: "non-recoverable failure (NO_RECOVERY)", 4: "no name is recorded for this address (NO_DATA)"}


def reverse(address: str, timeout: float = DEFAULT_TIMEOUT) -> Reverse:
    """The name recorded for an address (PTR or /etc/hosts), as gethostbyaddr reads it."""
    try:
        name, aliases, _addresses = with_deadline(socket.gethostbyaddr, (address,), timeout, address)
    except socket.herror as error:
        cause = _HERRNO.get(error.errno, str(error))
        if error.errno == 1:
            cause = "no name is recorded for this address (HOST_NOT_FOUND)"
        raise RuntimeFailure(f"{address}: {cause}") from None
    except socket.gaierror as error:
        raise RuntimeFailure(_gai_cause(error, address)) from None
    return Reverse(address=address, name=name, aliases=list(aliases))


# --- direct DNS queries (dnspython, imported only for --server) -------------------------------

def query(server: str, port: int, qname: str, rdtype: str, timeout: float = DEFAULT_TIMEOUT) -> DnsAnswer:
    """Ask one DNS server directly (UDP, TCP if truncated); records with their TTL."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    message = dns.message.make_query(qname, dns.rdatatype.from_text(rdtype))
    deadline = time.monotonic() + timeout
    where = f"DNS server {server} port {port}"
    try:
        response = dns.query.udp(message, server, port=port, timeout=timeout)
        if response.flags & 0x0200:  # TC: the answer did not fit in UDP; ask again over TCP
            response = dns.query.tcp(message, server, port=port, timeout=max(0.1, deadline - time.monotonic()))
    except dns.exception.Timeout:
        raise RuntimeFailure(f"{qname} {rdtype}: timeout: {where} did not answer within {timeout:g} s") from None
    except OSError as error:
        if error.errno in (errno.ENETUNREACH, errno.EADDRNOTAVAIL):
            cause = f"no network: {where} is unreachable ({error.strerror})"
        elif error.errno == errno.EHOSTUNREACH:
            cause = f"{where} is unreachable ({error.strerror})"
        elif error.errno == errno.ECONNREFUSED:
            cause = f"nothing answers DNS at {where} (connection refused)"
        else:
            cause = f"query to {where} failed: {error.strerror or error}"
        raise RuntimeFailure(f"{qname} {rdtype}: {cause}") from None
    except dns.exception.DNSException as error:
        raise RuntimeFailure(f"{qname} {rdtype}: bad answer from {where}: {error}") from None
    answer = DnsAnswer(qname=qname, rdtype=rdtype, rcode=dns.rcode.to_text(response.rcode()))
    for rrset in response.answer:
        for rdata in rrset:
            answer.records.append(DnsRecord(name=rrset.name.to_text(), ttl=rrset.ttl,
                                            rdtype=dns.rdatatype.to_text(rrset.rdtype), value=rdata.to_text()))
    return answer


def reverse_name(address: str) -> str:
    """The in-addr.arpa / ip6.arpa name a PTR query asks for."""
    import dns.reversename

    return dns.reversename.from_address(address.split("%", 1)[0]).to_text()


def libc_inet_aton(text: str) -> str | None:
    """What the C library's inet_aton makes of `text` (a cross-check for --forms)."""
    try:
        return socket.inet_ntoa(socket.inet_aton(text))
    except (OSError, ValueError):
        return None
