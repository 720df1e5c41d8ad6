"""Shared test set-up. Fixtures live in plugin modules under tests/fakes/."""

from __future__ import annotations

import os
import shutil

import pytest

pytest_plugins = [
    "tests.fakes.ollama_fixtures",
    "tests.fakes.model_fixtures",
    "tests.fakes.lsp_fixtures",
]


def require_tool(name: str, why: str) -> str:
    """Return the tool's path; skip loudly when it is missing, fail under TRUST_REQUIRE_ALL."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed: {why} (install it, or run .ci/run)"
    if os.environ.get("TRUST_REQUIRE_ALL") == "1":
        pytest.fail(message)
    pytest.skip(message)
