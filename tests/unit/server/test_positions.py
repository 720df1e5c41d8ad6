"""LSP positions ↔ Python offsets in every encoding (table-driven)."""

from __future__ import annotations

import pytest

from trust_lsp.server.positions import (
    UTF8,
    UTF16,
    UTF32,
    LineIndex,
    PositionError,
    column_to_index,
    offset_at,
    position_at,
    units_of,
)

TEXT = 'a = "😀"\nb = "世界"\r\nc\rd'


@pytest.mark.parametrize(
    ("text", "encoding", "units"),
    [
        ("abc", UTF16, 3),
        ("😀", UTF16, 2),
        ("😀", UTF8, 4),
        ("😀", UTF32, 1),
        ("世界", UTF16, 2),
        ("世界", UTF8, 6),
        ("é", UTF8, 2),
        ("", UTF16, 0),
    ],
)
def test_units_of(text: str, encoding: str, units: int) -> None:
    assert units_of(text, encoding) == units


@pytest.mark.parametrize(
    ("line", "character", "encoding", "offset"),
    [
        (0, 0, UTF16, 0),
        (0, 5, UTF16, 5),  # before the emoji
        (0, 7, UTF16, 6),  # after the emoji (2 UTF-16 units)
        (0, 6, UTF16, 5),  # inside the surrogate pair: back to the emoji's start
        (0, 9, UTF8, 6),  # after the emoji (4 UTF-8 bytes)
        (0, 6, UTF32, 6),
        (0, 8, UTF16, 7),  # the closing quote's end: end of line 0
        (0, 99, UTF16, 7),  # past the line's end: clamped (LSP says so)
        (1, 6, UTF16, 14),  # after 世
        (1, 11, UTF8, 15),  # after 界 (3 bytes each)
        (2, 0, UTF16, 18),  # after "\r\n"
        (2, 1, UTF16, 19),
        (3, 0, UTF16, 20),  # after a lone "\r"
        (3, 1, UTF16, 21),
    ],
)
def test_offset(line: int, character: int, encoding: str, offset: int) -> None:
    assert offset_at(TEXT, line, character, encoding) == offset


@pytest.mark.parametrize(("line", "character"), [(4, 0), (99, 0), (-1, 0), (0, -1)])
def test_positions_outside_the_document_are_errors(line: int, character: int) -> None:
    with pytest.raises(PositionError):
        offset_at(TEXT, line, character)


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
def test_round_trip_at_every_code_point(encoding: str) -> None:
    index = LineIndex.of(TEXT)
    for offset in range(len(TEXT) + 1):
        if offset > 0 and TEXT[offset - 1] == "\r" and TEXT[offset : offset + 1] == "\n":
            continue  # between "\r" and "\n": not a position of its own
        line, character = index.position(offset, encoding)
        assert index.offset(line, character, encoding) == offset


def test_trailing_newline_has_an_empty_last_line() -> None:
    index = LineIndex.of("a\n")
    assert index.line_count == 2
    assert index.offset(1, 0) == 2
    assert position_at("a\n", 2) == (1, 0)


def test_form_feed_and_line_separator_are_not_line_breaks() -> None:
    # str.splitlines() breaks at these; LSP does not.
    text = "a\x0cb\u2028c\nd"
    assert LineIndex.of(text).line_count == 2
    assert offset_at(text, 1, 0) == 6


def test_column_to_index_ascii_fast_path_clamps() -> None:
    assert column_to_index("abc", 10) == 3
