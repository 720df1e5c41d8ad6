"""Table tests for prompt building: windows, budgets, header, snippets."""

from __future__ import annotations

import pytest

from trust_lsp.config.settings import CompletionSettings
from trust_lsp.features.completion import context as cx
from trust_lsp.features.completion.language import comment_style
from trust_lsp.features.completion.types import DocumentSnapshot


def doc(
    text: str, *, uri: str = "file:///w/src/main.py", lang: str = "python", path: str | None = None
) -> DocumentSnapshot:
    return DocumentSnapshot(uri=uri, text=text, language_id=lang, version=1, path=path)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("abc", 1), ("abcdefg", 2), ("x" * 35, 10), ("é" * 7, 2)],
)
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert cx.estimate_tokens(text) == tokens


@pytest.mark.parametrize(
    ("before", "max_chars", "expected"),
    [
        ("a\nb\nc", 100, "a\nb\nc"),  # fits
        ("line1\nline2\nab", 9, "line2\nab"),  # cut at the next line start
        ("line1\nline2\nab", 7, "ab"),
        ("line1\nline2\n", 6, "line2\n"),  # window starts right after a newline
        ("a very long current line", 6, "t line"),  # the cursor's line alone is too long
        ("abc", 0, ""),
        ("日本語\n中文字\nx", 6, "中文字\nx"),  # multibyte text is cut by characters
    ],
)
def test_prefix_window(before: str, max_chars: int, expected: str) -> None:
    window = cx.prefix_window(before, max_chars)
    assert window == expected
    assert len(window) <= max(max_chars, 0)
    assert before.endswith(window)


@pytest.mark.parametrize(
    ("after", "max_chars", "expected"),
    [
        ("a\nb", 10, "a\nb"),
        ("rest\nline2\nline3", 12, "rest\nline2"),
        ("rest\nline2\nline3", 10, "rest\nline2"),  # the window ends right before "\n"
        ("one long line here", 4, "one "),
        ("x", 0, ""),
        ("😀😀\n😀😀\n", 4, "😀😀"),
    ],
)
def test_suffix_window(after: str, max_chars: int, expected: str) -> None:
    window = cx.suffix_window(after, max_chars)
    assert window == expected
    assert len(window) <= max_chars
    assert after.startswith(window)


@pytest.mark.parametrize(
    ("path", "language", "expected"),
    [
        ("/home/u/proj/src/app.py", "python", "# Path: proj/src/app.py\n"),
        ("/w/a.ts", "typescript", "// Path: w/a.ts\n"),
        (None, "lua", "-- Language: lua\n"),
        ("/w/page.html", "html", "<!-- Path: w/page.html -->\n"),
        ("/w/notes.txt", "plaintext", ""),  # unknown comment syntax: no header
    ],
)
def test_file_header(path: str | None, language: str, expected: str) -> None:
    assert cx.file_header(path, language, comment_style(language)) == expected


def test_identifiers_are_unicode_aware() -> None:
    assert cx.identifiers("def größe(x, ab, abc, 1abc): return größe_2") == {
        "def",
        "größe",
        "abc",
        "return",
        "größe_2",
    }


def test_document_windows_overlap_and_cover_the_text() -> None:
    text = "\n".join(f"line{i}" for i in range(45))
    windows = cx.document_windows(text, lines_per_window=20, step=10)
    assert [start for start, _ in windows] == [0, 10, 20, 30]
    assert windows[-1][1].endswith("line44")


def test_rank_snippets_prefers_shared_identifiers_and_recency() -> None:
    cursor = "total = compute_invoice_total(invoice_lines)"
    relevant = doc(
        "def compute_invoice_total(invoice_lines):\n    return sum(invoice_lines)\n",
        uri="file:///w/billing.py",
        path="/w/billing.py",
    )
    unrelated = doc("def parse_args():\n    pass\n", uri="file:///w/cli.py", path="/w/cli.py")
    same_again = doc(relevant.text, uri="file:///w/old.py", path="/w/old.py")
    ranked = cx.rank_snippets(cursor, [relevant, unrelated, same_again])
    assert [s.path for s in ranked] == ["/w/billing.py", "/w/old.py"]  # recency breaks the tie
    assert ranked[0].score > ranked[1].score


def test_select_snippets_respects_budget_and_puts_the_best_last() -> None:
    style = comment_style("python")
    assert style is not None
    best = cx.Snippet(path="/w/a.py", text="best()", score=0.9, start_line=0)
    good = cx.Snippet(path="/w/b.py", text="good()", score=0.5, start_line=0)
    overlapping = cx.Snippet(path="/w/a.py", text="overlap()", score=0.8, start_line=10)
    huge = cx.Snippet(path="/w/c.py", text="x" * 500, score=0.7, start_line=0)
    chosen = cx.select_snippets([best, overlapping, huge, good], style, budget_chars=200)
    assert chosen == ["# Path: w/b.py\n# good()\n", "# Path: w/a.py\n# best()\n"]
    assert sum(len(c) for c in chosen) <= 200


