"""Classic completion items and argument validation (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from pygls.exceptions import JsonRpcInvalidParams

from trust_lsp.features.completion.types import Suggestion
from trust_lsp.server import args
from trust_lsp.server.actions import kind_allowed
from trust_lsp.server.completion import classic_item, replace_end


@pytest.mark.parametrize(
    ("text", "offset", "suggestion", "start", "end", "new_text"),
    [
        ("x = ret", 7, Suggestion("urn 1"), 4, 7, "return 1"),
        ("x = ", 4, Suggestion("42"), 4, 4, "42"),
        ("f(a)\n", 2, Suggestion("bc", replace_chars=1), 2, 3, "bc"),
        ("f(\n)", 2, Suggestion("x)", replace_chars=5), 2, 2, "x)"),  # never past the line
        ("é_ok", 4, Suggestion("ay"), 0, 4, "é_okay"),
    ],
)
def test_classic_item(
    text: str, offset: int, suggestion: Suggestion, start: int, end: int, new_text: str
) -> None:
    item = classic_item(text, offset, suggestion)
    assert (item.start, item.end, item.new_text) == (start, end, new_text)
    assert item.label == new_text.strip().splitlines()[0]


def test_long_labels_are_shortened() -> None:
    item = classic_item("", 0, Suggestion("x" * 100))
    assert item.label.endswith("…") and len(item.label) == 61


def test_replace_end_stops_at_the_line_end() -> None:
    assert replace_end("ab\r\ncd", 1, 10) == 2


@pytest.mark.parametrize(
    ("kind", "only", "allowed"),
    [
        ("quickfix.trust", None, True),
        ("quickfix.trust", ["quickfix"], True),
        ("refactor.rewrite.trust", ["refactor"], True),
        ("refactor.trust", ["refactor.rewrite"], False),
        ("refactor.trust", ["quickfix"], False),
        ("quickfix.trust", [""], True),
        ("quickfixer", ["quickfix"], False),
    ],
)
def test_kind_allowed(kind: str, only: list[str] | None, allowed: bool) -> None:
    assert kind_allowed(kind, only) is allowed


@pytest.mark.parametrize(
    "arguments",
    [None, [], [1], [{}, {}], ["x"]],
)
def test_single_object_rejects_other_shapes(arguments: list[Any] | None) -> None:
    with pytest.raises(JsonRpcInvalidParams):
        args.single_object("trust.chat", arguments)


@pytest.mark.parametrize(
    "value",
    [
        {"start": {"line": 0, "character": 0}},
        {"start": {"line": 0, "character": 0}, "end": {"line": -1, "character": 0}},
        {"start": {"line": True, "character": 0}, "end": {"line": 0, "character": 0}},
        "0:0-1:1",
    ],
)
def test_optional_range_rejects_bad_ranges(value: object) -> None:
    with pytest.raises(JsonRpcInvalidParams):
        args.optional_range("trust.chat", {"range": value})


def test_optional_range_round_trip() -> None:
    rng = {"start": {"line": 1, "character": 2}, "end": {"line": 3, "character": 4}}
    parsed = args.optional_range("trust.chat", {"range": rng})
    assert parsed is not None and args.range_json(parsed) == rng
