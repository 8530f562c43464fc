"""`layers`: one frame's headers from the link layer up, in the OSI and TCP/IP models."""

from __future__ import annotations

import ipaddress

from netinspect.core.errors import BadInput, EXIT_OK

SUMMARY = "show one frame's headers layer by layer (OSI and TCP/IP), its fields, payload and cast"
EXAMPLES = [
    "netinspect layers captures/arp-exchange.pcap              # frame 1",
    "netinspect layers captures/multicast.pcap --frame 2 --json",
    "netinspect layers --live -i eth0 --timeout 5               # one frame from an interface (root)",
]

MAX_FRAME = 10**9
MAX_TIMEOUT = 3600.0


def add_arguments(parser) -> None:
    parser.add_argument("file", nargs="?", help="capture file (pcap, pcapng, or .gz of either)")
    parser.add_argument("--frame", default="1", help="frame number, 1 for the first (as tshark and Wireshark count)")
    parser.add_argument("--live", action="store_true", help="capture one frame from -i IFACE instead of reading a file")
    parser.add_argument("-i", "--iface", help="interface for --live")
    parser.add_argument("--timeout", default="10", help="seconds --live waits for a frame (default 10)")
    parser.add_argument("--filter", dest="bpf", help="with --live: a capture filter, e.g. 'arp' or 'udp port 53'")
    parser.add_argument("--subnet", help="the sender's subnet (e.g. 10.0.0.0/24), to recognise its directed broadcast")


def _frame_number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_FRAME:
        raise BadInput(f"--frame {text!r}: expected a frame number from 1 (the first frame)")
    return int(text)


def _timeout(text: str) -> float:
    from netinspect.core.timeouts import parse_timeout

    return parse_timeout(text, maximum=MAX_TIMEOUT)


def _subnet(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise BadInput(f"--subnet {text!r}: expected a network like 10.0.0.0/24") from None


def pick_frame(path: str, number: int):
    """Frame `number` (1-based) of the capture, reading no further than needed."""
    from netinspect.adapters.capture_file import iter_frames

    seen = 0
    for frame in iter_frames(path):
        seen += 1
        if seen == number:
            return frame
    if seen == 0:
        raise BadInput(f"{path}: the capture holds no frames")
    raise BadInput(f"--frame {number}: {path} has {seen} frame{'s' if seen != 1 else ''}; give 1 to {seen}")


def run(args, env) -> int:
    subnet = _subnet(args.subnet)
    if args.live:
        if args.file:
            raise BadInput(f"give either a FILE or --live, not both ({args.file!r} and --live)")
        if not args.iface:
            raise BadInput("--live needs -i IFACE, the interface to capture one frame from")
        timeout = _timeout(args.timeout)
        from netinspect.adapters import frame_dissect

        frame = frame_dissect.live_frame(args.iface, timeout, args.bpf)
        source = f"live capture on {args.iface}"
    else:
        if not args.file:
            raise BadInput("give a capture FILE (pcap, pcapng or .gz), or --live -i IFACE")
        if args.bpf:
            raise BadInput("--filter applies to --live only")
        number = _frame_number(args.frame)
        frame = pick_frame(args.file, number)
        source = args.file
        from netinspect.adapters import frame_dissect

    doc = frame_dissect.dissect(frame, subnet)
    if args.json:
        from netinspect.render.jsonout import document, dumps

        env.out(dumps(document("layers", source=source, **doc)))
    else:
        from netinspect.render.layers_view import layers_text

        env.out(layers_text(doc, source, env.color, args.verbose))
    return EXIT_OK
