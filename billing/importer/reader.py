"""Stream documents out of a `mongoexport` file in constant memory.

Two layouts, told apart by the first non-blank character:
- JSON lines (mongoexport's default): one document per line, parsed with orjson;
- a JSON array (``--jsonArray``, pretty or not): elements are cut out of a
  sliding buffer with the C JSON decoder (``raw_decode``), so only one chunk
  plus one document is held at a time.

Every item carries where it came from (line number, array index) so a bad
document is reported precisely and skipped instead of ending the stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

CHUNK_CHARS = 1 << 20
# MongoDB's own document limit; anything larger cannot be one document.
MAX_DOCUMENT_CHARS = 16 * 1024 * 1024
_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"
_BLANK = _WHITESPACE + "\ufeff"


@dataclass(frozen=True, slots=True)
class Item:
    """One document (``doc``) or one problem (``error``) at a position in the file."""

    line: int
    index: int | None  # array index, None for JSON lines
    doc: dict[str, Any] | None
    error: str | None
    offset: int  # bytes (characters, for arrays) read so far, for progress

    @property
    def where(self) -> str:
        return f"line {self.line}" + ("" if self.index is None else f" (index {self.index})")


def read_documents(path: Path) -> Iterator[Item]:
    if _first_significant_byte(path) == b"[":
        with path.open("r", encoding="utf-8", newline="") as handle:
            yield from _array_items(handle)
    else:
        with path.open("rb") as binary:
            yield from _line_items(binary)


def _first_significant_byte(path: Path) -> bytes:
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(4096)
            if not chunk:
                return b""
            stripped = chunk.lstrip(b" \t\r\n\xef\xbb\xbf")
            if stripped:
                return stripped[:1]


def _as_document(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    if isinstance(value, dict):
        return value, None
    return None, f"expected a JSON object, got {type(value).__name__}"


def _line_items(handle: Any) -> Iterator[Item]:
    offset = 0
    for number, line in enumerate(handle, start=1):
        offset += len(line)
        text = line.strip()
        if number == 1:
            text = text.removeprefix(b"\xef\xbb\xbf")
        if not text:
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield Item(number, None, None, f"invalid JSON: {exc}", offset)
            continue
        doc, error = _as_document(value)
        yield Item(number, None, doc, error, offset)


class _Buffer:
    """A window over the file: text from ``pos`` on, plus the line number at ``pos``."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.text = ""
        self.pos = 0
        self.line = 1
        self.eof = False
        self.dropped = 0  # characters consumed and dropped from the window

    @property
    def offset(self) -> int:
        return self.dropped + self.pos

    def fill(self) -> bool:
        """Read one more chunk; False at end of file."""
        if self.eof:
            return False
        chunk = self.handle.read(CHUNK_CHARS)
        if not chunk:
            self.eof = True
            return False
        # Drop consumed text so the window stays small.
        self.text = self.text[self.pos :] + chunk
        self.dropped += self.pos
        self.pos = 0
        return True

    def advance(self, end: int) -> None:
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end

    def skip_blank(self) -> str:
        """Skip whitespace; return the next character ('' at end of file)."""
        while True:
            length = len(self.text)
            index = self.pos
            while index < length and self.text[index] in _BLANK:
                index += 1
            self.advance(index)
            if index < length:
                return self.text[index]
            if not self.fill():
                return ""


def _array_items(handle: Any) -> Iterator[Item]:
    buf = _Buffer(handle)
    buf.skip_blank()
    buf.advance(buf.pos + 1)  # the opening '['
    index = 0
    if buf.skip_blank() == "]":
        return
    while True:
        char = buf.skip_blank()
        if char == "":
            yield Item(
                buf.line, index, None, "unexpected end of file: the array is not closed", buf.offset
            )
            return
        start_line = buf.line
        value, error = _next_value(buf)
        if error is None:
            doc, error = _as_document(value)
            yield Item(start_line, index, doc, error, buf.offset)
        else:
            yield Item(start_line, index, None, error, buf.offset)
            if buf.pos >= len(buf.text) and buf.eof:
                return
        index += 1
        char = buf.skip_blank()
        if char == ",":
            buf.advance(buf.pos + 1)
        elif char == "]":
            return
        elif char == "":
            yield Item(
                buf.line, index, None, "unexpected end of file: the array is not closed", buf.offset
            )
            return
        else:
            yield Item(buf.line, index, None, f"expected ',' or ']', found {char!r}", buf.offset)
            _skip_to_separator(buf)


def _next_value(buf: _Buffer) -> tuple[Any, str | None]:
    """Decode the value at ``buf.pos``, reading more text while it is incomplete."""
    while True:
        try:
            value, end = _DECODER.raw_decode(buf.text, buf.pos)
        except json.JSONDecodeError as exc:
            extent = _value_end(buf.text, buf.pos)
            if extent is None and not buf.eof and len(buf.text) - buf.pos < MAX_DOCUMENT_CHARS:
                buf.fill()
                continue
            buf.advance(extent if extent is not None else len(buf.text))
            return None, f"invalid JSON: {exc.msg}"
        # A value touching the end of the window might continue in the next chunk.
        if end >= len(buf.text) and not buf.eof:
            buf.fill()
            continue
        buf.advance(end)
        return value, None


def _value_end(text: str, start: int) -> int | None:
    """End of the bracketed value starting at ``start`` (strings respected), None if cut off.

    Used only after a decode error, to tell a value cut by the chunk boundary
    from a malformed one and to skip exactly the malformed value.
    """
    closers = {"{": "}", "[": "]"}
    stack: list[str] = []
    index = start
    length = len(text)
    in_string = False
    while index < length:
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in closers:
            stack.append(closers[char])
        elif char in "}]":
            if not stack or stack.pop() != char or not stack:
                return index + 1
        elif not stack and char in ",\n":
            return index
        index += 1
    return None


def _skip_to_separator(buf: _Buffer) -> None:
    while True:
        end = _value_end(buf.text, buf.pos)
        if end is not None:
            buf.advance(max(end, buf.pos + 1))
            return
        if not buf.fill():
            buf.advance(len(buf.text))
            return
