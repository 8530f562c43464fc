"""Message framing over a byte stream, sans-IO: bytes in, messages (or one error) out.

TCP delivers a byte stream with no message boundaries: three send() calls may arrive
as one recv(), and one send() as several. A framer restores the boundaries:

- `LineFramer`: a message ends at b"\\n" (a trailing b"\\r" is dropped), capped length.
- `RawFramer`: every read is a message: shows the stream as it arrives.
- `LengthPrefixFramer`: a 4-byte big-endian length (struct '!I') then that many bytes,
  capped size: the usual fix for "TCP has no message boundaries".

Each message carries its bytes and, when they are valid UTF-8, the text. A character
split across two reads is never cut: the raw framer holds back an incomplete UTF-8
tail until the next read completes it. After an error a framer accepts nothing more;
the owner tells the client and closes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

DEFAULT_MAX_MESSAGE = 65536
LENGTH_HEADER = struct.Struct("!I")
FRAMINGS = ("line", "raw", "length")


@dataclass(frozen=True)
class Message:
    data: bytes
    text: str | None  # None when the bytes are not valid UTF-8

    @classmethod
    def of(cls, data: bytes) -> "Message":
        try:
            return cls(data, data.decode("utf-8"))
        except UnicodeDecodeError:
            return cls(data, None)

    def shown(self) -> str:
        """Text fit for one log line: decoded if possible, escapes otherwise."""
        if self.text is not None:
            return self.text
        return self.data.decode("utf-8", errors="backslashreplace")


@dataclass(frozen=True)
class FramingError:
    code: str   # line-too-long | message-too-large | truncated
    text: str   # one plain sentence for the client and the log


def incomplete_utf8_tail(data: bytes) -> int:
    """How many bytes at the end of `data` start a UTF-8 character that is not complete yet."""
    # Look back at most 3 bytes for a lead byte whose sequence runs past the end.
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte & 0b1100_0000 == 0b1000_0000:
            continue  # continuation byte: keep looking for the lead
        if byte >= 0b1111_0000:
            need = 4
        elif byte >= 0b1110_0000:
            need = 3
        elif byte >= 0b1100_0000:
            need = 2
        else:
            return 0  # ASCII: nothing pending
        return back if back < need else 0
    return 0


class _Framer:
    name = "?"

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE):
        if max_message < 1:
            raise ValueError("max_message must be positive")
        self.max_message = max_message
        self.failed: FramingError | None = None
        self.buffered = 0

    def feed(self, data: bytes) -> list[Message | FramingError]:
        raise NotImplementedError

    def finish(self) -> list[Message | FramingError]:
        """The peer closed its side: deliver or report what is still buffered."""
        return []

    def encode(self, payload: bytes) -> bytes:
        raise NotImplementedError

    def _fail(self, code: str, text: str) -> list[Message | FramingError]:
        self.failed = FramingError(code, text)
        return [self.failed]


class LineFramer(_Framer):
    name = "line"

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE):
        super().__init__(max_message)
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message | FramingError]:
        if self.failed:
            return []
        out: list[Message | FramingError] = []
        start = len(self._buffer)
        self._buffer += data
        while True:
            cut = self._buffer.find(b"\n", start)
            if cut < 0:
                break
            line = bytes(self._buffer[:cut])
            del self._buffer[: cut + 1]
            start = 0
            if len(line) > self.max_message:
                return out + self._fail("line-too-long", self._too_long())
            out.append(Message.of(line[:-1] if line.endswith(b"\r") else line))
        if len(self._buffer) > self.max_message:
            self._buffer.clear()
            return out + self._fail("line-too-long", self._too_long())
        self.buffered = len(self._buffer)
        return out

    def _too_long(self) -> str:
        return f"line longer than {self.max_message} bytes without a newline; the limit is {self.max_message}"

    def finish(self) -> list[Message | FramingError]:
        if self.failed or not self._buffer:
            return []
        line = bytes(self._buffer)
        self._buffer.clear()
        self.buffered = 0
        return [Message.of(line[:-1] if line.endswith(b"\r") else line)]

    def encode(self, payload: bytes) -> bytes:
        return payload + b"\n"


class RawFramer(_Framer):
    """Each read is one message, except an incomplete UTF-8 character at its end."""

    name = "raw"

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE):
        super().__init__(max_message)
        self._pending = b""

    def feed(self, data: bytes) -> list[Message | FramingError]:
        if self.failed or not data:
            return []
        data = self._pending + data
        hold = incomplete_utf8_tail(data)
        self._pending = data[len(data) - hold:] if hold else b""
        self.buffered = len(self._pending)
        body = data[: len(data) - hold]
        return [Message.of(body)] if body else []

    def finish(self) -> list[Message | FramingError]:
        pending, self._pending = self._pending, b""
        self.buffered = 0
        return [Message.of(pending)] if pending and not self.failed else []

    def encode(self, payload: bytes) -> bytes:
        return payload


class LengthPrefixFramer(_Framer):
    name = "length"

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE):
        super().__init__(max_message)
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message | FramingError]:
        if self.failed:
            return []
        self._buffer += data
        out: list[Message | FramingError] = []
        while len(self._buffer) >= LENGTH_HEADER.size:
            (length,) = LENGTH_HEADER.unpack_from(self._buffer)
            if length > self.max_message:
                swapped = int.from_bytes(self._buffer[:LENGTH_HEADER.size], "little")
                self._buffer.clear()
                self.buffered = 0
                text = f"length prefix announces {length} bytes; the maximum message size is {self.max_message} bytes"
                if swapped <= self.max_message:
                    # The lessons' struct.pack('i', n) is native (little-endian on x86) byte order.
                    text += (f" (read little-endian it would be {swapped}: pack the length with "
                             f"struct.pack('!I', n), network byte order, not struct.pack('i', n))")
                return out + self._fail("message-too-large", text)
            end = LENGTH_HEADER.size + length
            if len(self._buffer) < end:
                break
            out.append(Message.of(bytes(self._buffer[LENGTH_HEADER.size:end])))
            del self._buffer[:end]
        self.buffered = len(self._buffer)
        return out

    def finish(self) -> list[Message | FramingError]:
        if self.failed or not self._buffer:
            return []
        have = len(self._buffer)
        if have < LENGTH_HEADER.size:
            text = f"stream ended inside a length prefix ({have} of 4 bytes)"
        else:
            (length,) = LENGTH_HEADER.unpack_from(self._buffer)
            text = f"stream ended inside a message ({have - LENGTH_HEADER.size} of {length} bytes)"
        self._buffer.clear()
        self.buffered = 0
        return self._fail("truncated", text)

    def encode(self, payload: bytes) -> bytes:
        if len(payload) > 0xFFFFFFFF:
            raise ValueError("payload too large for a 4-byte length prefix")
        return LENGTH_HEADER.pack(len(payload)) + payload


def make_framer(name: str, max_message: int = DEFAULT_MAX_MESSAGE) -> _Framer:
    classes = {"line": LineFramer, "raw": RawFramer, "length": LengthPrefixFramer}
    try:
        return classes[name](max_message)
    except KeyError:
        raise ValueError(f"unknown framing {name!r}; accepted: {', '.join(FRAMINGS)}") from None
