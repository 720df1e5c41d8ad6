"""Incremental document sync (pure)."""

from __future__ import annotations

import pytest

from trust_lsp.server.documents import (
    MAX_COMPLETION_CHARS,
    Change,
    Document,
    DocumentStore,
    apply_change,
    uri_to_path,
)
from trust_lsp.server.positions import UTF8, UTF16


@pytest.mark.parametrize(
    ("text", "change", "encoding", "expected"),
    [
        ("hello", Change("HELLO"), UTF16, "HELLO"),
        ("ab\ncd", Change("X", ((1, 1), (1, 1))), UTF16, "ab\ncXd"),
        ("ab\ncd", Change("", ((0, 1), (1, 1))), UTF16, "ad"),
        ('x = "😀"', Change("!", ((0, 7), (0, 7))), UTF16, 'x = "😀!"'),
        ('x = "😀"', Change("!", ((0, 9), (0, 9))), UTF8, 'x = "😀!"'),
        ("a\r\nb", Change("Z", ((1, 0), (1, 1))), UTF16, "a\r\nZ"),
        ("abc", Change("!", ((5, 0), (5, 0))), UTF16, "abc!"),  # outside: clamped to the end
        ("abc", Change("", ((0, 2), (0, 1))), UTF16, "ac"),  # reversed range
    ],
)
def test_apply_change(text: str, change: Change, encoding: str, expected: str) -> None:
    assert apply_change(text, change, encoding) == expected


def test_store_applies_changes_in_order_and_ranks_by_recency() -> None:
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, "one\n")
    store.open("file:///b.py", "python", 1, "two\n")
    store.change(
        "file:///a.py",
        2,
        [Change("1", ((0, 0), (0, 3))), Change("!", ((0, 1), (0, 1)))],
        UTF16,
    )
    doc = store.get("file:///a.py")
    assert doc is not None and doc.text == "1!\n" and doc.version == 2
    assert store.all()[0].uri == "file:///a.py"
    store.close("file:///a.py")
    assert store.get("file:///a.py") is None and len(store) == 1


def test_change_of_an_unknown_document_is_ignored() -> None:
    store = DocumentStore()
    store.change("file:///nope.py", 2, [Change("x")], UTF16)
    assert len(store) == 0


@pytest.mark.parametrize(
    ("text", "refused"),
    [("x = 1\n", False), ("a\x00b", True), ("x" * (MAX_COMPLETION_CHARS + 1), True)],
)
def test_refusal(text: str, refused: bool) -> None:
    doc = Document("file:///x", "python", 1, text, "/x")
    assert (doc.refusal() is not None) is refused


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:///home/u/a%20b.py", "/home/u/a b.py"),
        ("file:///C:/src/x.py", "C:/src/x.py"),
        ("untitled:Untitled-1", None),
    ],
)
def test_uri_to_path(uri: str, path: str | None) -> None:
    assert uri_to_path(uri) == path
