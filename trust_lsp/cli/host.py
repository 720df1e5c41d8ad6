"""The terminal's `WorkspaceHost`: the current directory is the workspace, the user approves
each edit with y/n, and an approved edit is written to disk (atomically) — in a terminal
there is no editor buffer to send it to."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


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
    """Write through a temporary file and a rename, keeping the file's permissions."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as exc:
        return False, f"could not write {path}: {exc.strerror or exc}"
    return True, None
