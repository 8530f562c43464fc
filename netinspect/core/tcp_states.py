"""The RFC 9293 TCP state machine as data, observed from the wire.

A capture point sees each segment once, between the two hosts. netinspect keeps one
state per endpoint and moves BOTH on every segment: the sender's state changes as it
sends, the receiver's as it receives (the capture point stands in for "the wire").

API
---
``TcpState``          the eleven RFC 9293 states, named as Linux ``netstat``/``ss`` print
                      them (``SYN_SENT``, ``FIN_WAIT_1``, ``TIME_WAIT``...).
``TcpInput``          what one endpoint experiences from one segment: ``SEND_SYN``,
                      ``RECV_SYN_ACK``, ``RECV_ACK_OF_FIN``, ``SEND_RST``...
``TRANSITIONS``       ``{state: {input: next_state}}``, complete: every state has an entry
                      for every input (an input that RFC 9293 ignores in a state maps to
                      the same state), so stepping never raises.
``step(state, inp)``  the pure transition function.
``sender_inputs(flags, fin_crossing)`` / ``receiver_inputs(flags, acks_our_fin)``:
                      the inputs one segment gives to its sender and its receiver, in the
                      order RFC 9293 processes them (ACK field before FIN bit).

Initial states used by the tracker: the originator starts CLOSED, the responder LISTEN
(a SYN to a closed port is recognised later, when the RST comes back). A connection
already running when the capture began starts both endpoints in ESTABLISHED.
"""

from __future__ import annotations

import enum

from netinspect.core.records import ACK, FIN, RST, SYN


class TcpState(enum.Enum):
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RECEIVED = "SYN_RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"

    # Members are singletons and compare by identity, so the identity hash is consistent
    # and, unlike Enum's default, costs no Python call: the tracker looks states up per segment.
    __hash__ = object.__hash__

    def __str__(self) -> str:
        return self.value


class TcpInput(enum.Enum):
    # What the sender of a segment does.
    SEND_SYN = "send SYN"
    SEND_SYN_ACK = "send SYN+ACK"
    SEND_ACK = "send ACK or data"
    SEND_FIN = "send FIN"
    # A FIN sent before the peer's FIN arrived, although the wire already carried the
    # peer's FIN: the two FINs crossed (simultaneous close).
    SEND_FIN_CROSSING = "send FIN crossing the peer's FIN"
    SEND_RST = "send RST"
    # What the receiver of a segment experiences.
    RECV_SYN = "receive SYN"
    RECV_SYN_ACK = "receive SYN+ACK"
    RECV_ACK = "receive ACK or data"
    RECV_ACK_OF_FIN = "receive ACK of our FIN"
    RECV_FIN = "receive FIN"
    RECV_RST = "receive RST"

    __hash__ = object.__hash__

    def __str__(self) -> str:
        return self.value


S = TcpState
I = TcpInput  # noqa: E741 - short alias keeps the table readable

