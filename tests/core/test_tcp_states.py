"""The RFC 9293 state table: complete, total, and with the RFC's named transitions."""

from hypothesis import given, strategies as st

from netinspect.core.records import ACK, FIN, PSH, RST, SYN, URG
from netinspect.core.tcp_states import (
    EXTRA_BIT, RECV_NEXT, SEND_NEXT, TRANSITIONS, TcpInput, TcpState, receiver_inputs, run,
    sender_inputs, step,
)

S, I = TcpState, TcpInput


def test_states_have_the_names_netstat_prints():
    assert [s.value for s in TcpState] == [
        "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
        "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"]
    assert str(TcpState.FIN_WAIT_1) == "FIN_WAIT_1"


def test_table_is_complete():
    assert set(TRANSITIONS) == set(TcpState)
    for state, row in TRANSITIONS.items():
        assert set(row) == set(TcpInput), state
        assert all(isinstance(nxt, TcpState) for nxt in row.values())


@given(st.sampled_from(list(TcpState)), st.sampled_from(list(TcpInput)))
def test_step_is_total(state, inp):
    assert isinstance(step(state, inp), TcpState)


@given(st.sampled_from(list(TcpState)), st.lists(st.sampled_from(list(TcpInput)), max_size=30))
def test_any_input_sequence_runs(state, inputs):
    assert isinstance(run(state, inputs), TcpState)


FLAGS = st.integers(0, 0xFF)


@given(st.sampled_from(list(TcpState)), FLAGS, st.booleans())
def test_precomputed_tables_match_stepping(state, flags, extra):
    code = flags & (FIN | SYN | RST | ACK)
    assert SEND_NEXT[state][code | (EXTRA_BIT if extra else 0)] == run(state, sender_inputs(flags, extra))
    assert RECV_NEXT[state][code | (EXTRA_BIT if extra else 0)] == run(state, receiver_inputs(flags, extra))


@given(FLAGS, st.booleans())
def test_every_segment_gives_inputs_to_both_sides(flags, extra):
    sent = sender_inputs(flags, extra)
    received = receiver_inputs(flags, extra)
    assert len(sent) >= 1
    assert all(i.name.startswith("SEND_") for i in sent)
    assert all(i.name.startswith("RECV_") for i in received)
    if flags & RST:
        assert sent == (I.SEND_RST,) and received == (I.RECV_RST,)


def test_receiver_processes_ack_before_fin():
    assert receiver_inputs(FIN | ACK, True) == (I.RECV_ACK_OF_FIN, I.RECV_FIN)
    assert receiver_inputs(PSH | ACK | URG) == (I.RECV_ACK,)
    assert receiver_inputs(FIN) == (I.RECV_FIN,)


# The arrows of RFC 9293 figure 5, as (state, input) -> state.
RFC_ARROWS = [
    (S.CLOSED, I.SEND_SYN, S.SYN_SENT),
    (S.LISTEN, I.RECV_SYN, S.SYN_RECEIVED),
    (S.LISTEN, I.SEND_SYN, S.SYN_SENT),
    (S.SYN_SENT, I.RECV_SYN_ACK, S.ESTABLISHED),
    (S.SYN_SENT, I.RECV_SYN, S.SYN_RECEIVED),
    (S.SYN_RECEIVED, I.RECV_ACK, S.ESTABLISHED),
    (S.SYN_RECEIVED, I.SEND_FIN, S.FIN_WAIT_1),
    (S.ESTABLISHED, I.SEND_FIN, S.FIN_WAIT_1),
    (S.ESTABLISHED, I.RECV_FIN, S.CLOSE_WAIT),
    (S.FIN_WAIT_1, I.RECV_ACK_OF_FIN, S.FIN_WAIT_2),
    (S.FIN_WAIT_1, I.RECV_FIN, S.CLOSING),
    (S.FIN_WAIT_2, I.RECV_FIN, S.TIME_WAIT),
    (S.CLOSING, I.RECV_ACK_OF_FIN, S.TIME_WAIT),
    (S.CLOSE_WAIT, I.SEND_FIN, S.LAST_ACK),
    (S.LAST_ACK, I.RECV_ACK_OF_FIN, S.CLOSED),
    (S.SYN_SENT, I.RECV_RST, S.CLOSED),
    (S.ESTABLISHED, I.RECV_RST, S.CLOSED),
    (S.ESTABLISHED, I.SEND_RST, S.CLOSED),
]


def test_rfc_figure_arrows():
    for state, inp, expected in RFC_ARROWS:
        assert step(state, inp) is expected, (state, inp)


def test_fin_and_ack_merged_take_fin_wait_1_to_time_wait():
    # The usual Linux close: the peer's FIN arrives on the segment that acknowledges ours.
    assert run(S.FIN_WAIT_1, receiver_inputs(FIN | ACK, True)) is S.TIME_WAIT
    # Crossing FINs: the one who had not yet seen the peer's FIN goes through CLOSING.
    assert run(S.CLOSE_WAIT, sender_inputs(FIN | ACK, True)) is S.CLOSING


def test_unreachable_pairs_stay_put():
    # A FIN in SYN_SENT is dropped (RFC 9293 3.10.7.3); LISTEN ignores RST.
    assert step(S.SYN_SENT, I.RECV_FIN) is S.SYN_SENT
    assert step(S.LISTEN, I.RECV_RST) is S.LISTEN
