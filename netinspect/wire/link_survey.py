"""Per-frame cast tally and ARP extraction, straight from the captured bytes.

`LinkSurvey.feed(buf, start, caplen, linktype, ts_ns, index)` reads only the link header
(destination MAC or Linux cooked packet type), the IP destination and, for ARP, the ARP
body; it counts frames per cast at layer 2 and layer 3 and hands ARP packets to
core.arp_watch. Built for `review`: no object per frame, no ipaddress parsing except for
the rare multicast group. `finish()` gives (CastSummary, ArpReport). ARP packets carry
frame numbers as tshark counts them (1 for the first frame), as `layers --frame` takes.
"""

from __future__ import annotations

import struct

from netinspect.core import cast as cast_mod
from netinspect.core.arp_watch import ArpPacket, ArpWatch
from netinspect.wire import arp as arp_wire
from netinspect.wire.addresses import ipv4_text, ipv6_text

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_U16 = struct.Struct("!H")
_NULL_FAMILY = struct.Struct("<I")
_LOOP_FAMILY = struct.Struct("!I")
AF_INET6_VALUES = frozenset((10, 24, 28, 30))
_BCAST6 = b"\xff" * 6
_BCAST4 = b"\xff\xff\xff\xff"
_SLL_CAST = {1: "broadcast", 2: "multicast", 0: "unicast", 3: "unicast"}   # 4 (sent by us): unknown


class LinkSurvey:
    def __init__(self) -> None:
        self.summary = cast_mod.CastSummary()
        self.arp = ArpWatch()

    def feed(self, buf, p: int, caplen: int, linktype: int, ts_ns: int = 0, index: int = 0) -> None:
        end = p + caplen
        l2 = None                   # 'unicast' | 'broadcast' | 'multicast' | None
        dst_mac = src_mac = b""
        ethertype = -1
        l3 = -1
        if linktype == 1:
            if caplen >= 14:
                dst_mac = bytes(buf[p:p + 6])
                src_mac = bytes(buf[p + 6:p + 12])
                l2 = "broadcast" if dst_mac == _BCAST6 else "multicast" if dst_mac[0] & 1 else "unicast"
                ethertype = _U16.unpack_from(buf, p + 12)[0]
                l3 = p + 14
                tags = 0
                while ethertype in VLAN_TPIDS and tags < 2 and l3 + 4 <= end:
                    ethertype = _U16.unpack_from(buf, l3 + 2)[0]
                    l3 += 4
                    tags += 1
        elif linktype == 113:
            if caplen >= 16:
                pkttype = _U16.unpack_from(buf, p)[0]
                l2 = _SLL_CAST.get(pkttype)
                if _U16.unpack_from(buf, p + 4)[0] == 6:
                    src_mac = bytes(buf[p + 6:p + 12])
                ethertype = _U16.unpack_from(buf, p + 14)[0]
                l3 = p + 16
        elif linktype == 276:
            if caplen >= 20:
                ethertype = _U16.unpack_from(buf, p)[0]
                l2 = _SLL_CAST.get(buf[p + 10])
                if buf[p + 11] == 6:
                    src_mac = bytes(buf[p + 12:p + 18])
                l3 = p + 20
        elif linktype in (101, 12, 228, 229):
            if caplen >= 1:
                version = buf[p] >> 4
                ethertype = ETH_IPV6 if linktype == 229 or (linktype != 228 and version == 6) else ETH_IPV4
                l3 = p
        elif linktype in (0, 108):
            if caplen >= 4:
                family = _LOOP_FAMILY.unpack_from(buf, p)[0] if linktype == 108 else _NULL_FAMILY.unpack_from(buf, p)[0]
                if family > 0xFFFF:
                    family = _LOOP_FAMILY.unpack_from(buf, p)[0]
                ethertype = ETH_IPV4 if family == 2 else ETH_IPV6 if family in AF_INET6_VALUES else -1
                l3 = p + 4
        l3_kind = None
        group = b""
        if ethertype == ETH_IPV4 and l3 >= 0 and l3 + 20 <= end and buf[l3] >> 4 == 4:
            dst = bytes(buf[l3 + 16:l3 + 20])
            if dst == _BCAST4:
                l3_kind = "broadcast"
            elif 224 <= dst[0] <= 239:
                l3_kind = "multicast"
                group = dst
            elif l2 == "broadcast":
                l3_kind = "broadcast"     # directed broadcast: sent to the all-ones MAC
            else:
                l3_kind = "unicast"
        elif ethertype == ETH_IPV6 and l3 >= 0 and l3 + 40 <= end and buf[l3] >> 4 == 6:
            if buf[l3 + 24] == 0xFF:
                l3_kind = "multicast"
                group = bytes(buf[l3 + 24:l3 + 40])
            else:
                l3_kind = "unicast"
        elif ethertype == ETH_ARP and l3 >= 0:
            packet = arp_wire.decode(buf, l3, end, ts_ns, index)
            if packet is not None and not packet.malformed:
                self.arp.feed(ArpPacket(ts_ns, packet.op, packet.sender_mac, packet.sender_ip, packet.target_mac,
                                        packet.target_ip, index + 1, src_mac.hex(":") if src_mac else "",
                                        dst_mac.hex(":") if dst_mac else ""))
        s = self.summary
        s.frames += 1
        s.l2[l2 or "unknown"] += 1
        if l3_kind is not None:
            s.l3[l3_kind] += 1
            if group:
                s.groups[group] += 1

    def finish(self):
        """(CastSummary, ArpReport). Groups are counted by their bytes and named here, once each."""
        raw = self.summary.groups
        self.summary.groups = type(raw)({(ipv4_text(k) if len(k) == 4 else ipv6_text(k)): n for k, n in raw.items()})
        return self.summary, self.arp.report()