# The table. Each row lists every input; the ones that leave the state unchanged are
# written out too, so completeness is visible and checked by the tests.
TRANSITIONS: dict[TcpState, dict[TcpInput, TcpState]] = {
    S.CLOSED: {
        I.SEND_SYN: S.SYN_SENT,             # active open
        I.SEND_SYN_ACK: S.CLOSED,           # nothing to answer from CLOSED
        I.SEND_ACK: S.CLOSED,
        I.SEND_FIN: S.CLOSED,
        I.SEND_FIN_CROSSING: S.CLOSED,
        I.SEND_RST: S.CLOSED,               # a closed port answers with RST
        I.RECV_SYN: S.CLOSED,               # will be answered with RST
        I.RECV_SYN_ACK: S.CLOSED,
        I.RECV_ACK: S.CLOSED,
        I.RECV_ACK_OF_FIN: S.CLOSED,
        I.RECV_FIN: S.CLOSED,
        I.RECV_RST: S.CLOSED,
    },
    S.LISTEN: {
        I.SEND_SYN: S.SYN_SENT,             # a listener may also connect (RFC 9293 3.10.7)
        I.SEND_SYN_ACK: S.SYN_RECEIVED,
        I.SEND_ACK: S.LISTEN,
        I.SEND_FIN: S.LISTEN,
        I.SEND_FIN_CROSSING: S.LISTEN,
        I.SEND_RST: S.LISTEN,               # a listener resets stray segments, keeps listening
        I.RECV_SYN: S.SYN_RECEIVED,         # passive open
        I.RECV_SYN_ACK: S.LISTEN,           # answered with RST
        I.RECV_ACK: S.LISTEN,
        I.RECV_ACK_OF_FIN: S.LISTEN,
        I.RECV_FIN: S.LISTEN,
        I.RECV_RST: S.LISTEN,               # ignored in LISTEN
    },
    S.SYN_SENT: {
        I.SEND_SYN: S.SYN_SENT,             # SYN retransmission
        I.SEND_SYN_ACK: S.SYN_RECEIVED,     # simultaneous open: answering the peer's SYN
        I.SEND_ACK: S.SYN_SENT,
        I.SEND_FIN: S.SYN_SENT,             # close in SYN_SENT sends nothing; ignore
        I.SEND_FIN_CROSSING: S.SYN_SENT,
        I.SEND_RST: S.CLOSED,
        I.RECV_SYN: S.SYN_RECEIVED,         # simultaneous open: the SYNs crossed
        I.RECV_SYN_ACK: S.ESTABLISHED,      # handshake 2/3 arrives
        I.RECV_ACK: S.SYN_SENT,
        I.RECV_ACK_OF_FIN: S.SYN_SENT,
        I.RECV_FIN: S.SYN_SENT,             # RFC 9293: drop FIN in SYN_SENT
        I.RECV_RST: S.CLOSED,               # connection refused
    },
    S.SYN_RECEIVED: {
        I.SEND_SYN: S.SYN_RECEIVED,         # simultaneous open seen from the wire
        I.SEND_SYN_ACK: S.SYN_RECEIVED,     # handshake 2/3 (or its retransmission)
        I.SEND_ACK: S.SYN_RECEIVED,
        I.SEND_FIN: S.FIN_WAIT_1,           # close before the handshake completed
        I.SEND_FIN_CROSSING: S.FIN_WAIT_1,
        I.SEND_RST: S.CLOSED,
        I.RECV_SYN: S.SYN_RECEIVED,         # retransmitted SYN
        I.RECV_SYN_ACK: S.ESTABLISHED,      # simultaneous open completes
        I.RECV_ACK: S.ESTABLISHED,          # handshake 3/3 arrives
        I.RECV_ACK_OF_FIN: S.ESTABLISHED,
        I.RECV_FIN: S.CLOSE_WAIT,
        I.RECV_RST: S.CLOSED,
    },
    S.ESTABLISHED: {
        I.SEND_SYN: S.ESTABLISHED,          # stale duplicate; the tracker treats port reuse apart
        I.SEND_SYN_ACK: S.ESTABLISHED,      # retransmitted SYN+ACK (our ACK was lost)
        I.SEND_ACK: S.ESTABLISHED,
        I.SEND_FIN: S.FIN_WAIT_1,           # active close
        I.SEND_FIN_CROSSING: S.FIN_WAIT_1,
        I.SEND_RST: S.CLOSED,               # abort
        I.RECV_SYN: S.ESTABLISHED,          # answered with a challenge ACK (RFC 5961)
        I.RECV_SYN_ACK: S.ESTABLISHED,      # retransmitted SYN+ACK
        I.RECV_ACK: S.ESTABLISHED,
        I.RECV_ACK_OF_FIN: S.ESTABLISHED,
        I.RECV_FIN: S.CLOSE_WAIT,           # passive close
        I.RECV_RST: S.CLOSED,
    },
    S.FIN_WAIT_1: {
        I.SEND_SYN: S.FIN_WAIT_1,
        I.SEND_SYN_ACK: S.FIN_WAIT_1,
        I.SEND_ACK: S.FIN_WAIT_1,
        I.SEND_FIN: S.FIN_WAIT_1,           # FIN retransmission
        I.SEND_FIN_CROSSING: S.FIN_WAIT_1,
        I.SEND_RST: S.CLOSED,
        I.RECV_SYN: S.FIN_WAIT_1,
        I.RECV_SYN_ACK: S.FIN_WAIT_1,
        I.RECV_ACK: S.FIN_WAIT_1,           # ACK of earlier data, not yet of our FIN
        I.RECV_ACK_OF_FIN: S.FIN_WAIT_2,
        I.RECV_FIN: S.CLOSING,              # simultaneous close: FIN before the ACK of ours
        I.RECV_RST: S.CLOSED,
    },
    S.FIN_WAIT_2: {
        I.SEND_SYN: S.FIN_WAIT_2,
        I.SEND_SYN_ACK: S.FIN_WAIT_2,
        I.SEND_ACK: S.FIN_WAIT_2,
        I.SEND_FIN: S.FIN_WAIT_2,           # retransmitted FIN, already acknowledged
        I.SEND_FIN_CROSSING: S.FIN_WAIT_2,
        I.SEND_RST: S.CLOSED,
        I.RECV_SYN: S.FIN_WAIT_2,
        I.RECV_SYN_ACK: S.FIN_WAIT_2,
        I.RECV_ACK: S.FIN_WAIT_2,           # half close: the peer may still send data
        I.RECV_ACK_OF_FIN: S.FIN_WAIT_2,
        I.RECV_FIN: S.TIME_WAIT,
        I.RECV_RST: S.CLOSED,
    },
    S.CLOSE_WAIT: {
        I.SEND_SYN: S.CLOSE_WAIT,
        I.SEND_SYN_ACK: S.CLOSE_WAIT,
        I.SEND_ACK: S.CLOSE_WAIT,           # half close: this side may still send data
        I.SEND_FIN: S.LAST_ACK,             # passive close
        I.SEND_FIN_CROSSING: S.CLOSING,     # it had sent its FIN before the peer's arrived
        I.SEND_RST: S.CLOSED,
        I.RECV_SYN: S.CLOSE_WAIT,
        I.RECV_SYN_ACK: S.CLOSE_WAIT,
        I.RECV_ACK: S.CLOSE_WAIT,
        I.RECV_ACK_OF_FIN: S.CLOSE_WAIT,
        I.RECV_FIN: S.CLOSE_WAIT,           # retransmitted FIN
        I.RECV_RST: S.CLOSED,
    },
    S.CLOSING: {
        I.SEND_SYN: S.CLOSING,
        I.SEND_SYN_ACK: S.CLOSING,
        I.SEND_ACK: S.CLOSING,
        I.SEND_FIN: S.CLOSING,
        I.SEND_FIN_CROSSING: S.CLOSING,
        I.SEND_RST: S.CLOSED,
        I.RECV_SYN: S.CLOSING,
        I.RECV_SYN_ACK: S.CLOSING,
        I.RECV_ACK: S.CLOSING,
        I.RECV_ACK_OF_FIN: S.TIME_WAIT,
        I.RECV_FIN: S.CLOSING,
        I.RECV_RST: S.CLOSED,
    },
    S.LAST_ACK: {
        I.SEND_SYN: S.LAST_ACK,
        I.SEND_SYN_ACK: S.LAST_ACK,
        I.SEND_ACK: S.LAST_ACK,
        I.SEND_FIN: S.LAST_ACK,             # FIN retransmission
        I.SEND_FIN_CROSSING: S.LAST_ACK,
        I.SEND_RST: S.CLOSED,
        I.RECV_SYN: S.LAST_ACK,
        I.RECV_SYN_ACK: S.LAST_ACK,
        I.RECV_ACK: S.LAST_ACK,
        I.RECV_ACK_OF_FIN: S.CLOSED,
        I.RECV_FIN: S.LAST_ACK,
        I.RECV_RST: S.CLOSED,
    },
    S.TIME_WAIT: {
        I.SEND_SYN: S.TIME_WAIT,
        I.SEND_SYN_ACK: S.TIME_WAIT,
        I.SEND_ACK: S.TIME_WAIT,            # re-acknowledging a retransmitted FIN
        I.SEND_FIN: S.TIME_WAIT,
        I.SEND_FIN_CROSSING: S.TIME_WAIT,
        I.SEND_RST: S.CLOSED,
        I.RECV_SYN: S.TIME_WAIT,            # a new connection on the same ports: the tracker starts it apart
        I.RECV_SYN_ACK: S.TIME_WAIT,
        I.RECV_ACK: S.TIME_WAIT,
        I.RECV_ACK_OF_FIN: S.TIME_WAIT,
        I.RECV_FIN: S.TIME_WAIT,            # retransmitted FIN restarts the 2 MSL timer
        I.RECV_RST: S.CLOSED,               # Linux lets a RST end TIME_WAIT (RFC 1337 discusses it)
    },
}

