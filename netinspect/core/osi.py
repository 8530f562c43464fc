"""Where each protocol header sits in the OSI seven-layer and the TCP/IP five-layer model.

The table is data: one row per protocol, so `layers` (and anything else) can look a
header up by name. The five-layer TCP/IP model used here is the textbook one
(physical, data link, network, transport, application); OSI layers 5 and 6 have no
header of their own in TCP/IP and fold into its application layer.
"""

from __future__ import annotations

from typing import NamedTuple

OSI_LAYERS = {
    1: "Physical",
    2: "Data Link",
    3: "Network",
    4: "Transport",
    5: "Session",
    6: "Presentation",
    7: "Application",
}

TCPIP_LAYERS = {
    1: "Physical",
    2: "Data Link",
    3: "Network",
    4: "Transport",
    5: "Application",
}

# OSI layer -> TCP/IP five-layer layer (5, 6 and 7 all become "Application").
OSI_TO_TCPIP = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 5, 7: 5}


class Placement(NamedTuple):
    protocol: str       # our canonical name, e.g. "IPv4"
    osi: int            # 1..7
    tcpip: int          # 1..5
    meaning: str        # what this header is for, one line

    @property
    def osi_name(self) -> str:
        return OSI_LAYERS[self.osi]

    @property
    def tcpip_name(self) -> str:
        return TCPIP_LAYERS[self.tcpip]

    def as_dict(self) -> dict:
        return {
            "protocol": self.protocol,
            "osi_layer": self.osi,
            "osi_name": self.osi_name,
            "tcpip_layer": self.tcpip,
            "tcpip_name": self.tcpip_name,
            "meaning": self.meaning,
        }


def _row(protocol: str, osi: int, meaning: str) -> tuple[str, Placement]:
    return protocol, Placement(protocol, osi, OSI_TO_TCPIP[osi], meaning)


# protocol -> placement. ARP is placed at layer 2: it travels directly in an Ethernet
# frame (EtherType 0x0806, no IP header) and serves the link, mapping a layer-3 address
# to a layer-2 one; textbooks also call it "layer 2.5" and the meaning says so.
PLACEMENTS: dict[str, Placement] = dict([
    _row("Ethernet", 2, "Ethernet II frame header: destination and source MAC address, EtherType of the payload"),
    _row("802.1Q", 2, "VLAN tag inside the Ethernet header: priority, VLAN id, EtherType of the payload"),
    _row("Linux cooked", 2, "Linux 'any'-interface pseudo header (SLL): packet direction, link-layer address, protocol"),
    _row("Linux cooked v2", 2, "Linux 'any'-interface pseudo header (SLL2): interface index, direction, address, protocol"),
    _row("Loopback", 2, "BSD loopback/null header: the address family of the packet that follows"),
    _row("LLC", 2, "IEEE 802.2 logical link control: service access points of an 802.3 frame"),
    _row("SNAP", 2, "802.2 SNAP extension: organisation code and protocol id"),
    _row("STP", 2, "spanning tree bridge protocol data unit: keeps switched networks loop-free"),
    _row("ARP", 2, "address resolution (layer 2.5): asks which MAC address holds an IPv4 address, and answers"),
    _row("IPv4", 3, "Internet Protocol v4: source and destination address, TTL, fragmentation, payload protocol"),
    _row("IPv6", 3, "Internet Protocol v6: source and destination address, hop limit, next header"),
    _row("IPv6 extension", 3, "IPv6 extension header: hop-by-hop options, routing, fragment or destination options"),
    _row("ICMP", 3, "ICMP for IPv4: error reports and diagnostics (echo, unreachable, time exceeded), carried in IP"),
    _row("ICMPv6", 3, "ICMP for IPv6: errors, echo, neighbour discovery (IPv6's ARP) and MLD, carried in IPv6"),
    _row("ICMPv6 option", 3, "neighbour discovery option inside ICMPv6: link-layer address, prefix, MTU, DNS server"),
    _row("IGMP", 3, "IPv4 multicast group membership reports and queries"),
    _row("TCP", 4, "Transmission Control Protocol: ports, sequence and acknowledgement numbers, flags, window"),
    _row("UDP", 4, "User Datagram Protocol: ports, length and checksum, no connection and no retransmission"),
    _row("SCTP", 4, "Stream Control Transmission Protocol: ports, verification tag, chunks"),
    _row("TLS", 6, "Transport Layer Security record: encryption and authentication (presentation in OSI terms)"),
    _row("DNS", 7, "Domain Name System message: questions and resource records"),
    _row("mDNS", 7, "multicast DNS on the local link (UDP 5353)"),
    _row("LLMNR", 7, "link-local multicast name resolution (UDP 5355)"),
    _row("DHCP", 7, "Dynamic Host Configuration Protocol: address leases (BOOTP on UDP 67/68)"),
    _row("DHCPv6", 7, "DHCP for IPv6 (UDP 546/547)"),
    _row("NTP", 7, "Network Time Protocol"),
    _row("HTTP", 7, "Hypertext Transfer Protocol request or response"),
    _row("SNMP", 7, "Simple Network Management Protocol"),
    _row("NetBIOS", 5, "NetBIOS name or session service (session layer in OSI terms)"),
    _row("SSDP", 7, "Simple Service Discovery Protocol (UPnP, HTTP over UDP 1900)"),
    _row("Payload", 7, "application data: bytes the layers below carry, not decoded further"),
    _row("Padding", 2, "padding bytes that bring a short Ethernet frame up to the 60-byte minimum"),
])

