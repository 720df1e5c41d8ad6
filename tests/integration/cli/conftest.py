"""Run `trust` as a user would: a subprocess with its own config home and environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.ollama_server import OllamaTestServer

TRUST = [sys.executable, "-m", "trust_lsp.cli"]


@dataclass
class CliEnv:
    """Where a CLI run lives: a home, a workspace, and the environment."""

    home: Path
    workspace: Path
    env: dict[str, str]

    def run(
        self, *args: str, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TRUST, *args],
            cwd=self.workspace,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*TRUST, *args],
            cwd=self.workspace,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )


def base_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TRUST_", "OLLAMA_")) or key == "TRUST_REQUIRE_ALL"
    }
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
            "TRUST_SERVER__PREHEAT": "false",
        }
    )
    env.update(extra or {})
    return env


@pytest.fixture
def cli(tmp_path: Path, ollama_server: OllamaTestServer) -> Iterator[CliEnv]:
    """`trust` against the Ollama test server only (no model is loaded)."""
    home = tmp_path / "home"
    workspace = tmp_path / "ws"
    home.mkdir()
    workspace.mkdir()
    env = base_env(
        home,
        {
            "TRUST_BACKENDS__OLLAMA__URL": ollama_server.url,
            "TRUST_FALLBACK__ORDER": '["ollama"]',
        },
    )
    yield CliEnv(home, workspace, env)


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]
