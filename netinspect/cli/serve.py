"""`netinspect serve tcp|udp`: echo, upper-case echo, chat room, time service or discard."""

from __future__ import annotations

SUMMARY = "run a TCP or UDP server on this machine: echo, upper-case echo, chat room, time service or discard"
EXAMPLES = [
    "netinspect serve tcp --port 9000 --mode upper            # the lessons' echo server",
    "netinspect serve tcp --port 9000 --mode chat             # relay every line to everyone else",
    "netinspect serve udp --port 8080 --mode time             # answer a strftime format with the time",
    "netinspect serve tcp --port 9000 --framing raw -v        # show each read (see 'connect --burst')",
    "netinspect serve tcp --port 9000 --framing length        # 4-byte big-endian length prefix",
]

DEFAULT_BIND = "127.0.0.1"
MAX_JSON_EVENTS = 10000


def add_arguments(parser) -> None:
    parser.add_argument("protocol", metavar="tcp|udp", help="transport: tcp (a byte stream) or udp (datagrams)")
    parser.add_argument("--port", default="0", metavar="P", help="port to listen on, 0-65535 (default 0: a free port, printed)")
    parser.add_argument("--bind", default=DEFAULT_BIND, metavar="ADDR",
                        help="address to listen on (default 127.0.0.1; anything else is reachable from other machines)")
    parser.add_argument("--mode", default="echo", metavar="MODE",
                        help="echo | upper (echo in upper case) | chat (relay to every other client) | "
                             "time (answer the time; a request is a strftime format) | discard (default echo)")
    parser.add_argument("--framing", default="line", metavar="F",
                        help="line (newline-terminated) | raw (each read is a message) | length (4-byte big-endian "
                             "length prefix, struct '!I'); default line")
    parser.add_argument("--no-reuseaddr", action="store_true",
                        help="do not set SO_REUSEADDR: shows 'address already in use' while a closed connection is in TIME_WAIT")
    parser.add_argument("--max-clients", default="1024", metavar="N", help="clients served at once (default 1024)")
    parser.add_argument("--max-message", default="65536", metavar="BYTES",
                        help="longest line / largest length-prefixed message (default 65536)")
    parser.add_argument("--max-buffered", default="1048576", metavar="BYTES",
                        help="bytes queued for a client that is not reading before it is closed (default 1048576)")
    parser.add_argument("--idle-timeout", default="300", metavar="SECONDS", help="close a silent client after this long (default 300)")
    parser.add_argument("--duration", default=None, metavar="SECONDS", help="stop after this long (default: until Ctrl-C)")
    parser.add_argument("--trace", action="store_true", help="capture the session and print its ladder at the end (needs root)")


def _positive_int(text: str, option: str, low: int = 1, high: int = 1 << 31) -> int:
    from netinspect.core.errors import BadInput

    if not text.isascii() or not text.isdigit() or not (low <= int(text) <= high):
        raise BadInput(f"{option} {text!r} is not valid; accepted: a whole number {low}-{high}")
    return int(text)


def _seconds(text: str, option: str) -> float:
    from netinspect.core.timeouts import parse_timeout

    return parse_timeout(text, option=option, maximum=86400 * 366)


def validate(args):
    """Check every option before opening anything; return (protocol, port, caps, duration)."""
    from netinspect.adapters.socket_loop import Caps
    from netinspect.core.errors import BadInput
    from netinspect.core.framing import FRAMINGS
    from netinspect.core.hostport import parse_port
    from netinspect.core.sessions import MODES

    protocol = args.protocol.lower()
    if protocol not in ("tcp", "udp"):
        raise BadInput(f"protocol {args.protocol!r} is not supported; accepted: tcp, udp")
    if args.mode not in MODES:
        raise BadInput(f"--mode {args.mode!r} is not a mode; accepted: {', '.join(MODES)}")
    if args.framing not in FRAMINGS:
        raise BadInput(f"--framing {args.framing!r} is not a framing; accepted: {', '.join(FRAMINGS)}")
    if protocol == "udp" and args.framing == "length":
        raise BadInput("--framing length is for TCP byte streams; UDP datagrams keep their boundaries "
                       "(accepted for udp: line, raw)")
    port = parse_port(args.port, what="--port")
    if not _is_bind_address(args.bind):
        raise BadInput(f"--bind {args.bind!r} is not an IP address; accepted: an address of this machine such as "
                       "127.0.0.1, ::1, 0.0.0.0 (every IPv4 address), :: (every address), or localhost")
    caps = Caps(max_clients=_positive_int(args.max_clients, "--max-clients", 1, 100000),
                max_message=_positive_int(args.max_message, "--max-message", 1, 1 << 30),
                max_buffered=_positive_int(args.max_buffered, "--max-buffered", 1024, 1 << 31),
                idle_timeout=_seconds(args.idle_timeout, "--idle-timeout"))
    duration = None if args.duration is None else _seconds(args.duration, "--duration")
    return protocol, port, caps, duration


def _is_bind_address(text: str) -> bool:
    import ipaddress

    if text == "localhost":
        return True
    try:
        ipaddress.ip_address(text.split("%", 1)[0] if text.count("%") == 1 and ":" in text else text)
    except ValueError:
        return False
    return True


