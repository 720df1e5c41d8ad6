"""The terminal's `WorkspaceHost`: the current directory is the workspace, the user approves
each edit with y/n, and an approved edit is written to disk (atomically) — in a terminal
there is no editor buffer to send it to."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trust_lsp.files import write_text_atomically


class TerminalHost:
    """Tools in `trust chat` see the workspace through this host."""

    def __init__(self, root: Path, read_line: Callable[[str], str]) -> None:
        self._roots = (root.resolve(),)
        self._read_line = read_line

    @property
    def roots(self) -> Sequence[Path]:
        return self._roots

    def document_text(self, path: Path) -> str | None:
        return None  # no open buffers: tools read the disk

    def open_documents(self) -> list[Path]:
        return []

    def diagnostics(self, path: Path | None = None) -> list[dict[str, Any]]:
        return []

    async def request_approval(self, title: str, detail: str) -> bool:
        print(f"\n{title}\n{detail}", file=sys.stderr, flush=True)
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(None, self._read_line, "apply this edit? [y/N] ")
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    async def apply_edit(self, path: Path, new_text: str) -> tuple[bool, str | None]:
        return await asyncio.to_thread(write_atomically, path, new_text)


def write_atomically(path: Path, text: str) -> tuple[bool, str | None]:
    """Write the file; (written, reason it could not be) for the tool result."""
    try:
        write_text_atomically(path, text)
    except OSError as exc:
        return False, f"could not write {path}: {exc.strerror or exc}"
    return True, None
