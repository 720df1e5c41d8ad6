"""Emacs + Eglot (the configuration in docs/editors.md) against the real trust-lsp.

Debian 12 has Emacs 28 with Eglot 1.9 (package elpa-eglot): it has no inline completion and no
codeAction/resolve, so the "Ask Trust" edits arrive through the server's `trust.applyAction`
fallback and `workspace/applyEdit`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.editors.helpers import trust_lsp_command
from tests.fakes.ollama_server import OllamaTestServer

pytestmark = pytest.mark.editor

SCRIPT = Path(__file__).resolve().parent / "emacs" / "eglot_check.el"


def test_eglot_connects_applies_an_ask_trust_edit_and_chats(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    emacs = require_tool("emacs", "the Eglot configuration in docs/editors.md is checked")
    ollama_server.script_chat(
        ["```python\ndef add(a, b):\n    return a + b\n```", "Hello from the test server."]
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / ".git").mkdir()  # a project root for project.el
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUST_", "OLLAMA_"))}
    env.update(
        TRUST_TEST_LSP=trust_lsp_command(),
        TRUST_TEST_OLLAMA=ollama_server.url,
        TRUST_TEST_WORKDIR=str(work),
        HOME=str(tmp_path),  # no user init files
    )
    result = subprocess.run(
        [emacs, "--batch", "-l", str(SCRIPT)],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    print(output)
    assert "Cannot open load file" not in output, "Eglot is missing: apt-get install elpa-eglot"
    assert result.returncode == 0, output
    assert " passed, 0 failed" in result.stdout, output
