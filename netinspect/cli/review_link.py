"""The link-layer part of `review`: cast summary and ARP exchanges, added to a FileSummary.

`review` calls `augment(path, summary, args)` before a file's summary is written. It puts
two text sections in `summary.extra["sections"]` and two JSON objects in
`summary.extra["cast"]` and `summary.extra["arp_exchanges"]`.

ARP comes from the ARP records the review pipeline already collected (no extra pass).
The cast summary needs each frame's destination MAC, which the fast TCP path does not
keep, so it is one more pass over the file: done by default for inputs up to
CAST_AUTO_BYTES, and for any size with `--cast` (`--no-cast` skips it).
"""

from __future__ import annotations

import os

CAST_AUTO_BYTES = 32 * 1024 * 1024


def add_arguments(parser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--cast", dest="cast", action="store_true", default=None,
                       help=f"count frames per unicast/broadcast/multicast (a second pass; "
                            f"automatic for files up to {CAST_AUTO_BYTES >> 20} MiB)")
    group.add_argument("--no-cast", dest="cast", action="store_false", help="skip the cast summary")


def _want_cast(path: str, args) -> tuple[bool, str]:
    choice = getattr(args, "cast", None)
    if choice is not None:
        return choice, "" if choice else "skipped (--no-cast)"
    try:
        size = os.path.getsize(path)
    except OSError:
        return False, "skipped (file size unknown)"
    if size <= CAST_AUTO_BYTES:
        return True, ""
    return False, f"skipped for files over {CAST_AUTO_BYTES >> 20} MiB (a second pass); add --cast to include it"


def arp_packets(records):
    """core.arp_watch.ArpPacket from the pipeline's wire.arp records (other kinds ignored)."""
    from netinspect.core.arp_watch import ArpPacket

    for r in records:
        if hasattr(r, "sender_ip") and hasattr(r, "op") and not getattr(r, "malformed", ""):
            # frame numbers as tshark and `layers --frame` count them: 1 for the first
            yield ArpPacket(r.ts_ns, r.op, r.sender_mac, r.sender_ip, r.target_mac, r.target_ip, r.frame_index + 1)


def augment(path: str, summary, args, color: bool = False) -> None:
    from netinspect.core.arp_watch import analyse
    from netinspect.render import arp_view

    extra = summary.extra
    sections = extra.setdefault("sections", [])
    want, why_not = _want_cast(path, args)
    report = None
    if want:
        from netinspect.adapters.link_scan import survey_file

        cast_summary, report = survey_file(path)   # the survey sees the Ethernet addresses of ARP too
        extra["cast"] = cast_summary.as_dict()
        text = arp_view.cast_section(cast_summary, color)
        if text:
            sections.append(text)
    else:
        extra["cast"] = {"skipped": why_not}
        sections.append(f"cast: {why_not}")
    if report is None:
        report = analyse(arp_packets(extra.get("arp", ())))
    extra["arp_exchanges"] = report.as_dict()
    text = arp_view.review_section(report, color)
    if text:
        sections.append(text)
