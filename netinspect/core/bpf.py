"""A tiny compiler from "tcp port N" / "udp port N" to a classic BPF (cBPF) program, in pure Python.

Why this exists: scapy compiles capture filters with libpcap, and a machine without
libpcap cannot filter in the kernel at all. Filtering in user space loses packets when
other traffic is heavy, so netinspect builds the kernel program itself and the capture
adapter attaches it with SO_ATTACH_FILTER.

The programs match what `tcpdump -dd 'tcp port N'` (or 'udp port N') produces for the
same link type (IPv4 without fragments past the first, IPv6 with TCP/UDP as the first
next-header), so a
packet is accepted by one exactly when it is accepted by the other. On loopback every
packet reaches a packet socket twice, once as it leaves (PACKET_OUTGOING) and once as it
arrives; `drop_outgoing=True` prefixes a check of the packet type (the kernel's ancillary
load SKF_AD_PKTTYPE) so that each packet is recorded once, as libpcap does for `lo`.

No I/O here: this module returns instruction tuples and their packed bytes.
"""

from __future__ import annotations

import re
import struct
from typing import NamedTuple, Sequence

# Opcode parts (linux/filter.h, linux/bpf_common.h).
BPF_LD, BPF_LDX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = 0x00, 0x01, 0x04, 0x05, 0x06, 0x07
BPF_ST, BPF_STX = 0x02, 0x03
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_LEN, BPF_MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD, BPF_XOR = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0)
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40
BPF_K, BPF_X, BPF_A = 0x00, 0x08, 0x10
BPF_TAX, BPF_TXA = 0x00, 0x80

# Ancillary loads: an absolute load at SKF_AD_OFF + n reads kernel metadata, not packet bytes.
SKF_AD_OFF = 0xFFFFF000          # -4096 as an unsigned 32-bit offset
SKF_AD_PROTOCOL = 0
SKF_AD_PKTTYPE = 4
PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING = 0, 1, 2, 3, 4

# Same snap length as tcpdump's default, so accepted packets are kept whole.
SNAPLEN = 262144
MAX_INSNS = 4096                 # BPF_MAXINSNS

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58
ICMP_UNREACHABLE = 3           # ICMPv4 destination unreachable
ICMP6_UNREACHABLE = 1          # ICMPv6 destination unreachable

# Link layers this compiler knows: name -> (LINKTYPE_* value, link header length).
LINK_ETHERNET = "ethernet"       # Ethernet and Linux loopback (lo has a 14-byte all-zero Ethernet header)
LINK_RAW = "raw"                 # raw IP (tun devices, some tunnels): the packet starts with the IP header
LINKTYPES = {LINK_ETHERNET: 1, LINK_RAW: 101}


class Instruction(NamedTuple):
    """One `struct sock_filter`: opcode, jump-if-true, jump-if-false, constant."""

    code: int
    jt: int
    jf: int
    k: int


class BpfError(ValueError):
    """A program that the kernel would refuse (bad jump, no final return, too long)."""


def _label_program(items: list) -> list[Instruction]:
    """Resolve symbolic jumps: items are (code, jt_label, jf_label, k) or label strings."""
    positions: dict[str, int] = {}
    body = []
    for item in items:
        if isinstance(item, str):
            positions[item] = len(body)
        else:
            body.append(item)
    program = []
    for index, (code, jt, jf, k) in enumerate(body):
        def offset(target):
            if target is None:
                return 0
            if isinstance(target, int):
                return target
            distance = positions[target] - index - 1
            if not 0 <= distance <= 255:
                raise BpfError(f"jump to {target} out of range ({distance})")
            return distance
        program.append(Instruction(code, offset(jt), offset(jf), k & 0xFFFFFFFF))
    return program


def _ld(size: int, offset: int):
    return (BPF_LD | size | BPF_ABS, None, None, offset)


def _jeq(value: int, yes, no):
    return (BPF_JMP | BPF_JEQ | BPF_K, yes, no, value)


def compile_tcp_port(port: int, link: str = LINK_ETHERNET, drop_outgoing: bool = False,
                     snaplen: int = SNAPLEN) -> list[Instruction]:
    """The program for `tcp port PORT` (either direction, IPv4 or IPv6) on `link`."""
    return compile_port(IPPROTO_TCP, port, link, drop_outgoing, snaplen)


