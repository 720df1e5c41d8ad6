"""Where an action's code goes (table-driven)."""

from __future__ import annotations

import pytest

from trust_lsp.features.actions.catalog import ActionKind
from trust_lsp.features.actions.placement import (
    FileInsert,
    TextChange,
    UnusableAnswerError,
    check_rewrite,
    is_documentation,
    path_of_tests_for,
    place_action_code,
    python_module_name,
    reindent,
    replace_selection,
)

SOURCE = "class A:\n    def f(self):\n        return 1 +\n\nx = 2\n"
METHOD_START = SOURCE.index("    def f")
METHOD_END = SOURCE.index("\nx = 2") - 0


def apply(text: str, change: TextChange) -> str:
    return text[: change.start] + change.text + text[change.end :]


@pytest.mark.parametrize(
    ("start", "code"),
    [
        (METHOD_START, "def f(self):\n    return 1 + 1"),  # dedented answer: re-indented
        (SOURCE.index("def f"), "def f(self):\n    return 1 + 1\n"),  # selection after indent
        (METHOD_START, "    def f(self):\n        return 1 + 1"),  # already indented
        (METHOD_START + 2, "def f(self):\n    return 1 + 1"),  # starts inside the indent
    ],
)
def test_replace_selection_reindents(start: int, code: str) -> None:
    end = SOURCE.index("\n\nx") + 1
    result = apply(SOURCE, replace_selection(SOURCE, start, end, code))
    assert result == "class A:\n    def f(self):\n        return 1 + 1\n\nx = 2\n"


def test_replace_selection_keeps_missing_trailing_newline() -> None:
    text = "y = foo(1)"
    change = replace_selection(text, 4, 10, "bar(1)\n")
    assert apply(text, change) == "y = bar(1)"


def test_reindent_leaves_blank_lines_empty() -> None:
    assert reindent("a\n\n  b", "  ", first_line_indented=True) == "  a\n\n    b"


def test_documentation_as_whole_code_replaces_the_selection() -> None:
    start = SOURCE.index("    def f")
    end = SOURCE.index("\n\nx") + 1
    code = 'def f(self):\n    """One."""\n    return 1 +'
    placed = place_action_code(ActionKind.DOCUMENT, SOURCE, start, end, code)
    assert isinstance(placed, TextChange)
    assert '        """One."""\n' in apply(SOURCE, placed)


def test_documentation_docstring_only_goes_below_the_def_line() -> None:
    start = SOURCE.index("def f")
    end = SOURCE.index("\n\nx") + 1
    placed = place_action_code(ActionKind.DOCUMENT, SOURCE, start, end, '"""One."""')
    assert isinstance(placed, TextChange)
    assert apply(SOURCE, placed).startswith(
        'class A:\n    def f(self):\n        """One."""\n        return 1 +'
    )


def test_documentation_comment_goes_above_the_selection() -> None:
    text = "let x = 1;\nfunction f() {}\n"
    start = text.index("function")
    placed = place_action_code(ActionKind.DOCUMENT, text, start, len(text), "// Does f.")
    assert isinstance(placed, TextChange)
    assert apply(text, placed) == "let x = 1;\n// Does f.\nfunction f() {}\n"


def test_documentation_that_is_code_is_refused() -> None:
    start = SOURCE.index("def f")
    with pytest.raises(UnusableAnswerError):
        place_action_code(ActionKind.DOCUMENT, SOURCE, start, len(SOURCE), "x = 1\ny = 2")


@pytest.mark.parametrize(
    ("selected", "code", "ok"),
    [
        ("def average(v):\n    pass", "def average(v):\n    return 1", True),
        ("def average(v):\n    pass", "def fibonacci(n):\n    return n", False),
        ("x = 1 +", "x = 1 + 1", True),  # nothing defined: nothing to check
        ("class Foo:\n    pass", "class Foo:\n    x = 1", True),
    ],
)
def test_check_rewrite(selected: str, code: str, ok: bool) -> None:
    if ok:
        check_rewrite(selected, code)
    else:
        with pytest.raises(UnusableAnswerError):
            check_rewrite(selected, code)


def test_unchanged_answer_is_refused() -> None:
    start, end = SOURCE.index("    def f"), SOURCE.index("\n\nx") + 1
    with pytest.raises(UnusableAnswerError):
        place_action_code(ActionKind.REFACTOR, SOURCE, start, end, "def f(self):\n    return 1 +\n")


def test_tests_go_to_a_tests_file_or_the_end() -> None:
    code = "def test_f():\n    assert True"
    created = place_action_code(
        ActionKind.TESTS, SOURCE, 0, 5, code, path="/r/pkg/m.py", root="/r", can_create_files=True
    )
    assert created == FileInsert("/r/tests/test_m.py", code + "\n", None)
    appended = place_action_code(
        ActionKind.TESTS,
        SOURCE,
        0,
        5,
        code,
        path="/r/pkg/m.py",
        root="/r",
        existing_tests="import m\n",
    )
    assert appended == FileInsert("/r/tests/test_m.py", "\n\n\n" + code + "\n", "import m\n")
    in_place = place_action_code(ActionKind.TESTS, SOURCE, 0, 5, code, path="/r/pkg/m.py")
    assert isinstance(in_place, TextChange)
    assert apply(SOURCE, in_place) == SOURCE + "\n\n" + code + "\n"


@pytest.mark.parametrize(
    ("path", "root", "module"),
    [
        ("/r/pkg/m.py", "/r", "pkg.m"),
        ("/r/src/pkg/m.py", "/r", "pkg.m"),
        ("/r/pkg/__init__.py", "/r", "pkg"),
        ("/elsewhere/m.py", "/r", "m"),
        ("/r/m.js", "/r", None),
    ],
)
def test_python_module_name(path: str, root: str, module: str | None) -> None:
    assert python_module_name(path, root) == module


def test_path_of_tests_for() -> None:
    assert path_of_tests_for("/r/a/b.py", "/r") == "/r/tests/test_b.py"
    assert path_of_tests_for("/r/test_b.py", "/r") == "/r/tests/test_b.py"


@pytest.mark.parametrize(
    ("code", "doc"),
    [("# a\n# b", True), ('"""Doc."""', True), ("/**\n * x\n */", True), ("x = 1", False)],
)
def test_is_documentation(code: str, doc: bool) -> None:
    assert is_documentation(code) is doc
