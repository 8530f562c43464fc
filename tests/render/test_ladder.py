"""The ladder renderer against golden files, plus its safety rules for payload text.

Regenerate the golden files after an intended change with:
    NETINSPECT_REGOLD=1 python -m pytest tests/render/test_ladder.py
and read the diff before committing it.
"""

import os
import pathlib

import pytest

from netinspect.core.tracker import ConnectionTracker
from netinspect.render.ladder import preview, render_ladder, segment_label
from netinspect.render.summary import render_summary, summary_lines, teardown_sentence
from tests.core.scenarios import ACK, FIN, PSH, RST, SYN, Talk

GOLDEN = pathlib.Path(__file__).parent / "golden"


def tracked(talk: Talk):
    tracker = ConnectionTracker(keep_segments=True)
    tracker.feed_all(talk.segments)
    tracker.finish()
    return sorted(tracker.drain(), key=lambda c: c.index)


def echo_session():
    t = Talk(client=("127.0.0.1", 52814), server=("127.0.0.1", 41873), step_ns=21_000, cisn=3_000_000_000,
             sisn=4_294_967_000)   # the server's sequence numbers wrap around 2**32
    t.handshake().exchange()
    t.client(FIN | ACK)
    t.server(FIN | ACK)
    t.client(ACK)
    return t


def scenarios():
    yield "echo_three_segment", echo_session(), {}
    t = Talk(client=("10.77.0.1", 47560), server=("10.77.0.2", 9))
    t.client(SYN)
    t.server(RST | ACK)
    yield "refused", t, {}
    t = Talk(client=("[fd77::1]"[1:-1], 40000), server=("fd77::2", 7007)).handshake()
    t.client(PSH | ACK, b"bye\r\n\x00\x7f\"\\")
    t.server(ACK)
    t.server(FIN | ACK)
    t.client(ACK)
    t.client(FIN | ACK)
    t.server(ACK)
    yield "four_way_ipv6_escaped", t, {}
    yield "echo_verbose", echo_session(), {"verbose": True}
    yield "echo_ascii", echo_session(), {"ascii_only": True}


@pytest.mark.parametrize("name,talk,options", list(scenarios()), ids=lambda v: v if isinstance(v, str) else "")
def test_golden(name, talk, options):
    (conn,) = tracked(talk)
    text = render_ladder(conn, **options) + "\n" + render_summary(conn)
    path = GOLDEN / f"ladder_{name}.txt"
    if os.environ.get("NETINSPECT_REGOLD") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_columns_line_up_with_their_titles():
    (conn,) = tracked(echo_session())
    lines = render_ladder(conn).splitlines()
    header, first = lines[0], lines[1]
    assert header.index("client") == first.index("SYN_SENT")
    assert header.index("server") == first.index("SYN_RECEIVED")
    widths = {len(line.split("  ")[0]) for line in lines}
    assert len(widths) == 1   # the time column is right-aligned


def test_labels_name_every_handshake_and_teardown_step():
    (conn,) = tracked(echo_session())
    labels = [segment_label(conn, row) for row in conn.rows]
    assert labels[:3] == ["handshake 1/3 SYN", "handshake 2/3 SYN-ACK", "handshake 3/3 ACK"]
    assert labels[3] == 'data "hello"' and labels[4] == 'data "HELLO"'
    assert labels[-3:] == ["teardown 1/3 FIN (active close)", "teardown 2/3 FIN+ACK (passive close, ACK merged)",
                           "teardown 3/3 ACK"]


def test_relative_and_absolute_numbers():
    (conn,) = tracked(echo_session())
    plain = render_ladder(conn)
    verbose = render_ladder(conn, verbose=True)
    assert "seq 0 ack 1" in plain and "3000000000" not in plain
    assert "seq 3000000001 ack 4294967001" in verbose
    assert "before: CLOSED / LISTEN" in verbose and "win 65535" in verbose
    # Relative numbers survive the wrap of the server's sequence space.
    assert "seq 1 ack 6" in plain


def test_color_only_adds_escape_codes():
    (conn,) = tracked(echo_session())
    colored = render_ladder(conn, color=True)
    assert "\x1b[" in colored
    import re
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == render_ladder(conn)


def test_preview_is_short_and_safe():
    assert preview(b"hello") == '"hello"'
    assert preview(b"\x1b[31mred\n") == '"\\x1b[31mred\\n"'
    assert preview(b"a" * 40) == '"' + "a" * 16 + '…"'
    assert preview("é".encode()) == '"\\xc3\\xa9"'
    assert all(ch.isprintable() for ch in preview(bytes(range(256))))


def test_ladder_needs_rows():
    tracker = ConnectionTracker()
    tracker.feed_all(echo_session().segments)
    with pytest.raises(ValueError):
        render_ladder(tracker.connections()[0])


def test_summary_sentences():
    (conn,) = tracked(echo_session())
    heads = dict(summary_lines(conn))
    assert heads["Handshake"].startswith("complete: SYN, SYN+ACK, ACK in 0.042 ms (SYN to SYN+ACK 0.021 ms)")
    assert heads["Data"] == "5 bytes each way."
    assert "three-segment close" in heads["Teardown"] and "the client holds TIME_WAIT" in heads["Teardown"]
    assert heads["Zeek"].startswith("conn_state SF, history ShADdFf")
    t = Talk()
    t.client(SYN)
    t.server(RST | ACK)
    (refused,) = tracked(t)
    assert "nothing listens on port 7007" in dict(summary_lines(refused))["Handshake"]
    assert teardown_sentence(refused).startswith("refused")


def test_unanswered_handshake_counts_syns_in_plain_words():
    for count, words in ((1, "sent 1 SYN and"), (3, "sent 3 SYNs and")):
        t = Talk()
        for _ in range(count):
            t.client(SYN, seq=1000, dt=1_000_000_000)   # the same SYN again: retransmissions
        (conn,) = tracked(t)
        assert words in dict(summary_lines(conn))["Handshake"]


def test_data_sentence_says_1_byte():
    t = Talk().handshake().exchange(b"x", b"Y")
    (conn,) = tracked(t)
    assert dict(summary_lines(conn))["Data"] == "1 byte each way."
    t = Talk().handshake().exchange(b"x", b"YY")
    (conn,) = tracked(t)
    assert dict(summary_lines(conn))["Data"] == "the client sent 1 byte, the server sent 2 bytes."


def test_verbose_shows_options_and_scaled_windows():
    from netinspect.core.records import TcpOptions
    t = Talk()
    syn = t.client(SYN, window=65495)
    syn.options = TcpOptions(mss=65495, wscale=7, sack_permitted=True, ts_val=11, ts_ecr=0)
    synack = t.server(SYN | ACK, window=65483)
    synack.options = TcpOptions(mss=1460, wscale=10)
    t.client(ACK, window=512)
    (conn,) = tracked(t)
    text = render_ladder(conn, verbose=True)
    assert "mss 65495 sack_perm wscale 7 ts 11/0" in text
    assert "win 512 (scaled x128 = 65536)" in text
    assert "win 65495   mss" in text   # a SYN's window is never scaled
