"""Config files: paths, reading (including malformed TOML), load_config, config set."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from trust_lsp.config import (
    Layer,
    load_config,
    read_config_file,
    user_config_path,
    workspace_config_path,
    write_config_value,
)
from trust_lsp.config.loader import dumps_toml
from trust_lsp.config.schema import canonical_key
from trust_lsp.errors import ValidationError

NO_ENV: dict[str, str] = {}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/trust/config.toml"),
        ({"HOME": "/home/u"}, "/home/u/.config/trust/config.toml"),
        ({"XDG_CONFIG_HOME": "", "HOME": "/home/u"}, "/home/u/.config/trust/config.toml"),
        # A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
        ({"XDG_CONFIG_HOME": "rel", "HOME": "/home/u"}, "/home/u/.config/trust/config.toml"),
    ],
)
def test_user_config_path(env: dict[str, str], expected: str) -> None:
    assert user_config_path(env) == Path(expected)


def test_workspace_config_path() -> None:
    assert workspace_config_path(Path("/w")) == Path("/w/.trust/config.toml")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_read_missing_file_is_an_empty_layer(tmp_path: Path) -> None:
    assert read_config_file(tmp_path / "nope.toml", Layer.USER) == ({}, [])


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"[completion\ndebounce_ms = 1\n", "not valid TOML"),
        (b"debounce_ms = = 3\n", "not valid TOML"),
        (b"a = 1\na = 2\n", "not valid TOML"),
        (b"\xff\xfe garbage", "not UTF-8"),
    ],
)
def test_malformed_file_is_an_issue(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    data, [issue] = read_config_file(path, Layer.WORKSPACE)
    assert data == {}
    assert issue.layer is Layer.WORKSPACE
    assert issue.value == str(path)
    assert needle in issue.message
    assert str(path) in str(issue)


def test_unreadable_path_is_an_issue(tmp_path: Path) -> None:
    (tmp_path / "config.toml").mkdir()
    data, [issue] = read_config_file(tmp_path / "config.toml", Layer.USER)
    assert data == {}
    assert "cannot read" in issue.message


def test_load_config_reads_user_and_workspace_files(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    root = tmp_path / "project"
    _write(
        xdg / "trust" / "config.toml",
        '[backends.ollama]\nchat_model = "user-model"\ncompletion_model = "user-fim"\n'
        "[completion]\ndebounce_ms = 50\n",
    )
    _write(
        workspace_config_path(root),
        'backends.ollama.chat_model = "ws-model"\n[trust.fallback]\norder = ["huggingface"]\n',
    )
    store = load_config(root, env={"XDG_CONFIG_HOME": str(xdg)})
    assert store.issues == []
    s = store.settings
    assert s.backends.ollama.chat_model == "ws-model"
    assert s.backends.ollama.completion_model == "user-fim"
    assert s.completion.debounce_ms == 50
    assert s.fallback.order == ["local"]
    assert store.source_of("backends.ollama.chat_model") is Layer.WORKSPACE
    assert store.source_of("backends.ollama.completion_model") is Layer.USER
    assert store.source_of("backends.ollama.url") is Layer.DEFAULT


def test_malformed_workspace_file_does_not_stop_the_rest(tmp_path: Path) -> None:
    user = _write(tmp_path / "user.toml", "[completion]\ndebounce_ms = 50\n")
    root = tmp_path / "project"
    _write(workspace_config_path(root), "[completion\n")
    store = load_config(
        root, env={"TRUST_CHAT__MAX_TOKENS": "8"}, client={"chat.temperature": 1}, user_file=user
    )
    assert store.settings.completion.debounce_ms == 50
    assert store.settings.chat.max_tokens == 8
    assert store.settings.chat.temperature == 1.0
    [issue] = store.issues
    assert issue.layer is Layer.WORKSPACE
    assert "not valid TOML" in str(issue)


def test_invalid_values_in_files_name_the_layer(tmp_path: Path) -> None:
    user = _write(tmp_path / "user.toml", "[completion]\ndebounce_ms = -1\nmax_tokens = 9\n")
    store = load_config(None, env=NO_ENV, user_file=user)
    assert store.settings.completion.max_tokens == 9
    [issue] = store.issues
    assert (issue.key, issue.layer, issue.value) == ("completion.debounce_ms", Layer.USER, -1)


def test_load_config_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("TRUST_COMPLETION__DEBOUNCE_MS", "77")
    monkeypatch.setenv("OLLAMA_HOST", ":12345")
    _write(tmp_path / "trust" / "config.toml", "[chat]\nmax_tokens = 5\n")
    store = load_config()
    assert store.settings.completion.debounce_ms == 77
    assert store.settings.chat.max_tokens == 5
    assert store.settings.backends.ollama.url == "http://127.0.0.1:12345"


# --- trust config set -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "written"),
    [
        ("completion.debounce_ms", "200", 200),
        ("completion.debounce_ms", 200, 200),
        ("completion.temperature", "0.5", 0.5),
        ("completion.enabled", "false", False),
        ("fallback.order", "huggingface,ollama", ["local", "ollama"]),
        ("fallback.order", ["ollama"], ["ollama"]),
        ("backends.ollama.chat_model", "llama3.2:3b", "llama3.2:3b"),
        ("backends.ollama.chat_model", 123, "123"),
        ("backends.ollama.url", 'http://127.0.0.1:1/"odd"\\path', 'http://127.0.0.1:1/"odd"\\path'),
        ("trust.privacy.mode", "allow-cloud", "allow-cloud"),
        ("completion.debounceMs", "5", 5),
    ],
)
def test_write_config_value_round_trip(
    tmp_path: Path, key: str, value: object, written: object
) -> None:
    path = tmp_path / "cfg" / "config.toml"
    assert write_config_value(path, key, value) == written
    store = load_config(None, env=NO_ENV, user_file=path)
    assert store.issues == []
    rows = {k: (v, layer) for k, v, layer in store.explain()}
    assert rows[canonical_key(key)] == (written, Layer.USER)
    assert [name for name in path.parent.iterdir()] == [path]  # no temp file left behind


def test_write_keeps_other_content(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "config.toml",
        '# a comment\n[backends.ollama]\nchat_model = "kept"\n[custom]\nwhen = 1979-05-27\n'
        'list = [1, 2]\n"odd key" = { a = 1 }\n',
    )
    write_config_value(path, "backends.ollama.url", "http://127.0.0.1:7")
    write_config_value(path, "completion.debounce_ms", 20)
    data = tomllib.loads(path.read_text())
    assert data["backends"]["ollama"] == {"chat_model": "kept", "url": "http://127.0.0.1:7"}
    assert data["completion"] == {"debounce_ms": 20}
    assert data["custom"] == {"when": dt.date(1979, 5, 27), "list": [1, 2], "odd key": {"a": 1}}


def test_write_respects_a_trust_wrapper(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.toml", "[trust.completion]\ndebounce_ms = 1\n")
    write_config_value(path, "chat.max_tokens", 3)
    data = tomllib.loads(path.read_text())
    assert data == {"trust": {"completion": {"debounce_ms": 1}, "chat": {"max_tokens": 3}}}


def test_write_none_or_empty_removes_an_optional_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_config_value(path, "backends.local.model_path", "/models/x.gguf")
    assert tomllib.loads(path.read_text())["backends"]["local"]["model_path"] == "/models/x.gguf"
    assert write_config_value(path, "backends.local.model_path", "") is None
    assert tomllib.loads(path.read_text()) == {"backends": {"local": {}}}
    write_config_value(path, "backends.local.n_threads", None)


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("completion.debounce_ms", "-1", "greater than or equal to 0"),
        ("completion.debounce_ms", None, "cannot be empty"),
        ("completion.nope", "1", "unknown setting"),
        ("backends.cloud.api_key", "sk-1", "api_key_env"),
        ("privacy.mode", "open", "'local' or 'allow-cloud'"),
    ],
)
def test_write_rejects_invalid_and_leaves_the_file(
    tmp_path: Path, key: str, value: object, needle: str
) -> None:
    path = _write(tmp_path / "config.toml", "[chat]\nmax_tokens = 1\n")
    with pytest.raises(ValidationError, match=needle) as caught:
        write_config_value(path, key, value)
    assert "sk-1" not in str(caught.value)
    assert path.read_text() == "[chat]\nmax_tokens = 1\n"


def test_write_refuses_to_overwrite_a_malformed_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.toml", "[chat\n")
    with pytest.raises(ValidationError, match="not valid TOML"):
        write_config_value(path, "chat.max_tokens", 2)
    assert path.read_text() == "[chat\n"


# --- the TOML writer --------------------------------------------------------------------------

TOML_CASES: list[dict[str, Any]] = [
    {},
    {"a": 1, "b": -2.5, "c": True, "d": "text"},
    {"s": 'quote " backslash \\ tab \t newline \n bell \x07 del \x7f unicode é ✓'},
    {"top": 1, "t": {"x": 1, "u": {"y": [1, 2], "z": {"deep": "v"}}}, "z": 2},
    {"empty": {}, "also": {"inner": {}}},
    {"key with space": {"dotted.key": "v", "ok-key_1": 0}},
    {"arr": [[1, 2], ["a"], [{"inline": True}]], "tables": [{"a": 1}, {"b": {"c": 2}}]},
    {"when": dt.date(2024, 1, 2), "at": dt.datetime(2024, 1, 2, 3, 4, 5), "t": dt.time(1, 2)},
    {"big": 10**18, "small": 1e-12, "exp": 1e300},
]


@pytest.mark.parametrize("data", TOML_CASES)
def test_dumps_toml_round_trips(data: dict[str, Any]) -> None:
    assert tomllib.loads(dumps_toml(data)) == data


def test_dumps_toml_special_floats() -> None:
    back = tomllib.loads(dumps_toml({"p": math.inf, "n": -math.inf, "q": math.nan}))
    assert back["p"] == math.inf
    assert back["n"] == -math.inf
    assert math.isnan(back["q"])


def test_dumps_toml_is_readable() -> None:
    text = dumps_toml({"completion": {"debounce_ms": 200}, "backends": {"ollama": {"url": "u"}}})
    assert text == '[completion]\ndebounce_ms = 200\n\n[backends.ollama]\nurl = "u"\n'


def test_dumps_toml_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        dumps_toml({"x": object()})
