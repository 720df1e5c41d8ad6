"""Table tests for every post-processing step and the whole pipeline."""

from __future__ import annotations

import pytest

from trust_lsp.features.completion import postprocess as pp
from trust_lsp.features.completion.postprocess import CursorContext, MultilineSetting
from trust_lsp.features.completion.types import Suggestion


@pytest.mark.parametrize(
    ("prefix", "suffix", "setting", "expected"),
    [
        ("x = foo", "bar\n", "auto", "none"),  # right before an identifier
        ("x = ", "_y\n", "auto", "none"),
        ("print(", ", x)\n", "auto", "single"),  # mid-line before other text
        ("x = ", "\n", "auto", "single"),  # end of a statement line
        ("x = ", "", "auto", "single"),  # end of file
        ("foo(", ")\n", "auto", "multi"),  # line opens a bracket, only closers after
        ('print("', '")\n', "auto", "single"),  # inside auto-closed quotes
        ("def f():", "\n", "auto", "multi"),  # opens a block
        ("if x {", "}\n", "auto", "multi"),
        ("def f():\n    ", "\n", "auto", "multi"),  # blank line: empty block
        ("", "", "auto", "multi"),  # empty document
        ("# explain this:", "\n", "auto", "single"),  # comment line
        ("x = ", "\n", "always", "multi"),
        ("def f():", "\n", "never", "single"),
        ("x = foo", "bar\n", "always", "none"),
        ("print(", ", x)\n", "always", "single"),
    ],
)
def test_completion_mode(
    prefix: str, suffix: str, setting: MultilineSetting, expected: str
) -> None:
    assert pp.completion_mode(prefix, suffix, setting) == expected


@pytest.mark.parametrize(
    ("mode", "language", "expected"),
    [
        ("single", "python", ("\n",)),
        ("multi", "python", ("\n\n\n", "\ndef ", "\nclass ", "\nif __name__")),
        ("multi", "plaintext", ("\n\n\n",)),
        ("multi", "go", ("\n\n\n", "\nfunc ", "\ntype ")),
    ],
)
def test_stop_sequences(mode: pp.Mode, language: str, expected: tuple[str, ...]) -> None:
    stops = pp.stop_sequences(mode, language)
    assert stops == expected
    assert len(stops) <= 4  # the most an OpenAI-compatible server accepts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<|fim_middle|>return x", "return x"),
        ("<fim_middle><fim_middle>x", "x"),
        ("<MID> x", " x"),
        ("return <|fim_middle|>", "return <|fim_middle|>"),  # only at the start
        ("plain", "plain"),
    ],
)
def test_strip_leading_tokens(text: str, expected: str) -> None:
    assert pp.strip_leading_tokens(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("return a + b<|endoftext|>garbage", "return a + b"),
        ("x = 1<|file_sep|>other.py", "x = 1"),
        ("x<EOT>", "x"),
        ("x<end_of_turn>\n<start_of_turn>user", "x"),
        ("x<eos>", "x"),
        ("a<file_sep>b", "a"),
        ("a<|im_end|>", "a"),
        ("a<｜end▁of▁sentence｜>", "a"),
        ("a<|fim_suffix|>b<|fim_middle|>", "a"),
        ("no tokens", "no tokens"),
        ("", ""),
    ],
)
def test_cut_at_end_tokens(text: str, expected: str) -> None:
    assert pp.cut_at_end_tokens(text) == expected


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("a\nb", ("\n",), "a"),
        ("a\n\n\nb", ("\n\n\n",), "a"),
        ("body\ndef g():", ("\n\n\n", "\ndef "), "body"),
        ("xSTOPyEND", ("END", "STOP"), "x"),  # the earliest stop wins
        ("abc", (), "abc"),
        ("abc", ("",), "abc"),
    ],
)
def test_cut_at_stops(text: str, stops: tuple[str, ...], expected: str) -> None:
    assert pp.cut_at_stops(text, stops) == expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("```python\nx = 1\n```", "python", "x = 1\n```"),
        ("```\nx = 1", "python", "x = 1"),
        ("  ```ts\nlet a", "typescript", "let a"),
        ("```c++\nint", "cpp", "int"),
        ("```", "python", ""),
        ("x = 1", "python", "x = 1"),
        ("```python and more", "python", "```python and more"),  # not a fence line
        ("```python\nx", "markdown", "```python\nx"),  # fences are content in markdown
    ],
)
def test_strip_opening_fence(text: str, language: str, expected: str) -> None:
    assert pp.strip_opening_fence(text, language) == expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("x = 1\n```\nmore prose", "python", "x = 1"),
        ("x = 1\n  ```", "python", "x = 1"),
        ("```", "python", ""),
        ("s = '```'", "python", "s = '```'"),  # not at a line start
        ("a\n```", "markdown", "a\n```"),
    ],
)
def test_cut_at_closing_fence(text: str, language: str, expected: str) -> None:
    assert pp.cut_at_closing_fence(text, language) == expected


