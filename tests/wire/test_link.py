"""Ethernet (with VLAN tags) and Linux cooked headers on byte literals."""

from netinspect.wire import ethernet, linux_sll

DST = bytes.fromhex("ffffffffffff")
SRC = bytes.fromhex("020000000001")


def test_plain_ethernet():
    frame = DST + SRC + b"\x08\x00" + b"payload"
    h = ethernet.decode(frame)
    assert (h.dst, h.src, h.ethertype, h.vlans, h.length, h.malformed) == (DST, SRC, 0x0800, (), 14, "")
    assert ethernet.mac_text(h.src) == "02:00:00:00:00:01"


def test_one_and_two_vlan_tags():
    single = DST + SRC + b"\x81\x00\x20\x64" + b"\x86\xdd"      # PCP 1, VLAN 100, then IPv6
    h = ethernet.decode(single)
    assert (h.ethertype, h.vlans, h.length) == (0x86DD, (100,), 18)
    qinq = DST + SRC + b"\x88\xa8\x00\x0a" + b"\x81\x00\x0f\xff" + b"\x08\x06"
    h = ethernet.decode(qinq)
    assert (h.ethertype, h.vlans, h.length, h.malformed) == (0x0806, (10, 4095), 22, "")


def test_three_tags_and_cut_tags_are_flagged():
    three = DST + SRC + b"\x88\xa8\x00\x01" + b"\x81\x00\x00\x02" + b"\x81\x00\x00\x03" + b"\x08\x00"
    assert ethernet.decode(three).malformed == "more than 2 vlan tags"
    cut = DST + SRC + b"\x81\x00\x00"
    assert ethernet.decode(cut).malformed == "truncated vlan tag"


def test_short_ethernet_is_none():
    assert ethernet.decode(DST + SRC) is None


def test_sll_v1_and_v2():
    v1 = bytes.fromhex("0004" "0001" "0006" "020000000001" "0000" "0800")
    h = linux_sll.decode_v1(v1 + b"x")
    assert (h.pkttype, h.hatype, h.address, h.protocol, h.length) == (4, 1, SRC, 0x0800, 16)
    v2 = bytes.fromhex("86dd" "0000" "00000007" "0304" "00" "00" "0000000000000000")
    h = linux_sll.decode_v2(v2)
    assert (h.protocol, h.ifindex, h.hatype, h.pkttype, h.address, h.length) == (0x86DD, 7, 772, 0, b"", 20)
    assert linux_sll.decode_v1(v1[:15]) is None
    assert linux_sll.decode_v2(v2[:19]) is None
