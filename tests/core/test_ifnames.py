"""Interface name text, checked like the kernel's dev_valid_name."""

import pytest

from netinspect.core.errors import BadInput
from netinspect.core.ifnames import validate_ifname


@pytest.mark.parametrize("text", ["lo", "eth0", "a" * 15, "veth-x.10", "wlp0s20f3"])
def test_accepted(text):
    assert validate_ifname(text) == text


@pytest.mark.parametrize("text", ["", "a" * 16, ".", "..", "eth0/1", "eth0:1", "et h0", "eth\x000", "eth\n0", "ééééééééé"])
def test_refused(text):
    with pytest.raises(BadInput):
        validate_ifname(text)
