"""Zeek history letters and conn_state, including Zeek's own special rules."""

from hypothesis import given, strategies as st

from netinspect.core import zeek
from netinspect.core.records import ACK, FIN, PSH, RST, SYN
from netinspect.core.zeek import (
    CLOSED, CONN_STATE_TEXT, CONN_STATES, ESTABLISHED, INACTIVE, PARTIAL, RESET, SYN_ACK_SENT, SYN_SENT,
    conn_state, history_letters, scaled_letter_due, update_states,
)


def letters(packets):
    """Run history_letters over (flags, length, rel_seq) of one direction."""
    seen, ls, lf, lr = 0, None, None, None
    out = ""
    for flags, length, rel in packets:
        got, seen, ls, lf, lr = history_letters(flags, length, rel, seen, ls, lf, lr)
        out += got
    return out


def test_every_conn_state_has_a_sentence():
    assert set(CONN_STATE_TEXT) == set(CONN_STATES)
    for code, text in CONN_STATE_TEXT.items():
        assert text.endswith(".") and len(text) > 20, code
    assert "unknown" in zeek.explain("XYZ")


def test_a_and_d_once_per_direction():
    assert letters([(ACK, 0, 1), (ACK, 0, 1), (PSH | ACK, 5, 1), (PSH | ACK, 5, 6)]) == "AD"


def test_syn_repeated_only_with_new_sequence_number():
    assert letters([(SYN, 0, 0), (SYN, 0, 0)]) == "S"
    assert letters([(SYN, 0, 0), (SYN, 0, 77)]) == "SS"
    assert letters([(SYN | ACK, 0, 0)]) == "H"


def test_fin_sequence_counts_at_its_end():
    assert letters([(FIN | ACK, 0, 6), (FIN | ACK, 0, 6)]) == "F"
    assert letters([(FIN | ACK, 3, 6), (FIN | ACK, 0, 9)]) == "F"   # same FIN octet
    assert letters([(FIN | ACK, 0, 6), (FIN | ACK, 0, 9)]) == "FF"


def test_multi_flag_and_inconsistent():
    assert letters([(FIN | RST, 0, 1)]) == "I"
    assert letters([(SYN | FIN, 0, 1), (SYN | RST, 0, 1)]) == "Q"


def test_data_with_fin_records_only_f():
    # Zeek's update_history: a packet with one of SYN/FIN/RST records that letter only.
    assert letters([(FIN | PSH | ACK, 5, 1)]) == "F"


@given(st.integers(1, 100_000))
def test_scaled_letters_are_logarithmic(n):
    due = [k for k in range(1, n + 1) if scaled_letter_due(k)]
    assert due == [10 ** i for i in range(len(str(n))) if 10 ** i <= n]


def test_zeek_endpoint_states_for_a_normal_connection():
    o = r = INACTIVE
    o, r = update_states(o, r, SYN)
    assert (o, r) == (SYN_SENT, INACTIVE)
    r, o = update_states(r, o, SYN | ACK)
    assert (o, r) == (SYN_SENT, SYN_ACK_SENT)
    o, r = update_states(o, r, ACK)
    assert (o, r) == (ESTABLISHED, ESTABLISHED)
    o, r = update_states(o, r, FIN | ACK)
    r, o = update_states(r, o, FIN | ACK)
    assert (o, r) == (CLOSED, CLOSED)
    assert conn_state(o, r, 5, 5, "ShADadFf") == "SF"


def test_conn_state_codes():
    assert conn_state(SYN_SENT, INACTIVE, 0, 0, "S") == "S0"
    assert conn_state(ESTABLISHED, ESTABLISHED, 1, 1, "ShAD") == "S1"
    assert conn_state(SYN_SENT, RESET, 0, 0, "Sr") == "REJ"
    assert conn_state(CLOSED, ESTABLISHED, 0, 0, "ShAF") == "S2"
    assert conn_state(ESTABLISHED, CLOSED, 0, 0, "ShAf") == "S3"
    assert conn_state(RESET, ESTABLISHED, 3, 3, "ShADR") == "RSTO"
    assert conn_state(ESTABLISHED, RESET, 3, 3, "ShADr") == "RSTR"
    assert conn_state(RESET, INACTIVE, 0, 0, "SR") == "RSTOS0"
    assert conn_state(RESET, INACTIVE, 0, 0, "DR") == "OTH"
    assert conn_state(INACTIVE, RESET, 0, 0, "hr") == "RSTRH"
    assert conn_state(CLOSED, INACTIVE, 0, 0, "SF") == "SH"
    assert conn_state(INACTIVE, CLOSED, 0, 0, "hf") == "SHR"
    assert conn_state(PARTIAL, PARTIAL, 5, 5, "Da") == "OTH"


@given(st.sampled_from(range(7)), st.sampled_from(range(7)), st.integers(0, 31))
def test_update_table_matches_function(s, p, f):
    if f & ~0x17 == 0:
        assert zeek.UPDATE[s * 7 + p][f] == update_states(s, p, f)