def compile_udp_port(port: int, link: str = LINK_ETHERNET, drop_outgoing: bool = False,
                     snaplen: int = SNAPLEN, icmp_errors: bool = False) -> list[Instruction]:
    """The program for `udp port PORT`; with `icmp_errors`, also ICMP/ICMPv6 errors about it.

    A UDP datagram to a closed port is answered by ICMP "destination unreachable" (ICMPv6
    type 1), which carries no UDP header of its own: the port is only in the datagram it
    quotes. `icmp_errors=True` accepts exactly what `udp_expression(port, True)` selects
    in tcpdump: `udp port N`, or an ICMPv4 type 3 / ICMPv6 type 1 message whose quoted
    header is UDP with N as either port (IPv6: the quoted header's first next header).
    """
    return compile_port(IPPROTO_UDP, port, link, drop_outgoing, snaplen, icmp_errors=icmp_errors)


def udp_expression(port: int, icmp_errors: bool = False) -> str:
    """The libpcap expression selecting what `compile_udp_port` does (for libpcap and -v)."""
    if not icmp_errors:
        return f"udp port {port}"
    inner = "((icmp[8] & 0xf) << 2)"
    return (f"udp port {port} or (icmp[0] = 3 and icmp[17] = 17 and (icmp[8 + {inner}:2] = {port} "
            f"or icmp[10 + {inner}:2] = {port})) or (icmp6[0] = 1 and icmp6[14] = 17 and "
            f"(icmp6[48:2] = {port} or icmp6[50:2] = {port}))")


