"""`netinspect port SERVICE|NUMBER[/PROTO]...`: service names and ports both ways, the
range class, and an optional TCP reachability check."""

from __future__ import annotations

SUMMARY = "service name to port and back, the port's range class (well-known/registered/dynamic), optional TCP check"
EXAMPLES = [
    "netinspect port mysql            # 3306/tcp",
    "netinspect port 53               # domain on tcp and udp",
    "netinspect port 8080/udp",
    "netinspect port 22 --check 127.0.0.1 --timeout 1   # open, closed (RST) or filtered (no answer)",
]


def add_arguments(parser) -> None:
    parser.add_argument("ports", nargs="+", metavar="SERVICE|NUMBER[/PROTO]",
                        help="a port number 0-65535 or a service name, optionally /tcp or /udp")
    parser.add_argument("--check", metavar="HOST", help="try a TCP connect to HOST on each port: open, closed or filtered")
    parser.add_argument("--timeout", metavar="SECONDS", default="5",
                        help="how long a lookup or connect may take (default 5)")


def run(args, env) -> int:
    from netinspect.core.errors import BadInput
    from netinspect.core.hostnames import parse_target
    from netinspect.core.ports import PROTOCOLS, RANGES, parse_port_spec, range_class
    from netinspect.core.timeouts import parse_timeout

    # Every piece of text is checked before anything is looked up or sent.
    timeout = parse_timeout(args.timeout)
    specs = [parse_port_spec(text) for text in args.ports]
    target = parse_target(args.check) if args.check is not None else None

    from netinspect.adapters import services

    rows = []
    for spec in specs:
        protos = [spec.proto] if spec.proto else list(PROTOCOLS)
        if spec.number is not None:
            for proto in protos:
                rows.append(_row(spec.text, spec.number, proto, services.service_of(spec.number, proto), range_class))
        else:
            found = [(proto, services.port_of(spec.service, proto)) for proto in protos]
            found = [(proto, number) for proto, number in found if number is not None]
            if not found:
                where = f"/{spec.proto}" if spec.proto else " (tcp or udp)"
                raise BadInput(f"unknown service {spec.service!r}{where}: not in the services database; "
                               "accepted: a port number 0-65535 or a service name such as http, ssh, mysql")
            for proto, number in found:
                # The canonical name: `www` is an alias of http in most services files.
                rows.append(_row(spec.text, number, proto, services.service_of(number, proto) or spec.service, range_class))

    checks = []
    if target is not None:
        tcp_ports = list(dict.fromkeys(r["port"] for r in rows if r["proto"] == "tcp"))
        if not tcp_ports:
            raise BadInput(f"--check tries a TCP connect, but {', '.join(args.ports)} names no TCP port; add /tcp or drop /udp")
        if 0 in tcp_ports:
            raise BadInput("--check: port 0 cannot be connected to; accepted: ports 1-65535")
        address, family = _address_for(target, timeout)
        for number in tcp_ports:
            result = services.tcp_check(target.text, address, family, number, timeout)
            checks.append(result.as_json())

    ranges = {name: f"{first}-{last}, {text}" for first, last, name, text in RANGES}
    if args.json:
        from netinspect.render.jsonout import document, dumps

        env.out(dumps(document("port", ports=rows, checks=checks)))
    else:
        from netinspect.render.port_view import render_ports

        env.out(render_ports(rows, ranges, checks, color=env.color))
    not_open = [f"{c['port']}/tcp {c['state']}" for c in checks if c["state"] != "open"]
    if not_open:
        # Exit 1 like `ncat -z`, with the one-line summary every failure gets on stderr.
        env.err(f"netinspect: {target.text}: not every port is open: {', '.join(not_open)}")
        return 1
    return 0


def _row(query, number, proto, service, range_class) -> dict:
    name, _ = range_class(number)
    return {"query": query, "port": number, "proto": proto, "service": service, "range": name}


def _address_for(target, timeout):
    if target.is_address:
        return target.address, "inet6" if target.version == 6 else "inet"
    from netinspect.adapters.names import forward

    result = forward(target.name.ascii, timeout)
    if not result.addresses:
        from netinspect.core.errors import RuntimeFailure

        raise RuntimeFailure(f"{target.text}: no addresses to check")
    family, address = result.addresses[0]
    return address, family
