"""LSP positions ↔ Python string offsets, for every position encoding LSP negotiates.

LSP counts `character` in code units of the negotiated encoding (UTF-16 unless the client
and server agreed on UTF-8 or UTF-32 in `initialize`); Python strings index code points. An
emoji is one code point, two UTF-16 units and four UTF-8 bytes, so the two must be converted
on every request. Line terminators are `\\n`, `\\r\\n` and `\\r`, as the LSP specification
says.

Policy (documented in docs/lsp.md): a line past the end of the document is an error (the
client and server disagree about the document); a `character` past the end of its line is
clamped to the line's end, as the specification prescribes; a `character` that falls inside
a multi-unit character (half a surrogate pair) is moved back to that character's start.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"

_TERMINATOR = re.compile(r"\r\n|\r|\n")


class PositionError(ValueError):
    """A position that does not exist in the document."""


@dataclass(frozen=True, slots=True)
class LineIndex:
    """Start offsets of every line of a text, for fast position conversion."""

    text: str
    starts: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> LineIndex:
        """Index `text` (O(n) once; conversions are then O(log n + line length))."""
        starts = [0]
        starts.extend(m.end() for m in _TERMINATOR.finditer(text))
        return cls(text, tuple(starts))

    @property
    def line_count(self) -> int:
        return len(self.starts)

    def line_text(self, line: int) -> str:
        """The text of `line` without its terminator."""
        start = self.starts[line]
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        segment = self.text[start:end]
        return segment.rstrip("\r\n") if segment.endswith(("\n", "\r")) else segment

    def offset(self, line: int, character: int, encoding: str = UTF16) -> int:
        """The Python offset of an LSP position; raises PositionError when it does not exist."""
        if line < 0 or character < 0:
            raise PositionError(f"negative position {line}:{character}")
        if line >= len(self.starts):
            raise PositionError(
                f"line {line} is past the end of the document ({len(self.starts)} lines)"
            )
        text = self.line_text(line)
        return self.starts[line] + column_to_index(text, character, encoding)

    def position(self, offset: int, encoding: str = UTF16) -> tuple[int, int]:
        """The LSP (line, character) of a Python offset (clamped to the text)."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        text = self.line_text(line)
        # An offset between "\r" and "\n" (or on a terminator) maps to the line's end.
        column = min(offset - start, len(text))
        return line, units_of(text[:column], encoding)


def units_of(text: str, encoding: str = UTF16) -> int:
    """Length of `text` in code units of `encoding`."""
    if encoding == UTF32:
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    # UTF-16: one unit per code point, two for code points beyond the BMP.
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def column_to_index(line_text: str, character: int, encoding: str = UTF16) -> int:
    """Code-unit column → code-point index within one line (clamped to the line's end)."""
    if encoding == UTF32:
        return min(character, len(line_text))
    if line_text.isascii():
        return min(character, len(line_text))
    units = 0
    for index, ch in enumerate(line_text):
        width = _width(ch, encoding)
        if units + width > character:
            # `character` points inside this character: round down to its start.
            return index
        units += width
    return len(line_text)


def _width(ch: str, encoding: str) -> int:
    code = ord(ch)
    if encoding == UTF8:
        if code < 0x80:
            return 1
        if code < 0x800:
            return 2
        if code < 0x10000:
            return 3
        return 4
    return 2 if code > 0xFFFF else 1


def offset_at(text: str, line: int, character: int, encoding: str = UTF16) -> int:
    """Convenience: the offset of one position in `text`."""
    return LineIndex.of(text).offset(line, character, encoding)


def position_at(text: str, offset: int, encoding: str = UTF16) -> tuple[int, int]:
    """Convenience: the LSP position of one offset in `text`."""
    return LineIndex.of(text).position(offset, encoding)
