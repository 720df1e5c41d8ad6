"""The VS Code extension: its settings match the server's, and it builds, passes its unit
tests, type-checks and packages into a .vsix (VS Code itself cannot be run here)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from tests.conftest import require_tool
from tests.editors.helpers import trust_lsp_command
from tests.fakes.ollama_server import OllamaTestServer
from trust_lsp.config.settings import Settings

EXTENSION = Path(__file__).resolve().parents[2] / "editors" / "vscode"
PACKAGE_JSON = EXTENSION / "package.json"
CLIENT_ONLY = {"trust.serverPath", "trust.serverArgs", "trust.trace.server"}


def leaves(data: dict[str, Any], prefix: str = "trust.") -> dict[str, Any]:
    """Flatten nested settings into `trust.a.b.c` keys."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def declared() -> dict[str, dict[str, Any]]:
    package = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    props: dict[str, dict[str, Any]] = package["contributes"]["configuration"]["properties"]
    return props


def test_package_json_declares_every_server_setting_with_its_default() -> None:
    expected = leaves(Settings().model_dump(mode="json"))
    props = declared()
    server_keys = {key for key in props if key not in CLIENT_ONLY}
    assert server_keys == set(expected), "package.json and the Settings model list other keys"
    for key, default in expected.items():
        assert props[key]["default"] == default, key


def descriptions(model: type[BaseModel], prefix: str = "trust.") -> dict[str, str | None]:
    """Every leaf setting's description, by `trust.a.b.c` key."""
    out: dict[str, str | None] = {}
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out.update(descriptions(kind, f"{prefix}{name}."))
        else:
            out[prefix + name] = field.description
    return out


def test_package_json_descriptions_and_enums_follow_the_settings_model() -> None:
    props = declared()
    for key, description in descriptions(Settings).items():
        assert props[key]["markdownDescription"] == description, key
    assert props["trust.privacy.mode"]["enum"] == ["local", "allow-cloud"]
    assert props["trust.fallback.order"]["items"]["enum"] == ["ollama", "local", "cloud"]
    assert props["trust.backends.local.model_path"]["type"] == ["string", "null"]


def load_sync_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sync_settings", EXTENSION / "scripts" / "sync_settings.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sync_script_finds_package_json_in_step() -> None:
    script = load_sync_script()
    assert script.differences(script.load_package()) == []


def test_sync_script_reports_a_stale_default() -> None:
    script = load_sync_script()
    package = script.load_package()
    package["contributes"]["configuration"]["properties"]["trust.chat.max_tokens"]["default"] = 1
    assert script.differences(package) == ["trust.chat.max_tokens.default: package.json 1 != 1024"]


def run(command: list[str], timeout: float) -> str:
    """Run in the extension's folder; fail with the output when the command fails."""
    env = {**os.environ, "CI": "true", "NO_UPDATE_NOTIFIER": "1"}
    result = subprocess.run(
        command,
        cwd=EXTENSION,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{output[-6000:]}"
    return output


def assert_node_tests_passed(output: str) -> None:
    """node --test's summary: some tests ran and none failed."""
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    assert passed and int(passed.group(1)) > 0, output[-3000:]
    assert re.search(r"^# fail 0$", output, re.MULTILINE), output[-3000:]


def dependencies_current() -> bool:
    """node_modules installed from the committed lock file (then `npm ci` is skipped)."""
    installed = EXTENSION / "node_modules" / ".package-lock.json"
    lock = EXTENSION / "package-lock.json"
    return installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime


@pytest.mark.editor
def test_extension_builds_passes_its_unit_tests_type_checks_and_packages(tmp_path: Path) -> None:
    require_tool("node", "the VS Code extension is built with Node")
    npm = require_tool("npm", "the VS Code extension's dependencies come from npm")
    npx = require_tool("npx", "the VS Code extension is packaged with vsce")
    if not dependencies_current():
        run([npm, "ci", "--no-audit", "--no-fund"], timeout=600)
    run([npm, "run", "build"], timeout=120)
    tests = run([npm, "test"], timeout=180)
    print(tests[-1500:])
    assert_node_tests_passed(tests)
    run([npx, "tsc", "--noEmit"], timeout=180)
    vsix = tmp_path / "trust-lsp.vsix"
    run(
        [
            npx,
            "vsce",
            "package",
            "--no-dependencies",
            "--allow-missing-repository",
            "-o",
            str(vsix),
        ],
        timeout=300,
    )
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
    for name in ("dist/extension.js", "dist/webview.js", "media/chat.css", "package.json"):
        assert f"extension/{name}" in names, name
    assert not any("node_modules" in n or n.endswith(".ts") for n in names), sorted(names)
    assert manifest["main"] == "./dist/extension.js"
    commands = {c["command"]: c["title"] for c in manifest["contributes"]["commands"]}
    for command in ("openChat", "askAboutSelection", "showStatus", "pull", "newChatSession"):
        assert f"trust.{command}" in commands
    keybound = {k["command"] for k in manifest["contributes"]["keybindings"]}
    assert {"trust.openChat", "trust.askAboutSelection"} <= keybound


@pytest.mark.editor
def test_extension_protocol_logic_against_the_real_server(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    """The panel's and status bar's code paths (test/server/*.integration.ts) over JSON-RPC."""
    require_tool("node", "the VS Code extension's protocol tests run on Node")
    npm = require_tool("npm", "the VS Code extension's dependencies come from npm")
    if not dependencies_current():
        run([npm, "ci", "--no-audit", "--no-fund"], timeout=600)
    reply = "Here you go:\n\n```python\nprint('hi')\n```\n\nThat prints **hi**."
    long_reply = " ".join(f"word{i}" for i in range(300))
    ollama_server.script_generate(["a + b"] * 5)
    ollama_server.script_chat([reply, long_reply])
    ollama_server.token_delay_s = 0.02
    data = {"completion": "a + b", "reply": reply, "longReply": long_reply}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUST_", "OLLAMA_"))}
    env.update(
        TRUST_TEST_LSP=trust_lsp_command(),
        TRUST_TEST_OLLAMA=ollama_server.url,
        TRUST_TEST_WORKDIR=str(tmp_path),
        TRUST_TEST_DATA=json.dumps(data),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    result = subprocess.run(
        [npm, "run", "test:server"],
        cwd=EXTENSION,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout + result.stderr
    print(output[-4000:])
    assert result.returncode == 0, output[-8000:]
    assert_node_tests_passed(output)
    # Stop closed the stream to the backend.
    ollama_server.wait_for(lambda: len(ollama_server.disconnects) >= 1, timeout=10)
