"""Text for `arp`: the neighbour table, a who-has exchange, and review's ARP section."""

from __future__ import annotations

from netinspect.core.cast import l2_cast
from netinspect.render.color import paint
from netinspect.render.table import table

OPS = {1: "request", 2: "reply"}


def neighbour_table(rows, how: str, color: bool = False) -> str:
    if not rows:
        return f"neighbour table is empty (read from {how})"
    body = table(
        ([n.ip, n.mac or "-", ",".join(n.state) + (" router" if n.router else ""), n.dev] for n in rows),
        ["IP", "MAC", "STATE", "IFACE"],
    )
    lines = body.splitlines()
    lines[0] = paint(lines[0], "bold", color)
    return "\n".join(lines) + f"\n{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} (read from {how})"


def _arp_line(f) -> str:
    if f.op == 1:
        return f"who-has {f.target_ip} tell {f.sender_ip}"
    if f.op == 2:
        return f"{f.sender_ip} is-at {f.sender_mac}"
    return f"op {f.op}"


def probe_text(result, color: bool = False) -> str:
    lines = [f"ARP who-has {result.target_ip} on {result.iface} from {result.src_mac} ({result.src_ip}), "
             f"{len(result.attempts)} request{'s' if len(result.attempts) != 1 else ''}, timeout {result.timeout_s:g} s"]
    rows = []
    t0 = result.attempts[0].request.ts if result.attempts else 0.0
    for a in result.attempts:
        for direction, f in (("sent", a.request), ("received", a.reply)):
            if f is None:
                rows.append([str(a.seq), "", "no reply", "", "", f"none within {result.timeout_s:g} s", ""])
                continue
            rows.append([str(a.seq), f"{f.ts - t0:.6f}", direction, f.eth_src, f.eth_dst, _arp_line(f),
                         l2_cast(f.eth_dst).kind])
    body = table(rows, ["#", "TIME", "DIR", "ETH SRC", "ETH DST", "ARP", "CAST"])
    blines = body.splitlines()
    blines[0] = paint(blines[0], "bold", color)
    lines.extend(blines)
    answered = result.answered
    if answered:
        rtts = [a.rtt_s * 1000 for a in answered]
        macs = result.macs
        rtt = f"{rtts[0]:.3f} ms" if len(rtts) == 1 else f"min {min(rtts):.3f} / avg {sum(rtts) / len(rtts):.3f} / max {max(rtts):.3f} ms"
        lines.append(paint(f"{result.target_ip} is at {', '.join(macs)}", "green", color)
                     + f": {len(answered)}/{len(result.attempts)} answered, {rtt}")
        lines.append("the request went to the broadcast address (every host on the link reads it); "
                     "the reply came back unicast to the asker")
        if len(macs) > 1:
            lines.append(paint(f"warning: {len(macs)} different MACs answered for {result.target_ip} "
                               "(duplicate address or ARP spoofing)", "red", color))
    else:
        lines.append(paint(f"no answer from {result.target_ip} on {result.iface} after {len(result.attempts)} "
                           f"request{'s' if len(result.attempts) != 1 else ''}", "red", color))
    return "\n".join(lines)


def probe_dict(result) -> dict:
    return {
        "target_ip": result.target_ip,
        "iface": result.iface,
        "src_mac": result.src_mac,
        "src_ip": result.src_ip,
        "timeout_seconds": result.timeout_s,
        "answered": len(result.answered),
        "sent": len(result.attempts),
        "macs": result.macs,
        "attempts": [
            {"seq": a.seq, "request": a.request.as_dict(), "request_cast": l2_cast(a.request.eth_dst).kind,
             "reply": a.reply.as_dict() if a.reply else None,
             "reply_cast": l2_cast(a.reply.eth_dst).kind if a.reply else None,
             "rtt_seconds": a.rtt_s}
            for a in result.attempts
        ],
    }


