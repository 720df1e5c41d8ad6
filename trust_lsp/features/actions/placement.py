"""Where an action's code goes (pure): replace the selection, or insert docs/tests.

All offsets are Python string indices into the document text; the server converts them to
LSP positions of the negotiated encoding.

- Fix, Refactor, quick fix: the code replaces the selection, re-indented to the selection's
  indentation (models tend to answer with the block dedented).
- Add documentation: the answer is the selection with docs added → replace the selection;
  an answer that is only a doc comment / docstring (it does not contain the selection's
  first line) is inserted above the selection (a Python docstring: below the `def` line).
- An answer that cannot be the edit asked for raises `UnusableAnswerError`: documentation
  that is code, or a rewrite that lost the name the selection defines (small models
  sometimes rewrite the surrounding context instead of the selection).
- Write tests: for a Python file in a workspace, into `tests/test_<module>.py` under the
  workspace root (created when missing, appended when it exists); otherwise appended to the
  end of the current document.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import PurePath

from trust_lsp.features.actions.catalog import ActionKind


class UnusableAnswerError(ValueError):
    """The model's code cannot be the edit asked for (e.g. it rewrote something else)."""


_DEFINITION = re.compile(
    r"^\s*(?:export\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?"
    r"(?:def|class|function|fn|func|interface|struct|enum|trait|impl)\s+([A-Za-z_]\w*)",
    re.MULTILINE,
)
_DOC_LINE = re.compile(r"^\s*(?:#|//|/\*|\*|--|;|\"\"\"|\'\'\'|$)")


def defined_names(code: str) -> list[str]:
    """Names of the functions/classes/types `code` defines, in order."""
    return _DEFINITION.findall(code)


def check_rewrite(selected: str, code: str) -> None:
    """Refuse an answer that plainly rewrote something else: when the selection defines
    something, the rewrite must still define (or mention) its first name."""
    names = defined_names(selected)
    if names and not re.search(rf"\b{re.escape(names[0])}\b", code):
        raise UnusableAnswerError(f"the answer does not contain `{names[0]}` from the selection")


def is_documentation(code: str) -> bool:
    """True when every line of `code` is a comment or part of a docstring."""
    stripped = code.strip()
    if stripped.startswith(('"""', "'''")) and stripped.endswith(('"""', "'''")):
        return True
    return all(_DOC_LINE.match(line) for line in stripped.splitlines())


@dataclass(frozen=True, slots=True)
class TextChange:
    """Replace [start, end) of the current document with `text`."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class FileInsert:
    """Add `text` to another file: appended when `existing` is not None, created otherwise."""

    path: str
    text: str
    existing: str | None


Placement = TextChange | FileInsert


def line_start(text: str, offset: int) -> int:
    """Offset of the start of the line containing `offset`."""
    return text.rfind("\n", 0, offset) + 1


def indentation_at(text: str, offset: int) -> str:
    """Leading whitespace of the line containing `offset`."""
    start = line_start(text, offset)
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


def reindent(code: str, indent: str, *, first_line_indented: bool) -> str:
    """Dedent `code` and indent every non-blank line with `indent`.

    `first_line_indented` False leaves the first line bare: the selection starts after the
    indentation, which is already in the document.
    """
    lines = textwrap.dedent(code).split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip():
            out.append("")
        elif i == 0 and not first_line_indented:
            out.append(line)
        else:
            out.append(indent + line)
    return "\n".join(out)


def _match_trailing_newline(selected: str, code: str) -> str:
    code = code.rstrip("\n")
    return code + "\n" if selected.endswith("\n") else code


def replace_selection(text: str, start: int, end: int, code: str) -> TextChange:
    """The selection replaced by `code`, re-indented to the selection's indentation."""
    at_line_start = line_start(text, start)
    starts_in_indent = not text[at_line_start:start].strip()
    if starts_in_indent:
        # Replace the whole indentation too: the code brings its own.
        start = at_line_start
    selected = text[start:end]
    lead = 0  # leading blank lines of the selection stay as they are
    while True:
        nl = selected.find("\n", lead)
        if nl == -1 or selected[lead:nl].strip():
            break
        lead = nl + 1
    indent = indentation_at(text, start + lead)
    body = reindent(code.strip("\n"), indent, first_line_indented=starts_in_indent or lead > 0)
    return TextChange(start, end, selected[:lead] + _match_trailing_newline(selected, body))


