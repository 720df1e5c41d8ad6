"""Python docstrings by completion (pure): "Add documentation" on a `def` or `class`.

A docstring has one right place: the first line of the body. Instead of asking a chat model
to rewrite the whole selection, the model completes the text at that place: the prefix ends
with the opening quotes, the suffix is the body that follows (fill-in-the-middle models use
it; the embedded base model continues the prefix, which it does well). The answer is cut at
the closing quotes and inserted as a new docstring; nothing else in the selection changes.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

_HEADER = re.compile(r"^([ \t]*)(?:async[ \t]+)?(?:def|class)[ \t]+\w+.*:[ \t]*(?:#.*)?$")
_QUOTES = '"""'


@dataclass(frozen=True, slots=True)
class DocstringSite:
    """Where a docstring goes: inserted at `offset` (start of the body's first line)."""

    offset: int
    indent: str
    prefix: str  # text before the docstring, ending with the opening quotes
    suffix: str  # text after it


def docstring_site(text: str, start: int, end: int, language: str) -> DocstringSite | None:
    """The docstring site of the definition that starts the selection, if it needs one.

    None when the selection does not start with a one-line `def`/`class` header, when the
    body already starts with a docstring, or when the language is not Python.
    """
    if language != "python":
        return None
    line_start = text.rfind("\n", 0, start) + 1
    # The header is the selection's first non-blank line.
    cursor = line_start
    while cursor < end:
        nl = text.find("\n", cursor)
        line = text[cursor : nl if nl != -1 else len(text)]
        if line.strip():
            break
        if nl == -1:
            return None
        cursor = nl + 1
    nl = text.find("\n", cursor)
    if nl == -1:
        return None
    header = _HEADER.match(text[cursor:nl])
    if header is None:
        return None
    body_start = nl + 1
    body_end = text.find("\n", body_start)
    first_body = text[body_start : body_end if body_end != -1 else len(text)]
    stripped = first_body.strip()
    if stripped.startswith(('"""', "'''", 'r"""', "r'''")):
        return None  # already documented
    header_indent = header.group(1)
    body_indent = first_body[: len(first_body) - len(first_body.lstrip())]
    if len(body_indent) <= len(header_indent):
        body_indent = header_indent + "    "
    prefix = text[:body_start] + body_indent + _QUOTES
    return DocstringSite(body_start, body_indent, prefix, text[body_start:])


def docstring_from_completion(raw: str, indent: str) -> str | None:
    """The docstring to insert (with quotes, indentation and newline) from the model's
    continuation of the opening quotes; None when it wrote no prose."""
    body = raw.split(_QUOTES, 1)[0]
    lines = [line.rstrip() for line in body.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines or not re.search(r"[A-Za-z]{2,}", lines[0]):
        return None
    # Code after the docstring (the model went on into the body): stop at the first line
    # that looks like code rather than documentation.
    kept: list[str] = [lines[0].strip()]
    for line in lines[1:]:
        if re.match(r"^\s*(?:return|if|for|while|def|class|import|from)\b", line):
            break
        kept.append(line)
    while len(kept) > 1 and not kept[-1].strip():
        kept.pop()
    if len(kept) == 1:
        return f"{indent}{_QUOTES}{kept[0]}{_QUOTES}\n"
    # Keep the relative indentation of the following lines (Args: sections and the like).
    rest = textwrap.dedent("\n".join(kept[1:])).split("\n")
    inner = "\n".join(f"{indent}{line}" if line.strip() else "" for line in rest)
    return f"{indent}{_QUOTES}{kept[0]}\n{inner}\n{indent}{_QUOTES}\n"
