"""ARP exchanges: matching, retries, unanswered, gratuitous, probes, conflicts (spoofing)."""

from hypothesis import given, strategies as st

from netinspect.core.arp_watch import REPLY, REQUEST, ArpPacket, ArpWatch, analyse

A_MAC, A_IP = "02:77:00:03:00:01", "10.77.3.1"
B_MAC, B_IP = "02:77:00:03:00:02", "10.77.3.2"
EVIL = "02:66:66:66:66:66"
BCAST = "ff:ff:ff:ff:ff:ff"
MS = 1_000_000


def who_has(ts, target, frame=0, mac=A_MAC, ip=A_IP):
    return ArpPacket(ts, REQUEST, mac, ip, "00:00:00:00:00:00", target, frame, mac, BCAST)


def is_at(ts, mac, ip, to_mac=A_MAC, to_ip=A_IP, frame=0):
    return ArpPacket(ts, REPLY, mac, ip, to_mac, to_ip, frame, mac, to_mac)


def test_request_and_reply_make_one_exchange():
    r = analyse([who_has(0, B_IP, 0), is_at(2 * MS, B_MAC, B_IP, frame=1)])
    assert (r.packets, r.requests, r.replies) == (2, 1, 1)
    assert len(r.exchanges) == 1 and r.unanswered == [] and r.conflicts == []
    e = r.exchanges[0]
    assert (e.asker_ip, e.asker_mac, e.target_ip, e.answer_mac) == (A_IP, A_MAC, B_IP, B_MAC)
    assert e.rtt_ns == 2 * MS
    assert (e.request_frame, e.reply_frame) == (0, 1)
    assert e.request_eth_dst == BCAST and e.reply_eth_dst == A_MAC
    assert e.as_dict()["rtt_seconds"] == 0.002


def test_retries_count_and_rtt_is_from_last_request():
    r = analyse([who_has(0, B_IP), who_has(1000 * MS, B_IP), who_has(2000 * MS, B_IP), is_at(2001 * MS, B_MAC, B_IP)])
    assert len(r.exchanges) == 1
    assert r.exchanges[0].requests == 3
    assert r.exchanges[0].rtt_ns == MS


def test_unanswered_requests():
    r = analyse([who_has(0, "10.77.3.99"), who_has(1000 * MS, "10.77.3.99"), who_has(0, B_IP), is_at(MS, B_MAC, B_IP)])
    assert [e.target_ip for e in r.unanswered] == ["10.77.3.99"]
    assert r.unanswered[0].requests == 2 and not r.unanswered[0].answered
    assert len(r.exchanges) == 1


def test_request_after_reply_window_is_a_new_question():
    r = analyse([who_has(0, "10.77.3.99"), who_has(60_000 * MS, "10.77.3.99")], reply_window_ns=5000 * MS)
    assert len(r.unanswered) == 2


def test_two_macs_answering_for_one_ip_is_a_conflict():
    r = analyse([who_has(0, B_IP, 0), is_at(MS, EVIL, B_IP, frame=1), is_at(2 * MS, B_MAC, B_IP, frame=2)])
    assert len(r.conflicts) == 1
    c = r.conflicts[0]
    assert c.ip == B_IP
    assert sorted(c.macs) == sorted([B_MAC, EVIL])
    assert c.in_replies == sorted([B_MAC, EVIL])
    assert r.exchanges[0].answer_mac == EVIL          # the first answer wins the cache
    assert len(r.unsolicited_replies) == 1 and r.unsolicited_replies[0].sender_mac == B_MAC


def test_gratuitous_and_probe():
    garp = ArpPacket(0, REQUEST, B_MAC, B_IP, "00:00:00:00:00:00", B_IP, 0, B_MAC, BCAST)
    probe = ArpPacket(MS, REQUEST, B_MAC, "0.0.0.0", "00:00:00:00:00:00", B_IP, 1, B_MAC, BCAST)
    reply_garp = ArpPacket(2 * MS, REPLY, EVIL, B_IP, BCAST, B_IP, 2, EVIL, BCAST)
    r = analyse([garp, probe, reply_garp])
    assert [p.frame_index for p in r.gratuitous] == [0, 2]
    assert [p.frame_index for p in r.probes] == [1]
    assert r.unanswered == [] and r.exchanges == [] and r.unsolicited_replies == []
    assert [c.ip for c in r.conflicts] == [B_IP]
    assert "0.0.0.0" not in {c.ip for c in r.conflicts}


def test_incremental_equals_whole():
    packets = [who_has(0, B_IP, 0), who_has(MS, "10.77.3.50", 1), is_at(2 * MS, B_MAC, B_IP, frame=2),
               is_at(3 * MS, EVIL, B_IP, frame=3)]
    watch = ArpWatch()
    for p in packets:
        watch.feed(p)
    assert watch.report().as_dict() == analyse(packets).as_dict()


ips = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "0.0.0.0"])
macs = st.sampled_from([A_MAC, B_MAC, EVIL])


@given(st.lists(st.tuples(st.sampled_from([REQUEST, REPLY, 3]), macs, ips, ips), max_size=60))
def test_every_request_is_accounted_for(items):
    packets = [ArpPacket(i * MS, op, mac, sip, "00:00:00:00:00:00", tip, i) for i, (op, mac, sip, tip) in enumerate(items)]
    r = analyse(packets)
    assert r.packets == len(packets)
    plain_requests = [p for p in packets if p.op == REQUEST and not p.gratuitous and not p.probe]
    assert sum(e.requests for e in r.exchanges + r.unanswered) == len(plain_requests)
    assert len(r.exchanges) <= r.replies
    for c in r.conflicts:
        assert len(c.macs) >= 2


def test_lists_are_bounded_but_counted(monkeypatch):
    from netinspect.core import arp_watch

    monkeypatch.setattr(arp_watch, "MAX_LISTED", 5)
    monkeypatch.setattr(arp_watch, "MAX_CLAIMED_IPS", 3)
    packets = [who_has(i * MS, f"10.77.9.{i}", i, ip=f"10.77.8.{i}") for i in range(20)]
    r = analyse(packets)
    assert r.totals["unanswered"] == 20 and len(r.unanswered) == 5
    assert r.claims_truncated
    d = r.as_dict()
    assert d["totals"]["unanswered"] == 20 and d["listed_at_most"] == 5
