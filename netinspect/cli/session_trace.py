"""`--trace` for serve and connect: the trace-handshake pipeline around a live session.

The capture (adapters.live_capture: kernel-filtered on the session's TCP port) is started
and confirmed ready before the first SYN; at the end the frames go through the same
decode -> tracker -> ladder/summary path as `trace-handshake` and `review`, and are
saved as a pcap. Not a command module (it has no SUMMARY): a helper of serve/connect.
"""

from __future__ import annotations

import time

MAX_LADDERS = 10  # a busy server's trace: the rest are in the saved pcap


class SessionTrace:
    def __init__(self, env, args, port: int, iface: str, title: str):
        self.env = env
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

        self.capture = live.LiveCapture(self.iface, self.port, environ=dict(self.env.environ))
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
