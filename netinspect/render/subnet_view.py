"""The subnet screens: the bit-by-bit derivation, the facts, split, contains, supernet.

Formats only; every number comes from netinspect.core.subnet and every classification
from netinspect.core.special_ranges.
"""

from __future__ import annotations

from netinspect.core import special_ranges
from netinspect.core.special_ranges import SpecialRange
from netinspect.core.subnet import (
    BITS,
    Subnet,
    Supernet,
    binary_text,
    common_prefix_bits,
    format_address,
    format_ipv6_exploded,
)
from netinspect.render.color import paint

DASH = "\u2013"  # en dash between the first and last address of a range


# ------------------------------------------------------------------ small pieces

def count_text(n: int) -> str:
    return f"{n:,}"


def power_text(host_bits: int) -> str:
    """2^64, the IPv6 way of saying how many addresses a prefix holds."""
    return f"2^{host_bits}"


def addresses_text(n: int) -> str:
    return f"{count_text(n)} address" + ("" if n == 1 else "es")


def rfc_for_point_to_point(version: int) -> str:
    return "RFC 3021" if version == 4 else "RFC 6164"


def marked_binary(version: int, value: int, prefixlen: int, color: bool = False) -> str:
    """Binary in octets (IPv4) with ' | ' where the network part ends and the host part begins."""
    text = binary_text(version, value)
    group = 8 if version == 4 else 16
    # index in `text` of the character after `prefixlen` bits (separators skipped)
    index = prefixlen + prefixlen // group
    if prefixlen % group == 0 and 0 < prefixlen < BITS[version]:
        left, right = text[:index - 1], text[index:]  # the separator gives way to the marker
    else:
        left, right = text[:index], text[index:]
    left = paint(left, "cyan", color) if left else left
    right = paint(right, "yellow", color) if right else right
    return f"{left} | {right}".strip()


def range_cidr(row: SpecialRange) -> str:
    if row.prefixlen == 0:
        return ""
    return f"{format_address(row.version, row.network)}/{row.prefixlen}"


def is_default_row(row: SpecialRange) -> bool:
    return row.prefixlen == 0


def kind_text(row: SpecialRange, version: int, value: int) -> str:
    if is_default_row(row):
        text = f"{row.label}"
    else:
        text = f"{row.label} ({row.rfc}, {range_cidr(row)})"
    scope = special_ranges.multicast_scope_v6(value) if version == 6 else None
    if scope:
        text += f", scope {scope}"
    return text


def row_covers(row: SpecialRange, subnet: Subnet) -> bool:
    if is_default_row(row):
        return True
    return row.prefixlen <= subnet.prefixlen


# ---------------------------------------------------------------- the sentence

def summary_sentence(subnet: Subnet, row: SpecialRange) -> str:
    net = subnet.network_text
    rfc = "" if is_default_row(row) else f" ({row.rfc})"
    role = subnet.address_role
    if row_covers(row, subnet):
        place, suffix = f"the {row.phrase} {net}{rfc}", ""
    else:
        place, suffix = f"the network {net}", f"; the address itself is {row.label}{rfc}"
    if role == "single-host":
        kind = f"{row.label}{rfc}"
        return f"{subnet}: a single {'address' if row.not_a_host else 'host'}, {kind}"
    if role == "point-to-point":
        p2p = rfc_for_point_to_point(subnet.version)
        return f"{subnet}: one of the two hosts of the point-to-point link {net} ({p2p}); {row.label}{rfc}"
    if role == "network":
        return f"{subnet}: the network address of {place}{suffix}"
    if role == "broadcast":
        return f"{subnet}: the broadcast address of {place}{suffix}"
    if role == "subnet-router-anycast":
        return (f"{subnet}: {place}, given by its first address (the Subnet-Router anycast address, "
                f"host part all zeros){suffix}")
    if row.not_a_host:
        return f"{subnet}: an address in {place}{suffix}"
    return f"{subnet}: a host in {place}{suffix}"


