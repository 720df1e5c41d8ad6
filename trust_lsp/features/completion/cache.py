"""Recent completions, reusable while the user types along them.

Entries are keyed by document, the tail of the text before the cursor and the head of the
text after it. A lookup at the exact position returns the entry; a lookup after the user
typed characters that match the start of a cached suggestion returns the rest of it
(type-through), so typing along ghost text never asks the model again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from trust_lsp.features.completion.types import Suggestion

PREFIX_KEY_CHARS = 256
SUFFIX_KEY_CHARS = 64
DEFAULT_TTL_S = 300.0


@dataclass(frozen=True, slots=True)
class CursorKey:
    """Where a completion was computed: document, text just before and after the cursor.

    `at_start` is True when `prefix_tail` is the whole text before the cursor (so a
    type-through match must start at the top of the document, too).
    """

    uri: str
    prefix_tail: str
    suffix_head: str
    at_start: bool

    @classmethod
    def of(cls, uri: str, prefix: str, suffix: str) -> CursorKey:
        """The key of a cursor with `prefix` before it and `suffix` after it."""
        return cls(
            uri=uri,
            prefix_tail=prefix[-PREFIX_KEY_CHARS:],
            suffix_head=suffix[:SUFFIX_KEY_CHARS],
            at_start=len(prefix) <= PREFIX_KEY_CHARS,
        )

    def typed_since(self, prefix: str, suffix: str, max_typed: int) -> Iterator[str]:
        """Text typed since this key's position, if `prefix` extends it: candidates, longest
        first ("" when the position is the same).

        `prefix` must hold at least the last PREFIX_KEY_CHARS + max_typed characters before
        the cursor (or everything, near the top of the document).
        """
        if suffix[:SUFFIX_KEY_CHARS] != self.suffix_head:
            return
        anchor = self.prefix_tail
        start = max(0, len(prefix) - len(anchor) - max_typed)
        index = prefix.find(anchor, start)
        while index != -1:
            if not self.at_start or index == 0:
                yield prefix[index + len(anchor) :]
            index = prefix.find(anchor, index + 1)


@dataclass(frozen=True, slots=True)
class _Entry:
    key: CursorKey
    suggestions: tuple[Suggestion, ...]
    created: float


def continue_suggestions(suggestions: Sequence[Suggestion], typed: str) -> list[Suggestion]:
    """The rest of each suggestion that starts with `typed` (and goes on after it)."""
    return [
        Suggestion(s.text[len(typed) :], s.replace_chars)
        for s in suggestions
        if s.text.startswith(typed) and len(s.text) > len(typed)
    ]


class CompletionCache:
    """An LRU of completions with a time-to-live, answering type-through lookups."""

    def __init__(
        self,
        size: Callable[[], int],
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`size` is read on every insertion, so a settings change applies at once."""
        self._size = size
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[CursorKey, _Entry] = OrderedDict()
        self._by_uri: dict[str, dict[CursorKey, None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: CursorKey, suggestions: Sequence[Suggestion]) -> None:
        """Remember the suggestions computed at `key` (an empty list is remembered too)."""
        size = self._size()
        if size <= 0:
            return
        self._remove(key)
        self._entries[key] = _Entry(key, tuple(suggestions), self._clock())
        self._by_uri.setdefault(key.uri, {})[key] = None
        while len(self._entries) > size:
            self._remove(next(iter(self._entries)))

    def get(self, uri: str, prefix: str, suffix: str) -> list[Suggestion] | None:
        """Suggestions for the cursor: exact position, or the rest after text typed along a
        cached suggestion. None on a miss.

        `prefix`/`suffix` may be tails/heads of the document text, as long as `prefix`
        holds at least PREFIX_KEY_CHARS plus the length of the longest suggestion.
        """
        now = self._clock()
        key = CursorKey.of(uri, prefix, suffix)
        # `at_start` is unknown from a tail alone: a prefix longer than the key window is
        # never at the start.
        entry = self._live(key, now)
        if entry is not None:
            self._entries.move_to_end(key)
            return list(entry.suggestions)
        for candidate in reversed(list(self._by_uri.get(uri, ()))):
            entry = self._live(candidate, now)
            if entry is None or not entry.suggestions:
                continue
            longest = max(len(s.text) for s in entry.suggestions)
            for typed in candidate.typed_since(prefix, suffix, longest):
                rest = continue_suggestions(entry.suggestions, typed)
                if typed and rest:
                    self._entries.move_to_end(candidate)
                    return rest
        return None

    def evict(self, uri: str) -> None:
        """Forget every entry of a document (e.g. when it is closed)."""
        for key in list(self._by_uri.get(uri, ())):
            self._remove(key)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self._by_uri.clear()

    def _live(self, key: CursorKey, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now - entry.created > self._ttl_s:
            self._remove(key)
            return None
        return entry

    def _remove(self, key: CursorKey) -> None:
        if self._entries.pop(key, None) is None:
            return
        keys = self._by_uri.get(key.uri)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._by_uri[key.uri]
