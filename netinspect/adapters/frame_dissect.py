"""Dissect one frame with scapy into plain data: layers, fields, payload, cast.

The result is a dict of strings and numbers (no scapy objects), so render and JSON need
no scapy. Each header is looked up in core.osi for its place in the OSI and TCP/IP
models; the cast at layer 2 and 3 comes from core.cast. One frame only: scapy costs
milliseconds per packet, which is nothing here and everything in `review`.
"""

from __future__ import annotations

import time

from netinspect.adapters import scapy_io
from netinspect.core import cast as cast_mod
from netinspect.core import osi
from netinspect.core.errors import BadInput, PrivilegeError, RuntimeFailure
from netinspect.core.records import Frame

PAYLOAD_SHOWN = 512          # payload bytes put in the hex dump (the rest is counted)
VALUE_WIDTH = 160            # longest field value shown

LINKTYPE_NAMES = {0: "null (BSD loopback)", 1: "ethernet", 12: "raw IP", 101: "raw IP", 108: "loop (OpenBSD)",
                  113: "linux cooked (SLL)", 228: "raw IPv4", 229: "raw IPv6", 276: "linux cooked v2 (SLL2)"}

# scapy class name -> our protocol name (core.osi.PLACEMENTS keys)
_BY_CLASS = {
    "Ether": "Ethernet", "Dot3": "Ethernet", "Dot1Q": "802.1Q", "Dot1AD": "802.1Q",
    "CookedLinux": "Linux cooked", "CookedLinuxV2": "Linux cooked v2",
    "Loopback": "Loopback", "LoopbackOpenBSD": "Loopback", "LLC": "LLC", "SNAP": "SNAP", "STP": "STP",
    "ARP": "ARP", "IP": "IPv4", "IPerror": "IPv4", "IPv6": "IPv6", "IPerror6": "IPv6",
    "ICMP": "ICMP", "ICMPerror": "ICMP", "TCP": "TCP", "TCPerror": "TCP", "UDP": "UDP", "UDPerror": "UDP",
    "DNS": "DNS", "BOOTP": "DHCP", "DHCP": "DHCP", "NTPHeader": "NTP", "NTP": "NTP", "SNMP": "SNMP",
    "LLMNRQuery": "LLMNR", "LLMNRResponse": "LLMNR", "Raw": "Payload", "Padding": "Padding",
}
_BY_PREFIX = (
    ("IPv6ExtHdr", "IPv6 extension"), ("ICMPv6NDOpt", "ICMPv6 option"), ("ICMPv6", "ICMPv6"), ("_ICMPv6", "ICMPv6"), ("IGMP", "IGMP"),
    ("SCTP", "SCTP"), ("DHCP6", "DHCPv6"), ("NBNS", "NetBIOS"), ("NBT", "NetBIOS"), ("TLS", "TLS"),
    ("SSL", "TLS"), ("HTTP", "HTTP"), ("NTP", "NTP"),
)

# Application protocols scapy leaves as Raw, recognised by port (and a look at the bytes).
_APP_PORTS = {80: "HTTP", 8080: "HTTP", 8000: "HTTP", 443: "TLS", 1900: "SSDP", 5355: "LLMNR", 123: "NTP"}


def protocol_of(class_name: str, ports: tuple = (), payload: bytes = b"") -> str:
    if class_name == "DNS" and 5353 in ports:
        return "mDNS"
    if class_name == "Raw":
        return _guess_application(ports, payload)
    if class_name in _BY_CLASS:
        return _BY_CLASS[class_name]
    for prefix, name in _BY_PREFIX:
        if class_name.startswith(prefix):
            return name
    return class_name


