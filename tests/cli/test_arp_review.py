"""`review`'s cast summary and ARP section: on the samples, and on a lab capture with a
forged second answer (ARP spoofing), an unanswered request and a gratuitous ARP,
checked against tshark."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time

from tests.conftest import need_tool

ROOT = pathlib.Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
EVIL = "02:66:66:66:66:66"

# Runs in B's namespace: a forged is-at claiming B's address with another MAC, then a
# gratuitous ARP from B. scapy through the project's one importer.
FORGE = r"""
import sys
from netinspect.adapters import scapy_io
s = scapy_io.load()
iface, evil, a_mac, a_ip, b_mac, b_ip = sys.argv[1:]
s.sendp(s.Ether(src=evil, dst=a_mac) / s.ARP(op=2, hwsrc=evil, psrc=b_ip, hwdst=a_mac, pdst=a_ip), iface=iface)
s.sendp(s.Ether(src=b_mac, dst="ff:ff:ff:ff:ff:ff") / s.ARP(op=1, hwsrc=b_mac, psrc=b_ip, hwdst="00:00:00:00:00:00",
        pdst=b_ip), iface=iface)
"""


def test_samples_in_review(cli):
    result = cli("review", str(CAPTURES / "arp-exchange.pcap"), "--json")
    assert result.status == 0, result.err
    f = json.loads(result.out)["files"][0]
    assert f["cast"]["layer2"] == {"unicast": 1, "broadcast": 1, "multicast": 0}
    (exchange,) = f["arp_exchanges"]["exchanges"]
    assert (exchange["asker_ip"], exchange["target_ip"], exchange["answer_mac"]) == ("10.77.7.1", "10.77.7.2", "02:77:00:07:00:02")
    assert exchange["request_eth_dst"] == "ff:ff:ff:ff:ff:ff" and exchange["reply_eth_dst"] == "02:77:00:07:00:01"
    assert f["arp_exchanges"]["unanswered"] == [] and f["arp_exchanges"]["conflicts"] == []
    text = cli("review", str(CAPTURES / "multicast.pcap"), str(CAPTURES / "broadcast.pcap")).out
    assert "multicast groups: 239.1.2.3 (1), ff02::1 (1)" in text
    assert text.count("cast: 2 frames") == 2


def test_no_cast_and_other_outputs(cli):
    doc = json.loads(cli("review", str(CAPTURES / "arp-exchange.pcap"), "--json", "--no-cast").out)
    f = doc["files"][0]
    assert "skipped" in f["cast"]
    assert len(f["arp_exchanges"]["exchanges"]) == 1          # ARP comes from the main pass
    lines = cli("review", str(CAPTURES / "multicast.pcap"), "--jsonl").out.splitlines()
    assert all(json.loads(line) for line in lines)
    assert cli("review", str(CAPTURES / "arp-exchange.pcap"), "--cast", "--no-cast").status == 2


def test_spoofed_answer_unanswered_and_gratuitous(lab_pair, tmp_path, cli):
    need_tool("tcpdump")
    need_tool("tshark")
    a, b = lab_pair
    absent = f"10.77.{a.ip4.split('.')[2]}.99"
    pcap = tmp_path / "arp-lab.pcap"
    env = ("env", f"PYTHONPATH={ROOT}")
    dump = a.popen("tcpdump", "-i", a.ifname, "-U", "--immediate-mode", "-n", "-w", str(pcap), "arp")
    try:
        deadline = time.monotonic() + 10
        line = b""
        while time.monotonic() < deadline and b"listening on" not in line:
            line = dump.stderr.readline()
            if not line:
                break
        assert b"listening on" in line, line
        assert a.run(*env, sys.executable, "-m", "netinspect", "arp", b.ip4, check=False).returncode == 0
        b.run(*env, sys.executable, "-c", FORGE, b.ifname, EVIL, a.mac, a.ip4, b.mac, b.ip4)
        assert a.run(*env, sys.executable, "-m", "netinspect", "arp", absent, "--timeout", "0.3",
                     check=False).returncode == 1
        time.sleep(0.3)
    finally:
        dump.terminate()
        dump.wait(timeout=10)
    result = cli("review", str(pcap), "--json")
    assert result.status == 0, result.err
    arp = json.loads(result.out)["files"][0]["arp_exchanges"]

    def tshark(*argv):
        return subprocess.run(["tshark", "-n", "-r", str(pcap), *argv], capture_output=True, text=True,
                              timeout=60, check=True).stdout.split()

    assert arp["requests"] == len(tshark("-Y", "arp.opcode == 1", "-T", "fields", "-e", "frame.number"))
    assert arp["replies"] == len(tshark("-Y", "arp.opcode == 2", "-T", "fields", "-e", "frame.number"))
    answered = [e for e in arp["exchanges"] if e["target_ip"] == b.ip4]
    assert answered and answered[0]["answer_mac"] == b.mac
    assert absent in [e["target_ip"] for e in arp["unanswered"]]
    conflict = next(c for c in arp["conflicts"] if c["ip"] == b.ip4)
    assert set(conflict["macs"]) == {b.mac, EVIL}
    assert set(conflict["answered_by"]) == {b.mac, EVIL}
    assert any(g["sender_ip"] == b.ip4 for g in arp["gratuitous"])
    # tshark's own duplicate-address detection flags the same address
    dup = tshark("-Y", "arp.duplicate-address-detected", "-T", "fields", "-e", "arp.src.proto_ipv4")
    assert dup and set(dup) == {b.ip4}
    text = cli("review", str(pcap)).out
    assert f"conflict: {b.ip4} claimed by 2 MACs" in text and "ARP spoofing" in text
    assert f"unanswered: {a.ip4} ({a.mac}) asked for {absent}" in text
    assert f"gratuitous ARP request: {b.mac} announces {b.ip4}" in text
