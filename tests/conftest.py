"""Shared fixtures: the in-process CLI runner, oracle checks, and the namespace lab.

With NETINSPECT_STRICT=1 (CI sets it) a skipped test is reported as a failure, so a
missing oracle or privilege cannot hide a broken feature.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass

import pytest

from netinspect.cli.environment import Environment
from netinspect.cli.main import raw_main
from tests.lab.netns import Lab, can_build_labs

STRICT = os.environ.get("NETINSPECT_STRICT") == "1"

# Hypothesis fails an example that runs over 200 ms (and calls a second, faster run of it
# "unreliable timings"): a timed assertion, which a shared, loaded machine can trip for no
# fault of the code. The property checks stay; only the per-example clock goes.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("netinspect", deadline=None)
_hypothesis_settings.load_profile("netinspect")


@dataclass
class CliResult:
    status: int
    out: str
    err: str


def run_cli(*argv: str, stdin: str = "", environ: dict | None = None, tty: bool = False) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, stdin=io.StringIO(stdin),
                      environ=environ if environ is not None else {"NO_COLOR": "1"},
                      stdout_isatty=tty, stderr_isatty=tty)
    status = raw_main(list(argv), env)
    return CliResult(status, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli


def need_tool(name: str) -> str:
    """Path of an oracle tool, or skip (a failure under NETINSPECT_STRICT=1)."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"oracle '{name}' is not installed")
    return path


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (capture, namespaces)")


@pytest.fixture
def lab():
    reason = can_build_labs()
    if reason:
        pytest.skip(reason)
    built = Lab()
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def lab_pair(lab):
    return lab.pair()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped under NETINSPECT_STRICT=1: {reason}"
