"""A `WorkspaceHost` for tests: open buffers, diagnostics, scripted approval, recorded edits.

Like a real editor, `apply_edit` does not save: the new text lands in the open buffer (or,
for a file that is not open, in `edits` only). Tests check the disk to prove that the tools
never write behind the editor's back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Approver = Callable[[str, str], Awaitable[bool]]


@dataclass
class FakeHost:
    root_paths: list[Path]
    buffers: dict[Path, str] = field(default_factory=dict)
    published: list[dict[str, Any]] = field(default_factory=list)
    approve: bool | Approver = True
    apply_ok: bool = True
    apply_reason: str | None = None
    approvals: list[tuple[str, str]] = field(default_factory=list)
    edits: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def roots(self) -> Sequence[Path]:
        return self.root_paths

    def document_text(self, path: Path) -> str | None:
        return self.buffers.get(path)

    def open_documents(self) -> list[Path]:
        return list(self.buffers)

    def diagnostics(self, path: Path | None = None) -> list[dict[str, Any]]:
        return [d for d in self.published if path is None or Path(d["path"]) == path]

    async def request_approval(self, title: str, detail: str) -> bool:
        self.approvals.append((title, detail))
        if isinstance(self.approve, bool):
            return self.approve
        return await self.approve(title, detail)

    async def apply_edit(self, path: Path, new_text: str) -> tuple[bool, str | None]:
        if not self.apply_ok:
            return False, self.apply_reason
        self.edits.append((path, new_text))
        if path in self.buffers:
            self.buffers[path] = new_text
        return True, None
