"""`netinspect resolve [HOST...]`: names to addresses and back, the local host name, the
address forms inet_aton accepts, and direct DNS queries, every lookup with a deadline."""

from __future__ import annotations

SUMMARY = "names to addresses and back (getaddrinfo, reverse lookup), the local host name, inet_aton's address forms, direct DNS queries"
EXAMPLES = [
    "netinspect resolve                      # this host's name and its addresses",
    "netinspect resolve localhost example.org",
    "netinspect resolve 127.0.0.1            # reverse lookup",
    "netinspect resolve --forms 127.1        # how inet_aton reads short and numeric forms",
    "netinspect resolve --server 10.0.0.53 --type A,AAAA,CNAME www.example.org",
]


def add_arguments(parser) -> None:
    parser.add_argument("hosts", nargs="*", metavar="HOST", help="host names (forward lookup) or IP addresses (reverse)")
    parser.add_argument("--forms", metavar="ADDR", help="show how inet_aton reads ADDR (127.1, 2130706433, 0x7f000001, 017700000001)")
    parser.add_argument("--server", metavar="ADDR[:PORT]", help="ask this DNS server directly and show records with their TTL")
    parser.add_argument("--type", action="append", metavar="TYPE",
                        help="record types for --server, comma-separated or repeated (default A,AAAA)")
    parser.add_argument("--timeout", metavar="SECONDS", default="5", help="deadline for each lookup (default 5)")


def run(args, env) -> int:
    from netinspect.core import hostnames
    from netinspect.core.errors import BadInput
    from netinspect.core.timeouts import parse_timeout

    # All text is checked first: a refused value never reaches the resolver.
    timeout = parse_timeout(args.timeout)
    if args.forms is not None:
        if args.hosts or args.server or args.type:
            raise BadInput("--forms ADDR takes no HOST, --server or --type; run it on its own")
        return _forms(args, env)
    targets = [hostnames.parse_target(text) for text in args.hosts]
    server = hostnames.parse_server(args.server) if args.server is not None else None
    if args.type and server is None:
        raise BadInput("--type chooses DNS record types and needs --server ADDR; without it the system resolver "
                       "returns addresses only")
    types = hostnames.parse_record_types(args.type)
    if server is not None and not targets:
        raise BadInput("--server needs at least one HOST to ask about")

    from netinspect.adapters import names
    from netinspect.core.errors import RuntimeFailure

    results, errors = [], []
    host = None
    if server is not None:
        for target in targets:
            if target.is_address:
                qname, qtypes = names.reverse_name(target.address), ["PTR"]
            else:
                qname, qtypes = target.name.ascii, types
            for qtype in qtypes:
                try:
                    answer = names.query(server[0], server[1], qname, qtype, timeout)
                except RuntimeFailure as error:
                    errors.append(error.message)
                    if "timeout" in error.message:
                        break  # the server is not answering: do not wait again for each type
                    continue
                results.append({"kind": "dns", "query": target.text, "qname": qname, "type": qtype,
                                "server": f"[{server[0]}]:{server[1]}" if ":" in server[0] else f"{server[0]}:{server[1]}", "rcode": answer.rcode,
                                "records": [r.as_json() for r in answer.records]})
                if answer.rcode == "NXDOMAIN":
                    # The name does not exist for any type: asking for the others adds nothing.
                    errors.append(f"{target.text}: no such name (the server answered NXDOMAIN)")
                    break
                if answer.rcode != "NOERROR":
                    errors.append(f"{target.text} {qtype}: the server answered {answer.rcode}")
    else:
        if not targets:
            name = names.host_name()
            host = {"hostname": name}
            try:
                target_name = hostnames.validate_host_name(name)
                targets = [hostnames.Target(text=name, name=target_name)]
            except BadInput:
                errors.append(f"this host's name {name!r} is not a valid host name, so it is not looked up")
        for target in targets:
            try:
                if target.is_address:
                    found = names.reverse(target.address, timeout)
                    results.append({"kind": "address", "query": target.text, "address": target.address,
                                    "name": found.name, "aliases": found.aliases})
                else:
                    found = names.forward(target.name.ascii, timeout)
                    results.append({"kind": "name", "query": target.text, "name": target.name.ascii,
                                    "unicode": target.name.unicode, "canonical": found.canonical,
                                    "addresses": [{"family": f, "address": a} for f, a in found.addresses]})
            except RuntimeFailure as error:
                message = error.message
                if not target.is_address and target.name.unicode != target.name.ascii \
                        and message.startswith(target.name.ascii + ":"):
                    # Name the IDNA name in both forms, as a successful lookup does.
                    message = f"{target.name.unicode} (IDNA: {target.name.ascii}){message[len(target.name.ascii):]}"
                errors.append(message)

    if args.json:
        from netinspect.render.jsonout import document, dumps

        body = {"results": results, "errors": errors}
        if host is not None:
            body["host"] = host
        env.out(dumps(document("resolve", **body)))
    else:
        from netinspect.render import resolve_view

        blocks = []
        if host is not None:
            blocks.append(resolve_view.render_host(host, results[0] if results else None))
            results = results[1:]
        for result in results:
            if result["kind"] == "dns":
                blocks.append(resolve_view.render_dns(result))
            elif result["kind"] == "address":
                blocks.append(resolve_view.render_reverse(result))
            else:
                blocks.append(resolve_view.render_forward(result))
        if blocks:
            env.out("\n\n".join(blocks))
    for message in errors:
        env.err(f"netinspect: {message}")
    return 1 if errors else 0


def _forms(args, env) -> int:
    from netinspect.adapters.names import libc_inet_aton
    from netinspect.core import hostnames
    from netinspect.core.errors import BadInput

    text = args.forms
    if text and all(ord(ch) > 32 and ord(ch) != 127 for ch in text):
        reading = hostnames.read_inet_aton(text)
    else:
        reading = None
    if reading is None:
        raise BadInput(f"--forms {hostnames.show(text)} is not an IPv4 form inet_aton accepts; accepted: 1 to 4 "
                       "dot-separated parts, each decimal, octal (leading 0) or hex (0x), e.g. 127.1, 2130706433, 0x7f000001")
    forms = {
        "text": text,
        "dotted": reading.dotted,
        "value": reading.value,
        "parts": [{"text": p.text, "base": p.base, "value": p.value, "bits": p.bits} for p in reading.parts],
        "equivalents": hostnames.equivalent_forms(reading.value),
        "strict": reading.strict,
        "libc": libc_inet_aton(text),
    }
    if args.json:
        from netinspect.render.jsonout import document, dumps

        env.out(dumps(document("resolve-forms", **forms)))
    else:
        from netinspect.render.resolve_view import render_forms

        env.out(render_forms(forms))
    return 0
