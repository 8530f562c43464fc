"""`netinspect subnet`: the segment an address is on, derived bit by bit.

Also --split N / --hosts K (subnetting), --contains ADDRESS and --supernet NET....
`--contains` exits 0 whether the answer is yes or no (the answer is in the text and in
JSON `contains`); only bad input changes the exit status (2).
"""

from __future__ import annotations

SUMMARY = ("the segment of an address: address AND mask bit by bit, network, broadcast, hosts, "
           "wildcard, class and kind; --split, --hosts, --contains, --supernet")
EXAMPLES = [
    "netinspect subnet 192.168.12.84/24",
    "netinspect subnet 192.168.12.84 255.255.255.0",
    "netinspect subnet 2001:db8::1/64",
    "netinspect subnet 10.0.0.0/24 --split 26",
    "netinspect subnet 10.0.0.0/24 --hosts 50",
    "netinspect subnet 10.0.0.0/8 --contains 10.20.30.40",
    "netinspect subnet --supernet 10.0.0.0/24 10.0.1.0/24",
]

DEFAULT_LIMIT = 256
MAX_LIMIT = 65536
_MAX_DIGITS = 40  # more digits than any host count in IPv6 (2^128 has 39)


def add_arguments(parser) -> None:
    parser.add_argument("cidr", nargs="?", metavar="CIDR",
                        help="192.168.12.84/24, 192.168.12.84/255.255.255.0, a bare address (/32 or /128), "
                             "or IPv6 such as 2001:db8::1/64")
    parser.add_argument("mask", nargs="?", metavar="MASK",
                        help="the netmask as a separate word (192.168.12.84 255.255.255.0) or a prefix length")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--split", metavar="N", help="list the subnets of prefix length N inside the network")
    mode.add_argument("--hosts", metavar="K",
                      help="the smallest subnet holding K usable hosts, and the network split into such subnets")
    mode.add_argument("--contains", metavar="ADDRESS",
                      help="is ADDRESS (or a network ADDRESS/LEN) inside the network? exit status 0 either way")
    mode.add_argument("--supernet", nargs="+", metavar="NET",
                      help="the smallest network covering these networks (and CIDR if given), "
                           "and whether they aggregate exactly")
    parser.add_argument("--limit", metavar="N", default=str(DEFAULT_LIMIT),
                        help=f"list at most N subnets with --split/--hosts (default {DEFAULT_LIMIT}, "
                             f"at most {MAX_LIMIT})")


