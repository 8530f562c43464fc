"""The CLI frame: version, help, usage errors, and the error boundary."""

from netinspect import __version__


def test_version(cli):
    result = cli("--version")
    assert result.status == 0
    assert __version__ in result.out


def test_no_command_is_bad_input(cli):
    result = cli()
    assert result.status == 2


def test_unknown_command_is_one_line_exit_2(cli):
    result = cli("frobnicate")
    assert result.status == 2
    assert result.err.count("\n") == 1
    assert "frobnicate" in result.err
    assert "Traceback" not in result.err
