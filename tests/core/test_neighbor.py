"""/proc/net/arp parsing."""

from netinspect.core.neighbor import parse_proc_arp

PROC = """IP address       HW type     Flags       HW address            Mask     Device
10.77.3.2        0x1         0x2         02:77:00:03:00:02     *        nia1
10.77.3.9        0x1         0x0         00:00:00:00:00:00     *        nia1
10.77.3.7        0x1         0x6         02:AA:BB:CC:DD:EE     *        nib1
garbage line
999.1.1.1        0x1         0x2         02:77:00:03:00:02     *        nia1
"""


def test_parse_proc_arp():
    rows = parse_proc_arp(PROC)
    assert [(r.ip, r.mac, r.state, r.dev) for r in rows] == [
        ("10.77.3.2", "02:77:00:03:00:02", ("COMPLETE",), "nia1"),
        ("10.77.3.9", "", ("INCOMPLETE",), "nia1"),
        ("10.77.3.7", "02:aa:bb:cc:dd:ee", ("PERMANENT",), "nib1"),
    ]
    assert all(r.family == 4 and r.source == "proc" for r in rows)


def test_empty_table():
    assert parse_proc_arp(PROC.splitlines()[0]) == []
    assert parse_proc_arp("") == []
