"""`netinspect connect tcp|udp HOST:PORT`: send standard input (or --send) and print what comes back."""

from __future__ import annotations

SUMMARY = "connect to a TCP or UDP server, send standard input (or --send TEXT) and print the replies"
EXAMPLES = [
    "netinspect connect tcp 127.0.0.1:9000                      # type lines; Ctrl-D ends, Ctrl-C aborts",
    "netinspect connect tcp 127.0.0.1:9000 --send hello         # one message, then print the answer",
    "netinspect connect udp 127.0.0.1:8080 --send '%H:%M:%S'    # ask a time server for the time",
    "netinspect connect tcp 127.0.0.1:9000 --framing raw --burst 20 --send hi   # 20 sends, fewer reads",
    "netinspect connect tcp 127.0.0.1:9000 --framing length --send hello --count 3",
]


def add_arguments(parser) -> None:
    parser.add_argument("protocol", metavar="tcp|udp", help="transport: tcp or udp")
    parser.add_argument("address", metavar="HOST:PORT", help="server address, e.g. 127.0.0.1:9000 or [::1]:9000")
    parser.add_argument("--send", metavar="TEXT", help="send TEXT instead of reading standard input")
    parser.add_argument("--count", default="1", metavar="N", help="send the --send message N times (default 1)")
    parser.add_argument("--interval", default="0", metavar="SECONDS", help="pause between --count sends (default 0)")
    parser.add_argument("--burst", default=None, metavar="N",
                        help="send N small messages in N back-to-back send() calls and report how many reads "
                             "brought the answers (TCP is a byte stream: sends are not messages)")
    parser.add_argument("--framing", default="line", metavar="F",
                        help="line | raw | length (must match the server; default line)")
    parser.add_argument("--timeout", default="5", metavar="SECONDS", help="connect and send timeout (default 5)")
    parser.add_argument("--wait", default="2", metavar="SECONDS",
                        help="after the input ends, wait this long for more replies (default 2)")
    parser.add_argument("--trace", action="store_true", help="capture the session and print its ladder at the end (needs root)")


def _count(text: str, option: str, high: int) -> int:
    from netinspect.core.errors import BadInput

    if not text.isascii() or not text.isdigit() or not (1 <= int(text) <= high):
        raise BadInput(f"{option} {text!r} is not valid; accepted: a whole number 1-{high}")
    return int(text)


def _seconds(text: str, option: str, allow_zero: bool = False) -> float:
    from netinspect.core.errors import BadInput

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    low_ok = value >= 0 if allow_zero else value > 0
    if not text.isascii() or not low_ok or value > 3600 or value != value:
        raise BadInput(f"{option} {text!r} is not valid; accepted: seconds, a number "
                       f"{'0 or more' if allow_zero else 'above 0'} and at most 3600")
    return value