def review_section(report, color: bool = False) -> str:
    """ARP section for `review`: exchanges, unanswered requests, gratuitous ARP, conflicts."""
    if report.packets == 0:
        return ""
    lines = [paint(f"ARP: {_n(report.packets, 'packet')}, {_n(report.requests, 'request')}, {_n(report.replies, 'reply', 'replies')}", "bold", color)]
    if report.exchanges:
        lines.append(table(
            ([e.asker_ip, e.asker_mac, e.target_ip, e.answer_mac, str(e.requests),
              f"{e.rtt_ns / 1e6:.3f} ms" if e.rtt_ns is not None else "-"] for e in report.exchanges),
            ["ASKER", "ASKER MAC", "ASKED FOR", "ANSWERED BY", "REQUESTS", "TIME"]))
    _more(lines, report, "exchanges", "answered exchanges")
    for e in report.unanswered:
        lines.append(f"unanswered: {e.asker_ip} ({e.asker_mac}) asked for {e.target_ip} "
                     f"{e.requests} time{'s' if e.requests != 1 else ''}, no reply (frame {e.request_frame})")
    _more(lines, report, "unanswered", "unanswered requests")
    for p in report.gratuitous:
        lines.append(f"gratuitous ARP {OPS.get(p.op, p.op)}: {p.sender_mac} announces {p.sender_ip} (frame {p.frame_index})")
    _more(lines, report, "gratuitous", "gratuitous ARP packets")
    for p in report.probes:
        lines.append(f"address probe: {p.sender_mac} checks whether {p.target_ip} is free (frame {p.frame_index})")
    _more(lines, report, "probes", "address probes")
    for c in report.conflicts:
        lines.append(paint(f"conflict: {c.ip} claimed by {len(c.macs)} MACs ({', '.join(sorted(c.macs))})"
                           + (f", {len(c.in_replies)} of them answering for it" if len(c.in_replies) > 1 else "")
                           + ": duplicate address or ARP spoofing", "red", color))
    if report.claims_truncated:
        lines.append("note: too many distinct addresses to track them all; conflicts among the later ones are not shown")
    return "\n".join(lines)


def _more(lines: list, report, kind: str, label: str) -> None:
    extra = report.totals.get(kind, 0) - len(getattr(report, kind))
    if extra > 0:
        lines.append(f"... and {extra:,} more {label} (the JSON output counts them in 'totals')")


def cast_section(summary, color: bool = False) -> str:
    """Cast summary for `review`: frames per unicast, broadcast, multicast at layers 2 and 3."""
    d = summary.as_dict()
    if not d["frames"]:
        return ""
    l2 = d["layer2"]
    l3 = d["layer3"]
    # Each row adds up to the frame count: the last column holds frames without a MAC
    # destination (cooked or raw captures) or without an IP header (ARP, other EtherTypes).
    no_ip = max(0, d["frames"] - l3["unicast"] - l3["broadcast"] - l3["multicast"])
    lines = [paint(f"cast: {_n(d['frames'], 'frame')}", "bold", color),
             table([["layer 2 (MAC)", str(l2.get("unicast", 0)), str(l2.get("broadcast", 0)), str(l2.get("multicast", 0)),
                     str(l2.get("unknown", 0))],
                    ["layer 3 (IP)", str(l3["unicast"]), str(l3["broadcast"]), str(l3["multicast"]), str(no_ip)]],
                   ["", "UNICAST", "BROADCAST", "MULTICAST", "NO ADDRESS"])]
    if no_ip or l2.get("unknown", 0):
        lines.append("NO ADDRESS: no destination MAC (a cooked or raw capture) at layer 2; "
                     "no IP header (ARP, other EtherTypes) at layer 3")
    if d["multicast_groups"]:
        lines.append("multicast groups: " + ", ".join(f"{g} ({n})" for g, n in d["multicast_groups"].items()))
    return "\n".join(lines)


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"