@pytest.mark.parametrize(
    ("text", "prefix", "expected"),
    [
        (" 1", "x = ", "1"),
        ("\t1", "x =\t", "1"),
        (" 1", "x =", " 1"),
        ("  return x", "def f():\n  ", "  return x"),  # the rest of the indentation
        ("  return x", "def f():\n", "  return x"),
        ("\n    return x", "def f(): ", "\n    return x"),  # a line break is kept
    ],
)
def test_strip_duplicate_space(text: str, prefix: str, expected: str) -> None:
    assert pp.strip_duplicate_space(text, prefix) == expected


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        # The model wrote the middle, then went on with the text that follows the cursor.
        ("a + b\n    return result\n", "\n    return result\n", "a + b\n    "),
        ("compute(x)\nprint(total_amount)", "\nprint(total_amount)", "compute(x)\n"),
        # Output shorter than the probe, but all of it is the suffix's start.
        ("total = 1\nprint(total_a", "\nprint(total_amount)", "total = 1\n"),
        ("total = 1\nprint(tot", "\nprint(total_amount)", "total = 1\nprint(tot"),  # < 10
        ("x)", ")", "x)"),  # short suffixes are left to avoid_closing_duplicates
        ("abc", "", "abc"),
        ("unrelated", "\nsomething else entirely", "unrelated"),
    ],
)
def test_cut_at_suffix_overlap(text: str, suffix: str, expected: str) -> None:
    assert pp.cut_at_suffix_overlap(text, suffix) == expected


@pytest.mark.parametrize(
    ("generated", "existing", "expected"),
    [
        ("    return total", "return total", True),  # stripped compare for long lines
        ("return totl", "return total", True),  # 1 edit in 12 chars
        ("return x + y", "return x - z", False),  # 2 edits in 12 chars
        ("return self.accumulated_total", "return self.accumulated_totl", True),  # 1 edit
        ("}", "}", True),
        ("  }", "}", False),  # short lines: indentation must match too
        ("", "x", False),
        ("abc", "xyz", False),
    ],
)
def test_lines_match(generated: str, existing: str, expected: bool) -> None:
    assert pp.lines_match(generated, existing) is expected


@pytest.mark.parametrize(
    ("text", "prefix", "suffix", "expected"),
    [
        # The second output line is the next line of the file.
        ("x = 1\n    return x", "def f():\n    ", "\n    return x\n", "x = 1"),
        # The first line, with the text before the cursor, is the next line.
        ("urn x", "def f():\n    ret", "\n    return x\n", ""),
        ("x = 1\ny = 2", "", "\n\n\nz = 3", "x = 1\ny = 2"),
        ("anything", "a", "", "anything"),
        ("a\n}", "if (x) {\n", "\n}", "a"),  # the closing brace already exists
        ("a\n  }", "if (x) {\n", "\n}", "a\n  }"),  # an inner block's brace is kept
    ],
)
def test_cut_at_next_line(text: str, prefix: str, suffix: str, expected: str) -> None:
    ctx = CursorContext(prefix, suffix, "multi")
    assert pp.cut_at_next_line(text, ctx) == expected