def run(args, env) -> int:
    from netinspect.core import subnet as core
    from netinspect.core.errors import BadInput
    from netinspect.render import jsonout
    from netinspect.render import subnet_view as view

    limit = _count_option("--limit", args.limit, 1, MAX_LIMIT, f"a whole number from 1 to {MAX_LIMIT}")

    if args.supernet is not None:
        nets = []
        if args.cidr is not None:
            nets.append(core.parse_subnet(args.cidr, args.mask))
        for text in args.supernet:
            try:
                nets.append(core.parse_subnet(text))
            except BadInput as error:
                raise BadInput(f"--supernet {error.message}") from None
        versions = {n.version for n in nets}
        if len(versions) > 1:
            raise BadInput("--supernet mixes IPv4 and IPv6 networks ("
                           + ", ".join(str(n) for n in nets[:4]) + "); give networks of one family")
        result = core.supernet_of(nets)
        if args.json:
            env.out(jsonout.dumps(jsonout.document("subnet", **view.supernet_json(result))))
        else:
            env.out(view.supernet_text(result, env.color))
        return 0

    if args.cidr is None:
        raise BadInput(f"missing CIDR: give an address such as 192.168.12.84/24; {core.ACCEPTED}")
    subnet = core.parse_subnet(args.cidr, args.mask)
    bits = core.BITS[subnet.version]

    if args.split is not None or args.hosts is not None:
        parent = subnet
        header = None
        extra: dict = {}
        if args.split is not None:
            new_prefix = _prefix_option("--split", args.split, parent)
        else:
            wanted = _count_option("--hosts", args.hosts, 1, None, "a whole number of hosts, 1 or more")
            new_prefix = core.prefix_for_hosts(parent.version, wanted)
            if new_prefix is None or new_prefix < parent.prefixlen:
                need = "more than the whole IPv%d address space" % parent.version if new_prefix is None else \
                    f"a /{new_prefix} ({view.count_text(core.usable_hosts(parent.version, new_prefix))} usable)"
                raise BadInput(f"--hosts {args.hosts}: {wanted:,} hosts need {need}, larger than "
                               f"{parent.network_text} ({view.count_text(parent.usable_hosts)} usable); "
                               f"accepted: 1 to {parent.usable_hosts:,} for this network")
            usable = core.usable_hosts(parent.version, new_prefix)
            header = f"Smallest subnet for {wanted:,} usable host{'' if wanted == 1 else 's'}: /{new_prefix} " \
                     f"({view.count_text(usable)} usable"
            if new_prefix < bits:
                header += f"; a /{new_prefix + 1} holds only " \
                          f"{view.count_text(core.usable_hosts(parent.version, new_prefix + 1))}"
            header += ")"
            if parent.version == 4 and new_prefix == 31:
                header += "\nA /31 holds two hosts only on a point-to-point link (RFC 3021); a LAN needs a /30."
            extra = {"hosts_wanted": wanted, "hosts_prefixlen": new_prefix}
        total = parent.split_count(new_prefix)
        children = list(parent.split(new_prefix, limit=limit))
        if args.json:
            body = view.overview_json(parent)
            body.update(extra)
            body.update(mode="hosts" if args.hosts is not None else "split", split_prefixlen=new_prefix,
                        subnet_count=total, listed=len(children), truncated=total > len(children),
                        subnets=[view.subnet_json(c) for c in children])
            env.out(jsonout.dumps(jsonout.document("subnet", **body)))
        else:
            env.out(view.split_text(parent, new_prefix, children, total, header, env.color))
        return 0

    if args.contains is not None:
        text = args.contains
        is_network = "/" in text
        if is_network:
            try:
                other = core.parse_subnet(text)
            except BadInput as error:
                raise BadInput(f"--contains {error.message}") from None
        else:
            version, value = core.parse_address(text, "--contains address")
            other = core.Subnet(version, value, core.BITS[version])
        answer, reason = view.contains_result(subnet, other, is_network)
        if args.json:
            body = view.overview_json(subnet)
            body.update(mode="contains", contains=answer,
                        contains_query=other.network_text if is_network else other.address_text,
                        contains_reason=reason)
            env.out(jsonout.dumps(jsonout.document("subnet", **body)))
        else:
            env.out(view.contains_text(subnet, other, is_network, env.color))
        return 0

    if args.json:
        env.out(jsonout.dumps(jsonout.document("subnet", mode="overview", **view.overview_json(subnet))))
    else:
        env.out(view.overview_text(subnet, env.color))
    return 0


def _count_option(name: str, text: str, low: int, high: int | None, accepted: str) -> int:
    from netinspect.core.errors import BadInput
    from netinspect.core.subnet import shown

    if not text or not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS:
        raise BadInput(f"bad {name} {shown(text)}: not a whole number in ASCII digits; accepted: {accepted}")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise BadInput(f"bad {name} {shown(text)}: out of range; accepted: {accepted}")
    return value


def _prefix_option(name: str, text: str, parent) -> int:
    from netinspect.core.errors import BadInput
    from netinspect.core.subnet import BITS, AddressSyntaxError, _check_characters, parse_prefix_text, shown

    bits = BITS[parent.version]
    accepted = f"accepted: a prefix length from /{parent.prefixlen} to /{bits} for {parent.network_text}"
    try:
        _check_characters(text)
        prefix = parse_prefix_text(text[1:] if text.startswith("/") else text, parent.version)
    except AddressSyntaxError as error:
        raise BadInput(f"bad {name} {shown(text)}: {error}; {accepted}") from None
    if prefix < parent.prefixlen:
        raise BadInput(f"bad {name} {shown(text)}: /{prefix} is shorter than the network's /{parent.prefixlen}; "
                       f"splitting makes longer prefixes (use --supernet to go up); {accepted}")
    return prefix
