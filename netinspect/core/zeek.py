"""Zeek's connection ``history`` letters and ``conn_state``, computed from the wire.

History (Zeek ``conn.log``): one letter per kind of event, upper case when the originator
sent the packet, lower case for the responder:

    S a SYN without ACK    H a SYN+ACK          A a pure ACK       D a packet with payload
    F a FIN                R a RST              T retransmitted payload
    W a zero window        I FIN+RST together   Q SYN with FIN or RST

``A``, ``D``, ``I``, ``Q`` are recorded at most once per direction. ``S``, ``H``, ``F``,
``R`` are recorded again when the sequence number differs from the last packet with the
same flag in that direction. ``T`` and ``W`` are recorded on the 1st, 10th, 100th...
occurrence (Zeek's logarithmic rule). netinspect does not check checksums (``C``) or
reassemble streams (``G``), so it never writes those letters.

Endpoint states follow Zeek's coarse model (``INACTIVE``, ``SYN_SENT``, ``SYN_ACK_SENT``,
``PARTIAL``, ``ESTABLISHED``, ``CLOSED``, ``RESET``); ``conn_state()`` maps the two
endpoint states to the conn.log code exactly as Zeek's ``base/protocols/conn`` does, and
``CONN_STATE_TEXT`` gives a plain sentence for every code.
"""

from __future__ import annotations

import re

from netinspect.core.records import ACK, FIN, RST, SYN

# Zeek endpoint states.
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
ZEEK_STATE_NAMES = ("INACTIVE", "SYN_SENT", "SYN_ACK_SENT", "PARTIAL", "ESTABLISHED", "CLOSED", "RESET")

# Bits of the per-direction "letters already recorded" mask.
SEEN_SYN = 0x01
SEEN_FIN = 0x02
SEEN_RST = 0x04
SEEN_ACK = 0x08
SEEN_DATA = 0x10
SEEN_FIN_RST = 0x20
SEEN_MULTI = 0x40

CONN_STATES = ("S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH")

CONN_STATE_TEXT = {
    "S0": "Connection attempt seen, no reply: the SYN was never answered.",
    "S1": "Connection established and not closed within the capture.",
    "SF": "Normal establishment and termination: both sides closed with FIN.",
    "REJ": "Connection attempt rejected: the SYN was answered with RST (nothing listening).",
    "S2": "Connection established; the originator closed, the responder's reply to that was not seen.",
    "S3": "Connection established; the responder closed, the originator's reply to that was not seen.",
    "RSTO": "Connection established, then the originator aborted it with RST.",
    "RSTR": "Connection established, then the responder aborted it with RST.",
    "RSTOS0": "The originator sent a SYN and then a RST; no SYN+ACK from the responder was seen.",
    "RSTRH": "The responder sent a SYN+ACK and then a RST; the originator's SYN was not seen.",
    "SH": "The originator sent a SYN and then a FIN; no SYN+ACK was seen (half open).",
    "SHR": "The responder sent a SYN+ACK and then a FIN; the originator's SYN was not seen.",
    "OTH": "No SYN seen: mid-stream traffic of a connection already open when the capture began.",
}

_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*")


def explain(conn_state: str) -> str:
    return CONN_STATE_TEXT.get(conn_state, f"unknown conn_state {conn_state!r}")


def history_letters(flags: int, length: int, rel_seq: int, seen: int, last_syn, last_fin, last_rst):
    """Letters (upper case) for one packet, Zeek's update_history rules.

    Returns ``(letters, seen, last_syn, last_fin, last_rst)`` with the direction's updated
    bookkeeping. The caller lower-cases the letters for the responder.
    """
    letters = ""
    bits = (1 if flags & SYN else 0) + (1 if flags & FIN else 0) + (1 if flags & RST else 0)
    if bits > 1:
        if flags & FIN and flags & RST:
            if not seen & SEEN_FIN_RST:
                seen |= SEEN_FIN_RST
                letters = "I"
        elif not seen & SEEN_MULTI:
            seen |= SEEN_MULTI
            letters = "Q"
    elif bits == 1:
        if flags & SYN:
            code = "H" if flags & ACK else "S"
            if not seen & SEEN_SYN:
                seen |= SEEN_SYN
                letters = code
            elif rel_seq != last_syn:
                letters = code
            last_syn = rel_seq
        elif flags & FIN:
            end = rel_seq + length
            if not seen & SEEN_FIN:
                seen |= SEEN_FIN
                letters = "F"
            elif end != last_fin:
                letters = "F"
            last_fin = end
        else:
            if not seen & SEEN_RST:
                seen |= SEEN_RST
                letters = "R"
            elif rel_seq != last_rst:
                letters = "R"
            last_rst = rel_seq
    else:
        if length:
            if not seen & SEEN_DATA:
                seen |= SEEN_DATA
                letters = "D"
        elif flags & ACK:
            if not seen & SEEN_ACK:
                seen |= SEEN_ACK
                letters = "A"
    return letters, seen, last_syn, last_fin, last_rst


def scaled_letter_due(count: int) -> bool:
    """True when the ``count``-th occurrence gets a letter: 1, 10, 100, 1000..."""
    while count >= 10 and count % 10 == 0:
        count //= 10
    return count == 1


def update_states(sender: int, peer: int, flags: int) -> tuple[int, int]:
    """Zeek endpoint states after ``sender`` sends a packet with ``flags``."""
    if flags & RST:
        return RESET, peer
    if flags & SYN:
        if flags & ACK:
            if sender in (INACTIVE, SYN_SENT):
                sender = SYN_ACK_SENT
        elif sender == INACTIVE:
            sender = SYN_SENT
    elif flags & ACK:
        if sender == INACTIVE:
            sender = PARTIAL
        elif sender in (SYN_SENT, SYN_ACK_SENT) and peer in (SYN_ACK_SENT, ESTABLISHED):
            sender = peer = ESTABLISHED
    if flags & FIN and sender != RESET:
        sender = CLOSED
    return sender, peer


def conn_state(orig: int, resp: int, orig_bytes: int, resp_bytes: int, history: str) -> str:
    """The conn.log ``conn_state`` for the two Zeek endpoint states (Zeek's own rules)."""
    o_inactive = orig in (INACTIVE, PARTIAL)
    r_inactive = resp in (INACTIVE, PARTIAL)
    if resp == RESET:
        if orig in (SYN_SENT, SYN_ACK_SENT) or (orig == RESET and orig_bytes == 0 and resp_bytes == 0):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if orig == RESET:
        if r_inactive:
            return "RSTOS0" if _RSTOS0.fullmatch(history) else "OTH"
        return "RSTO"
    if resp == CLOSED and orig == CLOSED:
        return "SF"
    if orig == CLOSED:
        return "SH" if r_inactive else "S2"
    if resp == CLOSED:
        return "SHR" if o_inactive else "S3"
    if orig == SYN_SENT and resp == INACTIVE:
        return "S0"
    if orig == ESTABLISHED and resp == ESTABLISHED:
        return "S1"
    return "OTH"


#: ``UPDATE[sender * 7 + peer][flags & 0x17] == update_states(sender, peer, flags)``,
#: precomputed for the tracker (flags: FIN, SYN, RST, ACK).
UPDATE = [[update_states(s, p, f) if f & ~0x17 == 0 else (s, p) for f in range(32)]
          for s in range(7) for p in range(7)]