@pytest.mark.parametrize(
    ("text", "prefix", "expected"),
    [
        # Python: after the body of the block the cursor's line opened, a line back at the
        # opener's indentation is the next definition: stop.
        ("\n    return 1\ndef g():\n    pass", "def f():", "\n    return 1"),
        # Braces: the closing brace at the opener's indentation is kept, then stop.
        ("\n  return 1;\n}\nint g() {", "int f() {", "\n  return 1;\n}"),
        ("\n    x = 1\n  end\nfoo", "  while x do", "\n    x = 1\n  end"),
        # On a blank line inside a block: siblings go on, a dedent stops.
        ("a = 1\n    b = 2\nc = 3", "def f():\n    ", "a = 1\n    b = 2"),
        ("a\n\n    b", "def f():\n    ", "a\n\n    b"),  # blank lines don't count
        ("one line", "x = ", "one line"),
        # Tabs count as 4 columns.
        ("x\n\ty\nz", "\t", "x\n\ty"),
    ],
)
def test_cut_at_dedent(text: str, prefix: str, expected: str) -> None:
    assert pp.cut_at_dedent(text, CursorContext(prefix, "\n", "multi")) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("self.x = x\nself.x = x\nself.x = x\nself.x = x\n", "self.x = x\n"),
        ("foo foo foo foo foo", "foo "),
        ("a = [0, 0, 0, 0, 0, 0]", "a = [0, 0, 0, 0, 0, 0]"),  # no letter: data, kept
        ("# ----------------", "# ----------------"),
        ("x = 1\nx = 1\nx = 1", "x = 1\nx = 1\nx = 1"),  # three times is not yet a loop
        ("return a + b", "return a + b"),
    ],
)
def test_cut_repetition(text: str, expected: str) -> None:
    assert pp.cut_repetition(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = 1   \ny = 2\t\n\n\n", "x = 1\ny = 2"),
        ("\n    return 1  ", "\n    return 1"),
        ("   ", ""),
        ("a", "a"),
    ],
)
def test_trim_trailing_whitespace(text: str, expected: str) -> None:
    assert pp.trim_trailing_whitespace(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", True), ("  \n\t", True), ("x", False), ("\n  y", False)],
)
def test_is_blank(text: str, expected: bool) -> None:
    assert pp.is_blank(text) is expected


@pytest.mark.parametrize(
    ("text", "prefix", "suffix", "expected"),
    [
        ("x", "a = ", "\n", True),
        (")", "f(", "\n", True),
        ("a b", "x = ", "\n", True),  # 3 characters
        ("a + b", "x = ", "\n", False),
        ("None", "return ", "\n", False),
        ("rn", "    retu", "\n", False),  # finishes the word being typed
        ("rn", "    retu", ")\n", False),  # closers after the cursor are fine
        ("rn", "    retu", " x\n", True),  # mid-line: not the end of the line
        ("n;", "    retu", "\n", True),  # not a word
        ("_x", "a", "\n", False),
    ],
)
def test_is_trivial(text: str, prefix: str, suffix: str, expected: bool) -> None:
    assert pp.is_trivial(text, CursorContext(prefix, suffix)) is expected


@pytest.mark.parametrize(
    ("text", "prefix", "expected"),
    [
        ("import os", "import os\n", True),
        ("os", "import os\nimport ", True),
        ("sys", "import os\nimport ", False),
        ("}", "  }\n", False),  # too short to judge
        ("x = 1", "x = 1\n\n   \n", True),  # blank lines in between are skipped
        ("x = 1", "", False),
    ],
)
def test_repeats_line_above(text: str, prefix: str, expected: bool) -> None:
    assert pp.repeats_line_above(text, CursorContext(prefix, "")) is expected


@pytest.mark.parametrize(
    ("text", "line_after", "expected"),
    [
        ("a, b)", ")", Suggestion("a, b")),  # the existing ) completes it
        ('hello")', '")', Suggestion("hello")),
        ('hello"', '")', Suggestion("hello")),
        ("f(x)", ")", Suggestion("f(x)")),  # balanced: its own ) is needed
        ("f(x))", ")", Suggestion("f(x)")),
        ('hello");', '")', Suggestion('hello");', replace_chars=2)),  # replaces `")`
        ("x]", "])", Suggestion("x")),
        ("x", ")", Suggestion("x")),
        ("a, b)", ") + 1", Suggestion("a, b)")),  # not only closers after the cursor
        ("abc", "", Suggestion("abc")),
        ("\n  a,\n  b\n)", ")", Suggestion("\n  a,\n  b\n")),
        ("'a', 'b'", "'", Suggestion("'a', 'b'")),  # quotes balanced: keep
    ],
)
def test_avoid_closing_duplicates(text: str, line_after: str, expected: Suggestion) -> None:
    assert pp.avoid_closing_duplicates(text, line_after) == expected


