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


def test_error_messages_escape_control_characters(cli):
    result = cli("frobnicate\x1b[31mX")
    assert result.status == 2
    assert "\x1b" not in result.err
    assert "\\x1b" in result.err


def test_argparse_extra_arguments_are_escaped(cli):
    result = cli("--version", "--nope\x07")
    assert "\x07" not in result.err


def test_every_command_has_help_with_an_example(cli):
    from netinspect.cli.main import COMMANDS

    for name in COMMANDS:
        result = cli(name, "--help")
        assert result.status == 0, (name, result.err)
        assert "examples:" in result.out and f"netinspect {name}" in result.out.split("examples:")[1], name
