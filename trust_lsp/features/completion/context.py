"""Prompt building: what the model sees around the cursor, within a token budget.

The prompt is `CompletionInput(prefix, suffix)`. The prefix is, in order: snippets from
other open documents (commented out), a header naming the file, and the text before the
cursor; the suffix is the text after the cursor. Tokens are estimated (chars / 3.5) because
a tokenizer is neither available for every backend nor fast enough to run per keystroke;
windows are cut at line boundaries so the model never starts mid-line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from trust_lsp.config.settings import CompletionSettings
from trust_lsp.core.types import CompletionInput
from trust_lsp.features.completion.language import CommentStyle, comment_style
from trust_lsp.features.completion.types import DocumentSnapshot

CHARS_PER_TOKEN = 3.5

# Bounds that keep snippet selection within a few milliseconds on large workspaces.
MAX_OTHER_DOCUMENTS = 10
MAX_CHARS_PER_DOCUMENT = 64_000
INDEXED_DOCUMENTS = 32
WINDOW_LINES = 20
WINDOW_STEP = 10
# How much text around the cursor defines "relevant" for snippet ranking.
CURSOR_CONTEXT_LINES_BEFORE = 30
CURSOR_CONTEXT_LINES_AFTER = 10

_IDENTIFIER = re.compile(r"[^\W\d]\w{2,}")


def estimate_tokens(text: str) -> int:
    """A cheap token estimate: about 3.5 characters per token for code."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def chars_for_tokens(tokens: float) -> int:
    """How many characters fit in `tokens` (the inverse of `estimate_tokens`)."""
    return max(0, math.floor(tokens * CHARS_PER_TOKEN))


def prefix_window(before: str, max_chars: int) -> str:
    """The end of `before`, at most `max_chars` long, starting at a line start.

    When even the cursor's own line is longer than the budget, the line is cut mid-way:
    the text right before the cursor matters most.
    """
    if len(before) <= max_chars:
        return before
    if max_chars <= 0:
        return ""
    start = len(before) - max_chars
    if before[start - 1] == "\n":
        return before[start:]
    newline = before.find("\n", start)
    if newline == -1:
        return before[start:]
    return before[newline + 1 :]


def suffix_window(after: str, max_chars: int) -> str:
    """The start of `after`, at most `max_chars` long, ending at a line end."""
    if len(after) <= max_chars:
        return after
    if max_chars <= 0:
        return ""
    window = after[:max_chars]
    if after[max_chars] == "\n":
        return window
    newline = window.rfind("\n")
    if newline == -1:
        return window
    return window[:newline]


def short_path(path: str, parts: int = 3) -> str:
    """The last `parts` components of a path: enough for the model, no home directories."""
    pure = PurePath(path)
    pieces = pure.parts[1:] if pure.anchor else pure.parts
    return "/".join(pieces[-parts:]) if pieces else path


def file_header(path: str | None, language_id: str, style: CommentStyle | None) -> str:
    """A comment naming the file (or its language for untitled buffers)."""
    if style is None:
        return ""
    if path:
        return style.render([f"Path: {short_path(path)}"])
    if language_id:
        return style.render([f"Language: {language_id}"])
    return ""


def identifiers(text: str) -> frozenset[str]:
    """Identifiers of three characters or more (Unicode-aware)."""
    return frozenset(_IDENTIFIER.findall(text))


def cursor_context(before: str, after: str) -> str:
    """The lines around the cursor that snippets are ranked against."""
    head = before.rsplit("\n", CURSOR_CONTEXT_LINES_BEFORE)
    tail = after.split("\n", CURSOR_CONTEXT_LINES_AFTER)
    return "\n".join(head[1:] if len(head) > CURSOR_CONTEXT_LINES_BEFORE else head) + "\n".join(
        tail[:CURSOR_CONTEXT_LINES_AFTER]
    )


@dataclass(frozen=True, slots=True)
class Snippet:
    """A window of another document, with its relevance to the cursor."""

    path: str
    text: str
    score: float
    start_line: int


def document_windows(
    text: str, lines_per_window: int = WINDOW_LINES, step: int = WINDOW_STEP
) -> list[tuple[int, str]]:
    """Overlapping windows of whole lines: (first line number, text)."""
    lines = text[:MAX_CHARS_PER_DOCUMENT].split("\n")
    windows: list[tuple[int, str]] = []
    start = 0
    while True:
        chunk = "\n".join(lines[start : start + lines_per_window]).strip("\n")
        if chunk.strip():
            windows.append((start, chunk))
        if start + lines_per_window >= len(lines):
            return windows
        start += step


@dataclass(frozen=True, slots=True)
class Window:
    """A window of lines of a document and its identifiers."""

    start_line: int
    text: str
    identifiers: frozenset[str]


