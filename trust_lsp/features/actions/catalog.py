"""The "Ask Trust" actions: titles, what each asks the model, and its prompt (pure).

Listing actions never calls a model: `available_actions` only looks at the selection and
the diagnostics in range. The prompt is built when the action is resolved (edits) or run
(`trust.ask`, for Explain and Custom prompt).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from trust_lsp.backends.base import Message


class ActionKind(StrEnum):
    EXPLAIN = "explain"
    FIX = "fix"
    REFACTOR = "refactor"
    DOCUMENT = "document"
    TESTS = "tests"
    CUSTOM = "custom"
    FIX_DIAGNOSTIC = "fixDiagnostic"


TITLES: dict[ActionKind, str] = {
    ActionKind.EXPLAIN: "Ask Trust: Explain",
    ActionKind.FIX: "Ask Trust: Fix",
    ActionKind.REFACTOR: "Ask Trust: Refactor",
    ActionKind.DOCUMENT: "Ask Trust: Add documentation",
    ActionKind.TESTS: "Ask Trust: Write tests",
    ActionKind.CUSTOM: "Ask Trust: Custom prompt",
}

# Actions that produce an edit (resolved in codeAction/resolve); the others run trust.ask.
EDIT_KINDS = frozenset(
    {
        ActionKind.FIX,
        ActionKind.REFACTOR,
        ActionKind.DOCUMENT,
        ActionKind.TESTS,
        ActionKind.FIX_DIAGNOSTIC,
    }
)
SELECTION_KINDS = (
    ActionKind.EXPLAIN,
    ActionKind.FIX,
    ActionKind.REFACTOR,
    ActionKind.DOCUMENT,
    ActionKind.TESTS,
    ActionKind.CUSTOM,
)
# Long diagnostic messages make unreadable menu titles.
_MAX_TITLE_MESSAGE = 80

EXPLAIN_PROMPT = "Explain what this code does, step by step, and point out anything surprising."

_INSTRUCTIONS: dict[ActionKind, str] = {
    ActionKind.FIX: (
        "Fix the bugs in the selected code. Keep its behaviour otherwise, its names and "
        "its style. Return the corrected selected code only."
    ),
    ActionKind.REFACTOR: (
        "Refactor the selected code for clarity and simplicity without changing its "
        "behaviour. Return the refactored selected code only."
    ),
    ActionKind.DOCUMENT: (
        "Add documentation to the selected code: docstrings or doc comments in the "
        "language's usual style, and brief comments where the code is not obvious. "
        "Return the selected code with the documentation added and otherwise unchanged."
    ),
    ActionKind.TESTS: (
        "Write unit tests for the selected code with the language's usual test framework "
        "(pytest for Python). Return only the test code, with the imports it needs."
    ),
}

EDIT_SYSTEM_PROMPT = (
    "You are Trust, a careful coding assistant inside the user's editor. You answer with "
    "code only: exactly one fenced code block, no explanation before or after it."
)


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What the prompt of an action may use."""

    code: str
    language: str
    path: str | None = None
    before: str = ""  # text just before the selection (for context only)
    after: str = ""  # text just after it
    diagnostics: Sequence[str] = ()
    module: str | None = None  # import name of the file, for tests


def diagnostic_title(message: str) -> str:
    """'Ask Trust: Fix '<message>'' with the message on one line and shortened."""
    one_line = " ".join(message.split())
    if len(one_line) > _MAX_TITLE_MESSAGE:
        one_line = one_line[: _MAX_TITLE_MESSAGE - 1].rstrip() + "…"
    return f"Ask Trust: Fix '{one_line}'"


def available_actions(selection_empty: bool, diagnostics: Sequence[str]) -> list[ActionKind]:
    """The actions to list: one quick fix per diagnostic, the selection actions if any."""
    kinds: list[ActionKind] = [ActionKind.FIX_DIAGNOSTIC for _ in diagnostics]
    if not selection_empty:
        kinds.extend(SELECTION_KINDS)
    return kinds


def instruction_for(kind: ActionKind, diagnostics: Sequence[str] = ()) -> str:
    """The task text of an edit action."""
    if kind is ActionKind.FIX_DIAGNOSTIC:
        listed = "\n".join(f"- {d}" for d in diagnostics) or "- (no message)"
        return (
            "Fix the problem the editor reports in the selected code:\n"
            f"{listed}\nChange as little as possible. Return the corrected selected code only."
        )
    if kind is ActionKind.FIX and diagnostics:
        listed = "\n".join(f"- {d}" for d in diagnostics)
        return f"{_INSTRUCTIONS[kind]}\nThe editor reports:\n{listed}"
    return _INSTRUCTIONS[kind]


def build_edit_messages(kind: ActionKind, ctx: ActionContext) -> list[Message]:
    """The chat messages of an edit action (Fix, Refactor, Documentation, Tests, quick fix)."""
    if kind not in EDIT_KINDS:
        raise ValueError(f"{kind} does not produce an edit")
    lang = ctx.language or ""
    parts: list[str] = []
    if ctx.path:
        parts.append(f"File: {ctx.path} ({lang or 'plain text'})")
    if kind is ActionKind.TESTS and ctx.module:
        parts.append(f"Import the code under test from the module `{ctx.module}`.")
    if ctx.before.strip():
        parts.append(
            f"Code before the selection (context, do not repeat it):\n```{lang}\n{ctx.before}\n```"
        )
    parts.append(f"Selected code:\n```{lang}\n{ctx.code}\n```")
    if ctx.after.strip():
        parts.append(
            f"Code after the selection (context, do not repeat it):\n```{lang}\n{ctx.after}\n```"
        )
    parts.append(instruction_for(kind, ctx.diagnostics))
    return [
        Message(role="system", content=EDIT_SYSTEM_PROMPT),
        Message(role="user", content="\n\n".join(parts)),
    ]
