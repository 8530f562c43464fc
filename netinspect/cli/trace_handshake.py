"""`netinspect trace-handshake`: run (or watch) a TCP session, capture it, draw its ladder.

The capture is confirmed ready before the first SYN, filtered in the kernel, and saved
as a pcap that `netinspect review` and tshark read back to the same connection.
"""

from __future__ import annotations

import argparse
import socket
import time

SUMMARY = "run a TCP session on loopback (or to a server) and show its handshake and teardown, captured live"
EXAMPLES = [
    "sudo netinspect trace-handshake                      # embedded echo server and client on 127.0.0.1",
    "sudo netinspect trace-handshake --server-closes-first # the server closes first and the client keeps no TIME_WAIT",
    "sudo netinspect trace-handshake --abort               # SO_LINGER 0: the client ends with RST",
    "sudo netinspect trace-handshake --refused             # SYN to a closed port, answered by RST",
    "sudo netinspect trace-handshake --target 127.0.0.1:8080 --write web.pcap",
    "sudo netinspect trace-handshake --listen 9000 --count 2   # trace the next 2 clients of an embedded server",
]

# A client of --listen may be a person typing into ncat: give them time between lines.
LISTEN_IDLE_SECONDS = 300.0

SCENARIO_FLAGS = {
    "server_closes_first": "server-closes-first",
    "abort": "abort",
    "refused": "refused",
    "half_close": "half-close",
}


def _count(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 100000:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}; accepted: a whole number 1 to 100000")
    return int(text)