def role_text(subnet: Subnet, row: SpecialRange | None = None) -> str:
    a = subnet.address_text
    role = subnet.address_role
    if row is not None and row.not_a_host and role in ("host", "single-host"):
        if row.kind.startswith("multicast"):
            return f"{a} is a multicast group address: hosts join the group, none owns the address"
        return f"{a} is {row.label} ({row.rfc}): not an address to give to a host"
    if role == "single-host":
        return f"{a} is the only address of the /{subnet.prefixlen}: a single host (a host route)"
    if role == "point-to-point":
        p2p = rfc_for_point_to_point(subnet.version)
        return (f"{a} is one of the two hosts of a point-to-point link ({p2p}); "
                f"a /{subnet.prefixlen} has no network or broadcast address")
    if role == "network":
        return f"{a} is the network address: it names the segment and is not given to a host"
    if role == "broadcast":
        return f"{a} is the broadcast address: a packet sent to it reaches every host on {subnet.network_text}"
    if role == "subnet-router-anycast":
        return (f"{a} is the Subnet-Router anycast address (host part all zeros, RFC 4291): "
                "it reaches a router on the link, do not give it to a host")
    if subnet.version == 4:
        return f"{a} is a host address: neither the network nor the broadcast address"
    host_part = format_address(6, subnet.address & subnet.hostmask)
    return f"{a} is a host address (host part {host_part})"


def class_text(subnet: Subnet) -> str:
    cls = subnet.legacy_class
    extra = {"A": "; its default mask was /8", "B": "; its default mask was /16",
             "C": "; its default mask was /24", "D": ": multicast", "E": ": reserved"}[cls]
    return f"{cls} (historical classful addressing{extra})"


# ------------------------------------------------------------------ overview

def overview_text(subnet: Subnet, color: bool = False) -> str:
    row = special_ranges.classify(subnet.version, subnet.address)
    lines = [paint(summary_sentence(subnet, row), "bold", color), ""]
    if subnet.version == 4:
        lines += _derivation_v4(subnet, color)
        lines.append("")
        lines += _facts_v4(subnet, row)
    else:
        lines += _forms_v6(subnet)
        lines.append("")
        lines += _derivation_v6(subnet, color)
        lines.append("")
        lines += _facts_v6(subnet, row)
    return "\n".join(lines)


def _derivation_v4(s: Subnet, color: bool) -> list[str]:
    p = s.prefixlen
    network_tag = "network"
    if s.prefixlen == 32:
        network_tag = "network: the address itself"
        last_tag = "the address itself: a /32 has no broadcast"
    elif s.prefixlen == 31:
        network_tag = "network, and a host (RFC 3021)"
        last_tag = "last address, a host: a /31 has no broadcast (RFC 3021)"
    else:
        last_tag = "broadcast"
    rows = [
        ("address", s.address, ""),
        (f"mask /{p}", s.netmask, ""),
        ("address AND mask", s.network, network_tag),
        ("NOT mask", s.hostmask, "wildcard"),
        ("network OR NOT mask", s.last_address, last_tag),
    ]
    out = [f"{'':<25}{'dotted':<18}binary  (network | host)"]
    for label, value, tag in rows:
        line = f"{label:<25}{format_address(4, value):<18}{marked_binary(4, value, p, color)}"
        if tag:
            line += f"   {tag}"
        out.append(line)
    return out


def _key_values(pairs: list[tuple[str, str]]) -> list[str]:
    width = max([len(k) for k, _ in pairs] + [len("this address")])
    return [f"{k:<{width}} {v}" for k, v in pairs]


def _facts_v4(s: Subnet, row: SpecialRange) -> list[str]:
    first, last = format_address(4, s.first_host), format_address(4, s.last_host)
    if s.prefixlen == 32:
        hosts = f"{first}   1 usable of 1 address (a /32 is a single host)"
        broadcast = "none: a /32 is a single host"
    elif s.prefixlen == 31:
        hosts = (f"{first} {DASH} {last}   2 usable of 2 addresses "
                 "(point-to-point link, RFC 3021: both addresses are hosts)")
        broadcast = "none: a /31 has no broadcast address (RFC 3021)"
    else:
        hosts = (f"{first} {DASH} {last}   {count_text(s.usable_hosts)} usable of "
                 f"{addresses_text(s.num_addresses)}")
        broadcast = format_address(4, s.broadcast)
    pairs = [
        ("network", s.network_text),
        ("netmask", f"{format_address(4, s.netmask)}   /{s.prefixlen}   0x{s.netmask:08x}     "
                    f"wildcard {format_address(4, s.hostmask)}"),
        ("hosts", hosts),
        ("broadcast", broadcast),
        ("class", class_text(s)),
        ("kind", kind_text(row, 4, s.address)),
    ]
    return _key_values(pairs + _range_notes(s, row))


def _range_notes(s: Subnet, row: SpecialRange) -> list[tuple[str, str]]:
    """The closing facts of both versions: how the address's own special range relates to
    the network, the other special ranges inside it, and the address's role."""
    pairs = []
    if not row_covers(row, s):
        pairs.append(("note", f"{s.network_text} is larger than the {row.label} range {range_cidr(row)}: "
                              f"only part of it is {row.label}"))
    pairs += _inside_notes(s, row)
    pairs.append(("this address", role_text(s, row)))
    return pairs


