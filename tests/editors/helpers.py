"""Shared by the editor tests."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import require_tool


def trust_lsp_command() -> str:
    """The trust-lsp next to the running Python (the project's .venv), else on PATH."""
    candidate = Path(sys.executable).parent / "trust-lsp"
    if candidate.exists():
        return str(candidate)
    return require_tool("trust-lsp", "the editor tests run the real server")
