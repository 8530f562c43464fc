"""Plain-text view of `iface`: one block per interface, an address table inside it."""

from __future__ import annotations

from netinspect.render.color import paint
from netinspect.render.table import table

_STATE_STYLE = {"UP": "green", "DOWN": "red", "LOWERLAYERDOWN": "red"}


def render_interfaces(interfaces: list[dict], gateways: list[dict], *, color: bool = False,
                      show_gateways: bool = True) -> str:
    blocks = []
    for iface in interfaces:
        state = iface["operstate"]
        head = [paint(iface["ifname"], "bold", color), paint(state, _STATE_STYLE.get(state, "yellow"), color),
                f"index {iface['ifindex']}", f"mtu {iface['mtu']}", f"mac {iface['address'] or '-'}"]
        if iface.get("speed"):
            head.append(f"speed {iface['speed']} Mb/s")
        lines = ["  ".join(head)]
        if iface.get("flags"):
            lines.append("  flags  " + " ".join(iface["flags"]))
        rows = []
        for addr in iface["addr_info"]:
            rows.append([
                addr["family"],
                f"{addr['local']}/{addr['prefixlen']}",
                addr["netmask"],
                addr.get("broadcast") or (f"peer {addr['address']}" if addr.get("address") else "-"),
                addr["scope"],
            ])
        if rows:
            body = table(rows, ["family", "address/prefix", "netmask", "broadcast", "scope"])
            lines.extend("  " + line for line in body.splitlines())
        else:
            lines.append("  (no IP addresses)")
        blocks.append("\n".join(lines))
    if show_gateways:
        gw_lines = ["default gateways"]
        if gateways:
            for gw in gateways:
                label = "IPv4" if gw["family"] == "inet" else "IPv6"
                gw_lines.append(f"  {label}  {gw['gateway']}  via {gw['dev']}")
        else:
            gw_lines.append("  none (no default route: only directly connected networks are reachable)")
        blocks.append("\n".join(gw_lines))
    return "\n\n".join(blocks)