del S, I

#: States in which an endpoint has finished with the connection.
FINAL_STATES = frozenset({TcpState.CLOSED, TcpState.TIME_WAIT})
#: States in which the endpoint has sent its FIN.
FIN_SENT_STATES = frozenset({TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2, TcpState.CLOSING,
                             TcpState.LAST_ACK, TcpState.TIME_WAIT})


def step(state: TcpState, inp: TcpInput) -> TcpState:
    """The state after ``inp`` in ``state``. Total: defined for every pair."""
    return TRANSITIONS[state][inp]


def run(state: TcpState, inputs) -> TcpState:
    """Apply a sequence of inputs in order."""
    for inp in inputs:
        state = TRANSITIONS[state][inp]
    return state


_CTRL = SYN | FIN | RST


def sender_inputs(flags: int, fin_crossing: bool = False) -> tuple[TcpInput, ...]:
    """The inputs a segment with ``flags`` gives its sender.

    ``fin_crossing``: the FIN does not acknowledge a FIN the wire already carried from
    the peer, so the sender had not received it yet (the FINs crossed).
    """
    if flags & RST:
        return (TcpInput.SEND_RST,)
    if flags & SYN:
        first = TcpInput.SEND_SYN_ACK if flags & ACK else TcpInput.SEND_SYN
        return (first, TcpInput.SEND_FIN) if flags & FIN else (first,)
    if flags & FIN:
        return (TcpInput.SEND_FIN_CROSSING,) if fin_crossing else (TcpInput.SEND_FIN,)
    return (TcpInput.SEND_ACK,)