def run(args, env) -> int:
    from netinspect.adapters.session_client import SessionClient
    from netinspect.core.errors import EXIT_INTERRUPTED, BadInput
    from netinspect.core.framing import FRAMINGS
    from netinspect.core.hostport import parse_host_port
    from netinspect.render.jsonout import document, dumps

    protocol = args.protocol.lower()
    if protocol not in ("tcp", "udp"):
        raise BadInput(f"protocol {args.protocol!r} is not supported; accepted: tcp, udp")
    host, port = parse_host_port(args.address)
    if args.framing not in FRAMINGS:
        raise BadInput(f"--framing {args.framing!r} is not a framing; accepted: {', '.join(FRAMINGS)}")
    if protocol == "udp" and args.framing == "length":
        raise BadInput("--framing length is for TCP byte streams; UDP datagrams keep their boundaries "
                       "(accepted for udp: line, raw)")
    count = _count(args.count, "--count", 1_000_000)
    burst = None if args.burst is None else _count(args.burst, "--burst", 100_000)
    interval = _seconds(args.interval, "--interval", allow_zero=True)
    timeout = _seconds(args.timeout, "--timeout")
    wait = _seconds(args.wait, "--wait", allow_zero=True)
    trace = None
    if args.trace:
        import socket

        from netinspect.adapters.session_client import resolve
        from netinspect.cli.session_trace import SessionTrace, capture_interface

        SessionTrace.check_privilege()
        kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        family, sockaddr = resolve(host, port, kind)
        trace = SessionTrace(env, args, port, capture_interface(sockaddr[0], family),
                             title=f"Trace of connect {protocol} to {_where(sockaddr)}", protocol=protocol)
        trace.start()  # confirmed ready before the SYN (TCP) or the first datagram (UDP)

    json_mode = args.json
    replies: list[dict] = []
    show_reads = burst is not None or args.verbose > 0

    def on_reply(message, read_no) -> None:
        if json_mode:
            replies.append({"read": read_no, "bytes": len(message.data), "text": message.shown()})
            return
        text = _terminal_safe(message.shown())
        if show_reads:
            if protocol == "tcp" and args.framing != "raw":
                # Several framed messages can come out of one read: say which read, and the message's size.
                env.out(f"[from read {read_no}, {len(message.data)} bytes] {text}")
            else:
                env.out(f"[read {read_no}, {len(message.data)} bytes] {text}")
        elif args.framing == "raw" and protocol == "tcp":
            env.stdout.write(text)
        else:
            env.out(text)
        env.stdout.flush()

    def on_note(text: str) -> None:
        if not json_mode:
            env.err(f"* {text}")

    client = SessionClient(protocol, host, port, args.framing, timeout=timeout, wait=wait,
                           on_reply=on_reply, on_note=on_note)
    try:
        client.connect()
    except BaseException:
        if trace is not None:
            # A refused or unanswered connect is worth its ladder too (SYN, RST).
            trace.finish(False)
        raise
    local, remote = _where(client.local), _where(client.remote)
    if not json_mode:
        env.err(f"* connected to {remote} from {local} ({protocol}, framing {args.framing})")
    interrupted = False
    try:
        if burst is not None:
            text = args.send if args.send is not None else "msg"
            client.run_messages((f"{text} {i + 1}".encode() if args.send is None else text.encode())
                                for i in range(burst))
        elif args.send is not None:
            client.run_messages((args.send.encode() for _ in range(count)), interval=interval)
        else:
            fd = _fileno(env.stdin)
            if fd is None:
                client.run_text(env.stdin.read().encode())
            else:
                client.run_stream(fd)
    except KeyboardInterrupt:
        interrupted = True
        client._close()
    except BaseException:
        if trace is not None:
            # A datagram to a closed UDP port fails here (ICMP port unreachable): show its ladder too.
            trace.finish(False, only_endpoint=client.local[:2])
        raise
    stats = client.stats
    traced = None
    if trace is not None and json_mode:
        traced = trace.finish(interrupted, only_endpoint=client.local[:2])
    if json_mode:
        env.out(dumps(document("connect", protocol=protocol, local=local, remote=remote, framing=args.framing,
                               interrupted=interrupted, stats=stats.as_dict(), replies=replies,
                               **({"trace": traced} if traced is not None else {}))))
    else:
        # After our FIN (end of input) the server's log says "closed by the client": say the same order here.
        first = "end of input, so the client sent FIN; then " if stats.fin_sent_first else ""
        ended = {"server": f"{first}the server closed the connection",
                 "server reset": f"{first}the server reset the connection",
                 "quiet": f"no more replies within {wait:g} s", "client": "every datagram answered"}.get(
            stats.closed_by, "interrupted (Ctrl-C)" if interrupted else "closed")
        env.err(f"* {ended}: sent {stats.messages_sent} message{'s' if stats.messages_sent != 1 else ''} "
                f"({stats.bytes_sent} byte{'s' if stats.bytes_sent != 1 else ''}) in {stats.sends} send() "
                f"call{'s' if stats.sends != 1 else ''}; received {stats.bytes_received} "
                f"byte{'s' if stats.bytes_received != 1 else ''} in {stats.reads} read{'s' if stats.reads != 1 else ''}, "
                f"{stats.messages_received} message{'s' if stats.messages_received != 1 else ''}")
        if burst is not None and protocol == "tcp":
            env.err(f"* TCP is a byte stream: {stats.sends} sends came back in {stats.reads} read{'s' if stats.reads != 1 else ''} here; "
                    "the server's log shows how many reads it needed"
                    + (" (try --framing length to keep messages apart)" if args.framing == "raw"
                       else f"; --framing {args.framing} cut them back into {stats.messages_received} "
                            f"message{'s' if stats.messages_received != 1 else ''}"))
    if trace is not None and not json_mode:
        trace.finish(interrupted, only_endpoint=client.local[:2])
    return EXIT_INTERRUPTED if interrupted else 0


def _terminal_safe(text: str) -> str:
    """Control characters from the server (NUL, ESC sequences, ...) as \\xNN escapes, so a
    reply cannot garble or drive the terminal; tab and newline stay as they are."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in "\t\n" or ord(ch) > 0x9F else f"\\x{ord(ch):02x}"
                   for ch in text)


def _where(sockaddr) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _fileno(stream):
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return None  # an in-memory stream (tests): read it whole
