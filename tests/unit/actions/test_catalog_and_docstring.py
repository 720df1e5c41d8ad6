"""Action listing, prompts and docstrings by completion (pure)."""

from __future__ import annotations

import pytest

from trust_lsp.features.actions.catalog import (
    EDIT_KINDS,
    ActionContext,
    ActionKind,
    available_actions,
    build_edit_messages,
    diagnostic_title,
)
from trust_lsp.features.actions.docstring import docstring_from_completion, docstring_site


def test_available_actions() -> None:
    assert available_actions(True, []) == []
    assert available_actions(True, ["x"]) == [ActionKind.FIX_DIAGNOSTIC]
    listed = available_actions(False, ["x", "y"])
    assert listed[:2] == [ActionKind.FIX_DIAGNOSTIC, ActionKind.FIX_DIAGNOSTIC]
    assert len(listed) == 8


def test_diagnostic_title_is_one_short_line() -> None:
    assert diagnostic_title("bad\n  thing") == "Ask Trust: Fix 'bad thing'"
    long = diagnostic_title("x" * 200)
    assert long.endswith("…'") and len(long) < 110


@pytest.mark.parametrize("kind", sorted(EDIT_KINDS))
def test_edit_prompts_carry_the_selection_and_the_task(kind: ActionKind) -> None:
    ctx = ActionContext(
        code="def f():\n    pass",
        language="python",
        path="/r/m.py",
        before="import os",
        diagnostics=["unused import"],
        module="m",
    )
    system, user = build_edit_messages(kind, ctx)
    assert system.role == "system" and "fenced code block" in system.content
    assert "```python\ndef f():\n    pass\n```" in user.content
    assert "import os" in user.content
    if kind in (ActionKind.FIX, ActionKind.FIX_DIAGNOSTIC):
        assert "unused import" in user.content
    if kind is ActionKind.TESTS:
        assert "`m`" in user.content


def test_explain_is_not_an_edit() -> None:
    with pytest.raises(ValueError):
        build_edit_messages(ActionKind.EXPLAIN, ActionContext(code="x", language="python"))


SOURCE = "import os\n\n\nclass Box:\n    def size(self):\n        return 1\n"


@pytest.mark.parametrize(
    ("start_at", "language", "offset", "indent"),
    [
        ("class Box", "python", SOURCE.index("    def size"), "    "),
        ("    def size", "python", SOURCE.index("        return"), "        "),
        ("\n\nclass", "python", SOURCE.index("    def size"), "    "),  # leading blank lines
    ],
)
def test_docstring_site(start_at: str, language: str, offset: int, indent: str) -> None:
    site = docstring_site(SOURCE, SOURCE.index(start_at), len(SOURCE), language)
    assert site is not None
    assert (site.offset, site.indent) == (offset, indent)
    assert site.prefix.endswith(indent + '"""') and SOURCE.startswith(
        site.prefix[: -3 - len(indent)]
    )
    assert site.suffix == SOURCE[offset:]


@pytest.mark.parametrize(
    ("text", "start", "language"),
    [
        (SOURCE, SOURCE.index("import"), "python"),  # not a definition
        (SOURCE, SOURCE.index("class"), "javascript"),
        ('def f():\n    """Doc."""\n    pass\n', 0, "python"),  # already documented
        ("def f(): pass", 0, "python"),  # one-liner without a body line
    ],
)
def test_no_docstring_site(text: str, start: int, language: str) -> None:
    assert docstring_site(text, start, len(text), language) is None


@pytest.mark.parametrize(
    ("raw", "docstring"),
    [
        ("Return the size.", '    """Return the size."""\n'),
        ('Return the size."""\n    return 1', '    """Return the size."""\n'),
        (
            "\n    Return the size.\n\n    Args:\n        x: y.\n    ",
            '    """Return the size.\n\n    Args:\n        x: y.\n    """\n',
        ),
        ("Return it.\n    return 1", '    """Return it."""\n'),  # code after the text: cut
        ("", None),
        ("   ", None),
        ("42", None),
    ],
)
def test_docstring_from_completion(raw: str, docstring: str | None) -> None:
    assert docstring_from_completion(raw, "    ") == docstring
