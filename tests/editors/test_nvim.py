"""The Neovim plugin end to end: headless Neovim, the real trust-lsp, the Ollama test server.

Each scenario is a Lua script in tests/editors/nvim/ run by `nvim --headless -u NONE`; it
drives a child Neovim over RPC (keys typed as a user would) and exits non-zero when a check
fails. Its output is shown when it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool
from tests.editors.helpers import trust_lsp_command
from tests.fakes.ollama_server import OllamaTestServer

pytestmark = pytest.mark.editor

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPTS = HERE / "nvim"
TIMEOUT_S = 120


def run_lua(
    script: str, server: OllamaTestServer, tmp_path: Path, data: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """Run one Lua scenario; kill its whole process group if it hangs."""
    nvim = require_tool("nvim", "the Neovim plugin's tests drive a headless Neovim")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / ".git").mkdir()  # a workspace root for the plugin
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUST_", "OLLAMA_"))}
    env.update(
        TRUST_TEST_REPO=str(REPO),
        TRUST_TEST_LSP=trust_lsp_command(),
        TRUST_TEST_OLLAMA=server.url,
        TRUST_TEST_WORKDIR=str(workdir),
        TRUST_TEST_DATA=json.dumps(data),
        # Keep the user's config files and Neovim state out of the test.
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_DATA_HOME=str(tmp_path / "data"),
    )
    command = [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n"]
    command += ["-c", f"luafile {SCRIPTS / script}"]
    proc = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out += f"\n[killed after {TIMEOUT_S} s]"
    finally:
        # The child nvim and trust-lsp are in the same session: leave nothing behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    logs = sorted((tmp_path / "cache").rglob("*.log")) + sorted((tmp_path / "state").rglob("*.log"))
    for log in logs:
        out += f"\n--- {log.name} (tail) ---\n" + "\n".join(
            log.read_text(errors="replace").splitlines()[-40:]
        )
    return subprocess.CompletedProcess(command, proc.returncode, out, "")


def assert_passed(result: subprocess.CompletedProcess[str]) -> None:
    print(result.stdout)  # the checks that ran, shown with -rP / -s
    if result.returncode == 0 and "\nSKIP: " in "\n" + result.stdout:
        pytest.skip(result.stdout.split("SKIP: ", 1)[1].splitlines()[0])
    assert result.returncode == 0, f"Lua test failed (exit {result.returncode}):\n{result.stdout}"
    assert " passed, 0 failed" in result.stdout, result.stdout


def test_ghost_text_shows_the_servers_completion_and_accepts_it(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.script_generate(["a + b"] * 50)
    result = run_lua("test_ghost_text.lua", ollama_server, tmp_path, {"expected_ghost": "a + b"})
    assert_passed(result)
    assert ollama_server.requests_to("/api/generate"), "completions came from the test server"


def test_ghost_text_uses_native_inline_completion_when_neovim_has_it(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.script_generate(["a + b"] * 50)
    assert_passed(run_lua("test_ghost_native.lua", ollama_server, tmp_path, {"native": True}))


def test_multiline_ghost_text_uses_virt_lines(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    body = "\n    total = 0\n    for x in xs:\n        total += x\n    return total"
    ollama_server.script_generate([body] * 20)
    result = run_lua("test_ghost_multiline.lua", ollama_server, tmp_path, {"expected_ghost": body})
    assert_passed(result)


def test_status_and_checkhealth_report_the_server(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    assert_passed(run_lua("test_health_status.lua", ollama_server, tmp_path, {}))


def test_chat_streams_the_answer_in_order_and_stops(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    reply = "Hello! This answer streams in **order**,\nword by word, into the chat buffer."
    long_reply = " ".join(f"word{i}" for i in range(400))
    ollama_server.token_delay_s = 0.03
    short_reply = "Short answer."
    ollama_server.script_chat([reply, long_reply, long_reply, short_reply])
    data = {"reply": reply, "long_reply": long_reply, "short_reply": short_reply}
    result = run_lua("test_chat.lua", ollama_server, tmp_path, data)
    assert_passed(result)
    # Stopping closed the stream to the backend (Ollama stops generating).
    ollama_server.wait_for(lambda: len(ollama_server.disconnects) >= 1, timeout=10)


def test_code_action_edit_is_applied(ollama_server: OllamaTestServer, tmp_path: Path) -> None:
    fixed = ["def add(a, b):", "    return a + b"]
    explanation = "It adds two numbers."
    ollama_server.script_chat(["```python\n" + "\n".join(fixed) + "\n```", explanation])
    result = run_lua(
        "test_code_action.lua",
        ollama_server,
        tmp_path,
        {"fixed_lines": fixed, "explanation": explanation},
    )
    assert_passed(result)
