"""What the workspace tools need from the editor.

The LSP server implements this protocol on top of the client connection (open buffers,
published diagnostics, `window/showMessageRequest`, `workspace/applyEdit`); the CLI has a
terminal version. Tools never write to disk themselves: every edit goes through
`apply_edit`, so the editor keeps undo history and dirty buffers consistent.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["WorkspaceHost"]


@runtime_checkable
class WorkspaceHost(Protocol):
    """The editor side of the workspace tools."""

    @property
    def roots(self) -> Sequence[Path]:
        """The workspace roots (absolute paths). Tools are confined to them."""
        ...

    def document_text(self, path: Path) -> str | None:
        """The open buffer's text for `path`, or None when the document is not open."""
        ...

    def open_documents(self) -> list[Path]:
        """Paths of the documents open in the editor."""
        ...

    def diagnostics(self, path: Path | None = None) -> list[dict[str, Any]]:
        """Diagnostics the editor published (keys: path, line, severity, message).

        With `path` None: the diagnostics of every document.
        """
        ...

    async def request_approval(self, title: str, detail: str) -> bool:
        """Ask the user (e.g. `window/showMessageRequest`); True when they approve."""
        ...

    async def apply_edit(self, path: Path, new_text: str) -> tuple[bool, str | None]:
        """Replace the whole file through `workspace/applyEdit`.

        Returns (applied, failure reason). Creating a file that does not exist yet is the
        host's job too (a `CreateFile` operation before the text edit).
        """
        ...
