"""The prompt of a chat turn, within a token budget (pure).

What goes in, most important first: the user's prompt (always, shortened only if it alone
exceeds the budget), the selection, the workspace roots and the list of open files, the
newest turns of the history, then an excerpt of the current file around the selection.
Older turns that do not fit are dropped (the model is told how many).

Tokens are estimated from characters (about 4 per token for code and English): the budget
is a guard against overflowing the model's context, not an exact count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from trust_lsp.backends.base import Message
from trust_lsp.features.chat.sessions import Turn

CHARS_PER_TOKEN = 4
MAX_LISTED_FILES = 40
# Shares of the budget left after the prompt.
SELECTION_SHARE = 0.4
HISTORY_SHARE = 0.6

CHAT_SYSTEM_PROMPT = (
    "You are Trust, a coding assistant inside the user's editor. Answer precisely and "
    "briefly. Put code in fenced blocks with the language name. When the workspace "
    "context below is relevant, use it; do not invent files or APIs you have not seen."
)
INTERRUPTED_NOTE = "\n\n[this answer was interrupted]"


def estimate_tokens(text: str) -> int:
    """Rough token count of `text`."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


@dataclass(frozen=True, slots=True)
class WorkspaceContext:
    """What the editor knows at the time of the question."""

    roots: Sequence[str] = ()
    open_files: Sequence[str] = ()
    current_path: str | None = None
    language: str = ""
    text: str | None = None  # the current file's text
    selection: tuple[int, int] | None = None  # offsets into `text`
    selection_lines: tuple[int, int] | None = None  # 1-based, for the model's reference


@dataclass(frozen=True, slots=True)
class BuiltPrompt:
    messages: list[Message]
    tokens: int
    dropped_turns: int
    history_turns: int = 0
    notes: list[str] = field(default_factory=list)


def _clip(text: str, max_tokens: int) -> str:
    limit = max(0, max_tokens) * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + "\n…"


def excerpt_around(text: str, start: int, end: int, max_tokens: int) -> str:
    """Whole lines of `text` around [start, end) within `max_tokens` (centered)."""
    limit = max_tokens * CHARS_PER_TOKEN
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    middle = (start + end) // 2
    lo = max(0, middle - limit // 2)
    hi = min(len(text), lo + limit)
    lo = max(0, hi - limit)
    # Snap to whole lines inside the window.
    if lo > 0:
        nl = text.find("\n", lo, hi)
        lo = nl + 1 if nl != -1 else lo
    if hi < len(text):
        nl = text.rfind("\n", lo, hi)
        hi = nl if nl > lo else hi
    return text[lo:hi]


def _context_block(ctx: WorkspaceContext, selection_budget: int) -> tuple[str, str]:
    """(workspace summary, selection block)."""
    lines: list[str] = []
    if ctx.roots:
        lines.append("Workspace roots: " + ", ".join(ctx.roots))
    if ctx.open_files:
        shown = list(ctx.open_files)[:MAX_LISTED_FILES]
        more = len(ctx.open_files) - len(shown)
        listing = "\n".join(f"- {p}" for p in shown)
        if more > 0:
            listing += f"\n- … and {more} more"
        lines.append("Open files:\n" + listing)
    if ctx.current_path:
        lines.append(f"Current file: {ctx.current_path} ({ctx.language or 'plain text'})")
    selection = ""
    if ctx.text is not None and ctx.selection and ctx.selection[0] != ctx.selection[1]:
        start, end = ctx.selection
        where = ""
        if ctx.selection_lines:
            where = f" (lines {ctx.selection_lines[0]}-{ctx.selection_lines[1]})"
        code = _clip(ctx.text[start:end], selection_budget)
        selection = f"Selected code{where}:\n```{ctx.language}\n{code}\n```"
    return "\n".join(lines), selection


def build_chat_messages(
    prompt: str,
    *,
    history: Sequence[Turn] = (),
    context: WorkspaceContext | None = None,
    budget_tokens: int,
    system: str = CHAT_SYSTEM_PROMPT,
) -> BuiltPrompt:
    """The messages of one chat turn, within `budget_tokens` (see the module docstring)."""
    remaining = budget_tokens - estimate_tokens(system)
    prompt = _clip(prompt, max(remaining, 64))
    remaining -= estimate_tokens(prompt)

    summary, selection = ("", "")
    if context is not None:
        summary, selection = _context_block(context, int(max(remaining, 0) * SELECTION_SHARE))
        remaining -= estimate_tokens(summary) + estimate_tokens(selection)

    # Newest turns first, within the history share of what is left.
    history_budget = int(max(remaining, 0) * HISTORY_SHARE)
    kept: list[Turn] = []
    used = 0
    for turn in reversed(history):
        cost = estimate_tokens(turn.user) + estimate_tokens(turn.assistant) + 8
        if used + cost > history_budget:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    dropped = len(history) - len(kept)
    remaining -= used

    excerpt = ""
    if context is not None and context.text and remaining > 64:
        start, end = context.selection or (0, 0)
        body = excerpt_around(context.text, start, end, remaining - 16)
        if body.strip():
            whole = len(body) == len(context.text)
            label = "Current file" if whole else "Excerpt of the current file"
            excerpt = f"{label}:\n```{context.language}\n{body}\n```"
            remaining -= estimate_tokens(excerpt)

    notes: list[str] = []
    if dropped:
        notes.append(f"({dropped} earlier turns of this conversation were left out)")
    system_parts = [system]
    for block in (summary, excerpt, selection, *notes):
        if block:
            system_parts.append(block)
    messages = [Message(role="system", content="\n\n".join(system_parts))]
    for turn in kept:
        messages.append(Message(role="user", content=turn.user))
        answer = turn.assistant + (INTERRUPTED_NOTE if turn.interrupted else "")
        messages.append(Message(role="assistant", content=answer))
    messages.append(Message(role="user", content=prompt))
    tokens = sum(estimate_tokens(m.content) for m in messages)
    return BuiltPrompt(messages, tokens, dropped, len(kept), notes)