def _ctx(prefix: str, suffix: str, language: str = "python") -> CursorContext:
    mode = pp.completion_mode(prefix, suffix)
    return CursorContext(prefix, suffix, mode, language, pp.stop_sequences(mode, language))


@pytest.mark.parametrize(
    ("raw", "prefix", "suffix", "expected"),
    [
        ("a + b\nprint(x)", "def add(a, b):\n    return ", "\n", Suggestion("a + b")),
        ("<|fim_middle|>a + b<|endoftext|>", "    return ", "\n", Suggestion("a + b")),
        ("```python\nreturn a + b\n```", "def f(a, b):\n    ", "\n", Suggestion("return a + b")),
        (
            "\n    total = sum(xs)\n    return total\n\ndef other():\n    pass",
            "def f(xs):",
            "\n",
            Suggestion("\n    total = sum(xs)\n    return total"),
        ),
        ("a, b)", "print(", ")\n", Suggestion("a, b")),
        ("x", "a = ", "\n", None),  # trivial
        ("   \n", "a = ", "\n", None),  # blank
        ("anything", "x = foo", "bar\n", None),  # mid-word: no completion
        ("import os", "import os\n", "\n", None),  # repeats the line above
        ("foo foo foo foo foo foo", "x = ", "\n", None),  # repetition cut to "foo": trivial
        ("return x", "def f(x):\n    ", "\n    return x\n", None),  # repeats the next line
        ("the middle", "s = '", "'\n", Suggestion("the middle")),
        ("éàü ünïcode 😀'", "s = '", "'\n", Suggestion("éàü ünïcode 😀")),
    ],
)
def test_postprocess(raw: str, prefix: str, suffix: str, expected: Suggestion | None) -> None:
    assert pp.postprocess(raw, _ctx(prefix, suffix)) == expected


@pytest.mark.parametrize(
    ("raw", "prefix", "suffix", "expected"),
    [
        ("a + b", "x = ", "\n", False),  # no line break yet
        ("a + b\n", "x = ", "\n", True),  # single line: the first line break ends it
        ("\n    return 1\n", "def f():", "\n", False),  # the block may go on
        ("\n    return 1\ndef g", "def f():", "\n", False),  # last line incomplete
        ("\n    return 1\ndef g():\n", "def f():", "\n", True),  # dedent: done
        ("\n    x = 1\n    return x\n", "def f():", "\n    return x\n", True),  # next line
        ("x<|endoftext|>\n", "def f():", "\n", True),
    ],
)
def test_is_finished(raw: str, prefix: str, suffix: str, expected: bool) -> None:
    assert pp.is_finished(raw, _ctx(prefix, suffix)) is expected


def test_none_mode_is_always_finished() -> None:
    assert pp.is_finished("", CursorContext("a", "b", "none")) is True
    assert pp.postprocess("text", CursorContext("a", "b", "none")) is None


@pytest.mark.parametrize(
    ("raw", "mode", "expected"),
    [
        ("a = 1\nb = sum(range(1, n", "multi", "a = 1"),  # half a statement dropped
        ("a = 1\nb = 2\n", "multi", "a = 1\nb = 2\n"),  # ends at a line end: complete
        ("b = sum(range(1, n", "multi", "b = sum(range(1, n"),  # one line: kept
        ("\nb = sum(range(1, n", "multi", "\nb = sum(range(1, n"),  # nothing before it
        ("a = 1\nb = sum(range(1, n", "single", "a = 1\nb = sum(range(1, n"),
    ],
)
def test_drop_unfinished_line_after_the_token_limit(raw: str, mode: str, expected: str) -> None:
    ctx = CursorContext("def f():\n    ", "\n", mode)  # type: ignore[arg-type]
    assert pp.drop_unfinished_line(raw, ctx) == expected
