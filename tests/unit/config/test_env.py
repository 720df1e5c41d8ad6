"""The environment layer: TRUST_ variables, type parsing, OLLAMA_HOST."""

from __future__ import annotations

from typing import Any

import pytest

from trust_lsp.config import ConfigStore, Layer, env_layer, load_config, ollama_url_from_host
from trust_lsp.config.schema import env_var_name, parse_text_value, settings_fields


def _env_store(env: dict[str, str]) -> ConfigStore:
    data, issues = env_layer(env)
    return ConfigStore({Layer.ENV: data}, issues={Layer.ENV: issues})


# Each row: variable, value, dotted key, expected effective value.
ENV_TABLE: list[tuple[str, str, str, Any]] = [
    (
        "TRUST_BACKENDS__OLLAMA__URL",
        "http://127.0.0.1:9",
        "backends.ollama.url",
        "http://127.0.0.1:9",
    ),
    ("TRUST_COMPLETION__DEBOUNCE_MS", "200", "completion.debounce_ms", 200),
    ("TRUST_COMPLETION__TEMPERATURE", "0.5", "completion.temperature", 0.5),
    ("TRUST_COMPLETION__ENABLED", "false", "completion.enabled", False),
    ("TRUST_SERVER__PREHEAT", "0", "server.preheat", False),
    ("TRUST_FALLBACK__ORDER", '["local", "ollama"]', "fallback.order", ["local", "ollama"]),
    ("TRUST_FALLBACK__ORDER", "huggingface, ollama", "fallback.order", ["local", "ollama"]),
    ("TRUST_TOOLS__ENABLED", "grep,read_file", "tools.enabled", ["grep", "read_file"]),
    ("TRUST_TOOLS__ENABLED", "[]", "tools.enabled", []),
    # A string setting keeps text that happens to be JSON of another type.
    ("TRUST_BACKENDS__OLLAMA__CHAT_MODEL", "123", "backends.ollama.chat_model", "123"),
    ("TRUST_BACKENDS__OLLAMA__KEEP_ALIVE", "-1", "backends.ollama.keep_alive", "-1"),
    ("TRUST_BACKENDS__OLLAMA__CHAT_MODEL", '"quoted"', "backends.ollama.chat_model", "quoted"),
    ("TRUST_PRIVACY__MODE", "allow-cloud", "privacy.mode", "allow-cloud"),
    ("TRUST_BACKENDS__LOCAL__N_THREADS", "4", "backends.local.n_threads", 4),
    ("trust_chat__max_tokens", "12", "chat.max_tokens", 12),
]


@pytest.mark.parametrize(("name", "value", "key", "expected"), ENV_TABLE)
def test_env_nesting_and_types(name: str, value: str, key: str, expected: Any) -> None:
    store = _env_store({name: value})
    assert store.issues == []
    assert dict((k, v) for k, v, _ in store.explain())[key] == expected
    assert store.source_of(key) is Layer.ENV


def test_every_setting_has_a_working_env_var() -> None:
    for key in settings_fields():
        assert env_var_name(key).startswith("TRUST_")
        data, _ = env_layer({env_var_name(key): "x"})
        assert key in data


@pytest.mark.parametrize(
    "env",
    [
        {"TRUST_CLOUD_API_KEY": "sk-secret"},
        {"TRUST_REQUIRE_ALL": "1"},
        {"PATH": "/bin", "HOME": "/root"},
        {"TRUST_COMPLETION__DEBOUNCE_MS": ""},
        {"TRUST_COMPLETION__DEBOUNCE_MS": "   "},
    ],
)
def test_variables_that_are_not_settings_are_ignored(env: dict[str, str]) -> None:
    data, issues = env_layer(env)
    assert data == {}
    assert issues == []


def test_invalid_env_value_is_an_issue_naming_key_layer_value() -> None:
    store = _env_store({"TRUST_COMPLETION__DEBOUNCE_MS": "soon", "TRUST_CHAT__MAX_TOKENS": "9"})
    assert store.settings.completion.debounce_ms == 150
    assert store.settings.chat.max_tokens == 9
    [issue] = store.issues
    assert (issue.key, issue.layer, issue.value) == ("completion.debounce_ms", Layer.ENV, "soon")


def test_unknown_env_setting_is_an_issue() -> None:
    store = _env_store({"TRUST_BACKENDS__OLAMA__URL": "http://127.0.0.1:1"})
    [issue] = store.issues
    assert issue.key == "backends.olama.url"
    assert issue.layer is Layer.ENV
    assert "did you mean backends.ollama.url" in issue.message