def _inside_notes(s: Subnet, row: SpecialRange) -> list[tuple[str, str]]:
    """Special ranges lying inside the network other than the address's own."""
    inside = [r for r in special_ranges.inside(s.version, s.network, s.prefixlen) if r != row]
    if not inside:
        return []
    shown_rows = ", ".join(f"{range_cidr(r)} {r.label} ({r.rfc})" for r in inside[:4])
    more = f" and {len(inside) - 4} more" if len(inside) > 4 else ""
    return [("also inside", shown_rows + more)]


def _forms_v6(s: Subnet) -> list[str]:
    return _key_values([
        ("compressed", f"{s.address_text}/{s.prefixlen}"),
        ("exploded", f"{format_ipv6_exploded(s.address)}/{s.prefixlen}"),
    ])


def _derivation_v6(s: Subnet, color: bool) -> list[str]:
    """One row per 16-bit group: address, mask, address AND mask, with the boundary."""
    p = s.prefixlen
    header = f"{'group':<7}{'address':<9}{'binary':<19}{'mask':<19}{'AND = network':<19}network"
    out = [header]
    divider = " " * 7 + f"---- network above | host below (prefix /{p}) ----"

    def cell(value: int, index: int) -> str:
        bits = format(value, "016b")
        start = 16 * index
        if start < p < start + 16:
            cut = p - start
            left, right = bits[:cut], bits[cut:]
            return paint(left, "cyan", color) + "|" + paint(right, "yellow", color) + " "
        style = "cyan" if start + 16 <= p else "yellow"
        return paint(bits, style, color) + "  "

    groups = [(s.address >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    masks = [(s.netmask >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    for i in range(8):
        if p == 16 * i:
            out.append(divider)
        network = groups[i] & masks[i]
        out.append(f"{i + 1:<7}{groups[i]:04x}{'':5}{cell(groups[i], i)} {cell(masks[i], i)} "
                   f"{cell(network, i)} {network:04x}")
    if p == 128:
        out.append(divider)
    return out


def _bits_word(n: int) -> str:
    return "bit" if n == 1 else "bits"


def _facts_v6(s: Subnet, row: SpecialRange) -> list[str]:
    hb = s.host_bits
    mask_text = format_address(6, s.netmask)
    if hb == 0:
        hosts = f"{format_address(6, s.address)}   1 address (a /128 is a single host)"
    elif hb == 1:
        hosts = (f"{format_address(6, s.first_host)} {DASH} {format_address(6, s.last_host)}   "
                 "2 usable of 2 addresses (point-to-point link, RFC 6164)")
    else:
        hosts = (f"{format_address(6, s.first_host)} {DASH} {format_address(6, s.last_host)}   "
                 f"{power_text(hb)} - 1 usable (all but the Subnet-Router anycast address "
                 f"{format_address(6, s.network)}, RFC 4291)")
    pairs = [
        ("network", s.network_text),
        ("exploded", f"{format_ipv6_exploded(s.network)}/{s.prefixlen}"),
        ("prefix", f"/{s.prefixlen}   mask {mask_text}   {s.prefixlen} network {_bits_word(s.prefixlen)}, "
                   f"{hb} host {_bits_word(hb)}"),
        ("addresses", f"{power_text(hb)} = {count_text(s.num_addresses)}"),
        ("range", f"{format_address(6, s.network)} {DASH} {format_address(6, s.last_address)}"),
        ("hosts", hosts),
        ("broadcast", "none: IPv6 has no broadcast; the all-nodes multicast group ff02::1 takes its place"),
        ("kind", kind_text(row, 6, s.address)),
    ]
    return _key_values(pairs + _range_notes(s, row))


def _address_or_none(version: int):
    """A formatter for one version's addresses that passes None (no such address) through."""
    def addr(value: int | None) -> str | None:
        return None if value is None else format_address(version, value)
    return addr


def overview_json(s: Subnet) -> dict:
    row = special_ranges.classify(s.version, s.address)
    v = s.version
    addr = _address_or_none(v)
    body = {
        "summary": summary_sentence(s, row),
        "version": v,
        "address": s.address_text,
        "prefixlen": s.prefixlen,
        "network": addr(s.network),
        "cidr": s.network_text,
        "netmask": addr(s.netmask),
        "netmask_hex": f"0x{s.netmask:0{BITS[v] // 4}x}",
        "hostmask": addr(s.hostmask),
        "wildcard": addr(s.hostmask),
        "broadcast": addr(s.broadcast),
        "first_host": addr(s.first_host),
        "last_host": addr(s.last_host),
        "last_address": addr(s.last_address),
        "num_addresses": s.num_addresses,
        "host_bits": s.host_bits,
        "usable_hosts": s.usable_hosts,
        "class": s.legacy_class,
        "class_note": "historical classful addressing" if v == 4 else None,
        "address_kind": row.kind,
        "kind_label": row.label,
        "kind_rfc": row.rfc,
        "kind_range": range_cidr(row) or None,
        "kind_covers_network": row_covers(row, s),
        "address_role": s.address_role,
        "special_ranges_inside": [f"{range_cidr(r)}" for r in special_ranges.inside(v, s.network, s.prefixlen)
                                  if r != row],
        "binary": {
            "address": binary_text(v, s.address),
            "netmask": binary_text(v, s.netmask),
            "network": binary_text(v, s.network),
            "wildcard": binary_text(v, s.hostmask),
            "last_address": binary_text(v, s.last_address),
            "boundary_bit": s.prefixlen,
        },
    }
    if v == 6:
        body["address_exploded"] = format_ipv6_exploded(s.address)
        body["network_exploded"] = format_ipv6_exploded(s.network)
        body["multicast_scope"] = special_ranges.multicast_scope_v6(s.address)
        body["num_addresses_power_of_two"] = s.host_bits
    return body


# ---------------------------------------------------------------------- split

def subnet_json(s: Subnet) -> dict:
    addr = _address_or_none(s.version)
    return {
        "network": addr(s.network), "prefixlen": s.prefixlen, "cidr": s.network_text,
        "first_host": addr(s.first_host), "last_host": addr(s.last_host),
        "broadcast": addr(s.broadcast), "last_address": addr(s.last_address),
        "num_addresses": s.num_addresses, "usable_hosts": s.usable_hosts,
    }


def split_text(parent: Subnet, new_prefix: int, children: list[Subnet], total: int,
               header: str | None = None, color: bool = False) -> str:
    from netinspect.render.table import table  # tabulate, only when a table is drawn

    row = special_ranges.classify(parent.version, parent.address)
    size = 1 << (BITS[parent.version] - new_prefix)
    usable = children[0].usable_hosts if children else 0
    size_text = addresses_text(size) if parent.version == 4 else f"{power_text(BITS[6] - new_prefix)} addresses"
    lines = [paint(summary_sentence(parent, row), "bold", color), ""]
    if header:
        lines.append(header)
    lines.append(f"{parent.network_text} split into /{new_prefix}: {count_text(total)} subnet"
                 f"{'' if total == 1 else 's'} of {size_text} ({count_text(usable)} usable host"
                 f"{'' if usable == 1 else 's'} each)")
    lines.append("")
    rows = []
    for index, child in enumerate(children):
        mark = "<- " + parent.address_text if child.contains_address(parent.version, parent.address) \
            and parent.address != parent.network else ""
        fa = format_address
        if parent.version == 4:
            broadcast = fa(4, child.broadcast) if child.broadcast is not None else "none"
            rows.append([str(index), child.network_text, fa(4, child.first_host), fa(4, child.last_host),
                         broadcast, mark])
        else:
            rows.append([str(index), child.network_text, fa(6, child.first_host), fa(6, child.last_host), mark])
    if parent.version == 4:
        headers = ["#", "network", "first host", "last host", "broadcast", ""]
    else:
        headers = ["#", "network", "first host", "last address", ""]
    lines.append(table(rows, headers))
    if total > len(children):
        lines.append("")
        lines.append(f"showing the first {count_text(len(children))} of {count_text(total)} subnets "
                     "(--limit N shows more)")
    return "\n".join(lines)


# -------------------------------------------------------------------- contains

def contains_result(net: Subnet, other: Subnet, other_is_network: bool) -> tuple[bool, str]:
    """(answer, reason in one sentence)."""
    v = net.version
    if other.version != v:
        return False, f"no: {other} is IPv{other.version} and {net.network_text} is IPv{v}"
    if not other_is_network:
        masked = other.address & net.netmask
        masked_text = format_address(v, masked)
        if masked == net.network:
            return True, (f"yes: {other.address_text} AND {format_address(v, net.netmask)} = {masked_text}, "
                          f"the network address, so the first {net.prefixlen} bits match")
        differ = BITS[v] - (masked ^ net.network).bit_length() + 1
        return False, (f"no: {other.address_text} AND {format_address(v, net.netmask)} = {masked_text}, "
                       f"not {format_address(v, net.network)}; bit {differ} differs")
    o = other.as_network()
    if net.contains_subnet(o):
        return True, (f"yes: all {addresses_text(o.num_addresses)} of {o.network_text} "
                      f"({format_address(v, o.network)} {DASH} {format_address(v, o.last_address)}) "
                      f"lie inside {net.network_text}")
    if o.contains_subnet(net):
        return False, f"no: {o.network_text} is larger; it contains {net.network_text}, not the other way round"
    return False, f"no: {o.network_text} and {net.network_text} do not overlap"


def contains_text(net: Subnet, other: Subnet, other_is_network: bool, color: bool = False) -> str:
    answer, reason = contains_result(net, other, other_is_network)
    shown_other = other.network_text if other_is_network else other.address_text
    lines = [paint(f"{net.network_text} contains {shown_other}: {'yes' if answer else 'no'}", "bold", color),
             "", reason]
    if other.version == net.version:
        v, p = net.version, net.prefixlen
        width = max(len(net.network_text), len(shown_other), 8) + 3
        value = other.network if other_is_network else other.address
        if v == 4:
            lines += ["",
                      f"{'network':<9}{net.network_text:<{width}}{marked_binary(v, net.network, p, color)}",
                      f"{'mask':<9}{format_address(v, net.netmask):<{width}}{marked_binary(v, net.netmask, p, color)}",
                      f"{'given':<9}{shown_other:<{width}}{marked_binary(v, value, p, color)}"]
            if not answer and not other_is_network:
                masked = value & net.netmask
                diff = masked ^ net.network
                bit = BITS[v] - diff.bit_length()  # 0-based index of the first differing bit
                column = 9 + width + bit + bit // 8  # bit < p: left of the marker
                lines.append(" " * column + "^ first differing bit in the network part")
        else:
            lines += ["",
                      f"{'network':<9}{format_ipv6_exploded(net.network)}/{p}",
                      f"{'given':<9}{format_ipv6_exploded(value)}"]
    return "\n".join(lines)


# --------------------------------------------------------------------- supernet

def supernet_text(result: Supernet, color: bool = False) -> str:
    sup = result.supernet
    v = sup.version
    n = len(result.inputs)
    lines = [paint(f"Supernet of {n} network{'' if n == 1 else 's'}: {sup.network_text}", "bold", color), ""]
    gaps = result.gaps()
    pairs = [
        ("supernet", f"{sup.network_text}   {format_address(v, sup.network)} {DASH} "
                     f"{format_address(v, sup.last_address)}, {addresses_text(sup.num_addresses)}"),
        ("given", f"{n} network{'' if n == 1 else 's'} covering {addresses_text(result.covered_addresses)}"),
    ]
    if result.exact:
        pairs.append(("exact", f"yes: the given networks fill {sup.network_text} exactly, so a router can "
                               "announce that one route instead of them"))
    else:
        shown_gaps = ", ".join(g.network_text for g in gaps[:16]) + (" ..." if len(gaps) > 16 else "")
        pairs.append(("exact", f"no: {sup.network_text} also covers {shown_gaps}, which none of the given "
                               "networks holds"))
        summary = result.summary()
        shown_summary = ", ".join(s.network_text for s in summary[:16]) + (" ..." if len(summary) > 16 else "")
        pairs.append(("summary", f"{shown_summary}   (the fewest networks covering exactly the given ones)"))
    lines += _key_values(pairs)
    bits = common_prefix_bits(v, [s.network for s in result.inputs] + [s.last_address for s in result.inputs])
    lines += ["", f"common prefix: the first {bits} bits are the same in every given address, so /{sup.prefixlen}"]
    width = max(len(s.network_text) for s in result.inputs) + 3
    for s in list(result.inputs)[:32]:
        if v == 4:
            lines.append(f"{s.network_text:<{width}}{marked_binary(v, s.network, sup.prefixlen, color)}")
        else:
            lines.append(f"{s.network_text:<{width}}{format_ipv6_exploded(s.network)}")
    if n > 32:
        lines.append(f"... {n - 32} more")
    return "\n".join(lines)


def supernet_json(result: Supernet) -> dict:
    sup = result.supernet
    return {
        "mode": "supernet",
        "inputs": [s.network_text for s in result.inputs],
        "supernet": sup.network_text,
        "network": format_address(sup.version, sup.network),
        "prefixlen": sup.prefixlen,
        "num_addresses": sup.num_addresses,
        "covered_addresses": result.covered_addresses,
        "exact": result.exact,
        "summary": [s.network_text for s in result.summary()],
        "uncovered": [s.network_text for s in result.gaps()],
    }