def _port(text: str) -> int:
    from netinspect.core.hostport import parse_port

    return parse_port(text, what="--listen port", allow_zero=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("what to trace (default: an embedded echo server and client on loopback)")
    where.add_argument("--target", metavar="HOST:PORT", help="trace a connection to an existing server "
                       "(connect, send one line, read the answer, close)")
    where.add_argument("--listen", metavar="PORT", type=_port, help="run an embedded upper-case echo server on "
                       "loopback PORT and trace its clients until --count of them have finished, or Ctrl-C")
    where.add_argument("--count", metavar="N", type=_count, help="with --listen: stop after N clients")
    where.add_argument("--iface", metavar="NAME", help="capture on this interface (default: lo for loopback, "
                       "else the interface the route to the target uses)")
    where.add_argument("-6", dest="ipv6", action="store_true", help="use IPv6 (::1 for the embedded server)")
    where.add_argument("--send", metavar="TEXT", default="hello", help="the message the client sends (default: hello)")
    scenario = parser.add_argument_group("how the connection ends (embedded server and client only)")
    ends = scenario.add_mutually_exclusive_group()
    ends.add_argument("--server-closes-first", action="store_true", help="the server closes first (it holds TIME_WAIT)")
    ends.add_argument("--abort", action="store_true", help="the client closes with SO_LINGER 0: RST instead of FIN")
    ends.add_argument("--refused", action="store_true", help="connect to a closed port: the SYN is answered by RST")
    ends.add_argument("--half-close", action="store_true", help="the client shuts down its sending side first "
                      "(shutdown(SHUT_WR)) and still reads the answer")
    parser.add_argument("--write", metavar="FILE", help="save the capture here (default: captures/handshake-TIME.pcap)")


def _scenario(args) -> str:
    for attribute, name in SCENARIO_FLAGS.items():
        if getattr(args, attribute):
            return name
    return "client-closes-first"


def _check_combinations(args, scenario: str):
    from netinspect.core.errors import BadInput

    if args.target and args.listen is not None:
        raise BadInput("--target and --listen exclude each other; accepted: one of them, or neither")
    if scenario != "client-closes-first" and (args.target or args.listen is not None):
        raise BadInput(f"--{scenario} acts out a scenario with the embedded server and client; "
                       "accepted: it alone, without --target or --listen")
    if args.count is not None and args.listen is None:
        raise BadInput("--count applies to --listen only; accepted: --listen PORT --count N")
    if len(args.send.encode("utf-8", "surrogateescape")) > 60000:
        raise BadInput("--send text is longer than 60000 bytes; accepted: a shorter message")


def _resolve_target(text: str, want_v6: bool):
    from netinspect.core.errors import BadInput, RuntimeFailure
    from netinspect.core.hostport import parse_host_port
    from netinspect.core.records import Endpoint

    host, port = parse_host_port(text)
    family = socket.AF_INET6 if want_v6 else socket.AF_UNSPEC
    from netinspect.adapters.names import with_deadline

    try:
        # getaddrinfo has no timeout of its own: give the lookup a deadline.
        infos = with_deadline(socket.getaddrinfo, (host, port, family, socket.SOCK_STREAM), 5.0,
                              f"resolving {host!r}")
    except socket.gaierror as error:
        raise RuntimeFailure(f"--target {text!r}: cannot resolve {host!r}: {error.strerror}") from None
    except UnicodeError:
        raise BadInput(f"--target {text!r}: {host!r} is not a valid host name; accepted: HOST:PORT") from None
    if not infos:
        raise RuntimeFailure(f"--target {text!r}: no address for {host!r}")
    family, _, _, _, sockaddr = infos[0]
    return family, Endpoint(sockaddr[0].split("%", 1)[0], port)


def run(args, env) -> int:
    from netinspect.adapters import handshake_scenarios as scen
    from netinspect.adapters import live_capture as live
    from netinspect.adapters.pcap_writer import default_capture_path, write_pcap
    from netinspect.core.errors import EXIT_INTERRUPTED, RuntimeFailure

    scenario = _scenario(args)
    _check_combinations(args, scenario)
    live.check_capture_privilege()
    if args.iface:
        live.check_interface(args.iface)
    message = args.send.encode("utf-8", "surrogateescape")
    family = socket.AF_INET6 if args.ipv6 else socket.AF_INET

    interrupted = False
    server = refusing = None
    report = None
    started = time.time()
    if args.target:
        family, target = _resolve_target(args.target, args.ipv6)
        iface = args.iface or live.route_interface(target.ip, family)
        port = target.port
        title = f"Tracing one TCP connection to {target}"
        server_label = f"server {target}"
    else:
        if args.ipv6:
            _require_ipv6_loopback()
        iface = args.iface or "lo"
        if scenario == "refused":
            refusing = scen.RefusingPort(family)
            port = refusing.endpoint.port
            server_label = f"server {refusing.endpoint} (bound, not listening)"
        else:
            server = scen.EmbeddedServer(family, port=args.listen or 0, scenario=scenario,
                                         idle_timeout=LISTEN_IDLE_SECONDS if args.listen is not None else scen.IO_TIMEOUT)
            port = server.endpoint.port
            server_label = f"server {server.endpoint} (embedded)"
        if args.listen is not None:
            until = (f"{args.count} client{'s have' if args.count != 1 else ' has'} finished" if args.count
                     else "Ctrl-C")
            title = f"Tracing clients of an upper-case echo server on loopback until {until}"
        else:
            title = f"Tracing one TCP echo session on loopback ({scenario.replace('-', ' ')})"

    try:
        capture = live.LiveCapture(iface, port, environ=dict(env.environ))
        capture.start()
    except BaseException:
        if server is not None:
            server.close()
        if refusing is not None:
            refusing.close()
        raise
    try:
        try:
            if args.target:
                report = scen.run_target(family, target, message + b"\n")
            elif args.listen is not None:
                server.start(max_connections=args.count)
                env.err(f"listening on {server.endpoint}; connect a client, e.g. "
                        f"netinspect connect tcp {server.endpoint} (Ctrl-C to stop)")
                deadline_check = 0.2
                while not server.wait_finished(args.count or 1 << 30, deadline_check):
                    pass
            elif scenario == "refused":
                report = scen.run_client(family, refusing.endpoint, scenario, message)
            else:
                server.start(max_connections=1)
                report = scen.run_client(family, server.endpoint, scenario, message)
                server.wait_finished(1, scen.IO_TIMEOUT)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            capture.stop(quiet=0.05 if interrupted else 0.25)
    finally:
        if server is not None:
            server.close()
        if refusing is not None:
            refusing.close()

    frames = capture.frames()
    tracker, segment_count = live.analyse_frames(frames)
    connections = tracker.connections()
    if report is not None and report.client is not None:
        mine = [c for c in connections if report.client in (c.orig, c.resp)]
        connections = mine or connections

    path = args.write or default_capture_path(env.cwd, when=started)
    path = _absolute(path, env)
    saved = write_pcap(path, frames, capture.linktype)
    shown_path = _shown(path, env)

    if not frames and not interrupted:
        hint = ""
        if args.ipv6 and iface == "lo":
            hint = (" IPv6 on loopback (::1) was not visible to the packet socket here; trace IPv6 "
                    "between network namespaces with --target [ADDRESS]:PORT --iface IFACE")
        elif report is not None and report.outcome == "failed":
            hint = f" ({report.detail})"
        raise RuntimeFailure(f"the capture on {iface} saw no packet of TCP port {port}; "
                             f"is the traffic using another interface? name it with --iface.{hint}")

    if args.json:
        _print_json(env, args, scenario, capture, report, connections, shown_path, saved, server_label, interrupted)
    else:
        print_trace_text(env, args, title, server_label, capture, report, connections, shown_path, saved, interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    if args.target and report is not None and report.outcome in ("refused", "timeout", "failed"):
        # The trace is shown, but the target the user named could not be reached (SPEC 2: exit 1).
        env.err(f"netinspect: --target {args.target}: {report.detail or report.outcome}")
        return 1
    return 0


def _require_ipv6_loopback() -> None:
    from netinspect.core.errors import RuntimeFailure

    if not socket.has_ipv6:
        raise RuntimeFailure("-6: this Python has no IPv6 support; accepted: IPv4 (drop -6)")
    probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        probe.bind(("::1", 0))
    except OSError:
        raise RuntimeFailure("-6: the IPv6 loopback address ::1 is not configured on this machine (IPv6 is "
                             "disabled on lo), so there is nothing to capture there; trace IPv6 between "
                             "network namespaces with --target [ADDRESS]:PORT --iface IFACE") from None
    finally:
        probe.close()


def _absolute(path, env):
    from pathlib import Path

    path = Path(path)
    return path if path.is_absolute() else Path(env.cwd) / path


def _shown(path, env) -> str:
    from pathlib import Path

    try:
        return str(Path(path).relative_to(Path(env.cwd)))
    except ValueError:
        return str(path)


def _endpoint_roles(report, conn):
    """(client endpoint, server endpoint) for a connection: the originator is the client."""
    return conn.orig, conn.resp


def print_trace_text(env, args, title, server_label, capture, report, connections, shown_path, saved, interrupted):
    from netinspect.render import ladder, summary

    env.out(title)
    client = f"client {report.client}" if report is not None and report.client is not None else ""
    env.out(f"  {server_label}   {client}   capture: {capture.iface}, kernel filter \"{capture.expression}\""
            .replace("      ", "   "))
    if args.verbose:
        env.out(f"  {capture.path_description}")
    if report is not None and report.outcome in ("timeout", "failed"):
        env.out(f"  note: {report.detail}")
    env.out()
    if not connections:
        env.out("No TCP connection was captured.")
    for number, conn in enumerate(connections):
        if len(connections) > 1:
            env.out(f"Connection {number + 1} of {len(connections)}: {conn.orig} -> {conn.resp}")
        env.out(ladder.render_ladder(conn, verbose=bool(args.verbose), color=env.color).rstrip("\n"))
        env.out()
        env.out(summary.render_summary(conn).rstrip("\n"))
        env.out()
    if interrupted:
        env.out(f"Interrupted: showing the {capture.stats.received} packets captured so far.")
    drops = capture.stats.kernel_drops
    if drops:
        env.out(f"Warning    the kernel dropped {drops} matching packets (receive buffer full)")
    env.out(f"Saved      {shown_path} ({saved} packet{'s' if saved != 1 else ''}) — open it with "
            f"`netinspect review {shown_path}` or Wireshark")


def _print_json(env, args, scenario, capture, report, connections, shown_path, saved, server_label, interrupted):
    from netinspect.render.jsonout import document, dumps

    body = {
        "scenario": "target" if args.target else ("listen" if args.listen is not None else scenario),
        "capture": {**capture.summary_fields(), "path": capture.path_description},
        "saved": shown_path,
        "saved_packets": saved,
        "interrupted": interrupted,
        "connections": [connection_json(conn) for conn in connections],
    }
    if report is not None:
        body["session"] = {
            "server": str(report.server),
            "client": str(report.client) if report.client is not None else None,
            "outcome": report.outcome,
            "detail": report.detail,
            "sent_bytes": len(report.sent),
            "received_bytes": len(report.received),
        }
    env.out(dumps(document("trace-handshake", **body)))


def connection_json(conn) -> dict:
    """Zeek conn.log names where they exist (as `review --json`), plus the ladder rows."""
    from netinspect.core.records import flag_text
    from netinspect.render import summary
    from netinspect.render.jsonout import ns_to_seconds

    t0 = conn.ts_first
    return {
        "ts": ns_to_seconds(conn.ts_first),
        "uid": f"C{conn.index}",
        "conn": conn.index,
        "id.orig_h": conn.orig.ip, "id.orig_p": conn.orig.port,
        "id.resp_h": conn.resp.ip, "id.resp_p": conn.resp.port,
        "proto": "tcp",
        "duration": ns_to_seconds(conn.duration_ns),
        "orig_pkts": conn.orig_pkts, "resp_pkts": conn.resp_pkts,
        "orig_bytes": conn.orig_bytes, "resp_bytes": conn.resp_bytes,
        "conn_state": conn.conn_state, "history": conn.history,
        "handshake": conn.handshake, "teardown": conn.teardown, "closed_by": conn.closed_by,
        "time_wait": conn.time_wait,
        "irtt": ns_to_seconds(conn.irtt_ns),
        "syn_synack": ns_to_seconds(conn.syn_synack_ns),
        "retransmissions": conn.retransmissions,
        "analyses": conn.analysis_counts(),
        "explanation": summary.teardown_sentence(conn),
        "segments": [
            {
                # The same names as `review --conn N --json` rows.
                "ts": row.ts_ns / 1e9,
                "t": (row.ts_ns - t0) / 1e9,
                "from": "orig" if row.from_orig else "resp",
                "flags": flag_text(row.flags),
                "seq": row.seq, "ack": row.ack,
                "rel_seq": row.rel_seq, "rel_ack": row.rel_ack,
                "len": row.payload_len, "window": row.window,
                "frame": row.frame_index + 1,
                "role": row.role,
                "orig_state": _state_name(row.orig_after), "resp_state": _state_name(row.resp_after),
                "analyses": list(row.notes),
            }
            for row in conn.rows or ()
        ],
    }


def _state_name(state) -> str:
    return getattr(state, "name", str(state))