def test_secret_looking_env_setting_is_never_shown() -> None:
    store = _env_store({"TRUST_BACKENDS__CLOUD__API_KEY": "sk-secret-123"})
    [issue] = store.issues
    assert "sk-secret-123" not in str(issue)


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("backends.local.model_path", "", None),
        ("backends.local.n_threads", " ", None),
        ("completion.debounce_ms", " 7 ", 7),
        ("completion.debounce_ms", "seven", "seven"),
        ("tools.enabled", "", []),
        ("fallback.order", "[broken", "[broken"),
        ("not.a.key", "[1, 2]", [1, 2]),
    ],
)
def test_parse_text_value(key: str, text: str, expected: Any) -> None:
    assert parse_text_value(key, text) == expected


# OLLAMA_HOST, read as Ollama's own tools do.
OLLAMA_HOST_TABLE = [
    ("localhost", "http://localhost:11434"),
    ("1.2.3.4", "http://1.2.3.4:11434"),
    ("1.2.3.4:56789", "http://1.2.3.4:56789"),
    (":56789", "http://127.0.0.1:56789"),
    ("example.com", "http://example.com:11434"),
    ("example.com:56789", "http://example.com:56789"),
    ("http://example.com", "http://example.com:80"),
    ("https://example.com", "https://example.com:443"),
    ("https://example.com:56789", "https://example.com:56789"),
    ("example.com/", "http://example.com:11434"),
    ("example.com:56789/path/", "http://example.com:56789/path"),
    ("https://example.com:56789/path", "https://example.com:56789/path"),
    ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434"),
    ("[0001:002:003:0004::1]:56789", "http://[0001:002:003:0004::1]:56789"),
    ("https://[0001:002:003:0004::1]", "https://[0001:002:003:0004::1]:443"),
    ("  127.0.0.1:8080  ", "http://127.0.0.1:8080"),
]

WILDCARD_TABLE = [
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080"),
    ("http://0.0.0.0:8080", "http://127.0.0.1:8080"),
    ("[::]", "http://127.0.0.1:11434"),
    ("[::]:8080", "http://127.0.0.1:8080"),
]


@pytest.mark.parametrize(("value", "url"), OLLAMA_HOST_TABLE + WILDCARD_TABLE)
def test_ollama_host_forms(value: str, url: str) -> None:
    assert ollama_url_from_host(value) == url


@pytest.mark.parametrize(("value", "url"), OLLAMA_HOST_TABLE)
def test_ollama_host_agrees_with_the_official_client(value: str, url: str) -> None:
    client = pytest.importorskip("ollama._client")
    assert client._parse_host(value.strip()) == url


def test_ollama_host_with_a_bad_port_uses_the_default_port() -> None:
    assert ollama_url_from_host("myhost:notaport") == "http://myhost:11434"


def test_ollama_host_sets_the_url_in_the_env_layer() -> None:
    store = _env_store({"OLLAMA_HOST": "0.0.0.0:9999"})
    assert store.settings.backends.ollama.url == "http://127.0.0.1:9999"
    assert store.source_of("backends.ollama.url") is Layer.ENV


def test_trust_url_wins_over_ollama_host() -> None:
    store = _env_store(
        {"OLLAMA_HOST": "127.0.0.1:1", "TRUST_BACKENDS__OLLAMA__URL": "http://127.0.0.1:2"}
    )
    assert store.settings.backends.ollama.url == "http://127.0.0.1:2"


def test_empty_ollama_host_leaves_lower_layers_alone() -> None:
    data, issues = env_layer({"OLLAMA_HOST": ""})
    assert (data, issues) == ({}, [])


def test_malformed_ollama_host_is_an_issue_not_a_crash() -> None:
    store = _env_store({"OLLAMA_HOST": "[::1"})
    assert store.settings.backends.ollama.url == "http://127.0.0.1:11434"
    [issue] = store.issues
    assert issue.key == "backends.ollama.url"
    assert issue.layer is Layer.ENV
    assert "OLLAMA_HOST" in issue.message


def test_env_is_above_files_and_below_client(tmp_path: Any) -> None:
    user = tmp_path / "user.toml"
    user.write_text("[completion]\ndebounce_ms = 1\nmax_tokens = 2\ntemperature = 0.1\n")
    store = load_config(
        env={"TRUST_COMPLETION__DEBOUNCE_MS": "10", "TRUST_COMPLETION__MAX_TOKENS": "20"},
        client={"completion": {"max_tokens": 200}},
        user_file=user,
    )
    assert store.settings.completion.temperature == 0.1
    assert store.settings.completion.debounce_ms == 10
    assert store.settings.completion.max_tokens == 200
    assert store.source_of("completion.temperature") is Layer.USER
    assert store.source_of("completion.debounce_ms") is Layer.ENV
    assert store.source_of("completion.max_tokens") is Layer.CLIENT