def receiver_inputs(flags: int, acks_our_fin: bool = False) -> tuple[TcpInput, ...]:
    """The inputs a segment with ``flags`` gives its receiver, ACK field before FIN bit.

    ``acks_our_fin``: the segment's acknowledgment number covers the receiver's FIN.
    """
    if flags & RST:
        return (TcpInput.RECV_RST,)
    if flags & SYN:
        first = TcpInput.RECV_SYN_ACK if flags & ACK else TcpInput.RECV_SYN
        return (first, TcpInput.RECV_FIN) if flags & FIN else (first,)
    inputs: tuple[TcpInput, ...] = ()
    if flags & ACK:
        inputs = (TcpInput.RECV_ACK_OF_FIN,) if acks_our_fin else (TcpInput.RECV_ACK,)
    if flags & FIN:
        inputs += (TcpInput.RECV_FIN,)
    return inputs


# Flag bits that decide the inputs: FIN, SYN, RST, ACK (0x17), plus one bit (0x20) for
# ``fin_crossing`` (sender) or ``acks_our_fin`` (receiver). The tracker indexes these
# precomputed tables instead of stepping input by input.
_DECIDING = FIN | SYN | RST | ACK
EXTRA_BIT = 0x20


def _build(inputs_for):
    table = {}
    for state in TcpState:
        row = []
        for code in range(64):
            flags = code & _DECIDING
            extra = bool(code & EXTRA_BIT)
            row.append(run(state, inputs_for(flags, extra)) if code & ~(_DECIDING | EXTRA_BIT) == 0 else state)
        table[state] = row
    return table


#: ``SEND_NEXT[state][flags & 0x17 | (0x20 if fin_crossing)]`` is ``run(state, sender_inputs(...))``.
SEND_NEXT = _build(sender_inputs)
#: ``RECV_NEXT[state][flags & 0x17 | (0x20 if acks_our_fin)]`` is ``run(state, receiver_inputs(...))``.
RECV_NEXT = _build(receiver_inputs)