def insert_above_selection(text: str, start: int, code: str) -> TextChange:
    """`code` as new lines above the selection's first line, at its indentation."""
    at = line_start(text, start)
    indent = indentation_at(text, start)
    body = reindent(code.strip("\n"), indent, first_line_indented=True)
    return TextChange(at, at, body + "\n")


def insert_docstring(text: str, start: int, end: int, code: str) -> TextChange:
    """A Python docstring after the selection's first line (`def …:` / `class …:`)."""
    first_nl = text.find("\n", start, end)
    if first_nl == -1:
        return insert_above_selection(text, start, code)
    at = first_nl + 1
    body_indent = indentation_at(text, at) if text[at:end].strip() else ""
    if len(body_indent) <= len(indentation_at(text, start)):
        body_indent = indentation_at(text, start) + "    "
    body = reindent(code.strip("\n"), body_indent, first_line_indented=True)
    return TextChange(at, at, body + "\n")


def append_to_document(text: str, code: str) -> TextChange:
    """`code` at the end of the document, after one blank line."""
    stripped = text.rstrip("\n")
    separator = "\n\n\n" if stripped else ""
    # Replace only the trailing newlines, so the edit is an insertion at the end.
    return TextChange(len(stripped), len(text), separator + code.strip("\n") + "\n")


def python_module_name(path: str, root: str | None) -> str | None:
    """`pkg.sub.mod` for a Python file under `root`, or the file's stem."""
    p = PurePath(path)
    if p.suffix != ".py":
        return None
    if root is not None:
        try:
            rel = p.relative_to(root)
        except ValueError:
            rel = PurePath(p.name)
    else:
        rel = PurePath(p.name)
    parts = list(rel.with_suffix("").parts)
    if parts and parts[0] in {"src", "lib"} and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or None


def path_of_tests_for(path: str, root: str) -> str:
    """`<root>/tests/test_<stem>.py` for a Python source file."""
    stem = PurePath(path).stem
    name = stem if stem.startswith("test_") else f"test_{stem}"
    return str(PurePath(root) / "tests" / f"{name}.py")


def place_action_code(
    kind: ActionKind,
    text: str,
    start: int,
    end: int,
    code: str,
    *,
    path: str | None = None,
    language: str = "",
    root: str | None = None,
    existing_tests: str | None = None,
    can_create_files: bool = False,
) -> Placement:
    """Where the code of an edit action goes.

    `existing_tests` is the current text of the tests file when it exists (read by the
    caller: from the open buffer or the disk); `can_create_files` says whether the client
    accepts `CreateFile` operations in a workspace edit.
    """
    if kind is ActionKind.TESTS:
        is_python = language == "python" or (path or "").endswith(".py")
        if is_python and path and root and not PurePath(path).stem.startswith("test_"):
            target = path_of_tests_for(path, root)
            if existing_tests is not None:
                sep = "\n\n\n" if existing_tests.strip() else ""
                return FileInsert(target, sep + code.strip("\n") + "\n", existing_tests)
            if can_create_files:
                return FileInsert(target, code.strip("\n") + "\n", None)
        return append_to_document(text, code)
    selected = text[start:end]
    if kind is ActionKind.DOCUMENT:
        first = next((line.strip() for line in selected.splitlines() if line.strip()), "")
        if first and first not in code:
            if not is_documentation(code):
                raise UnusableAnswerError(
                    "the answer is neither the documented selection nor documentation"
                )
            if code.lstrip().startswith(('"""', "'''")) and first.endswith(":"):
                return insert_docstring(text, start, end, code)
            return insert_above_selection(text, start, code)
    check_rewrite(selected, code)
    if _normalized(code) == _normalized(selected):
        raise UnusableAnswerError("the answer leaves the selection unchanged")
    return replace_selection(text, start, end, code)


def _normalized(code: str) -> str:
    return "\n".join(line.rstrip() for line in textwrap.dedent(code).strip("\n").split("\n"))
