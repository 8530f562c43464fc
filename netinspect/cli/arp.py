"""`arp`: the kernel's neighbour table, or a live who-has exchange with one address."""

from __future__ import annotations

import ipaddress

from netinspect.core.errors import BadInput, EXIT_FAILURE, EXIT_OK

SUMMARY = "show the neighbour (ARP/NDP) table, or ask who has an IPv4 address and show the exchange"
EXAMPLES = [
    "netinspect arp                         # IPv4 and IPv6 neighbours with state and interface",
    "netinspect arp --json",
    "netinspect arp 192.168.1.1             # who-has, broadcast request and unicast reply (root)",
    "netinspect arp 10.77.3.2 -i eth1 --count 3 --timeout 0.5",
]

MAX_COUNT = 1000
MAX_TIMEOUT = 60.0


def add_arguments(parser) -> None:
    parser.add_argument("ip", nargs="?", help="IPv4 address to ask for (omit to list the neighbour table)")
    parser.add_argument("-i", "--iface", help="interface to send on (default: the one the route to IP uses)")
    parser.add_argument("--count", default="1", help=f"requests to send, 1 to {MAX_COUNT} (default 1)")
    parser.add_argument("--timeout", default="1", help=f"seconds to wait for each reply, up to {MAX_TIMEOUT:g} (default 1)")
    parser.add_argument("-4", dest="family", action="store_const", const=4, help="list IPv4 neighbours only")
    parser.add_argument("-6", dest="family", action="store_const", const=6, help="list IPv6 neighbours only")
    parser.add_argument("--all", action="store_true", help="list NOARP entries too (loopback, multicast), as 'ip neigh show nud all'")
    parser.add_argument("--source", choices=("auto", "netlink", "proc"), default="auto",
                        help="where to read the table: netlink (IPv4 and IPv6), /proc/net/arp (IPv4 only), auto")


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_COUNT:
        raise BadInput(f"--count {text!r}: expected a whole number from 1 to {MAX_COUNT}")
    return int(text)


def _timeout(text: str) -> float:
    from netinspect.core.timeouts import parse_timeout

    return parse_timeout(text, maximum=MAX_TIMEOUT)


def _target(text: str) -> str:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise BadInput(f"{text!r} is not an IPv4 address; expected dotted quad like 192.168.1.1") from None
    if addr.version != 4:
        raise BadInput(f"{text}: ARP is for IPv4 only (IPv6 uses neighbour discovery); give an IPv4 address")
    if addr.is_multicast or addr.is_unspecified or str(addr) == "255.255.255.255" or addr.is_loopback:
        raise BadInput(f"{text}: cannot be asked for with ARP; give a unicast IPv4 address on a local link")
    return str(addr)


def run(args, env) -> int:
    if args.ip is None:
        from netinspect.adapters import neighbors
        from netinspect.render import arp_view
        from netinspect.render.jsonout import document, dumps

        rows, how = neighbors.read_table(args.source, args.family)
        if not args.all:
            # Like `ip neigh show`: NOARP entries (loopback, multicast mappings) are not neighbours.
            rows = [n for n in rows if "NOARP" not in n.state and n.state != ("NONE",)]
        if args.json:
            env.out(dumps(document("arp-table", source=how, neighbours=[n.as_dict() for n in rows])))
        else:
            env.out(arp_view.neighbour_table(rows, how, env.color))
        return EXIT_OK

    if args.family == 6:
        raise BadInput("-6 applies to listing the table; ARP who-has is IPv4 only")
    target = _target(args.ip)
    count = _count(args.count)
    timeout = _timeout(args.timeout)
    from netinspect.adapters import arp_probe

    if args.iface is not None:
        arp_probe.check_iface(args.iface)      # bad input is exit 2 whatever the privilege
    arp_probe.require_raw_privilege("sending ARP")
    result = arp_probe.probe(target, args.iface, count, timeout)
    from netinspect.render import arp_view
    from netinspect.render.jsonout import document, dumps

    if args.json:
        env.out(dumps(document("arp-probe", **arp_view.probe_dict(result))))
    else:
        env.out(arp_view.probe_text(result, env.color))
    if not result.answered:
        if args.json:
            env.err(f"netinspect: no answer from {target} on {result.iface} after {count} request{'s' if count != 1 else ''}")
        return EXIT_FAILURE
    return EXIT_OK
