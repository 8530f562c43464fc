"""Entry point and the one error boundary.

`raw_main(argv, env)` parses, dispatches to one module per command, and maps every
error to an exit status and one line on stderr. Command modules are imported for their
argument definitions only; heavy libraries (scapy above all) are imported inside
`run`, so `--help` and the non-capture commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import Sequence

from netinspect import __version__
from netinspect.cli.environment import Environment
from netinspect.core.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BadInput,
    NetinspectError,
)

# command name -> (module under netinspect.cli, one-line summary for the top-level help).
# Each module defines SUMMARY, EXAMPLES, add_arguments(parser) and run(args, env) -> int.
# Only the module of the command being run is imported: building every subparser would
# cost more than the start-up budget (SPEC 4: under 3x a bare interpreter).
COMMANDS = {
    "iface": ("iface", "interfaces: state, MAC, IPv4/IPv6 addresses and masks, MTU, default gateways"),
    "subnet": ("subnet", "a network segment: address AND mask in binary, hosts, broadcast, split, contains, supernet"),
    "resolve": ("resolve", "names to addresses and back, the local host name, DNS answers with TTL"),
    "port": ("port", "service names and port numbers both ways, range class, reachability check"),
    "serve": ("serve", "run a TCP or UDP server: echo, upper, chat, time, discard; line, raw or length framing"),
    "connect": ("connect", "connect to a TCP or UDP server and exchange messages"),
    "trace-handshake": ("trace_handshake", "capture one TCP session live and draw its handshake and teardown (root)"),
    "review": ("review", "review pcap/pcapng captures: TCP connections, UDP flows, ICMP, findings"),
    "arp": ("arp", "the neighbour table, or an ARP who-has for one address (root)"),
    "layers": ("layers", "one frame layer by layer in the OSI and TCP/IP models, with its cast"),
}


def _selected_command(argv: Sequence[str]) -> str | None:
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


class _Parser(argparse.ArgumentParser):
    """argparse that raises BadInput instead of exiting, and prints to the injected env."""

    env: Environment | None = None

    def error(self, message: str):  # noqa: D401 - argparse API
        raise BadInput(f"{message} (see '{self.prog} --help')")

    def _print_message(self, message, file=None):
        if message:
            stream = self.env.stdout if self.env is not None else sys.stdout
            if file is sys.stderr and self.env is not None:
                stream = self.env.stderr
            stream.write(message)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document (has \"schema_version\")")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more detail")
    common.add_argument("--traceback", action="store_true", help="show the Python traceback on errors (for debugging)")
    return common


def build_parser(env: Environment | None = None, selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `selected` gets its full argument definitions (and its module imported)."""
    _Parser.env = env
    parser = _Parser(
        prog="netinspect",
        description="Network diagnostics and packet inspection: interfaces, subnets, names, "
        "ports, TCP/UDP sessions, live handshake traces and pcap review.",
        epilog="Run 'netinspect COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"netinspect {__version__}")
    parser.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    common = _common_options()
    for name, (module_name, summary) in COMMANDS.items():
        full = f"netinspect.cli.{module_name}"
        if name != selected:
            sub.add_parser(name, help=summary)  # listed in the top-level help only
            continue
        module = importlib.import_module(full)
        cmd = sub.add_parser(
            name,
            help=summary,
            description=module.SUMMARY,
            epilog="examples:\n" + "\n".join(f"  {line}" for line in module.EXAMPLES),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def raw_main(argv: Sequence[str], env: Environment | None = None) -> int:
    """Run one command; return its exit status. Never raises, never exits."""
    env = env or Environment()
    argv = list(argv)
    want_traceback = "--traceback" in argv
    try:
        parser = build_parser(env, _selected_command(argv))
        try:
            args, extra = parser.parse_known_args(argv)
            if extra:   # as parse_args, but point at the subcommand's own --help
                command = getattr(args, "command", None)
                prog = f"netinspect {command}" if command else "netinspect"
                raise BadInput(f"unrecognized arguments: {' '.join(extra)} (see '{prog} --help')")
        except SystemExit as stop:  # --help and --version
            return int(stop.code or 0) if isinstance(stop.code, int) else EXIT_OK
        if not getattr(args, "command", None):
            parser.print_help(env.stderr)
            return EXIT_BAD_INPUT
        status = args.run(args, env)
        return EXIT_OK if status is None else int(status)
    except KeyboardInterrupt:
        env.err("netinspect: interrupted")
        return EXIT_INTERRUPTED
    except NetinspectError as error:
        if want_traceback:
            traceback.print_exc(file=env.stderr)
        env.err(f"netinspect: {error.message}")
        return error.exit_status
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a message.
        return EXIT_OK
    except Exception as error:  # the boundary: no traceback unless asked for
        if want_traceback:
            traceback.print_exc(file=env.stderr)
        one_line = " ".join(f"{type(error).__name__}: {error}".split())
        env.err(f"netinspect: internal error: {one_line} (rerun with --traceback for details)")
        return EXIT_FAILURE


def main() -> None:
    status = raw_main(sys.argv[1:])
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.exit(status)
