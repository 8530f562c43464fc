"""Plain-text view of `resolve`: forward and reverse results, DNS records, inet_aton forms."""

from __future__ import annotations

from netinspect.render.table import key_values, table


def render_forward(result: dict) -> str:
    title = result["query"]
    if result.get("unicode") and result["unicode"] != result["name"]:
        title = f"{result['unicode']}  (IDNA: {result['name']})"
    elif result["query"] != result["name"]:
        title = f"{result['query']}  (IDNA Unicode form: {result['unicode']})"
    pairs = []
    if result.get("canonical") and result["canonical"] != result["name"].rstrip("."):
        pairs.append(("canonical name", result["canonical"]))
    for addr in result["addresses"]:
        pairs.append(("IPv4" if addr["family"] == "inet" else "IPv6", addr["address"]))
    if not result["addresses"]:
        pairs.append(("addresses", "none"))
    return title + "\n" + "\n".join("  " + line for line in key_values(pairs).splitlines())


def render_reverse(result: dict) -> str:
    pairs = [("name", result["name"])]
    for alias in result.get("aliases", []):
        pairs.append(("alias", alias))
    return result["address"] + "\n" + "\n".join("  " + line for line in key_values(pairs).splitlines())


def render_host(host: dict, found: dict | None) -> str:
    """This host's name (gethostname) and, when the lookup worked, its addresses."""
    pairs = [("host name", host["hostname"])]
    if found is not None:
        if found.get("canonical") and found["canonical"] != found["name"]:
            pairs.append(("canonical name", found["canonical"]))
        for addr in found["addresses"]:
            pairs.append(("IPv4" if addr["family"] == "inet" else "IPv6", addr["address"]))
    return key_values(pairs)


def render_dns(answer: dict) -> str:
    head = f"{answer['query']} {answer['type']} from {answer['server']}: {answer['rcode']}"
    if not answer["records"]:
        return head + "\n  (no records of this type)"
    body = table([[r["name"], r["ttl"], r["type"], r["data"]] for r in answer["records"]],
                 ["name", "ttl s", "type", "data"])
    return head + "\n" + "\n".join("  " + line for line in body.splitlines())


def render_forms(forms: dict) -> str:
    lines = [f"{forms['text']}: inet_aton reads it as {forms['dotted']}"]
    rows = []
    for part in forms["parts"]:
        base = {8: "octal (leading 0)", 10: "decimal", 16: "hex (0x)"}[part["base"]]
        rows.append([part["text"], base, part["value"], f"{part['bits']} bits"])
    lines.extend("  " + line for line in table(rows, ["part", "read as", "value", "fills"]).splitlines())
    lines.append("")
    lines.append("the same address in every form inet_aton accepts:")
    lines.extend("  " + line for line in key_values(list(forms["equivalents"].items())).splitlines())
    lines.append("")
    lines.append(f"C library check: inet_aton({forms['text']!r}) = {forms['libc'] or 'refused'}")
    if forms["strict"]:
        lines.append("strict form: yes, this is the dotted-decimal form every tool reads the same way")
    else:
        lines.append("strict form: no. netinspect refuses this text everywhere else: inet_pton and most tools")
        lines.append("  accept only a.b.c.d with four decimal parts 0-255, and a leading 0 means octal to")
        lines.append(f"  inet_aton but decimal to a person. Write {forms['dotted']}.")
    return "\n".join(lines)
