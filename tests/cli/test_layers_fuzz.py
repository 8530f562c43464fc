"""Any bytes in a frame give a dissection or one RuntimeFailure: never another exception,
and every shown value is one printable line."""

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from netinspect.adapters import frame_dissect
from netinspect.core.errors import RuntimeFailure
from netinspect.core.records import Frame
from netinspect.render.layers_view import layers_text

LINKTYPES = [0, 1, 101, 113, 228, 229, 276]
# Starts that steer scapy into deeper layers more often than random bytes would.
PREFIXES = [b"", bytes.fromhex("ffffffffffff0277000700010800") + b"\x45\x00",
            bytes.fromhex("01005e0102030277000700010806"), bytes.fromhex("333300000001027700070001" + "86dd") + b"\x60",
            b"\x45\x00\x00\x30\x00\x00\x00\x00\x40\x01", b"\x60\x00\x00\x00\x00\x08\x3a\xff"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LINKTYPES), st.sampled_from(PREFIXES), st.binary(max_size=120))
def test_random_frames(linktype, prefix, tail):
    data = prefix + tail
    try:
        doc = frame_dissect.dissect(Frame(0, linktype, data, len(data), 0, 0))
    except RuntimeFailure as error:
        assert "\n" not in error.message
        return
    json.dumps(doc)
    text = layers_text(doc, "fuzz")
    for line in text.splitlines():
        assert line.isprintable(), line
    assert sum(layer["length"] for layer in doc["layers"]) <= len(data)