def _guess_application(ports: tuple, payload: bytes) -> str:
    head = payload[:8]
    if head.startswith((b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS", b"PATCH ", b"HTTP/1.")):
        return "HTTP" if not any(p == 1900 for p in ports) else "SSDP"
    if head[:1] in (b"\x16", b"\x17", b"\x15") and head[1:2] == b"\x03":
        return "TLS"
    for port in ports:
        if port in _APP_PORTS:
            return _APP_PORTS[port]
    return "Payload"


def _safe(text: str) -> str:
    """Printable, one line, bounded: a field value from the network must not break the output."""
    out = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return out if len(out) <= VALUE_WIDTH else out[:VALUE_WIDTH - 3] + "..."


def hexdump(data: bytes, limit: int = PAYLOAD_SHOWN) -> list[str]:
    lines = []
    for off in range(0, min(len(data), limit), 16):
        chunk = data[off:off + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{off:04x}  {hexes:<47}  {text}")
    return lines


def scapy_class_for(linktype: int, data: bytes, s):
    cls = s.conf.l2types.get(linktype)
    if linktype in (12, 101) or cls is None and linktype in (228, 229):
        version = data[0] >> 4 if data else 0
        cls = s.IPv6 if version == 6 else s.IP
    if cls is None:
        raise BadInput(f"link type {linktype} is not supported by layers; accepted: "
                       + ", ".join(f"{k} {v}" for k, v in sorted(LINKTYPE_NAMES.items())))
    return cls


def dissect(frame: Frame, subnet: str | None = None) -> dict:
    """Layers, fields, payload and cast of one frame, as plain data."""
    s = scapy_io.load()
    data = bytes(frame.data)
    cls = scapy_class_for(frame.linktype, data, s)
    try:
        packet = cls(data)
    except Exception as error:  # scapy raises many kinds on odd bytes; one frame: report it
        raise RuntimeFailure(f"scapy could not dissect frame {frame.index + 1}: {type(error).__name__}: {error}") from None

    layers = []
    offset = 0
    ports: tuple = ()
    layer = packet
    payload_bytes = b""
    payload_proto = ""
    quoting = False      # inside the copy of a packet that an ICMP error quotes
    while layer is not None and not isinstance(layer, s.NoPayload):
        name = type(layer).__name__
        if hasattr(layer, "sport") and hasattr(layer, "dport") and name in ("TCP", "UDP"):
            ports = (int(layer.sport), int(layer.dport))
        original = bytes(layer.original or b"")
        inner = layer.payload
        inner_len = len(inner.original or b"") if not isinstance(inner, s.NoPayload) else 0
        header_len = max(0, len(original) - inner_len)
        if name in ("Raw", "Padding"):
            proto = protocol_of(name, ports, original) if name == "Raw" else "Padding"
            if name == "Raw":
                payload_bytes = original
                payload_proto = proto
            place = osi.placement(proto) or osi.placement("Payload")
            layers.append(_layer_entry(proto, name, layer, place, offset, header_len, fields=False))
        else:
            proto = protocol_of(name, ports)
            place = osi.placement(proto)
            layers.append(_layer_entry(proto, name, layer, place, offset, header_len, fields=True))
        if layers[-1]["scapy"] in _QUOTED:
            quoting = True
        layers[-1]["quoted"] = quoting
        offset += header_len
        layer = inner

    l2 = _l2_cast(packet, s)
    l3, l3_note = _l3_cast(packet, s, subnet, l2)
    doc = {
        "frame": frame.index + 1,
        "time": frame.ts_ns / 1e9,
        "time_text": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(frame.ts_ns // 1_000_000_000))
        + f".{frame.ts_ns % 1_000_000_000 // 1000:06d} UTC",
        "captured_bytes": len(data),
        "wire_bytes": frame.orig_len,
        "linktype": frame.linktype,
        "linktype_name": LINKTYPE_NAMES.get(frame.linktype, str(frame.linktype)),
        "summary": _safe(_bracket_ipv6_ports(packet, s, packet.summary())),
        "layers": layers,
        "cast": {
            "layer2": l2.as_dict() if l2 else None,
            "layer3": l3.as_dict() if l3 else None,
            "layer3_note": l3_note,
            "mismatch": cast_mod.consistency(l2, l3),
        },
        "payload": {
            "protocol": payload_proto or None,
            "bytes": len(payload_bytes),
            "hex": payload_bytes[:PAYLOAD_SHOWN].hex(),
            "text": payload_bytes[:PAYLOAD_SHOWN].decode("ascii", "replace").translate(_UNPRINTABLE),
            "shown": min(len(payload_bytes), PAYLOAD_SHOWN),
            "dump": hexdump(payload_bytes),
        },
    }
    return doc


# Every byte outside printable ASCII shows as '.', so payload text is safe on any terminal.
_UNPRINTABLE = {i: "." for i in list(range(0, 0x20)) + [0x7F, 0xFFFD]}


# Headers an ICMP error quotes back from the packet that caused it (scapy names them *error).
_QUOTED = {"IPerror", "IPerror6", "TCPerror", "UDPerror", "ICMPerror", "SCTPerror"}


def _layer_entry(proto, class_name, layer, place, offset, length, fields: bool) -> dict:
    entry = {
        "protocol": proto,
        "scapy": class_name,
        "quoted": class_name in _QUOTED,
        "offset": offset,
        "length": length,
        "osi_layer": place.osi if place else None,
        "osi_name": place.osi_name if place else "unknown",
        "tcpip_layer": place.tcpip if place else None,
        "tcpip_name": place.tcpip_name if place else "unknown",
        "meaning": place.meaning if place else "",
        "fields": [],
    }
    if fields:
        for f in layer.fields_desc:
            if f.name not in layer.fields:
                continue    # a conditional field that does not apply to this header
            value = layer.getfieldval(f.name)
            try:
                if proto == "TCP" and f.name == "options" and isinstance(value, list):
                    shown = _tcp_options_text(value)
                else:
                    shown = f.i2repr(layer, value)
            except Exception:  # an odd value scapy cannot pretty-print: show it raw
                shown = repr(value)
            raw = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            if raw is None and isinstance(value, str):
                raw = _safe(value)
            entry["fields"].append({"name": f.name, "value": _safe(str(shown)), "raw": raw,
                                    "meaning": osi.field_meaning(proto, f.name)})
    return entry


def _bracket_ipv6_ports(packet, s, summary: str) -> str:
    """scapy writes 'fd77::1:44390 > fd77::2:7009'; the rest of netinspect (and RFC 5952)
    writes '[fd77::1]:44390', where the port cannot be read as part of the address."""
    if s.IPv6 not in packet:
        return summary
    ip6 = packet[s.IPv6]
    for transport in (s.TCP, s.UDP):
        if transport in packet:
            segment = packet[transport]
            for address, port in ((ip6.src, segment.sport), (ip6.dst, segment.dport)):
                summary = summary.replace(f"{address}:{port} ", f"[{address}]:{port} ")
                if summary.endswith(f"{address}:{port}"):
                    summary = summary[: -len(f"{address}:{port}")] + f"[{address}]:{port}"
            break
    return summary


_TCP_OPTION_NAMES = {"MSS": "mss", "WScale": "wscale", "SAckOK": "sack_perm", "SAck": "sack",
                     "Timestamp": "ts", "NOP": "nop", "EOL": "eol"}


def _tcp_options_text(options: list) -> str:
    """Scapy's [('MSS', 1460), ('Timestamp', (a, b))] in the ladder's words: 'mss 1460 ts a/b'."""
    parts = []
    for item in options:
        name, value = item if isinstance(item, tuple) and len(item) == 2 else (item, None)
        label = _TCP_OPTION_NAMES.get(name, str(name))
        if value is None or value == b"" or name == "SAckOK":
            parts.append(label)
        elif name == "Timestamp" and isinstance(value, tuple) and len(value) == 2:
            parts.append(f"ts {value[0]}/{value[1]}")
        elif name == "SAck" and isinstance(value, tuple):
            parts.append("sack " + " ".join(f"{a}-{b}" for a, b in zip(value[::2], value[1::2])))
        elif isinstance(value, int):
            parts.append(f"{label} {value}")
        else:
            parts.append(f"{label} {value!r}")
    return " ".join(parts) or "none"


def _l2_cast(packet, s):
    if s.Ether in packet and packet.getlayer(s.Ether) is packet:
        dst = packet[s.Ether].dst
        try:
            return cast_mod.l2_cast(dst) if isinstance(dst, str) else None   # None: frame too short
        except ValueError:
            return None
    for cooked in (s.CookedLinux, s.CookedLinuxV2):
        if isinstance(packet, cooked):
            return cast_mod.l2_cast_from_sll(int(packet.pkttype))
    return None


def _l3_cast(packet, s, subnet, l2):
    """(Cast or None, note). The outer IP header decides; ARP has none."""
    outer = None
    layer = packet
    while layer is not None and not isinstance(layer, s.NoPayload):
        if isinstance(layer, (s.IP, s.IPv6)):
            outer = layer
            break
        layer = layer.payload
    if outer is None:
        if s.ARP in packet:
            return None, "ARP has no IP header: it rides directly on the link, so only the layer-2 cast applies"
        return None, "no IP header in this frame"
    result = cast_mod.l3_cast(outer.dst, subnet)
    note = ""
    if result.kind == cast_mod.UNICAST and outer.version == 4 and l2 is not None and l2.kind == cast_mod.BROADCAST:
        result = cast_mod.Cast(3, cast_mod.BROADCAST, result.address, scope="directed (inferred)",
                               why="an IPv4 address sent to the layer-2 broadcast MAC: the sender's subnet broadcast")
        note = "give --subnet CIDR to check it against the subnet"
    return result, note


def live_frame(iface: str, timeout_s: float, bpf: str | None = None) -> Frame:
    """One frame captured from `iface` (root or CAP_NET_RAW), as a Frame for `dissect`."""
    from netinspect.adapters import arp_probe, live_capture

    arp_probe.check_iface(iface)                # bad input first: exit 2 whatever the privilege
    live_capture.check_capture_privilege()      # the capture commands' own check and message
    s = scapy_io.load()
    try:
        got = s.sniff(iface=iface, count=1, timeout=timeout_s, filter=bpf, store=True)
    except PermissionError:
        raise PrivilegeError(live_capture.PRIVILEGE_MESSAGE) from None
    except OSError as error:
        raise RuntimeFailure(f"capturing on {iface} failed: {error.strerror or error}") from None
    except s.Scapy_Exception as error:
        if bpf and "filter" in str(error).lower():
            raise BadInput(f"--filter {bpf!r}: not a capture filter libpcap can compile "
                           "(tcpdump syntax, e.g. 'arp' or 'udp port 53')") from None
        raise RuntimeFailure(f"capturing on {iface} failed: {error}") from None
    if not got:
        raise RuntimeFailure(f"no frame on {iface} within {timeout_s:g} s")
    pkt = got[0]
    linktype = 1
    for lt, cls in ((1, s.Ether), (113, s.CookedLinux), (276, s.CookedLinuxV2)):
        if isinstance(pkt, cls):
            linktype = lt
            break
    data = bytes(pkt.original or bytes(pkt))
    return Frame(int(float(pkt.time) * 1e9), linktype, data, len(data), 0, 0)