@pytest.mark.parametrize(
    ("prefix_share", "suffix_share", "expected"),
    [(0.6, 0.2, (0.6, 0.2)), (1.0, 0.25, (0.8, 0.2)), (1.0, 0.0, (1.0, 0.0))],
)
def test_budget_shares(
    prefix_share: float, suffix_share: float, expected: tuple[float, float]
) -> None:
    settings = CompletionSettings(prefix_share=prefix_share, suffix_share=suffix_share)
    assert cx.budget_shares(settings) == pytest.approx(expected)


def _big_file(lines: int, line: str = "value = compute(value) + 1  # ünïcödé 😀") -> str:
    return "\n".join(f"{line} {i}" for i in range(lines))


@pytest.mark.parametrize("prompt_tokens", [64, 256, 1536, 4096])
@pytest.mark.parametrize(("prefix_share", "suffix_share"), [(0.6, 0.2), (1.0, 0.3), (0.3, 0.7)])
def test_build_prompt_stays_within_budget(
    prompt_tokens: int, prefix_share: float, suffix_share: float
) -> None:
    text = _big_file(2000)
    offset = len(text) // 2
    others = [
        doc(_big_file(300, "other = compute(value)"), uri=f"file:///w/o{i}.py", path=f"/w/o{i}.py")
        for i in range(3)
    ]
    settings = CompletionSettings(
        prompt_tokens=prompt_tokens, prefix_share=prefix_share, suffix_share=suffix_share
    )
    prompt = cx.build_prompt(doc(text, path="/w/src/main.py"), offset, settings, others)
    assert cx.estimate_tokens(prompt.prefix + prompt.suffix) <= prompt_tokens
    # The text right around the cursor is always there, cut at line boundaries.
    assert text[:offset].endswith(prompt.prefix.rsplit("# Path: w/src/main.py\n", 1)[-1])
    assert text[offset:].startswith(prompt.suffix)
    assert prompt.suffix == "" or text[offset + len(prompt.suffix)] == "\n"


def test_build_prompt_small_file_has_header_snippets_and_whole_text() -> None:
    current = doc(
        "from billing import compute_invoice_total\n\ntotal = compute_invoice_total(",
        path="/w/src/main.py",
    )
    other = doc(
        "def compute_invoice_total(invoice_lines):\n    return sum(invoice_lines)\n",
        uri="file:///w/src/billing.py",
        path="/w/src/billing.py",
    )
    prompt = cx.build_prompt(current, len(current.text), CompletionSettings(), [other, current])
    assert prompt.prefix == (
        "# Path: w/src/billing.py\n"
        "# def compute_invoice_total(invoice_lines):\n"
        "#     return sum(invoice_lines)\n"
        "# Path: w/src/main.py\n" + current.text
    )
    assert prompt.suffix == ""


@pytest.mark.parametrize(
    ("other_documents", "language"),
    [(False, "python"), (True, "plaintext")],
)
def test_build_prompt_without_snippets(other_documents: bool, language: str) -> None:
    current = doc("shared_name = 1\n", lang=language, path="/w/a")
    other = doc("shared_name = 2\n", uri="file:///w/b", path="/w/b")
    settings = CompletionSettings(other_documents=other_documents)
    prompt = cx.build_prompt(current, 6, settings, [other])
    assert "shared_name = 2" not in prompt.prefix


def test_build_prompt_clamps_offset() -> None:
    prompt = cx.build_prompt(doc("abc"), 99, CompletionSettings())
    assert prompt.prefix.endswith("abc")
    assert prompt.suffix == ""


def test_window_index_reuses_a_version_and_reindexes_a_new_one() -> None:
    index = cx.WindowIndex(max_documents=2)
    first = doc("alpha_one = 1\n", uri="file:///a")
    windows = index.windows(first)
    assert index.windows(first) is windows
    changed = doc("beta_two = 2\n", uri="file:///a")
    changed = DocumentSnapshot(changed.uri, changed.text, "python", 2, None)
    assert index.windows(changed)[0].identifiers == {"beta_two"}
    index.windows(doc("x = 1\n", uri="file:///b"))
    index.windows(doc("y = 1\n", uri="file:///c"))  # evicts the least recently used
    assert index.windows(changed) is not windows
    index.forget("file:///c")


def test_ranking_with_and_without_index_agree() -> None:
    others = [
        doc("def compute_total(xs):\n    return sum(xs)\n" * 30, uri=f"file:///o{i}", path=f"/o{i}")
        for i in range(3)
    ]
    cursor = "total = compute_total(values)"
    plain = cx.rank_snippets(cursor, others)
    indexed = cx.rank_snippets(cursor, others, cx.WindowIndex())
    assert plain == indexed
    assert plain
