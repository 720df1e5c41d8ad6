"""Edits proposed by the model go through the editor, after the user's approval.

The tools compute the file's new text; this module asks for approval according to
`tools.write_approval` ("ask": `WorkspaceHost.request_approval` with the file and a short
diff summary; "always": no question; "never": refused) and then hands the new text to
`WorkspaceHost.apply_edit` (`workspace/applyEdit` in the LSP server). Nothing here writes to
disk: the editor applies the edit, so undo and unsaved buffers keep working.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from trust_lsp.errors import ToolExecutionError
from trust_lsp.tools.registry import ToolContext, ToolOutput

__all__ = [
    "DiffSummary",
    "EditDeclinedError",
    "diff_summary",
    "propose_edit",
    "replace_exact",
]

PREVIEW_LINES = 12


class EditDeclinedError(ToolExecutionError):
    """The edit was not applied: the user declined, policy forbids it, or the editor failed."""

    kind = "declined"


@dataclass(frozen=True, slots=True)
class DiffSummary:
    added: int
    removed: int
    preview: tuple[str, ...]  # the first changed lines, unified-diff style ("+…", "-…")

    @property
    def counts(self) -> str:
        return f"+{self.added} −{self.removed} lines"


def diff_summary(old: str, new: str, *, preview_lines: int = PREVIEW_LINES) -> DiffSummary:
    """Count added/removed lines and keep the first changed lines as a preview."""
    old_lines = old.splitlines()
    new_lines = new.splitlines()
    added = removed = 0
    preview: list[str] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        removed += i2 - i1
        added += j2 - j1
        for line in old_lines[i1:i2]:
            if len(preview) < preview_lines:
                preview.append("-" + _cut(line))
        for line in new_lines[j1:j2]:
            if len(preview) < preview_lines:
                preview.append("+" + _cut(line))
    return DiffSummary(added, removed, tuple(preview))


def replace_exact(text: str, old: str, new: str, *, replace_all: bool = False) -> tuple[str, int]:
    """Replace `old` with `new` in `text`; `old` must occur exactly once unless `replace_all`.

    Returns (new text, replacements). Raises ToolExecutionError with advice for the model
    when `old` is empty, missing or ambiguous.
    """
    if not old:
        raise ToolExecutionError(
            "old_string is empty. To create or overwrite a whole file use write_file; to "
            "edit, give the exact text to replace."
        )
    if old == new:
        raise ToolExecutionError("old_string and new_string are the same: nothing to change.")
    count = text.count(old)
    if count == 0:
        hint = ""
        stripped = old.strip()
        if stripped and stripped in text:
            hint = " The text exists with different leading/trailing whitespace or indentation."
        elif "\r\n" in text and "\n" in old and "\r\n" not in old:
            hint = " The file uses CRLF line endings."
        raise ToolExecutionError(
            "old_string was not found in the file." + hint + " Read the file again and copy "
            "the exact text, including indentation."
        )
    if count > 1 and not replace_all:
        raise ToolExecutionError(
            f"old_string occurs {count} times in the file. Include more surrounding lines to "
            "make it unique, or set replace_all to true to replace every occurrence."
        )
    return text.replace(old, new), count


async def propose_edit(
    context: ToolContext, path: Path, old_text: str | None, new_text: str, *, verb: str
) -> ToolOutput:
    """Ask for approval (per policy) and apply `new_text` to `path` through the editor.

    `old_text` None means the file does not exist yet. Raises EditDeclinedError when the
    edit is refused, declined or fails to apply; the file is then unchanged.
    """
    display = context.sandbox.display(path)
    summary = diff_summary(old_text or "", new_text)
    change = "create" if old_text is None else "edit"
    policy = context.settings.write_approval
    if policy == "never":
        raise EditDeclinedError(
            f'Edits are disabled in this workspace (tools.write_approval is "never"); '
            f"{display} was not changed. Show the user the change in your answer instead."
        )
    if policy == "ask":
        title = f"Trust wants to {change} {display} ({summary.counts}). Apply?"
        detail = "\n".join([f"{display}: {summary.counts}", *summary.preview])
        if summary.added + summary.removed > len(summary.preview):
            detail += "\n…"
        approved = await context.wait_for_user(context.host.request_approval(title, detail))
        if not approved:
            raise EditDeclinedError(
                f"The user declined the {change} of {display}; the file is unchanged. Do not "
                "retry the same edit: explain the change in your answer or ask the user."
            )
    applied, reason = await context.host.apply_edit(path, new_text)
    if not applied:
        raise EditDeclinedError(
            f"The editor could not apply the {change} of {display}"
            + (f": {reason}" if reason else "")
            + ". The file is unchanged."
        )
    return ToolOutput(
        f"{verb} {display} ({summary.counts}).",
        f"{verb.lower()} {display} ({summary.counts})",
    )


def _cut(line: str, limit: int = 160) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"