def run(args, env) -> int:
    import signal
    import threading

    from netinspect.core.errors import EXIT_INTERRUPTED
    from netinspect.core.hostport import is_loopback_text
    from netinspect.adapters import socket_loop
    from netinspect.core.sessions import make_service
    from netinspect.render.jsonout import document, dumps

    protocol, port, caps, duration = validate(args)
    if args.trace:
        from netinspect.cli.session_trace import SessionTrace

        SessionTrace.check_privilege()
    verbose = args.verbose
    json_mode = args.json
    events: list[dict] = []
    events_dropped = [0]
    # serve udp --trace: the socket is bound (so the port is known) before the capture can
    # start; hold the "serving ... on" line until the capture is ready, so no client learns
    # the port from it before its datagrams can be captured.
    held: list | None = [] if args.trace and protocol == "udp" else None

    def show(event) -> None:
        if held is not None:
            held.append(event)
            return
        if json_mode:
            if not event.detail or verbose:
                if len(events) < MAX_JSON_EVENTS:
                    events.append({"ts": event.time, "kind": event.kind, "peer": event.peer, "text": event.text})
                else:
                    events_dropped[0] += 1  # a long-running server must not grow without bound
            return
        if event.detail and not verbose:
            return
        stamp = _clock(event.time)
        who = f"{event.peer} " if event.peer and event.kind != "listening" else ""
        if event.kind == "listening":
            env.out(f"{stamp} serving {event.text} on {event.peer}  (Ctrl-C to stop)")
        else:
            env.out(f"{stamp} {who}{event.text}")
        env.stdout.flush()

    service = make_service(args.mode)
    server_class = socket_loop.TcpServer if protocol == "tcp" else socket_loop.UdpServer
    socket_loop.raise_nofile_limit(caps.max_clients * 2 + 64)
    server = server_class(service, args.framing, args.bind, port, caps,
                          reuseaddr=not args.no_reuseaddr, on_event=show)
    trace = None
    if args.trace:
        from netinspect.cli.session_trace import SessionTrace, capture_interface

        def start_trace(address) -> None:
            nonlocal trace
            trace = SessionTrace(env, args, address[1], capture_interface(address[0], 0),
                                 title=f"Trace of the TCP connections to serve {args.mode} on "
                                       f"{socket_loop.peer_text(address)}")
            trace.start()  # bound but not yet listening: no SYN can be answered before the capture is ready

        if protocol == "tcp":
            server.open(before_listen=start_trace)
        else:
            def start_udp_trace(address) -> None:
                nonlocal trace
                trace = SessionTrace(env, args, address[1], capture_interface(address[0], 0),
                                     title=f"Trace of the UDP datagrams to serve {args.mode} on "
                                           f"{socket_loop.peer_text(address)}", protocol="udp")
                trace.start()

            if port and args.bind != "localhost":
                # A known port: capture first, so a client already sending is seen from its first datagram.
                start_udp_trace((args.bind, port))
                try:
                    server.open()
                except BaseException:
                    trace.abandon()
                    raise
            else:
                address = server.open()
                try:
                    start_udp_trace(address)
                except BaseException:
                    server.close()
                    raise
            waiting, held = held, None
            for event in waiting:
                show(event)
    else:
        server.open()
    if not is_loopback_text(args.bind):
        env.err(f"warning: listening on {args.bind}: not loopback, so other machines can reach this server "
                "(every client can send it data); use --bind 127.0.0.1 to keep it local")
    interrupted = False
    sigint_seen: list[bool] = []
    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C asks the loop to stop at a safe point: a KeyboardInterrupt raised between a
        # send() and its bookkeeping would resend bytes the client already has.
        def on_sigint(signum, frame):
            sigint_seen.append(True)
            server.stop()

        previous_handler = signal.signal(signal.SIGINT, on_sigint)
    try:
        server.serve(duration)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        open_clients = server.close()
    interrupted = interrupted or bool(sigint_seen)
    stats = server.stats
    if json_mode:
        traced = {"trace": trace.finish(interrupted)} if trace is not None else {}
        env.out(dumps(document("serve", protocol=protocol, mode=args.mode, framing=args.framing,
                               address=socket_loop.peer_text(server.address), interrupted=interrupted,
                               clients_closed_at_exit=open_clients, stats=stats.as_dict(), events=events,
                               events_not_listed=events_dropped[0],
                               **traced)))
    else:
        why = "interrupted (Ctrl-C)" if interrupted else "stopped"
        errors = ", ".join(f"{k} {v}" for k, v in sorted(stats.errors.items())) or "none"
        closed = (f"closed {open_clients} open client{'s' if open_clients != 1 else ''}" if protocol == "tcp"
                  else f"forgot {open_clients} active peer{'s' if open_clients != 1 else ''}")
        env.out(f"{why}: {closed}; "
                f"served {stats.accepted}, refused {stats.refused_full} (full), {_plural(stats.reads, 'read')}, "
                f"{_plural(stats.messages_in, 'message')} in, {_plural(stats.bytes_in, 'byte')} in, "
                f"{_plural(stats.bytes_out, 'byte')} out; errors: {errors}"
                + (f"; truncated datagrams {stats.truncated}" if stats.truncated else ""))
        if trace is not None:
            trace.finish(interrupted)
    return EXIT_INTERRUPTED if interrupted else 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _clock(ts: float) -> str:
    import time

    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
