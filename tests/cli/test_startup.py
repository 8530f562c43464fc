"""Start-up: the non-capture commands and --help never import scapy (SPEC 4)."""

import pathlib
import subprocess
import sys

import pytest

CLI = pathlib.Path(__file__).resolve().parents[2] / "netinspect" / "cli"

COMMANDS = [
    ["iface"],
    pytest.param(["subnet", "192.168.12.84/24"], marks=pytest.mark.skipif(
        not (CLI / "subnet.py").exists(), reason="netinspect/cli/subnet.py is not built yet")),
    ["resolve", "localhost"],
    ["port", "80"],
    ["--help"],
    ["iface", "--help"],
    ["resolve", "--forms", "127.1"],
    ["port", "53", "--check", "127.0.0.1", "--timeout", "1"],
]

_PROBE = """
import io, json, sys
from netinspect.cli.environment import Environment
from netinspect.cli.main import raw_main
out, err = io.StringIO(), io.StringIO()
status = raw_main(json.loads(sys.argv[1]), Environment(stdout=out, stderr=err))
print(json.dumps({"status": status, "out": len(out.getvalue()), "scapy": sorted(m for m in sys.modules if m == "scapy" or m.startswith("scapy."))}))
"""


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a))
def test_command_does_not_import_scapy(argv):
    import json

    result = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["out"] > 0                      # the command really ran and printed
    assert report["status"] in (0, 1), report      # 1: nothing listens on 127.0.0.1:53 / no reverse name
    assert report["scapy"] == []
