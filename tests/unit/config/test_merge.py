"""The pure merge: precedence, key spellings, invalid values, sources."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from trust_lsp.config import LAYER_ORDER, ConfigIssue, Layer, Settings, merge_layers

URL = "backends.ollama.url"


def _get(settings: Settings, key: str) -> Any:
    node: Any = settings
    for part in key.split("."):
        node = getattr(node, part)
    return node


def test_no_layers_gives_defaults_from_default_layer() -> None:
    result = merge_layers({})
    assert result.settings == Settings()
    assert result.issues == []
    assert set(result.sources.values()) == {Layer.DEFAULT}
    assert URL in result.sources


@pytest.mark.parametrize(("lower", "higher"), list(itertools.combinations(LAYER_ORDER, 2)))
def test_higher_layer_wins_for_every_pair(lower: Layer, higher: Layer) -> None:
    result = merge_layers(
        {
            lower: {"backends": {"ollama": {"url": f"http://{lower}:1"}}},
            higher: {"backends": {"ollama": {"url": f"http://{higher}:2"}}},
        }
    )
    assert result.settings.backends.ollama.url == f"http://{higher}:2"
    assert result.sources[URL] is higher


def test_layer_order_is_the_documented_one() -> None:
    assert LAYER_ORDER == (
        Layer.DEFAULT,
        Layer.USER,
        Layer.WORKSPACE,
        Layer.ENV,
        Layer.CLIENT,
        Layer.RUNTIME,
    )


# Each row: the layers, then {key: (expected value, expected source layer)}.
PRECEDENCE_TABLE: list[tuple[dict[Layer, dict[str, Any]], dict[str, tuple[Any, Layer]]]] = [
    (
        {Layer.USER: {"completion": {"debounce_ms": 10}}},
        {"completion.debounce_ms": (10, Layer.USER), "completion.max_tokens": (96, Layer.DEFAULT)},
    ),
    (
        {
            Layer.USER: {"completion": {"debounce_ms": 10, "max_tokens": 5}},
            Layer.WORKSPACE: {"completion": {"debounce_ms": 20}},
        },
        {"completion.debounce_ms": (20, Layer.WORKSPACE), "completion.max_tokens": (5, Layer.USER)},
    ),
    (
        {
            Layer.USER: {"privacy": {"mode": "allow-cloud"}},
            Layer.ENV: {"completion.debounce_ms": 30},
            Layer.RUNTIME: {"privacy": {"mode": "local"}},
        },
        {"privacy.mode": ("local", Layer.RUNTIME), "completion.debounce_ms": (30, Layer.ENV)},
    ),
    (
        {
            Layer.DEFAULT: {"chat": {"max_tokens": 7}},
            Layer.CLIENT: {"chat": {"temperature": 1.5}},
        },
        {"chat.max_tokens": (7, Layer.DEFAULT), "chat.temperature": (1.5, Layer.CLIENT)},
    ),
    (
        # Lists replace, never concatenate.
        {
            Layer.USER: {"tools": {"enabled": ["read_file", "grep"]}},
            Layer.WORKSPACE: {"tools": {"enabled": []}},
        },
        {"tools.enabled": ([], Layer.WORKSPACE)},
    ),
]


@pytest.mark.parametrize(("layers", "expected"), PRECEDENCE_TABLE)
def test_precedence_table(
    layers: dict[Layer, dict[str, Any]], expected: dict[str, tuple[Any, Layer]]
) -> None:
    result = merge_layers(layers)
    assert result.issues == []
    for key, (value, layer) in expected.items():
        assert _get(result.settings, key) == value, key
        assert result.sources[key] is layer, key


@pytest.mark.parametrize(
    "data",
    [
        {"completion": {"debounce_ms": 42}},
        {"completion.debounce_ms": 42},
        {"trust": {"completion": {"debounce_ms": 42}}},
        {"trust.completion.debounce_ms": 42},
        {"trust": {"completion.debounce_ms": 42}},
        {"completion": {"debounceMs": 42}},
        {"Completion": {"DebounceMs": 42}},
    ],
    ids=["nested", "dotted", "wrapped", "wrapped-dotted", "wrapped-mixed", "camel", "pascal"],
)
def test_key_spellings(data: dict[str, Any]) -> None:
    result = merge_layers({Layer.CLIENT: data})
    assert result.issues == []
    assert result.settings.completion.debounce_ms == 42
    assert result.sources["completion.debounce_ms"] is Layer.CLIENT


def test_dotted_and_nested_keys_mix_in_one_layer() -> None:
    result = merge_layers(
        {Layer.USER: {"backends.ollama": {"chat_model": "a"}, "backends": {"local.n_ctx": 512}}}
    )
    assert result.issues == []
    assert result.settings.backends.ollama.chat_model == "a"
    assert result.settings.backends.local.n_ctx == 512


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (["huggingface"], ["local"]),
        (["ollama", "huggingface", "cloud"], ["ollama", "local", "cloud"]),
        (["huggingface", "local"], ["local"]),
        ("ollama, huggingface", ["ollama", "local"]),
        (["embedded", "ollama"], ["local", "ollama"]),
    ],
)
def test_fallback_order_aliases(order: Any, expected: list[str]) -> None:
    result = merge_layers({Layer.USER: {"fallback": {"order": order}}})
    assert result.issues == []
    assert result.settings.fallback.order == expected


def test_coercion_is_pydantic_lax() -> None:
    result = merge_layers({Layer.ENV: {"completion.debounce_ms": "200", "server.preheat": "no"}})
    assert result.issues == []
    assert result.settings.completion.debounce_ms == 200
    assert result.settings.server.preheat is False


# Each row: an invalid value in the user layer; the default must stay.
INVALID_TABLE: list[tuple[str, Any, str]] = [
    ("completion.debounce_ms", -5, "greater than or equal to 0"),
    ("completion.debounce_ms", "soon", "valid integer"),
    ("completion.temperature", 3.0, "less than or equal to 2"),
    ("privacy.mode", "everywhere", "'local' or 'allow-cloud'"),
    ("fallback.order", ["ollama", "openai"], "'ollama', 'local' or 'cloud'"),
    ("backends.ollama.chat_model", 5, "valid string"),
    ("backends.ollama.num_ctx", 16, "greater than or equal to 256"),
    ("tools.write_approval", True, "'ask', 'always' or 'never'"),
]


@pytest.mark.parametrize(("key", "value", "reason"), INVALID_TABLE)
def test_invalid_value_is_dropped_and_named(key: str, value: Any, reason: str) -> None:
    result = merge_layers(
        {Layer.USER: {key: value, "chat.max_tokens": 77}, Layer.DEFAULT: {"health.interval_s": 3}}
    )
    assert _get(result.settings, key) == _get(Settings(), key)
    assert result.sources[key] is Layer.DEFAULT
    # The rest of the same layer and the lower layers still apply.
    assert result.settings.chat.max_tokens == 77
    assert result.settings.health.interval_s == 3
    [issue] = result.issues
    assert (issue.key, issue.layer, issue.value) == (key, Layer.USER, value)
    assert reason in issue.message
    text = str(issue)
    assert key in text
    assert "user" in text
    assert repr(value) in text
    assert "\n" not in text


def test_invalid_value_falls_back_to_the_next_lower_layer() -> None:
    result = merge_layers(
        {
            Layer.USER: {"completion": {"debounce_ms": 10}},
            Layer.WORKSPACE: {"completion": {"debounce_ms": 20}},
            Layer.RUNTIME: {"completion": {"debounce_ms": -1}},
        }
    )
    assert result.settings.completion.debounce_ms == 20
    assert result.sources["completion.debounce_ms"] is Layer.WORKSPACE
    [issue] = result.issues
    assert issue.layer is Layer.RUNTIME
    assert "using 20 from layer workspace" in str(issue)


@pytest.mark.parametrize(
    ("data", "key", "needle"),
    [
        ({"completion": {"debunce_ms": 1}}, "completion.debunce_ms", "did you mean"),
        ({"nonsense": 1}, "nonsense", "unknown setting"),
        ({"backends": {"ollama": 5}}, "backends.ollama", "expected a table"),
        ({"trust": "yes"}, "trust", "expected a table"),
        ({"completion.debounce_ms.extra": 1}, "completion.debounce_ms.extra", "unknown"),
        ({"completion..debounce_ms": 1}, "completion..debounce_ms", "invalid key"),
    ],
)
def test_bad_keys_are_issues(data: dict[str, Any], key: str, needle: str) -> None:
    result = merge_layers({Layer.WORKSPACE: {**data, "chat.max_tokens": 9}})
    assert result.settings.chat.max_tokens == 9
    [issue] = result.issues
    assert issue.key == key
    assert issue.layer is Layer.WORKSPACE
    assert needle in issue.message


def test_api_key_in_config_is_refused_and_redacted() -> None:
    secret = "sk-very-secret-value"
    result = merge_layers({Layer.USER: {"backends": {"cloud": {"api_key": secret}}}})
    [issue] = result.issues
    assert issue.key == "backends.cloud.api_key"
    assert "api_key_env" in issue.message
    assert secret not in str(issue)
    assert "<redacted>" in str(issue)


def test_none_means_unset_unless_the_key_can_be_empty() -> None:
    result = merge_layers(
        {
            Layer.USER: {"completion.debounce_ms": 10, "backends.local.model_path": "/m.gguf"},
            Layer.RUNTIME: {"completion.debounce_ms": None, "backends.local.model_path": None},
        }
    )
    assert result.issues == []
    assert result.settings.completion.debounce_ms == 10
    assert result.sources["completion.debounce_ms"] is Layer.USER
    assert result.settings.backends.local.model_path is None
    assert result.sources["backends.local.model_path"] is Layer.RUNTIME


def test_a_layer_that_is_not_a_mapping_is_an_issue() -> None:
    result = merge_layers({Layer.CLIENT: ["not", "a", "table"]})  # type: ignore[dict-item]
    assert result.settings == Settings()
    [issue] = result.issues
    assert issue.layer is Layer.CLIENT
    assert "client config" in str(issue)


def test_merge_is_pure() -> None:
    layers: dict[Layer, dict[str, Any]] = {
        Layer.USER: {"trust": {"fallback": {"order": ["huggingface"]}}},
        Layer.ENV: {"completion.debounce_ms": "5"},
    }
    before = copy.deepcopy(layers)
    first = merge_layers(layers)
    second = merge_layers(layers)
    assert layers == before
    assert first == second


def test_every_leaf_has_a_source() -> None:
    result = merge_layers({Layer.USER: {"chat": {"max_tokens": 3}}})
    leaves = {key for key, _ in _leaf_items(Settings().model_dump())}
    assert set(result.sources) == leaves


def _leaf_items(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _leaf_items(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def test_issue_str_for_a_whole_source() -> None:
    issue = ConfigIssue("", Layer.USER, "/x/config.toml", "/x/config.toml is not valid TOML")
    assert str(issue) == "user config: /x/config.toml is not valid TOML"


def test_long_values_are_shortened_in_messages() -> None:
    result = merge_layers({Layer.USER: {"completion.debounce_ms": "x" * 5000}})
    [issue] = result.issues
    assert len(str(issue)) < 400