UNKNOWN = "unknown"


def placement(protocol: str) -> Placement | None:
    """The placement of a protocol by its canonical name, or None when not in the table."""
    return PLACEMENTS.get(protocol)


# Meaning of the common header fields, keyed by (protocol, field name as scapy calls it).
FIELD_MEANINGS: dict[tuple[str, str], str] = {
    ("Ethernet", "dst"): "destination MAC address (I/G bit: unicast or group)",
    ("Ethernet", "src"): "source MAC address",
    ("Ethernet", "type"): "EtherType: protocol of the payload",
    ("802.1Q", "prio"): "priority code point (802.1p class of service)",
    ("802.1Q", "dei"): "drop eligible indicator",
    ("802.1Q", "vlan"): "VLAN identifier",
    ("802.1Q", "type"): "EtherType of the payload",
    ("Linux cooked", "pkttype"): "direction: to us, broadcast, multicast, to another host, or sent by us",
    ("Linux cooked", "lladdrtype"): "ARPHRD type of the link-layer address",
    ("Linux cooked", "lladdrlen"): "length of the link-layer address",
    ("Linux cooked", "src"): "link-layer (source) address",
    ("Linux cooked", "proto"): "EtherType of the payload",
    ("Linux cooked v2", "proto"): "EtherType of the payload",
    ("Linux cooked v2", "ifindex"): "index of the interface the packet went through",
    ("Linux cooked v2", "pkttype"): "direction: to us, broadcast, multicast, to another host, or sent by us",
    ("Linux cooked v2", "src"): "link-layer (source) address",
    ("Loopback", "type"): "address family of the payload (2 IPv4, 24/28/30 IPv6)",
    ("ARP", "hwtype"): "hardware type (1 Ethernet)",
    ("ARP", "ptype"): "protocol type (0x0800 IPv4)",
    ("ARP", "hwlen"): "hardware address length (6 for a MAC)",
    ("ARP", "plen"): "protocol address length (4 for IPv4)",
    ("ARP", "op"): "operation: 1 request (who-has), 2 reply (is-at)",
    ("ARP", "hwsrc"): "sender MAC address",
    ("ARP", "psrc"): "sender IPv4 address",
    ("ARP", "hwdst"): "target MAC address (zero in a request: that is the question)",
    ("ARP", "pdst"): "target IPv4 address",
    ("IPv4", "version"): "IP version (4)",
    ("IPv4", "ihl"): "header length in 32-bit words",
    ("IPv4", "tos"): "DSCP and ECN bits",
    ("IPv4", "len"): "total length of header and payload",
    ("IPv4", "id"): "identification, groups fragments of one datagram",
    ("IPv4", "flags"): "DF (don't fragment) and MF (more fragments)",
    ("IPv4", "frag"): "fragment offset in 8-byte units",
    ("IPv4", "ttl"): "time to live: hops left before a router drops it",
    ("IPv4", "proto"): "protocol of the payload (1 ICMP, 6 TCP, 17 UDP)",
    ("IPv4", "chksum"): "header checksum",
    ("IPv4", "src"): "source IPv4 address",
    ("IPv4", "dst"): "destination IPv4 address",
    ("IPv4", "options"): "IP options",
    ("IPv6", "version"): "IP version (6)",
    ("IPv6", "tc"): "traffic class (DSCP and ECN)",
    ("IPv6", "fl"): "flow label",
    ("IPv6", "plen"): "payload length",
    ("IPv6", "nh"): "next header: protocol of the payload",
    ("IPv6", "hlim"): "hop limit: hops left before a router drops it",
    ("IPv6", "src"): "source IPv6 address",
    ("IPv6", "dst"): "destination IPv6 address",
    ("ICMP", "type"): "message type (0 echo reply, 3 unreachable, 8 echo request, 11 time exceeded)",
    ("ICMP", "code"): "subtype of the message",
    ("ICMP", "chksum"): "checksum over the ICMP message",
    ("ICMP", "id"): "echo identifier",
    ("ICMP", "seq"): "echo sequence number",
    ("ICMPv6", "type"): "message type (128/129 echo, 133-137 neighbour discovery, 143 MLDv2 report)",
    ("ICMPv6", "code"): "subtype of the message",
    ("ICMPv6", "cksum"): "checksum over pseudo header and message",
    ("IGMP", "type"): "message type (0x11 query, 0x16 v2 report, 0x22 v3 report, 0x17 leave)",
    ("IGMP", "gaddr"): "multicast group address",
    ("TCP", "sport"): "source port",
    ("TCP", "dport"): "destination port",
    ("TCP", "seq"): "sequence number of the first payload byte",
    ("TCP", "ack"): "next byte expected from the other side (valid with ACK)",
    ("TCP", "dataofs"): "header length in 32-bit words",
    ("TCP", "reserved"): "reserved bits",
    ("TCP", "flags"): "control flags (S SYN, A ACK, F FIN, R RST, P PSH, U URG, E ECE, C CWR)",
    ("TCP", "window"): "receive window: bytes the sender can still accept",
    ("TCP", "chksum"): "checksum over pseudo header, header and payload",
    ("TCP", "urgptr"): "urgent pointer (valid with URG)",
    ("TCP", "options"): "options: MSS, window scale, SACK, timestamps",
    ("UDP", "sport"): "source port",
    ("UDP", "dport"): "destination port",
    ("UDP", "len"): "length of header and payload",
    ("UDP", "chksum"): "checksum over pseudo header, header and payload (0: none, IPv4 only)",
    ("DNS", "id"): "query identifier, matches answers to questions",
    ("DNS", "qr"): "0 query, 1 response",
    ("DNS", "opcode"): "kind of query (0 standard)",
    ("DNS", "rcode"): "response code (0 no error, 3 no such name)",
    ("DNS", "qdcount"): "number of questions",
    ("DNS", "ancount"): "number of answer records",
    ("DNS", "qd"): "questions",
    ("DNS", "an"): "answer records",
}


def field_meaning(protocol: str, field: str) -> str:
    return FIELD_MEANINGS.get((protocol, field), "")
