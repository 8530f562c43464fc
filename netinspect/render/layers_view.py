"""Text for `layers`: one frame's headers placed in the OSI and TCP/IP models."""

from __future__ import annotations

from netinspect.render.color import paint
from netinspect.render.table import table


def _cast_line(c: dict | None, layer: int, note: str = "") -> str:
    if c is None:
        return f"layer {layer}: -  " + (note or "no address at this layer")
    extra = []
    if c.get("group") and c["group"] != c["address"]:
        extra.append(f"group: {c['group']}")
    elif c.get("group"):
        extra.append(f"group {c['group']}")
    if c.get("scope"):
        extra.append(f"scope: {c['scope']}")
    text = f"layer {layer}: {c['kind']:<9} {c['address'] or '(no address)'}  {c['why']}"
    if extra:
        text += "; " + "; ".join(extra)
    if note:
        text += f" ({note})"
    return text


def _name(layer: dict) -> str:
    return layer["protocol"] + (" (quoted)" if layer.get("quoted") else "")


def layers_text(doc: dict, source: str, color: bool = False, verbose: int = 0) -> str:
    out = [paint(f"frame {doc['frame']} of {source}", "bold", color)
           + f": {doc['captured_bytes']} bytes captured ({doc['wire_bytes']} on the wire), "
           f"link type {doc['linktype_name']}, {doc['time_text']}",
           f"summary: {doc['summary']}", ""]
    cast = doc["cast"]
    out.append(paint("cast", "bold", color))
    out.append("  " + _cast_line(cast["layer2"], 2))
    out.append("  " + _cast_line(cast["layer3"], 3, cast["layer3_note"]))
    if cast["mismatch"]:
        out.append("  " + paint(f"mismatch: {cast['mismatch']}", "red", color))
    out.append("")
    rows = []
    for layer in doc["layers"]:
        end = layer["offset"] + layer["length"] - 1
        span = f"{layer['offset']}-{end}" if layer["length"] else f"{layer['offset']}"
        rows.append([f"{layer['osi_layer'] or '?'} {layer['osi_name']}", f"{layer['tcpip_layer'] or '?'} {layer['tcpip_name']}",
                     _name(layer), span, str(layer["length"])])
    body = table(rows, ["OSI LAYER", "TCP/IP LAYER", "PROTOCOL", "BYTES", "LENGTH"])
    lines = body.splitlines()
    lines[0] = paint(lines[0], "bold", color)
    out.extend(lines)
    if any(layer.get("quoted") for layer in doc["layers"]):
        out.append("(quoted): headers of the packet that caused this ICMP error, copied back inside it")
    osi_seen = {layer["osi_layer"] for layer in doc["layers"]}
    if 7 in osi_seen or 6 in osi_seen:
        if not {5, 6} <= osi_seen:
            out.append("OSI layers 5 (session) and 6 (presentation) have no header of their own here; "
                       "TCP/IP folds them into its application layer")
    out.append("OSI layer 1 (physical: bits on the wire or radio) is not in a capture; the capture starts at layer 2"
               if doc["layers"] and doc["layers"][0]["osi_layer"] == 2 else
               "this capture has no link-layer header; it starts at the network layer")
    for layer in doc["layers"]:
        if layer["protocol"] in ("Payload", "Padding") or not layer["fields"] and layer["scapy"] == "Raw":
            continue
        out.append("")
        head = (f"{_name(layer)}  (OSI {layer['osi_layer']} {layer['osi_name']}, "
                f"TCP/IP {layer['tcpip_layer']} {layer['tcpip_name']}; bytes {layer['offset']}-"
                f"{layer['offset'] + max(layer['length'], 1) - 1})")
        out.append(paint(head, "bold", color))
        if layer["meaning"]:
            out.append(f"  {layer['meaning']}")
        if layer["fields"]:
            frows = [[f["name"], f["value"], f["meaning"]] for f in layer["fields"]
                     if verbose or f["meaning"] or f["value"] not in ("", "[]", "None")]
            out.extend("  " + line for line in table(frows, ["FIELD", "VALUE", "MEANING"]).splitlines())
    payload = doc["payload"]
    padding = next((layer for layer in doc["layers"] if layer["protocol"] == "Padding"), None)
    out.append("")
    if payload["bytes"]:
        shown = "" if payload["shown"] == payload["bytes"] else f", first {payload['shown']} shown"
        noun = "byte" if payload["bytes"] == 1 else "bytes"
        out.append(paint(f"payload: {payload['bytes']} {noun} ({payload['protocol']}{shown})", "bold", color))
        out.extend("  " + line for line in payload["dump"])
    else:
        out.append("payload: none (the headers are the whole frame)")
    if padding:
        out.append(f"padding: {padding['length']} bytes at the end of the frame (Ethernet minimum frame size)")
    return "\n".join(out)
