"""`--trace` for serve and connect: the trace-handshake pipeline around a live session.

The capture (adapters.live_capture: kernel-filtered on the session's TCP port) is started
and confirmed ready before the first SYN; at the end the frames go through the same
decode -> tracker -> ladder/summary path as `trace-handshake` and `review`, and are
saved as a pcap. Not a command module (it has no SUMMARY): a helper of serve/connect.

UDP (protocol "udp"): the capture keeps the UDP port and the ICMP errors quoting it; the
frames go through the same decoder, then core.udp_exchange groups the datagrams per
endpoint pair (review's UDP flows) and render.udp_ladder draws one row per datagram.
"""

from __future__ import annotations

import time

MAX_LADDERS = 10  # a busy server's trace: the rest are in the saved pcap


class SessionTrace:
    def __init__(self, env, args, port: int, iface: str, title: str, protocol: str = "tcp"):
        self.env = env
        self.protocol = protocol
        self.args = args
        self.port = port
        self.iface = iface
        self.title = title
        self.capture = None
        self.started = time.time()

    @staticmethod
    def check_privilege(iface: str | None = None) -> None:
        from netinspect.adapters import live_capture as live

        live.check_capture_privilege()
        if iface:
            live.check_interface(iface)

    def start(self) -> None:
        from netinspect.adapters import live_capture as live

        self.capture = live.LiveCapture(self.iface, self.port, environ=dict(self.env.environ),
                                        protocol=self.protocol)
        self.capture.start()

    def abandon(self) -> None:
        if self.capture is not None:
            self.capture.stop(quiet=0.0)

    def finish(self, interrupted: bool, only_endpoint=None) -> dict:
        """Stop capturing, print the ladder and summary of each connection, save the pcap.

        `only_endpoint` (ip, port): keep the connections with this endpoint (connect's own).
        Returns the JSON body for --json (the caller prints one document).
        """
        from netinspect.adapters import live_capture as live
        from netinspect.adapters.pcap_writer import default_capture_path, write_pcap
        from netinspect.cli import trace_handshake

        capture = self.capture
        capture.stop(quiet=0.05 if interrupted else 0.25)
        frames = capture.frames()
        if self.protocol == "udp":
            return self._finish_udp(frames, interrupted, only_endpoint)
        tracker, _ = live.analyse_frames(frames)
        connections = tracker.connections()
        if only_endpoint is not None:
            ip, port = only_endpoint
            mine = [c for c in connections if any(e.ip == ip and e.port == port for e in (c.orig, c.resp))]
            connections = mine or connections
        path = default_capture_path(self.env.cwd, prefix="session", when=self.started)
        saved = write_pcap(path, frames, capture.linktype)
        shown = _shown(path, self.env)
        body = {"capture": {**capture.summary_fields(), "path": capture.path_description}, "saved": shown,
                "saved_packets": saved,
                "connections": [trace_handshake.connection_json(c) for c in connections[:1000]]}
        if self.args.json:
            return body
        env = self.env
        env.out()
        extra = len(connections) - MAX_LADDERS
        trace_handshake.print_trace_text(env, self.args, self.title, f"port {self.port}", capture, None,
                                    connections[:MAX_LADDERS], shown, saved, interrupted)
        if extra > 0:
            env.out(f"({extra} more connection{'s' if extra != 1 else ''} in the saved capture: "
                    f"netinspect review {shown})")
        return body


    def _finish_udp(self, frames, interrupted: bool, only_endpoint) -> dict:
        from netinspect.adapters.pcap_writer import default_capture_path, write_pcap
        from netinspect.core.udp_exchange import exchanges
        from netinspect.wire.udp_view import udp_frames

        capture = self.capture
        packets, errors = udp_frames(frames)
        found = exchanges(packets, errors)
        if only_endpoint is not None:
            found = [e for e in found if e.involves(*only_endpoint)] or found
        path = default_capture_path(self.env.cwd, prefix="session", when=self.started)
        saved = write_pcap(path, frames, capture.linktype)
        shown = _shown(path, self.env)
        body = {"capture": {**capture.summary_fields(), "path": capture.path_description}, "saved": shown,
                "saved_packets": saved, "interrupted": interrupted,
                "exchanges": [exchange_json(e, self._names(e)) for e in found[:1000]]}
        if self.args.json:
            return body
        from netinspect.render.udp_ladder import render_datagram_ladder, render_udp_summary

        env = self.env
        env.out()
        env.out(self.title)
        env.out(f"  port {self.port}   capture: {capture.iface}, kernel filter \"{capture.short_expression}\"")
        if self.args.verbose:
            env.out(f"  {capture.path_description}")
        env.out()
        if not found:
            env.out("No UDP datagram was captured.")
            env.out()
        shown_exchanges = found[:MAX_LADDERS]
        for number, exchange in enumerate(shown_exchanges):
            names = self._names(exchange)
            if len(found) > 1:
                env.out(f"Exchange {number + 1} of {len(found)}: {exchange.orig} <-> {exchange.resp}")
            env.out(render_datagram_ladder(exchange, verbose=bool(self.args.verbose), color=env.color,
                                           names=names).rstrip("\n"))
            env.out()
            env.out(render_udp_summary(exchange, names).rstrip("\n"))
            env.out()
        extra = len(found) - MAX_LADDERS
        if extra > 0:
            env.out(f"({extra} more exchange{'s' if extra != 1 else ''} in the saved capture: netinspect review {shown})")
        if interrupted:
            env.out(f"Interrupted: showing the {capture.stats.received} packets captured so far.")
        if capture.stats.kernel_drops:
            env.out(f"Warning    the kernel dropped {capture.stats.kernel_drops} matching packets (receive buffer full)")
        env.out(f"Saved      {shown} ({saved} packet{'s' if saved != 1 else ''}) — open it with "
                f"`netinspect review {shown}` or Wireshark")
        return body

    def _names(self, exchange) -> tuple[str, str]:
        """client/server by the served port; the originator is whoever sent first."""
        if exchange.orig.port == self.port and exchange.resp.port != self.port:
            return ("server", "client")
        return ("client", "server")


