"""review's record forms: the fast JSON line is exactly the dict form, for every kind of record."""

import json

from hypothesis import given, strategies as st

from netinspect.core.flows import ConnRecord
from netinspect.core.records import Endpoint
from netinspect.render.review_view import CSV_FIELDS, explanation, legend, record_csv, record_json, record_json_line

endpoints = st.builds(Endpoint, st.sampled_from(["10.77.0.1", "fd77::2", "127.0.0.1", "::1"]),
                      st.integers(0, 65535))
maybe = lambda values: st.one_of(st.none(), st.sampled_from(values))  # noqa: E731

records = st.builds(
    ConnRecord,
    index=st.integers(0, 10**7), proto=st.sampled_from(["tcp", "udp"]), ts_ns=st.integers(0, 2**62),
    orig=endpoints, resp=endpoints, duration_ns=st.integers(0, 10**13),
    orig_pkts=st.integers(0, 10**6), resp_pkts=st.integers(0, 10**6),
    orig_bytes=st.integers(0, 10**9), resp_bytes=st.integers(0, 10**9),
    conn_state=st.sampled_from(["SF", "S0", "REJ", "RSTO", "OTH", "S1"]),
    history=st.text(alphabet="ShADadFfRrTtWw^", max_size=12),
    handshake=maybe(["three-way", "simultaneous", "mid-stream", "refused", "unanswered", "incomplete"]),
    teardown=maybe(["four-way", "three-segment", "simultaneous", "reset", "refused", "unanswered", "incomplete"]),
    closed_by=maybe(["orig", "resp"]), irtt_ns=st.one_of(st.none(), st.integers(0, 10**10)),
    retransmissions=st.integers(0, 1000),
    analyses=st.dictionaries(st.sampled_from(["tcp.analysis.retransmission", "tcp.analysis.zero_window"]),
                             st.integers(1, 99)),
    port_reuse=st.booleans(), partial=st.booleans(), time_wait=maybe(["orig", "resp", "both"]),
)


@given(records, st.sampled_from(['a.pcap', 'dir/with "quote".pcap', "naïve\\path.pcap"]))
def test_fast_json_line_equals_the_dict_form(record, path):
    assert json.loads(record_json_line(record, json.dumps(path))) == record_json(record, path)
    assert json.loads(record_json_line(record)) == record_json(record)


@given(records)
def test_csv_row_follows_the_header_and_explanation_is_a_sentence(record):
    row = record_csv(record, "f.pcap")
    assert len(row) == len(CSV_FIELDS)
    text = explanation(record)
    assert text.endswith(".") and (text[0].isupper() or text[0].isdigit() or text[0] == "[") and "\n" not in text


def test_legend_names_only_states_seen_unless_asked():
    short = legend({"SF", "REJ"})
    assert "SF" in short and "REJ" in short and "RSTO" not in short and "--explain" in short
    full = legend(set(), everything=True)
    assert all(code in full for code in ("S0", "S1", "SF", "REJ", "RSTO", "RSTR", "SH", "OTH"))


@given(records, st.integers(0, 2**61))
def test_streamed_row_is_the_table_row_padded(record, t0):
    from netinspect.render.review_view import StreamTable, conn_row
    table = StreamTable(t0)
    assert table.row(record) == table._line(conn_row(record, t0))