class WindowIndex:
    """Windows of documents with their identifiers, kept per (uri, version).

    Other documents rarely change while the user types in one, so indexing them once per
    version keeps snippet ranking to a few milliseconds per prompt.
    """

    def __init__(self, max_documents: int = INDEXED_DOCUMENTS) -> None:
        self._max = max_documents
        self._windows: dict[tuple[str, int], list[Window]] = {}

    def windows(self, doc: DocumentSnapshot) -> list[Window]:
        """The windows of `doc` (indexed on first use of this version)."""
        key = (doc.uri, doc.version)
        found = self._windows.pop(key, None)
        if found is None:
            found = index_windows(doc.text)
            for old in [k for k in self._windows if k[0] == doc.uri]:
                del self._windows[old]
        self._windows[key] = found  # most recently used last
        while len(self._windows) > self._max:
            del self._windows[next(iter(self._windows))]
        return found

    def forget(self, uri: str) -> None:
        """Drop a document's windows (e.g. when it is closed)."""
        for key in [k for k in self._windows if k[0] == uri]:
            del self._windows[key]


def index_windows(text: str) -> list[Window]:
    """The windows of a text with their identifier sets."""
    return [Window(start, chunk, identifiers(chunk)) for start, chunk in document_windows(text)]


def rank_snippets(
    around_cursor: str,
    others: Sequence[DocumentSnapshot],
    index: WindowIndex | None = None,
) -> list[Snippet]:
    """Windows of `others` that share identifiers with the cursor's surroundings, best first.

    Score: Jaccard overlap of identifier sets, lowered slightly for documents further down
    `others` (which is ordered most recently edited first) so recency breaks ties. Only the
    first 10 documents and 64,000 characters of each are searched; `index` caches the
    windows across calls.
    """
    wanted = identifiers(around_cursor)
    if not wanted:
        return []
    ranked: list[Snippet] = []
    for rank, doc in enumerate(others[:MAX_OTHER_DOCUMENTS]):
        recency = 1.0 - 0.02 * rank
        label = doc.path or doc.uri
        windows = index.windows(doc) if index is not None else index_windows(doc.text)
        for window in windows:
            shared = len(window.identifiers & wanted)
            if shared == 0:
                continue
            score = shared / len(window.identifiers | wanted) * recency
            ranked.append(Snippet(label, window.text, score, window.start_line))
    ranked.sort(key=lambda s: s.score, reverse=True)
    return ranked


def render_snippet(snippet: Snippet, style: CommentStyle) -> str:
    """A snippet as comment lines under a `Path:` line, so it cannot break the code."""
    return style.render([f"Path: {short_path(snippet.path)}", *snippet.text.split("\n")])


def select_snippets(ranked: Sequence[Snippet], style: CommentStyle, budget_chars: int) -> list[str]:
    """Rendered snippets that fit in `budget_chars`: best first, without overlaps.

    The result is in prompt order: the most relevant snippet last, next to the code.
    """
    chosen: list[str] = []
    taken: dict[str, list[int]] = {}
    used = 0
    for snippet in ranked:
        starts = taken.setdefault(snippet.path, [])
        if any(abs(snippet.start_line - s) < WINDOW_LINES for s in starts):
            continue
        rendered = render_snippet(snippet, style)
        if used + len(rendered) > budget_chars:
            continue
        chosen.append(rendered)
        starts.append(snippet.start_line)
        used += len(rendered)
    chosen.reverse()
    return chosen


def budget_shares(settings: CompletionSettings) -> tuple[float, float]:
    """Prefix and suffix shares, scaled down together when they add up to more than 1."""
    total = settings.prefix_share + settings.suffix_share
    if total <= 1.0:
        return settings.prefix_share, settings.suffix_share
    return settings.prefix_share / total, settings.suffix_share / total


def build_prompt(
    doc: DocumentSnapshot,
    offset: int,
    settings: CompletionSettings,
    others: Sequence[DocumentSnapshot] = (),
    index: WindowIndex | None = None,
) -> CompletionInput:
    """The completion prompt for the cursor at `offset` in `doc`.

    `others` are the other open documents, most recently edited first (the document itself
    is skipped if present); `index` caches their windows across calls. The estimated size
    of prefix + suffix never exceeds `settings.prompt_tokens`.
    """
    offset = max(0, min(offset, len(doc.text)))
    before, after = doc.text[:offset], doc.text[offset:]
    total_chars = chars_for_tokens(settings.prompt_tokens)
    prefix_share, suffix_share = budget_shares(settings)
    style = comment_style(doc.language_id)
    header = file_header(doc.path, doc.language_id, style)
    if len(header) > total_chars // 10:
        header = ""

    suffix = suffix_window(after, chars_for_tokens(settings.prompt_tokens * suffix_share))
    prefix_chars = min(
        chars_for_tokens(settings.prompt_tokens * prefix_share),
        total_chars - len(header) - len(suffix),
    )
    prefix = prefix_window(before, prefix_chars)
    spare = total_chars - len(prefix) - len(suffix) - len(header)

    snippets: list[str] = []
    candidates = [o for o in others if o.uri != doc.uri and o.text.strip()]
    if settings.other_documents and style is not None and candidates and spare > 0:
        ranked = rank_snippets(cursor_context(before, after), candidates, index)
        snippets = select_snippets(ranked, style, spare)
    return CompletionInput(prefix="".join(snippets) + header + prefix, suffix=suffix)