def compile_port(protocol: int, port: int, link: str = LINK_ETHERNET, drop_outgoing: bool = False,
                 snaplen: int = SNAPLEN, icmp_errors: bool = False) -> list[Instruction]:
    """`tcp port PORT` (protocol 6) or `udp port PORT` (17), the shape tcpdump gives."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer 0 to 65535, not {port!r}")
    if link not in LINKTYPES:
        raise ValueError(f"link must be one of {sorted(LINKTYPES)}, not {link!r}")
    if protocol not in (IPPROTO_TCP, IPPROTO_UDP):
        raise ValueError(f"protocol must be {IPPROTO_TCP} (TCP) or {IPPROTO_UDP} (UDP), not {protocol!r}")
    if icmp_errors and protocol != IPPROTO_UDP:
        raise ValueError("icmp_errors is for UDP: a closed TCP port answers with RST")
    not_mine6 = "icmp6" if icmp_errors else "reject"
    not_mine4 = "icmp4" if icmp_errors else "reject"
    items: list = []
    if drop_outgoing:
        items += [_ld(BPF_B, SKF_AD_OFF + SKF_AD_PKTTYPE), _jeq(PACKET_OUTGOING, "reject", None)]
    if link == LINK_ETHERNET:
        l3 = 14
        items += [
            _ld(BPF_H, 12),
            _jeq(ETHERTYPE_IPV6, None, "ipv4"),
        ]
    else:
        l3 = 0
        items += [
            _ld(BPF_B, 0),
            (BPF_ALU | BPF_AND | BPF_K, None, None, 0xF0),
            _jeq(0x60, None, "ipv4"),
        ]
    # IPv6: fixed 40-byte header, the protocol only when it is the first next header.
    items += [
        _ld(BPF_B, l3 + 6),
        _jeq(protocol, None, not_mine6),
        _ld(BPF_H, l3 + 40),
        _jeq(port, "accept", None),
        _ld(BPF_H, l3 + 42),
        _jeq(port, "accept", "reject"),
    ]
    if icmp_errors:
        # ICMPv6 destination unreachable: 8 bytes of ICMPv6, then the quoted IPv6 header.
        quoted = l3 + 40 + 8
        items += [
            "icmp6",
            _jeq(IPPROTO_ICMPV6, None, "reject"),
            _ld(BPF_B, l3 + 40),
            _jeq(ICMP6_UNREACHABLE, None, "reject"),
            _ld(BPF_B, quoted + 6),
            _jeq(IPPROTO_UDP, None, "reject"),
            _ld(BPF_H, quoted + 40),
            _jeq(port, "accept", None),
            _ld(BPF_H, quoted + 42),
            _jeq(port, "accept", "reject"),
        ]
    items += ["ipv4"]
    if link == LINK_ETHERNET:
        items += [_jeq(ETHERTYPE_IPV4, None, "reject")]
    else:
        items += [_ld(BPF_B, 0), (BPF_ALU | BPF_AND | BPF_K, None, None, 0xF0), _jeq(0x40, None, "reject")]
    items += [
        _ld(BPF_B, l3 + 9),
        _jeq(protocol, None, not_mine4),
        # A fragment other than the first has no transport header: ports cannot be read.
        _ld(BPF_H, l3 + 6),
        (BPF_JMP | BPF_JSET | BPF_K, "reject", None, 0x1FFF),
        # X = IPv4 header length (4 * IHL), then the ports at X + l3 and X + l3 + 2.
        (BPF_LDX | BPF_B | BPF_MSH, None, None, l3),
        (BPF_LD | BPF_H | BPF_IND, None, None, l3),
        _jeq(port, "accept", None),
        (BPF_LD | BPF_H | BPF_IND, None, None, l3 + 2),
        _jeq(port, "accept", "reject"),
    ]
    if icmp_errors:
        items += [
            "icmp4",
            _jeq(IPPROTO_ICMP, None, "reject"),
            _ld(BPF_H, l3 + 6),
            (BPF_JMP | BPF_JSET | BPF_K, "reject", None, 0x1FFF),
            (BPF_LDX | BPF_B | BPF_MSH, None, None, l3),
            (BPF_LD | BPF_B | BPF_IND, None, None, l3),
            _jeq(ICMP_UNREACHABLE, None, "reject"),
            # The quoted IPv4 header starts 8 bytes into the ICMP message.
            (BPF_LD | BPF_B | BPF_IND, None, None, l3 + 8 + 9),
            _jeq(IPPROTO_UDP, None, "reject"),
            # X = outer header length + quoted header length: the quoted UDP ports follow.
            (BPF_LD | BPF_B | BPF_IND, None, None, l3 + 8),
            (BPF_ALU | BPF_AND | BPF_K, None, None, 0x0F),
            (BPF_ALU | BPF_LSH | BPF_K, None, None, 2),
            (BPF_ALU | BPF_ADD | BPF_X, None, None, 0),
            (BPF_MISC | BPF_TAX, None, None, 0),
            (BPF_LD | BPF_H | BPF_IND, None, None, l3 + 8),
            _jeq(port, "accept", None),
            (BPF_LD | BPF_H | BPF_IND, None, None, l3 + 10),
            _jeq(port, "accept", "reject"),
        ]
    items += [
        "accept",
        (BPF_RET | BPF_K, None, None, snaplen),
        "reject",
        (BPF_RET | BPF_K, None, None, 0),
    ]
    program = _label_program(items)
    validate(program)
    return program


def drop_outgoing_prefix(program: Sequence[Instruction]) -> list[Instruction]:
    """`program` with a leading check that rejects PACKET_OUTGOING copies.

    Jumps in cBPF are relative and only go forward, so prepending instructions leaves the
    rest of any program (for example one libpcap compiled) valid as it is.
    """
    prefix = [
        Instruction(BPF_LD | BPF_B | BPF_ABS, 0, 0, SKF_AD_OFF + SKF_AD_PKTTYPE),
        Instruction(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, PACKET_OUTGOING),
        Instruction(BPF_RET | BPF_K, 0, 0, 0),
    ]
    combined = prefix + list(program)
    validate(combined)
    return combined


def validate(program: Sequence[Instruction]) -> None:
    """Raise BpfError unless the kernel's checker would accept the program's shape."""
    if not program:
        raise BpfError("empty program")
    if len(program) > MAX_INSNS:
        raise BpfError(f"{len(program)} instructions, more than {MAX_INSNS}")
    last = len(program) - 1
    for index, ins in enumerate(program):
        if BPF_CLASS(ins.code) == BPF_JMP:
            if BPF_OP(ins.code) == BPF_JA:
                targets = [index + 1 + ins.k]
            else:
                targets = [index + 1 + ins.jt, index + 1 + ins.jf]
            if any(t > last for t in targets):
                raise BpfError(f"instruction {index} jumps past the end")
    if BPF_CLASS(program[-1].code) != BPF_RET:
        raise BpfError("the last instruction is not a return")


def BPF_CLASS(code: int) -> int:  # noqa: N802 - the kernel's macro name
    return code & 0x07


def BPF_OP(code: int) -> int:  # noqa: N802
    return code & 0xF0


def pack(program: Sequence[Instruction]) -> bytes:
    """The bytes of `struct sock_filter[]` in host order, for `struct sock_fprog`."""
    return b"".join(struct.pack("=HBBI", ins.code, ins.jt, ins.jf, ins.k) for ins in program)


_DD_LINE = re.compile(r"\{\s*(0x[0-9a-fA-F]+|\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(0x[0-9a-fA-F]+|\d+)\s*\}")


def parse_dd(text: str) -> list[Instruction]:
    """Read `tcpdump -dd` output (C array of `{ code, jt, jf, k }`) into instructions."""
    program = [Instruction(int(c, 0), int(jt), int(jf), int(k, 0)) for c, jt, jf, k in _DD_LINE.findall(text)]
    validate(program)
    return program


def describe(program: Sequence[Instruction]) -> str:
    """One line: instruction count, for the `-v` capture report."""
    return f"{len(program)} cBPF instructions"
