"""Session protocols, sans-IO: echo, upper-case echo, chat room, time service, discard.

A service sees clients only as ids and messages only as `framing.Message`. Every
callback returns a list of actions for the socket loop: `Send(client, payload)` (the
loop frames the payload for that client) and `Close(client, reason)` (after the
client's pending output is flushed). The loop owns the sockets; the service owns the
protocol, so both are tested apart.

Nothing here runs a command for a client, in any mode: the lessons' remote-shell
server has no counterpart.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Callable, Hashable

from netinspect.core.framing import Message

MODES = ("echo", "upper", "chat", "time", "discard")

ClientId = Hashable


@dataclass(frozen=True)
class Send:
    client: ClientId
    payload: bytes


@dataclass(frozen=True)
class Close:
    client: ClientId
    reason: str


Action = Send | Close


class Service:
    mode = "?"

    def on_connect(self, client: ClientId, peer: str) -> list[Action]:
        return []

    def on_message(self, client: ClientId, message: Message) -> list[Action]:
        raise NotImplementedError

    def on_close(self, client: ClientId) -> list[Action]:
        return []


class EchoService(Service):
    mode = "echo"

    def on_message(self, client, message):
        return [Send(client, message.data)]


class UpperService(Service):
    """The lessons' first server: answer each message in upper case."""

    mode = "upper"

    def on_message(self, client, message):
        if message.text is None:
            # Not UTF-8: upper-case the ASCII letters only and leave every other byte alone.
            return [Send(client, message.data.upper())]
        return [Send(client, message.text.upper().encode("utf-8"))]


class DiscardService(Service):
    """RFC 863 in spirit: read everything, answer nothing."""

    mode = "discard"

    def on_message(self, client, message):
        return []


class ChatRoom(Service):
    """Relay each message to every other client, prefixed with the sender's address."""

    mode = "chat"

    def __init__(self):
        self.members: dict[ClientId, str] = {}

    def _others(self, client: ClientId):
        return [other for other in self.members if other != client]

    def on_connect(self, client, peer):
        self.members[client] = peer
        count = len(self.members)
        notice = f"* {peer} joined ({count} in the room)".encode()
        welcome = f"* welcome {peer}: {count} in the room; your messages go to everyone else".encode()
        return [Send(client, welcome)] + [Send(other, notice) for other in self._others(client)]

    def on_message(self, client, message):
        peer = self.members.get(client)
        if peer is None:
            return []
        line = f"[{peer}] ".encode() + message.data
        return [Send(other, line) for other in self._others(client)]

    def on_close(self, client):
        peer = self.members.pop(client, None)
        if peer is None:
            return []
        notice = f"* {peer} left ({len(self.members)} in the room)".encode()
        return [Send(other, notice) for other in self.members]


# strftime directives that only format the time. Platform extensions (%-d, %E, %O, %+,
# %N ...) and anything not listed are refused, so the answer is the same everywhere
# and a format can never ask the C library for something unexpected.
ALLOWED_DIRECTIVES = frozenset("aAbBcdHIjmMpSUwWxXyYzZGuVf%")
MAX_FORMAT_LENGTH = 100
DEFAULT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"
_DIRECTIVE = re.compile(r"%(.?)", re.DOTALL)


class TimeFormatError(ValueError):
    pass


def validate_time_format(fmt: str) -> str:
    """Return `fmt` if it is safe to give to strftime; raise TimeFormatError naming the problem."""
    if len(fmt) > MAX_FORMAT_LENGTH:
        raise TimeFormatError(f"format is {len(fmt)} characters; the limit is {MAX_FORMAT_LENGTH}")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in fmt):
        raise TimeFormatError("format contains control characters")
    for match in _DIRECTIVE.finditer(fmt):
        directive = match.group(1)
        if directive == "":
            raise TimeFormatError("format ends with a lone '%'")
        if directive not in ALLOWED_DIRECTIVES:
            allowed = " ".join("%" + d for d in sorted(ALLOWED_DIRECTIVES))
            raise TimeFormatError(f"directive %{directive} is not allowed; allowed: {allowed}")
    return fmt


class TimeService(Service):
    """Answer each request with the current time; a non-empty request is a strftime format."""

    mode = "time"

    def __init__(self, clock: Callable[[], _dt.datetime] | None = None):
        self.clock = clock or (lambda: _dt.datetime.now().astimezone())

    def on_message(self, client, message):
        if message.text is None:
            return [Send(client, b"error: the request is not UTF-8 text; send a strftime format such as %H:%M:%S")]
        fmt = message.text.strip() or DEFAULT_TIME_FORMAT
        try:
            validate_time_format(fmt)
        except TimeFormatError as error:
            return [Send(client, f"error: {error}".encode())]
        return [Send(client, self.clock().strftime(fmt).encode("utf-8"))]


def make_service(mode: str, **options) -> Service:
    classes = {"echo": EchoService, "upper": UpperService, "chat": ChatRoom,
               "time": TimeService, "discard": DiscardService}
    try:
        return classes[mode](**options)
    except KeyError:
        raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}") from None
