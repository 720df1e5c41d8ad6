"""The generated configuration reference: complete, checked, and its example valid."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from trust_lsp.config import Layer, merge_layers
from trust_lsp.config.docs import EXAMPLE_TOML, check, main, render
from trust_lsp.config.schema import env_var_name, settings_fields

REPO = Path(__file__).resolve().parents[3]


def test_reference_names_every_key_with_env_var_and_description() -> None:
    text = render()
    for key, spec in settings_fields().items():
        section, name = key.rsplit(".", 1)
        assert f"### `{section}`" in text
        assert f"| `{name}` |" in text
        assert f"`{env_var_name(key)}`" in text
        assert spec.description.split("|")[0] in text


def test_intro_covers_layers_ollama_host_api_keys_and_files() -> None:
    text = render()
    for needle in [
        "`runtime`",
        "OLLAMA_HOST",
        "api_key_env",
        "~/.config/trust/config.toml",
        ".trust/config.toml",
        "```toml",
    ]:
        assert needle in text


def test_example_toml_is_valid_configuration() -> None:
    result = merge_layers({Layer.USER: tomllib.loads(EXAMPLE_TOML)})
    assert result.issues == []
    assert result.settings.completion.debounce_ms == 200


def test_committed_reference_is_up_to_date() -> None:
    assert check(REPO / "docs" / "configuration.md") is None


def test_check_passes_on_a_freshly_written_file(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "configuration.md"
    assert main(["--write", str(path)]) == 0
    assert main(["--check", str(path)]) == 0


def test_check_fails_on_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "configuration.md"
    path.write_text(render().replace("debounce_ms", "debounce_msec", 1))
    assert main(["--check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "out of date" in err
    assert "make docs" in err
    assert "debounce_msec" in err


def test_check_fails_on_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", str(tmp_path / "none.md")]) == 1
    assert "missing" in capsys.readouterr().err


def test_module_runs_as_a_command(tmp_path: Path) -> None:
    path = tmp_path / "configuration.md"
    path.write_text("stale\n")
    command = [sys.executable, "-m", "trust_lsp.config.docs", "--check", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 1
    assert "out of date" in done.stderr
