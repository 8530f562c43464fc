"""One frame in, one `Decoded` out: link layer, IP layer, and one transport record.

`decode_frame(frame)` is the general entry point (every field, options always parsed).
`RecordDecoder` is the fast path the capture reader calls per packet in `review`: it reads
the common case (Ethernet, Linux cooked, raw or loopback link; IPv4 without options or IPv6
without extension headers; TCP) with one precompiled struct per link type straight from the
reader's buffer, and hands everything else to the general decoder.

Malformations never raise: they become a short reason in `malformed` ('' when fine).
A frame the capture cut short on purpose (caplen below the wire length) is not malformed
as long as its headers are complete; payload lengths then come from the IP header.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from netinspect.core.records import SYN, Datagram, Endpoint, IcmpMessage, Segment
from netinspect.wire import arp, ethernet, icmp, ipv4, ipv6, linux_sll, tcp, udp
from netinspect.wire.addresses import ipv4_text, ipv6_text

# Link types (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_OLD = 12        # DLT_RAW on most BSDs, as some writers store it
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108          # OpenBSD loopback: family in network byte order
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
SUPPORTED_LINKTYPES = frozenset((0, 1, 12, 101, 108, 113, 228, 229, 276))
LINKTYPE_NAMES = {0: "null", 1: "ethernet", 12: "raw", 101: "raw", 108: "loop", 113: "linux-sll",
                  228: "ipv4", 229: "ipv6", 276: "linux-sll2"}

# BSD address families seen in null/loop headers: AF_INET is 2 everywhere; AF_INET6 is
# 10 on Linux, 24 on NetBSD/OpenBSD, 28 on FreeBSD, 30 on macOS.
AF_INET = 2
AF_INET6_VALUES = frozenset((10, 24, 28, 30))
_NULL_FAMILY = struct.Struct("<I")
_LOOP_FAMILY = struct.Struct("!I")

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58

_DETAIL = re.compile(r"\s*\([^)]*\)")
_NUMBER = re.compile(r"\d+")
PAYLOAD_PREFIX = 64      # payload bytes kept on a Segment by decode_frame
ENDPOINT_CACHE = 8192    # (address, port) pairs kept as ready Endpoint objects
_new_endpoint = tuple.__new__   # Endpoint(ip, port) without its Python-level __new__


@dataclass(slots=True)
class Decoded:
    """Everything the decoders found in one frame."""

    ts_ns: int
    frame_index: int
    interface: int
    linktype: int
    caplen: int
    wire_len: int
    # link layer ('' / 0 / () when the link type has none)
    src_mac: str = ""
    dst_mac: str = ""
    ethertype: int = 0
    vlans: tuple = ()
    pkttype: int = -1           # Linux cooked packet type (0 to us, 4 outgoing), -1 otherwise
    # network layer
    version: int = 0            # 4 or 6; 0 when the frame carries no IP
    src: str = ""
    dst: str = ""
    protocol: int = -1          # upper-layer protocol number (6 TCP, 17 UDP, 1/58 ICMP)
    ttl: int = 0                # TTL or hop limit
    ip_id: int = 0
    ip_header_len: int = 0      # including IPv6 extension headers
    ip_total_len: int = 0       # IPv4 total length; IPv6 40 + payload length
    dont_fragment: bool = False
    more_fragments: bool = False
    frag_offset: int = 0        # bytes
    fragment: bool = False      # part of a fragmented datagram
    ip_options: tuple = ()      # IPv4 option types
    ext_headers: tuple = ()     # IPv6 extension header numbers in order
    # transport: at most one of these is set
    segment: Segment | None = None
    datagram: Datagram | None = None
    icmp: IcmpMessage | None = None
    arp: arp.ArpPacket | None = None
    src_port: int = -1
    dst_port: int = -1
    transport_offset: int = -1  # where the TCP/UDP/ICMP header starts in the decoded buffer
    malformed: str = ""

    @property
    def record(self):
        """The transport record (Segment, Datagram, IcmpMessage or ArpPacket), or None."""
        return self.segment or self.datagram or self.icmp or self.arp


@dataclass(slots=True)
class DecodeStats:
    """Counts the fast path keeps while it turns frames into records."""

    malformed: int = 0                              # frames with a non-empty `malformed`
    malformed_reasons: dict = field(default_factory=dict)
    other: int = 0                                  # frames giving no TCP/UDP/ICMP/ARP record
    fragments: int = 0                              # non-first IP fragments (no transport header)
    unsupported: dict = field(default_factory=dict)  # link type -> frames not decoded (not flagged)

    def flag(self, reason: str) -> None:
        self.malformed += 1
        # Reasons carry numbers; bucket by their words so the table stays short:
        # "tcp option 2 has length 0" -> "tcp option N has length N".
        key = _NUMBER.sub("N", _DETAIL.sub("", reason))
        self.malformed_reasons[key] = self.malformed_reasons.get(key, 0) + 1


def decode_frame(frame) -> Decoded:
    """Decode a `core.records.Frame`."""
    data = frame.data
    return decode_buffer(data, 0, len(data), frame.linktype, frame.ts_ns, frame.orig_len,
                         frame.index, frame.interface)


def decode_buffer(buf, start: int, end: int, linktype: int, ts_ns: int = 0, wire_len: int | None = None,
                  index: int = 0, interface: int = 0, payload_prefix: int = PAYLOAD_PREFIX) -> Decoded:
    """Decode the frame occupying buf[start:end] without copying it first."""
    caplen = end - start
    if wire_len is None:
        wire_len = caplen
    d = Decoded(ts_ns, index, interface, linktype, caplen, wire_len)
    snapped = caplen < wire_len
    ethertype, l3 = _link(d, buf, start, end, linktype)
    if l3 < 0:
        return d
    if ethertype == ethernet.ETH_IPV4:
        _ipv4(d, buf, l3, end, snapped, payload_prefix)
    elif ethertype == ethernet.ETH_IPV6:
        _ipv6(d, buf, l3, end, snapped, payload_prefix)
    elif ethertype == ethernet.ETH_ARP:
        packet = arp.decode(buf, l3, end, ts_ns, index)
        if packet is None:
            d.malformed = f"truncated arp ({end - l3} bytes)"
        else:
            d.arp = packet
            d.malformed = packet.malformed
    return d


def _link(d: Decoded, buf, start: int, end: int, linktype: int) -> tuple[int, int]:
    """Fill the link fields; return (ethertype of the payload, its offset), offset -1 when none."""
    if linktype == LINKTYPE_ETHERNET:
        eth = ethernet.decode(buf, start, end)
        if eth is None:
            d.malformed = f"truncated ethernet header ({end - start} of 14 bytes)"
            return 0, -1
        d.src_mac = eth.src.hex(":")
        d.dst_mac = eth.dst.hex(":")
        d.ethertype = eth.ethertype
        d.vlans = eth.vlans
        if eth.malformed:
            d.malformed = eth.malformed
            return eth.ethertype, -1
        return eth.ethertype, start + eth.length
    if linktype == LINKTYPE_LINUX_SLL or linktype == LINKTYPE_LINUX_SLL2:
        sll = (linux_sll.decode_v1 if linktype == LINKTYPE_LINUX_SLL else linux_sll.decode_v2)(buf, start, end)
        if sll is None:
            need = linux_sll.SLL_LEN if linktype == LINKTYPE_LINUX_SLL else linux_sll.SLL2_LEN
            d.malformed = f"truncated linux cooked header ({end - start} of {need} bytes)"
            return 0, -1
        if sll.hatype == linux_sll.ARPHRD_ETHER and len(sll.address) == 6:
            d.src_mac = sll.address.hex(":")
        d.pkttype = sll.pkttype
        d.ethertype = sll.protocol
        return sll.protocol, start + sll.length
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OLD, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if end <= start:
            d.malformed = "empty raw ip frame"
            return 0, -1
        version = buf[start] >> 4
        if linktype == LINKTYPE_IPV4 or (linktype != LINKTYPE_IPV6 and version == 4):
            d.ethertype = ethernet.ETH_IPV4
        elif linktype == LINKTYPE_IPV6 or version == 6:
            d.ethertype = ethernet.ETH_IPV6
        else:
            d.malformed = f"ip version {version} in a raw ip frame"
            return 0, -1
        return d.ethertype, start
    if linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        if end - start < 4:
            d.malformed = f"truncated loopback header ({end - start} of 4 bytes)"
            return 0, -1
        if linktype == LINKTYPE_LOOP:
            family = _LOOP_FAMILY.unpack_from(buf, start)[0]
        else:
            # Host byte order of the machine that wrote it: small numbers tell which.
            family = _NULL_FAMILY.unpack_from(buf, start)[0]
            if family > 0xFFFF:
                family = _LOOP_FAMILY.unpack_from(buf, start)[0]
        if family == AF_INET:
            d.ethertype = ethernet.ETH_IPV4
        elif family in AF_INET6_VALUES:
            d.ethertype = ethernet.ETH_IPV6
        else:
            return 0, -1
        return d.ethertype, start + 4
    d.malformed = f"unsupported link type {linktype}"
    return 0, -1


def _ipv4(d: Decoded, buf, off: int, end: int, snapped: bool, payload_prefix: int) -> None:
    h = ipv4.decode(buf, off, end, snapped)
    if isinstance(h, str):
        d.malformed = h
        return
    d.version = 4
    d.src = ipv4_text(h.src)
    d.dst = ipv4_text(h.dst)
    d.protocol = h.protocol
    d.ttl = h.ttl
    d.ip_id = h.ident
    d.ip_header_len = h.header_len
    d.ip_total_len = h.total_len
    d.dont_fragment = h.dont_fragment
    d.more_fragments = h.more_fragments
    d.frag_offset = h.frag_offset
    d.fragment = h.more_fragments or h.frag_offset > 0
    d.ip_options = h.options
    d.malformed = h.malformed
    if h.frag_offset:
        return  # a later fragment: its bytes continue the datagram, no transport header here
    ip_payload = (h.total_len if h.total_len >= h.header_len else end - off) - h.header_len
    _transport(d, buf, off + h.header_len, h.payload_end, ip_payload, snapped, payload_prefix)


def _ipv6(d: Decoded, buf, off: int, end: int, snapped: bool, payload_prefix: int) -> None:
    h = ipv6.decode(buf, off, end, snapped)
    if isinstance(h, str):
        d.malformed = h
        return
    d.version = 6
    d.src = ipv6_text(h.src)
    d.dst = ipv6_text(h.dst)
    d.protocol = h.protocol
    d.ttl = h.hop_limit
    d.ip_header_len = h.transport_offset - off
    d.ip_total_len = ipv6.HEADER_LEN + h.payload_len
    d.ext_headers = h.extensions
    d.more_fragments = h.more_fragments
    d.frag_offset = h.frag_offset
    d.fragment = h.fragmented
    d.malformed = h.malformed
    if h.frag_offset or h.protocol in ipv6.EXTENSIONS or h.protocol == ipv6.NO_NEXT:
        return
    if h.payload_len:
        ip_payload = ipv6.HEADER_LEN + h.payload_len - d.ip_header_len
    else:
        ip_payload = end - h.transport_offset
    _transport(d, buf, h.transport_offset, h.payload_end, ip_payload, snapped, payload_prefix)


def _transport(d: Decoded, buf, off: int, end: int, ip_payload: int, snapped: bool, payload_prefix: int) -> None:
    proto = d.protocol
    d.transport_offset = off
    if proto == PROTO_TCP:
        h = tcp.decode(buf, off, end)
        if isinstance(h, str):
            d.malformed = d.malformed or h
            return
        d.src_port, d.dst_port = h.src_port, h.dst_port
        malformed = d.malformed or h.malformed
        opts = None
        if h.options_end > h.options_start:
            opts, opt_bad = tcp.parse_options(buf, h.options_start, h.options_end)
            malformed = malformed or opt_bad
        payload_len = max(ip_payload - h.header_len, 0)
        start = off + h.header_len
        payload = bytes(buf[start:min(end, start + payload_prefix, start + payload_len)]) if payload_prefix else b""
        d.malformed = malformed
        d.segment = Segment(d.ts_ns, Endpoint(d.src, h.src_port), Endpoint(d.dst, h.dst_port), h.seq, h.ack,
                            h.flags, h.window, payload_len, d.frame_index, opts, payload, malformed)
    elif proto == PROTO_UDP:
        h = udp.decode(buf, off, end, ip_payload, snapped)
        if isinstance(h, str):
            d.malformed = d.malformed or h
            return
        d.src_port, d.dst_port = h.src_port, h.dst_port
        d.malformed = d.malformed or h.malformed
        d.datagram = Datagram(d.ts_ns, Endpoint(d.src, h.src_port), Endpoint(d.dst, h.dst_port),
                              h.payload_len, d.frame_index, d.malformed)
    elif (proto == PROTO_ICMP and d.version == 4) or (proto == PROTO_ICMPV6 and d.version == 6):
        h = icmp.decode(buf, off, end, d.version)
        if isinstance(h, str):
            d.malformed = d.malformed or h
            return
        d.malformed = d.malformed or h.malformed
        d.icmp = IcmpMessage(d.ts_ns, d.src, d.dst, d.version, h.type, h.code, d.frame_index, d.malformed)


# ---------------------------------------------------------------------------------------
# Fast path: one struct per link type covering link tag + IP + the fixed TCP header.
# The first field is the link's protocol tag, then (IPv4) version/IHL, total length, flags/
# fragment offset, TTL, protocol, 12 bytes of addresses+ports (contiguous when IHL is 5),
# then sequence, acknowledgment, data offset, flags, window.
_V4_BODY = "BxH2xHBB2x12sIIBBH"
_V6_BODY = "IHBB36sIIBBH"   # version/class/flow, payload length, next header, hops, addrs+ports, ...


@dataclass(frozen=True)
class FastLayout:
    l3: int                 # offset of the IP header within the frame
    v4: struct.Struct
    v6: struct.Struct
    v4_tags: frozenset
    v6_tags: frozenset


def _layout(prefix: str, l3: int, v4_tags, v6_tags) -> FastLayout:
    return FastLayout(l3, struct.Struct("!" + prefix + _V4_BODY), struct.Struct("!" + prefix + _V6_BODY),
                      frozenset(v4_tags), frozenset(v6_tags))


_ETH_TAGS = ({0x0800}, {0x86DD})
_RAW = _layout("0s", 0, {b""}, {b""})   # no tag: the version checks below decide
_NULL_V6 = {f.to_bytes(4, o) for f in AF_INET6_VALUES for o in ("little", "big")}
FAST_LAYOUTS = {
    LINKTYPE_ETHERNET: _layout("12xH", 14, *_ETH_TAGS),
    LINKTYPE_LINUX_SLL: _layout("14xH", 16, *_ETH_TAGS),
    LINKTYPE_LINUX_SLL2: _layout("H18x", 20, *_ETH_TAGS),
    LINKTYPE_RAW: _RAW, LINKTYPE_RAW_OLD: _RAW, LINKTYPE_IPV4: _RAW, LINKTYPE_IPV6: _RAW,
    LINKTYPE_NULL: _layout("4s", 4, {b"\x02\0\0\0", b"\0\0\0\x02"}, _NULL_V6),
    LINKTYPE_LOOP: _layout("I", 4, {AF_INET}, AF_INET6_VALUES),
}


# Key length -> (address length, source port offset, destination port offset, address text).
_KEY_FIELDS = {12: (4, 8, 10, ipv4_text), 36: (16, 32, 34, ipv6_text)}


class RecordDecoder:
    """Turns frames in a reader's buffer into Segment/Datagram/IcmpMessage/ArpPacket records.

    `decode(buf, start, caplen, wire_len, ts_ns, index, linktype, interface)` returns the
    record or None (no transport record: counted in `stats.other`). Flagged frames are
    counted in `stats`. TCP options are parsed on SYN segments only unless `all_options`:
    the tracker needs MSS/window scale/SACK-permitted from the handshake, and skipping the
    walk elsewhere is a large part of the speed.
    """

    def __init__(self, stats: DecodeStats | None = None, payload_prefix: int = 0, all_options: bool = False):
        self.stats = stats if stats is not None else DecodeStats()
        self.payload_prefix = payload_prefix
        self.all_options = all_options
        self._endpoints: dict = {}     # address+port key -> (src, dst) Endpoints
        self._singles: dict = {}       # address+port of one side -> Endpoint
        self._sharded: dict = {}       # (shard, shards) -> decode of that shard
        self.decode = self._build()

    def _build(self):
        endpoints = self._endpoints
        layouts = FAST_LAYOUTS
        stats = self.stats
        prefix = self.payload_prefix
        option_mask = 0xFF if self.all_options else SYN
        parse_options = tcp.parse_options
        slow = self._slow
        Seg = Segment
        pair_of = self._pair

        def decode(buf, p, caplen, wire_len, ts_ns, index, linktype, interface):
            layout = layouts.get(linktype)
            if layout is None:
                return slow(buf, p, caplen, wire_len, ts_ns, index, linktype, interface)
            l3 = layout.l3
            if caplen >= l3 + 40:
                tag, vihl, total, frag, _ttl, proto, key, seq, ack, offb, flags, win = layout.v4.unpack_from(buf, p)
                if vihl == 0x45 and proto == 6 and not frag & 0x3FFF and tag in layout.v4_tags:
                    hlen = (offb >> 4) << 2
                    avail = caplen - l3
                    if hlen >= 20 and hlen + 20 <= avail and (total <= avail or caplen < wire_len) and total >= 20 + hlen:
                        pair = endpoints.get(key)
                        if pair is None:
                            pair = pair_of(key)
                        plen = total - 20 - hlen
                        opts = None
                        malformed = ""
                        if flags & option_mask and hlen > 20:
                            opts, malformed = parse_options(buf, p + l3 + 40, p + l3 + 20 + hlen)
                            if malformed:
                                stats.flag(malformed)
                        payload = b""
                        if prefix and plen:
                            s = p + l3 + 20 + hlen
                            payload = buf[s:min(s + plen, s + prefix, p + caplen)]
                        return Seg(ts_ns, pair[0], pair[1], seq, ack, flags, win, plen, index, opts, payload, malformed)
            if caplen >= l3 + 60:
                tag, vtf, plen6, nxt, _hops, key, seq, ack, offb, flags, win = layout.v6.unpack_from(buf, p)
                if nxt == 6 and vtf >> 28 == 6 and tag in layout.v6_tags:
                    hlen = (offb >> 4) << 2
                    avail = caplen - l3 - 40
                    if hlen >= 20 and hlen <= avail and (plen6 <= avail or caplen < wire_len) and plen6 >= hlen:
                        pair = endpoints.get(key)
                        if pair is None:
                            pair = pair_of(key)
                        plen = plen6 - hlen
                        opts = None
                        malformed = ""
                        if flags & option_mask and hlen > 20:
                            opts, malformed = parse_options(buf, p + l3 + 60, p + l3 + 40 + hlen)
                            if malformed:
                                stats.flag(malformed)
                        payload = b""
                        if prefix and plen:
                            s = p + l3 + 40 + hlen
                            payload = buf[s:min(s + plen, s + prefix, p + caplen)]
                        return Seg(ts_ns, pair[0], pair[1], seq, ack, flags, win, plen, index, opts, payload, malformed)
            return slow(buf, p, caplen, wire_len, ts_ns, index, linktype, interface)

        return decode

    def _pair(self, key: bytes) -> tuple:
        """(source, destination) Endpoints for a key of addresses then ports (IPv4: 4+4+2+2
        bytes, IPv6: 16+16+2+2), cached per direction of a connection.

        Each side's Endpoint is made once and shared: by the reply direction and by other
        connections of the same endpoint (the server's, usually). Both caches are cleared
        when full, so memory stays bounded whatever the number of connections.
        """
        pairs = self._endpoints
        singles = self._singles
        if len(pairs) >= ENDPOINT_CACHE:
            pairs.clear()
        if len(singles) >= ENDPOINT_CACHE:
            singles.clear()
        # source address, destination address (a bytes each), source port, destination port
        a, sp, dp, text = _KEY_FIELDS[len(key)]
        src_key = key[0:a] + key[sp:dp]
        dst_key = key[a:sp] + key[dp:]
        src = singles.get(src_key)
        if src is None:
            src = singles[src_key] = _new_endpoint(Endpoint, (text(key[0:a]), (key[sp] << 8) | key[sp + 1]))
        dst = singles.get(dst_key)
        if dst is None:
            dst = singles[dst_key] = _new_endpoint(Endpoint, (text(key[a:sp]), (key[dp] << 8) | key[dp + 1]))
        pair = pairs[key] = (src, dst)
        return pair

    def _slow(self, buf, p, caplen, wire_len, ts_ns, index, linktype, interface):
        if linktype not in SUPPORTED_LINKTYPES:
            # Not a damaged frame, a link this reader does not speak: counted apart.
            unsupported = self.stats.unsupported
            unsupported[linktype] = unsupported.get(linktype, 0) + 1
            return None
        d = decode_buffer(buf, p, p + caplen, linktype, ts_ns, wire_len, index, interface, self.payload_prefix)
        return self._finish(d)

    def _finish(self, d: Decoded):
        """Count a generally decoded frame and return its record (or None)."""
        if d.malformed:
            self.stats.flag(d.malformed)
        record = d.segment or d.datagram or d.icmp or d.arp
        if record is None:
            if d.frag_offset:
                self.stats.fragments += 1
            else:
                self.stats.other += 1
            return None
        if record.__class__ is Segment and not self.all_options and not record.flags & SYN:
            record.options = None
        return record

    def sharded(self, shard: int, shards: int):
        """A `decode` that returns None, without counting anything, for frames of other shards.

        The shard of a frame is `flow_shard(...) % shards` over its addresses and ports, the
        same for both directions of a flow, so every packet of a 4-tuple is decoded by one
        worker and each frame is counted (stats) by exactly one. It is read from the raw
        bytes with a few index operations for plain IPv4/IPv6 TCP/UDP on the fast link
        types; any other frame is decoded (without side effects) to find its endpoints.
        Frames with no ports (ICMP, ARP, fragments, damage) belong to shard 0.
        """
        layouts = FAST_LAYOUTS
        decode = self.decode
        finish = self._finish
        supported = SUPPORTED_LINKTYPES
        prefix = self.payload_prefix
        # The link's protocol tag alone (the fast structs also cover the TCP header, which a
        # short UDP frame lacks).
        tags = {lt: struct.Struct(layout.v4.format[:-len(_V4_BODY)]).unpack_from for lt, layout in layouts.items()}

        def decode_shard(buf, p, caplen, wire_len, ts_ns, index, linktype, interface):
            layout = layouts.get(linktype)
            if layout is not None:
                l3 = p + layout.l3
                if caplen >= layout.l3 + 24:
                    b = buf[l3]
                    if b == 0x45:
                        if (buf[l3 + 9] == 6 or buf[l3 + 9] == 17) and not (buf[l3 + 6] & 0x3F or buf[l3 + 7]) \
                                and tags[linktype](buf, p)[0] in layout.v4_tags:
                            if (buf[l3 + 15] ^ buf[l3 + 19] ^ buf[l3 + 21] ^ buf[l3 + 23]) % shards != shard:
                                return None
                            return decode(buf, p, caplen, wire_len, ts_ns, index, linktype, interface)
                    elif b >> 4 == 6 and caplen >= layout.l3 + 44 and (buf[l3 + 6] == 6 or buf[l3 + 6] == 17) \
                            and tags[linktype](buf, p)[0] in layout.v6_tags:
                        if (buf[l3 + 23] ^ buf[l3 + 39] ^ buf[l3 + 41] ^ buf[l3 + 43]) % shards != shard:
                            return None
                        return decode(buf, p, caplen, wire_len, ts_ns, index, linktype, interface)
            if linktype not in supported:
                return decode(buf, p, caplen, wire_len, ts_ns, index, linktype, interface) if shard == 0 else None
            d = decode_buffer(buf, p, p + caplen, linktype, ts_ns, wire_len, index, interface, prefix)
            record = d.segment or d.datagram
            if record is None:
                owner = 0
            else:
                owner = flow_shard(record.src, record.dst) % shards
            return finish(d) if owner == shard else None

        return decode_shard

    def walk_pcap(self, buf, off: int, record: struct.Struct, unit: int, linktype: int,
                  index: int, cap: int, batch: int = 512, shard: int = 0,
                  shards: int = 1) -> tuple[list, int, int, int, str]:
        """Decode the complete classic-pcap records in buf[off:] into a list of records.

        The hot loop of `review`: pure (bytes in, records out), inlined fast path, no
        generator switch per packet. Returns (records, offset after the last complete
        record, next frame index, captured bytes, reason): reason is non-empty when a
        record length exceeds `cap`, and the offset then points at that record's header.
        At most `batch` frames are taken per call: a short list keeps the records young for
        the garbage collector and warm in the CPU cache while the consumer handles them.
        """
        out: list = []
        append = out.append
        slow = self.decode
        unpack = record.unpack_from
        rec_len = record.size
        n = len(buf)
        last = n - rec_len               # a record header fits while off <= last
        first_off, first_index = off, index
        stop = index + batch
        reason = ""
        layout = FAST_LAYOUTS.get(linktype)
        if shards > 1:
            # Frames of other shards are passed over before anything is built (see sharded()).
            sharded = self._sharded.get((shard, shards))
            if sharded is None:
                sharded = self._sharded[(shard, shards)] = self.sharded(shard, shards)
            if layout is None:
                slow = sharded
        if layout is None:
            while off <= last and index < stop:
                sec, frac, caplen, wire_len = unpack(buf, off)
                if caplen > cap:
                    reason = f"record length {caplen} exceeds the cap of {cap} bytes"
                    break
                p = off + rec_len
                if p + caplen > n:
                    break
                off = p + caplen
                item = slow(buf, p, caplen, wire_len, sec * 1000000000 + frac * unit, index, linktype, 0)
                if item is not None:
                    append(item)
                index += 1
            return out, off, index, (off - first_off) - rec_len * (index - first_index), reason
        endpoints = self._endpoints
        stats = self.stats
        prefix = self.payload_prefix
        option_mask = 0xFF if self.all_options else SYN
        parse_options = tcp.parse_options
        Seg = Segment
        pair_of = self._pair
        l3 = layout.l3
        v4 = layout.v4.unpack_from
        v4_tags = layout.v4_tags
        v4_min = l3 + 40
        tcp_at = l3 + 20
        tag_of = struct.Struct(layout.v4.format[:-len(_V4_BODY)]).unpack_from
        v6_tags = layout.v6_tags
        combo = None
        if shards > 1:
            # The record header and the shard key fields in one call, read in the record
            # header's byte order: tags and the fragment field are compared as read that way.
            order = record.format[0]
            link = layout.v4.format[1:-len(_V4_BODY)]
            combo_struct = struct.Struct(order + record.format[1:] + link + "B5xH1xB5xB3xB1xB1xB")
            combo = combo_struct.unpack_from
            combo_last = n - combo_struct.size
            swap = order == "<" and link[-1:] in ("H", "I")
            width = 2 if link[-1:] == "H" else 4
            k_tags = {int.from_bytes(t.to_bytes(width, "big"), "little") for t in v4_tags} if swap else v4_tags
            frag_mask = 0xFF3F if order == "<" else 0x3FFF
        while off <= last and index < stop:
            if combo is not None and off <= combo_last:
                sec, frac, caplen, wire_len, ktag, kvihl, kfrag, kproto, ka, kb, kc, kd = combo(buf, off)
            else:
                sec, frac, caplen, wire_len = unpack(buf, off)
                kvihl = 0
            if caplen > cap:
                reason = f"record length {caplen} exceeds the cap of {cap} bytes"
                break
            p = off + rec_len
            if p + caplen > n:
                break
            off = p + caplen
            if shards > 1:
                q = p + l3
                if caplen < l3 + 24:
                    kvihl = 0
                if kvihl == 0x45 and (kproto == 6 or kproto == 17) and not kfrag & frag_mask and ktag in k_tags:
                    if (ka ^ kb ^ kc ^ kd) % shards != shard:
                        index += 1
                        continue
                elif caplen >= l3 + 44 and buf[q] >> 4 == 6 and (buf[q + 6] == 6 or buf[q + 6] == 17) \
                        and tag_of(buf, p)[0] in v6_tags:
                    if (buf[q + 23] ^ buf[q + 39] ^ buf[q + 41] ^ buf[q + 43]) % shards != shard:
                        index += 1
                        continue
                else:
                    item = sharded(buf, p, caplen, wire_len, sec * 1000000000 + frac * unit, index, linktype, 0)
                    if item is not None:
                        append(item)
                    index += 1
                    continue
            if caplen >= v4_min:
                tag, vihl, total, frag, _ttl, proto, key, seq, ack, offb, flags, win = v4(buf, p)
                if vihl == 0x45 and proto == 6 and not frag & 0x3FFF and tag in v4_tags:
                    hlen = (offb >> 4) << 2
                    plen = total - 20 - hlen
                    # Complete TCP header captured, lengths consistent (or the frame snapped).
                    if hlen >= 20 and 0 <= plen and tcp_at + hlen <= caplen and (total <= caplen - l3 or caplen < wire_len):
                        pair = endpoints.get(key)
                        if pair is None:
                            pair = pair_of(key)
                        if flags & option_mask and hlen > 20:
                            opts, malformed = parse_options(buf, p + v4_min, p + tcp_at + hlen)
                            if malformed:
                                stats.flag(malformed)
                        else:
                            opts = None
                            malformed = ""
                        if prefix and plen:
                            s = p + tcp_at + hlen
                            payload = buf[s:min(s + plen, s + prefix, off)]
                        else:
                            payload = b""
                        append(Seg(sec * 1000000000 + frac * unit, pair[0], pair[1], seq, ack, flags, win, plen,
                                   index, opts, payload, malformed))
                        index += 1
                        continue
            item = slow(buf, p, caplen, wire_len, sec * 1000000000 + frac * unit, index, linktype, 0)
            if item is not None:
                append(item)
            index += 1
        return out, off, index, (off - first_off) - rec_len * (index - first_index), reason

    def walk_epbs(self, buf, off: int, order: str, interfaces: list, index: int, cap: int, block_cap: int,
                  batch: int = 512) -> tuple[list, int, int, int]:
        """Decode the run of well-formed pcapng Enhanced Packet Blocks at buf[off:].

        `interfaces` holds (linktype, snaplen, mul, div, shift, add_ns) per interface id, as
        the reader builds it: ts_ns = ((ts * mul) // div >> shift) + add_ns. The walk stops,
        without judging, at the first block that is not an EPB, is incomplete, or has any
        length or interface out of order: the reader's general block loop then handles that
        block (and raises if it is damaged). Returns (records, offset, next index, captured).
        """
        out: list = []
        append = out.append
        head = _EPB_HEAD_LE if order == "<" else _EPB_HEAD_BE
        u32 = _U32_LE if order == "<" else _U32_BE
        head_unpack = head.unpack_from
        trailer = u32.unpack_from
        slow = self.decode
        n = len(buf)
        last = n - 32
        nif = len(interfaces)
        stop = index + batch
        captured = 0
        endpoints = self._endpoints
        stats = self.stats
        prefix = self.payload_prefix
        option_mask = 0xFF if self.all_options else SYN
        parse_options = tcp.parse_options
        Seg = Segment
        pair_of = self._pair
        layouts = [FAST_LAYOUTS.get(i[0]) for i in interfaces]
        while off <= last and index < stop:
            btype, blen, iface, ts_hi, ts_lo, caplen, wire_len = head_unpack(buf, off)
            if btype != 6 or blen < 32 or blen & 3 or blen > block_cap or iface >= nif \
                    or caplen > blen - 32 or caplen > cap:
                break
            end = off + blen
            if end > n or trailer(buf, end - 4)[0] != blen:
                break
            linktype, _snap, mul, div, shift, add = interfaces[iface]
            ts_ns = ((((ts_hi << 32) | ts_lo) * mul) // div >> shift) + add
            p = off + 28
            off = end
            captured += caplen
            layout = layouts[iface]
            if layout is not None and caplen >= layout.l3 + 40:
                l3 = layout.l3
                tag, vihl, total, frag, _ttl, proto, key, seq, ack, offb, flags, win = layout.v4.unpack_from(buf, p)
                if vihl == 0x45 and proto == 6 and not frag & 0x3FFF and tag in layout.v4_tags:
                    hlen = (offb >> 4) << 2
                    plen = total - 20 - hlen
                    tcp_at = l3 + 20
                    if hlen >= 20 and 0 <= plen and tcp_at + hlen <= caplen and (total <= caplen - l3 or caplen < wire_len):
                        pair = endpoints.get(key)
                        if pair is None:
                            pair = pair_of(key)
                        if flags & option_mask and hlen > 20:
                            opts, malformed = parse_options(buf, p + tcp_at + 20, p + tcp_at + hlen)
                            if malformed:
                                stats.flag(malformed)
                        else:
                            opts = None
                            malformed = ""
                        if prefix and plen:
                            s = p + tcp_at + hlen
                            payload = buf[s:min(s + plen, s + prefix, p + caplen)]
                        else:
                            payload = b""
                        append(Seg(ts_ns, pair[0], pair[1], seq, ack, flags, win, plen, index, opts, payload, malformed))
                        index += 1
                        continue
            item = slow(buf, p, caplen, wire_len, ts_ns, index, linktype, iface)
            if item is not None:
                append(item)
            index += 1
        return out, off, index, captured


_EPB_HEAD_LE = struct.Struct("<IIIIIII")   # type, length, interface, ts high, ts low, caplen, wire length
_EPB_HEAD_BE = struct.Struct(">IIIIIII")
_U32_LE = struct.Struct("<I")
_U32_BE = struct.Struct(">I")


def _last_octet(address: str) -> int:
    if ":" not in address:
        return int(address[address.rfind(".") + 1:])
    import ipaddress
    return ipaddress.IPv6Address(address).packed[15]


def flow_shard(src: Endpoint, dst: Endpoint) -> int:
    """The direction-symmetric shard number of a flow (before `% shards`): the last bytes
    of both addresses and the low bytes of both ports, XORed. RecordDecoder.sharded reads
    the same value from raw bytes; this form is for frames the general decoder had to take."""
    return _last_octet(src.ip) ^ _last_octet(dst.ip) ^ (src.port & 0xFF) ^ (dst.port & 0xFF)
