"""Errors that carry their exit status, so the CLI has one boundary to map them.

Exit status (SPEC section 2): 0 success, 1 runtime failure, 2 bad input, 130 interrupted.
Every message is one line naming the bad value and what would be accepted.
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def printable_one_line(text) -> str:
    """Whitespace runs folded to one space; other unprintable characters shown escaped."""
    folded = " ".join(str(text).split())
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in folded)


class NetinspectError(Exception):
    """Base class: a one-line message and the exit status it maps to."""

    exit_status = EXIT_FAILURE

    def __init__(self, message: str):
        # One line, always, and no raw control characters: the message may quote text from
        # the user, the network or a file, which must not move the cursor or recolour a terminal.
        super().__init__(printable_one_line(message))

    @property
    def message(self) -> str:
        return str(self)


class BadInput(NetinspectError):
    """The user gave a value we do not accept (exit 2)."""

    exit_status = EXIT_BAD_INPUT


class RuntimeFailure(NetinspectError):
    """Something outside the user's text failed: unreachable, timeout, no answer (exit 1)."""

    exit_status = EXIT_FAILURE


class PrivilegeError(RuntimeFailure):
    """Capturing or sending raw frames needs root or CAP_NET_RAW (exit 1)."""


class NotACaptureError(BadInput):
    """A file given to review/layers is not pcap, pcapng or gzip of either (exit 2)."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: not a capture file ({reason}); accepted: pcap, pcapng, or .gz of either")


class CaptureFileError(RuntimeFailure):
    """A capture container is damaged: the read stops at `offset` (exit 1 after partial results)."""

    def __init__(self, path: str, offset: int, reason: str):
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"{path}: damaged at byte offset {offset}: {reason}")
