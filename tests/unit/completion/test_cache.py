"""The completion cache: hits, type-through, divergence, TTL, LRU eviction."""

from __future__ import annotations

import pytest

from tests.unit.completion.fakes import ManualClock
from trust_lsp.features.completion.cache import (
    PREFIX_KEY_CHARS,
    CompletionCache,
    CursorKey,
    continue_suggestions,
)
from trust_lsp.features.completion.types import Suggestion

URI = "file:///w/a.py"
LONG = "x = 1\n" * 100  # longer than the key window


def make(size: int = 8, clock: ManualClock | None = None) -> CompletionCache:
    return CompletionCache(lambda: size, ttl_s=300, clock=clock or ManualClock())


@pytest.mark.parametrize("head", ["", "short\n", LONG])
@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", [Suggestion("print(total)", 0)]),  # exact position
        ("p", [Suggestion("rint(total)", 0)]),
        ("print(tot", [Suggestion("al)", 0)]),
        ("print(total)", None),  # all of it typed: nothing left to offer → miss
        ("pr1", None),  # diverged
        ("x", None),
    ],
)
def test_type_through(head: str, typed: str, expected: list[Suggestion] | None) -> None:
    cache = make()
    suffix = "\n\nmore()\n"
    cache.put(CursorKey.of(URI, head + "result = ", suffix), [Suggestion("print(total)")])
    assert cache.get(URI, head + "result = " + typed, suffix) == expected


def test_type_through_keeps_replace_chars() -> None:
    cache = make()
    cache.put(CursorKey.of(URI, LONG + "f(", ")"), [Suggestion("a, b)", replace_chars=1)])
    assert cache.get(URI, LONG + "f(a", ")") == [Suggestion(", b)", replace_chars=1)]


def test_miss_on_other_document_or_changed_suffix() -> None:
    cache = make()
    cache.put(CursorKey.of(URI, LONG + "a = ", "\n"), [Suggestion("value")])
    assert cache.get("file:///other.py", LONG + "a = ", "\n") is None
    assert cache.get(URI, LONG + "a = ", "\nchanged below") is None
    assert cache.get(URI, LONG + "b = ", "\n") is None


def test_entry_at_document_start_does_not_match_the_same_text_further_down() -> None:
    cache = make()
    cache.put(CursorKey.of(URI, "import ", "\n"), [Suggestion("os")])
    assert cache.get(URI, "import ", "\n") == [Suggestion("os")]
    assert cache.get(URI, "x = 1\nimport ", "\n") is None
    assert cache.get(URI, "import o", "\n") == [Suggestion("s")]


def test_empty_result_is_cached_for_the_exact_position_only() -> None:
    cache = make()
    cache.put(CursorKey.of(URI, LONG, "\n"), [])
    assert cache.get(URI, LONG, "\n") == []
    assert cache.get(URI, LONG + "a", "\n") is None


def test_ttl_expires_entries() -> None:
    clock = ManualClock()
    cache = make(clock=clock)
    cache.put(CursorKey.of(URI, LONG, "\n"), [Suggestion("value")])
    clock.now += 299
    assert cache.get(URI, LONG, "\n") == [Suggestion("value")]
    assert cache.get(URI, LONG + "v", "\n") == [Suggestion("alue")]
    clock.now += 2
    assert cache.get(URI, LONG, "\n") is None
    assert cache.get(URI, LONG + "v", "\n") is None
    assert len(cache) == 0


def test_lru_evicts_the_least_recently_used() -> None:
    cache = make(size=2)
    keys = [CursorKey.of(URI, LONG + f"k{i} = ", "\n") for i in range(3)]
    cache.put(keys[0], [Suggestion("zero")])
    cache.put(keys[1], [Suggestion("one")])
    assert cache.get(URI, LONG + "k0 = ", "\n") == [Suggestion("zero")]  # 0 is now recent
    cache.put(keys[2], [Suggestion("two")])
    assert len(cache) == 2
    assert cache.get(URI, LONG + "k1 = ", "\n") is None
    assert cache.get(URI, LONG + "k0 = ", "\n") == [Suggestion("zero")]
    assert cache.get(URI, LONG + "k2 = ", "\n") == [Suggestion("two")]


def test_type_through_hit_also_refreshes_lru_order() -> None:
    cache = make(size=2)
    cache.put(CursorKey.of(URI, LONG + "a = ", "\n"), [Suggestion("alpha")])
    cache.put(CursorKey.of(URI, LONG + "b = ", "\n"), [Suggestion("beta")])
    assert cache.get(URI, LONG + "a = al", "\n") == [Suggestion("pha")]
    cache.put(CursorKey.of(URI, LONG + "c = ", "\n"), [Suggestion("gamma")])
    assert cache.get(URI, LONG + "a = ", "\n") == [Suggestion("alpha")]
    assert cache.get(URI, LONG + "b = ", "\n") is None


def test_size_zero_disables_and_size_is_read_live() -> None:
    size = 0
    cache = CompletionCache(lambda: size, clock=ManualClock())
    cache.put(CursorKey.of(URI, LONG, "\n"), [Suggestion("x")])
    assert len(cache) == 0
    size = 1
    cache.put(CursorKey.of(URI, LONG, "\n"), [Suggestion("x")])
    assert len(cache) == 1


def test_evict_and_clear() -> None:
    cache = make()
    cache.put(CursorKey.of(URI, LONG, "\n"), [Suggestion("a")])
    cache.put(CursorKey.of("file:///b", LONG, "\n"), [Suggestion("b")])
    cache.evict(URI)
    assert cache.get(URI, LONG, "\n") is None
    assert cache.get("file:///b", LONG, "\n") == [Suggestion("b")]
    cache.clear()
    assert len(cache) == 0


def test_newest_matching_entry_wins() -> None:
    cache = make()
    cache.put(CursorKey.of(URI, LONG + "a = ", "\n"), [Suggestion("old_value")])
    cache.put(CursorKey.of(URI, LONG + "a = o", "\n"), [Suggestion("ther")])
    assert cache.get(URI, LONG + "a = o", "\n") == [Suggestion("ther")]  # exact beats typed


def test_key_window() -> None:
    key = CursorKey.of(URI, "p" * (PREFIX_KEY_CHARS + 10), "s" * 100)
    assert len(key.prefix_tail) == PREFIX_KEY_CHARS
    assert not key.at_start
    assert CursorKey.of(URI, "short", "").at_start


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", [Suggestion("abc"), Suggestion("abd")]),
        ("ab", [Suggestion("c"), Suggestion("d")]),
        ("abc", []),
        ("abd", []),
    ],
)
def test_continue_suggestions(typed: str, expected: list[Suggestion]) -> None:
    assert continue_suggestions([Suggestion("abc"), Suggestion("abd")], typed) == expected
