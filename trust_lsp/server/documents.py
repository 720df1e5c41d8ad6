"""The open documents: text kept in sync with the editor (incremental changes).

pygls keeps its own copy of open documents, but splits lines with `str.splitlines`, which
also breaks at form feeds, U+2028 and other characters LSP does not count as line ends, and
silently clamps out-of-range positions. Completion offsets must agree with the editor
exactly, so the server keeps its own store, using `positions.LineIndex` for every
conversion.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from trust_lsp.server.positions import UTF16, LineIndex, PositionError

logger = logging.getLogger(__name__)

# Completion on a document larger than this is refused with an empty result: prompt
# building and post-processing scan the text, and no model context holds that much anyway.
MAX_COMPLETION_CHARS = 2_000_000


def uri_to_path(uri: str) -> str | None:
    """The file-system path of a `file:` URI, None for other schemes."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    # file:///C:/x on Windows: drop the slash before the drive letter.
    if len(path) >= 3 and path[0] == "/" and path[2] == ":":
        path = path[1:]
    return path


@dataclass(slots=True)
class Document:
    """One open document."""

    uri: str
    language_id: str
    version: int
    text: str
    path: str | None
    edited_at: float = field(default_factory=time.monotonic)
    _index: LineIndex | None = None
    _refusal: tuple[str, str | None] | None = None  # (text it was judged on, verdict)

    @property
    def index(self) -> LineIndex:
        """Line index of the current text (built lazily, once per change)."""
        if self._index is None or self._index.text is not self.text:
            self._index = LineIndex.of(self.text)
        return self._index

    def refusal(self) -> str | None:
        """Why completion should not run on this document, or None.

        Judged once per text (it scans the whole text, and every completion request asks it
        of every open document).
        """
        if self._refusal is None or self._refusal[0] is not self.text:
            verdict = None
            if len(self.text) > MAX_COMPLETION_CHARS:
                verdict = f"document too large ({len(self.text)} characters)"
            elif "\x00" in self.text:
                verdict = "binary document"
            self._refusal = (self.text, verdict)
        return self._refusal[1]


@dataclass(frozen=True, slots=True)
class Change:
    """One content change: `range` None means the whole text is replaced."""

    text: str
    range: tuple[tuple[int, int], tuple[int, int]] | None = None


def apply_change(
    doc_text: str, change: Change, encoding: str = UTF16, index: LineIndex | None = None
) -> str:
    """Apply one LSP content change to `doc_text` (pure).

    `index` is the line index of `doc_text` when the caller has it. Out-of-range positions
    in a change are clamped to the end of the document: a notification cannot be answered
    with an error, and clamping keeps the copy as close to the editor's as the change allows.
    """
    if change.range is None:
        return change.text
    if index is None or index.text is not doc_text:
        index = LineIndex.of(doc_text)
    (sl, sc), (el, ec) = change.range
    start = _clamped_offset(index, sl, sc, encoding)
    end = _clamped_offset(index, el, ec, encoding)
    if end < start:
        start, end = end, start
    return doc_text[:start] + change.text + doc_text[end:]


def _clamped_offset(index: LineIndex, line: int, character: int, encoding: str) -> int:
    try:
        return index.offset(line, character, encoding)
    except PositionError:
        logger.warning("change position %s:%s is outside the document", line, character)
        return len(index.text)


class DocumentStore:
    """Open documents by URI, most recently edited first when listed."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}

    def open(self, uri: str, language_id: str, version: int, text: str) -> Document:
        doc = Document(uri, language_id, version, text, uri_to_path(uri))
        self._docs[uri] = doc
        return doc

    def change(self, uri: str, version: int, changes: Iterable[Change], encoding: str) -> None:
        doc = self._docs.get(uri)
        if doc is None:
            logger.warning("change for a document that is not open: %s", uri)
            return
        text = doc.text
        index: LineIndex | None = doc.index
        for change in changes:
            text = apply_change(text, change, encoding, index)
            index = None
        doc.text = text
        doc.version = version
        doc.edited_at = time.monotonic()

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def by_path(self, path: str) -> Document | None:
        for doc in self._docs.values():
            if doc.path == path:
                return doc
        return None

    def all(self) -> list[Document]:
        """Every open document, most recently edited first."""
        return sorted(self._docs.values(), key=lambda d: d.edited_at, reverse=True)

    def __len__(self) -> int:
        return len(self._docs)
