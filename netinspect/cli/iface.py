"""`netinspect iface [NAME]`: interfaces with state, MAC, addresses, masks, MTU, gateways."""

from __future__ import annotations

SUMMARY = "interfaces: state, MAC, IPv4/IPv6 addresses with prefix, dotted mask, broadcast and scope, MTU, default gateways"
EXAMPLES = [
    "netinspect iface",
    "netinspect iface lo",
    "netinspect iface --json",
]


def add_arguments(parser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help="show only this interface (e.g. eth0)")


def run(args, env) -> int:
    from netinspect.adapters import interfaces
    from netinspect.core.errors import BadInput
    from netinspect.core.ifnames import validate_ifname

    name = validate_ifname(args.name) if args.name is not None else None
    found = interfaces.list_interfaces(name)
    if name is not None and not found:
        present = ", ".join(sorted(interfaces.interface_names())) or "none"
        raise BadInput(f"no interface named {name!r} here; interfaces: {present}")
    gateways = [gw.as_json() for gw in interfaces.default_gateways()]
    if name is not None:
        gateways = [gw for gw in gateways if gw["dev"] == name]
    data = [iface.as_json() for iface in found]
    if args.json:
        from netinspect.render.jsonout import document, dumps

        env.out(dumps(document("iface", interfaces=data, gateways=gateways)))
        return 0
    from netinspect.render.iface_view import render_interfaces

    env.out(render_interfaces(data, gateways, color=env.color, show_gateways=name is None or bool(gateways)))
    return 0
