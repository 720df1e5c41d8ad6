"""Values that cross the completion engine's boundary (the server builds and reads them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DocumentSnapshot:
    """An open document at one version.

    `path` is the file system path when the uri is a file (None for untitled buffers).
    Offsets into `text` are Python string indices; the server converts LSP UTF-16 positions.
    """

    uri: str
    text: str
    language_id: str
    version: int
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Insert `text` at the cursor, replacing the next `replace_chars` characters."""

    text: str
    replace_chars: int = 0
