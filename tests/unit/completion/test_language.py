"""Language facts: comment syntax, aliases, block stops."""

from __future__ import annotations

import pytest

from trust_lsp.features.completion.language import (
    block_stops,
    comment_style,
    normalize_language,
)


@pytest.mark.parametrize(
    ("language", "lines", "expected"),
    [
        ("python", ["a", "", "b"], "# a\n#\n# b\n"),
        ("typescript", ["x"], "// x\n"),
        ("lua", ["x"], "-- x\n"),
        ("html", ["a", "b"], "<!-- a\nb -->\n"),
        ("css", ["a */ b"], "/* a * / b */\n"),  # a closer inside cannot end the comment
        ("py", ["x"], "# x\n"),  # a file extension works too
        ("RUST", ["x"], "// x\n"),
    ],
)
def test_comment_rendering(language: str, lines: list[str], expected: str) -> None:
    style = comment_style(language)
    assert style is not None
    assert style.render(lines) == expected


@pytest.mark.parametrize("language", ["plaintext", "txt", "", "no-such-language"])
def test_unknown_languages_have_no_comment_style(language: str) -> None:
    assert comment_style(language) is None


@pytest.mark.parametrize(
    ("language", "expected"),
    [("py", "python"), (".ts", "typescript"), ("Python", "python"), ("zig", "zig")],
)
def test_normalize_language(language: str, expected: str) -> None:
    assert normalize_language(language) == expected


def test_block_stops_are_at_most_three() -> None:
    assert block_stops("py") == ("\ndef ", "\nclass ", "\nif __name__")
    assert block_stops("plaintext") == ()
    for language in ["python", "go", "rust", "typescript", "javascript", "ruby", "lua"]:
        assert len(block_stops(language)) <= 3