def exchange_json(exchange, names=("client", "server")) -> dict:
    """One UDP exchange: Zeek conn.log names (as `review --json` uses) plus every datagram."""
    from netinspect.core.udp_exchange import CONNECTIONLESS, summary_lines
    from netinspect.render.ladder import preview
    from netinspect.render.jsonout import ns_to_seconds

    r = exchange.record
    t0 = exchange.ts_first
    rows = []
    for row in exchange.rows:
        # Seconds, as every JSON time (and the same "ts"/"t" names as the TCP ladder rows).
        item = {"ts": row.ts_ns / 1e9, "t": (row.ts_ns - t0) / 1e9, "from": "orig" if row.from_orig else "resp",
                "kind": row.kind, "frame": row.frame_index + 1}
        if row.kind == "udp":
            item.update({"len": row.payload_len, "udp_length": row.udp_length, "payload": preview(row.payload, 64)})
        else:
            e = row.icmp
            from netinspect.core.flows import icmp_name

            item.update({"icmp_version": e.version, "type": e.type, "code": e.code,
                         "name": icmp_name(e.version, e.type, e.code), "src": e.src,
                         "quoted_src": str(e.quoted_src), "quoted_dst": str(e.quoted_dst),
                         "port_unreachable": e.port_unreachable})
        rows.append(item)
    sentences = dict(summary_lines(exchange, names))
    return {"proto": "udp", "ts": ns_to_seconds(r.ts_ns), "id.orig_h": r.orig.ip, "id.orig_p": r.orig.port,
            "id.resp_h": r.resp.ip, "id.resp_p": r.resp.port, "roles": {"orig": names[0], "resp": names[1]},
            "duration": ns_to_seconds(r.duration_ns), "orig_pkts": r.orig_pkts, "resp_pkts": r.resp_pkts,
            "orig_bytes": r.orig_bytes, "resp_bytes": r.resp_bytes, "conn_state": r.conn_state,
            "history": r.history, "handshake": None, "teardown": None, "explanation": CONNECTIONLESS,
            "port_closed": any(e.port_unreachable for e in exchange.icmp_errors),
            "findings": sentences.get("Findings"), "datagrams": rows}


def _shown(path, env) -> str:
    from pathlib import Path

    try:
        return str(Path(path).relative_to(Path(env.cwd)))
    except ValueError:
        return str(path)


def capture_interface(host_ip: str, family: int) -> str:
    """lo for loopback and wildcard binds, else the interface the kernel routes that address through."""
    import ipaddress

    from netinspect.adapters import live_capture as live

    address = ipaddress.ip_address(host_ip.split("%", 1)[0])
    if address.is_loopback or address.is_unspecified:
        return "lo"
    return live.route_interface(str(address), family)
