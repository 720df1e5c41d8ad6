"""ConfigStore: cached settings, set_layer, sources, explain, watchers."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from trust_lsp.config import (
    CompletionSettings,
    ConfigIssue,
    ConfigStore,
    Layer,
    OllamaSettings,
    Settings,
)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []

    def __call__(self, old: Any, new: Any) -> None:
        self.calls.append((old, new))


def test_empty_store_has_defaults() -> None:
    store = ConfigStore()
    assert store.settings == Settings()
    assert store.issues == []
    assert store.source_of("backends.ollama.url") is Layer.DEFAULT


def test_store_built_like_other_areas_build_it() -> None:
    url = "http://127.0.0.1:5"
    store = ConfigStore({Layer.CLIENT: {"backends": {"ollama": {"url": url}}}})
    assert store.settings.backends.ollama.url == url
    assert store.source_of("backends.ollama.url") is Layer.CLIENT


def test_settings_is_cached_until_a_layer_changes() -> None:
    store = ConfigStore({Layer.USER: {"completion.debounce_ms": 10}})
    first = store.settings
    assert store.settings is first
    store.set_layer(Layer.RUNTIME, {"completion.debounce_ms": 20})
    assert store.settings is not first
    assert store.settings.completion.debounce_ms == 20
    assert first.completion.debounce_ms == 10


def test_set_layer_replaces_the_layer() -> None:
    store = ConfigStore()
    store.set_layer(Layer.RUNTIME, {"completion.debounce_ms": 20, "chat.max_tokens": 5})
    store.set_layer(Layer.RUNTIME, {"chat.max_tokens": 6})
    assert store.settings.completion.debounce_ms == 150
    assert store.settings.chat.max_tokens == 6
    store.set_layer(Layer.RUNTIME, {})
    assert store.settings == Settings()


def test_set_layer_returns_that_layers_issues_and_never_raises() -> None:
    store = ConfigStore({Layer.USER: {"completion.debounce_ms": -1}})
    issues = store.set_layer(Layer.RUNTIME, {"chat.max_tokens": 0, "chat.temperature": 1.0})
    assert [(i.key, i.layer) for i in issues] == [("chat.max_tokens", Layer.RUNTIME)]
    assert store.settings.chat.temperature == 1.0
    assert {i.layer for i in store.issues} == {Layer.USER, Layer.RUNTIME}


def test_source_issues_are_kept_until_the_layer_is_replaced() -> None:
    problem = ConfigIssue("", Layer.WORKSPACE, "/w/.trust/config.toml", "not valid TOML")
    store = ConfigStore(issues={Layer.WORKSPACE: [problem]})
    assert store.issues == [problem]
    store.set_layer(Layer.RUNTIME, {"chat.max_tokens": 3})
    assert store.issues == [problem]
    assert store.set_layer(Layer.WORKSPACE, {"chat.max_tokens": 4}) == []
    assert store.issues == []


def test_store_copies_layer_data() -> None:
    data: dict[str, Any] = {"completion": {"debounce_ms": 10}}
    store = ConfigStore({Layer.USER: data})
    data["completion"]["debounce_ms"] = 99
    store.set_layer(Layer.RUNTIME, {})
    assert store.settings.completion.debounce_ms == 10
    assert store.layer(Layer.USER) == {"completion": {"debounce_ms": 10}}
    assert store.layer(Layer.CLIENT) == {}


def test_source_of_leaf_section_and_unknown() -> None:
    store = ConfigStore(
        {Layer.USER: {"backends.ollama.chat_model": "a"}, Layer.ENV: {"backends.local.n_ctx": 512}}
    )
    assert store.source_of("backends.ollama.chat_model") is Layer.USER
    assert store.source_of("trust.backends.ollama.chatModel") is Layer.USER
    assert store.source_of("backends.ollama") is Layer.USER
    assert store.source_of("backends") is Layer.ENV
    assert store.source_of("chat") is Layer.DEFAULT
    with pytest.raises(KeyError):
        store.source_of("backends.ollama.nope")


def test_explain_lists_every_leaf_with_value_and_layer() -> None:
    store = ConfigStore({Layer.WORKSPACE: {"fallback": {"order": ["local"]}}})
    rows = {key: (value, layer) for key, value, layer in store.explain()}
    assert rows["fallback.order"] == (["local"], Layer.WORKSPACE)
    assert rows["backends.ollama.url"] == ("http://127.0.0.1:11434", Layer.DEFAULT)
    assert len(rows) == len(store.explain())
    assert "backends.ollama" not in rows


def test_watcher_fires_on_change_with_old_and_new() -> None:
    store = ConfigStore()
    seen = Recorder()
    store.subscribe("backends.ollama.chat_model", seen)
    store.set_layer(Layer.RUNTIME, {"backends": {"ollama": {"chat_model": "llama3"}}})
    assert seen.calls == [("qwen2.5-coder:7b", "llama3")]


def test_watcher_sees_the_new_settings_in_the_store() -> None:
    store = ConfigStore()
    seen: list[int] = []
    store.subscribe(
        "completion.debounce_ms",
        lambda old, new: seen.append(store.settings.completion.debounce_ms),
    )
    store.set_layer(Layer.RUNTIME, {"completion.debounce_ms": 5})
    assert seen == [5]


@pytest.mark.parametrize(
    "update",
    [
        {},
        {"completion.debounce_ms": 150},  # same as the default
        {"chat.max_tokens": 3},  # another key
        {"completion.debounce_ms": -1},  # invalid: dropped
    ],
)
def test_watcher_not_fired_when_its_value_is_unchanged(update: dict[str, Any]) -> None:
    store = ConfigStore()
    seen = Recorder()
    store.subscribe("completion.debounce_ms", seen)
    store.set_layer(Layer.RUNTIME, update)
    assert seen.calls == []


def test_watcher_not_fired_when_a_lower_layer_changes_under_a_higher_one() -> None:
    store = ConfigStore({Layer.RUNTIME: {"completion.debounce_ms": 5}})
    seen = Recorder()
    store.subscribe("completion.debounce_ms", seen)
    store.set_layer(Layer.USER, {"completion.debounce_ms": 50})
    assert seen.calls == []
    store.set_layer(Layer.RUNTIME, {})
    assert seen.calls == [(5, 50)]


def test_prefix_subscription_gets_section_models() -> None:
    store = ConfigStore()
    section = Recorder()
    whole = Recorder()
    store.subscribe("backends.ollama", section)
    store.subscribe("", whole)
    store.set_layer(
        Layer.CLIENT, {"backends.ollama.url": "http://127.0.0.1:1", "chat.max_tokens": 2}
    )
    [(old, new)] = section.calls
    assert isinstance(old, OllamaSettings)
    assert isinstance(new, OllamaSettings)
    assert (old.url, new.url) == ("http://127.0.0.1:11434", "http://127.0.0.1:1")
    [(_, new_all)] = whole.calls
    assert isinstance(new_all, Settings)
    assert new_all.chat.max_tokens == 2
    store.set_layer(Layer.RUNTIME, {"chat.max_tokens": 3})
    assert len(section.calls) == 1
    assert len(whole.calls) == 2


def test_unsubscribe_stops_calls_and_is_idempotent() -> None:
    store = ConfigStore()
    seen = Recorder()
    unsubscribe = store.subscribe("completion", seen)
    store.set_layer(Layer.RUNTIME, {"completion.debounce_ms": 1})
    unsubscribe()
    unsubscribe()
    store.set_layer(Layer.RUNTIME, {"completion.debounce_ms": 2})
    assert len(seen.calls) == 1
    assert isinstance(seen.calls[0][1], CompletionSettings)


def test_unsubscribing_another_watcher_during_notification() -> None:
    store = ConfigStore()
    second = Recorder()
    unsubscribe_second = store.subscribe("chat", second)
    store.subscribe("chat", lambda old, new: unsubscribe_second())
    store.set_layer(Layer.RUNTIME, {"chat.max_tokens": 1})
    # The second watcher was registered first, so it ran before being removed.
    assert len(second.calls) == 1
    store.set_layer(Layer.RUNTIME, {"chat.max_tokens": 2})
    assert len(second.calls) == 1


def test_raising_watcher_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    store = ConfigStore()
    after = Recorder()

    def broken(old: Any, new: Any) -> None:
        raise RuntimeError("watcher bug")

    store.subscribe("completion.debounce_ms", broken)
    store.subscribe("completion.debounce_ms", after)
    with caplog.at_level(logging.ERROR, logger="trust_lsp.config.store"):
        issues = store.set_layer(Layer.RUNTIME, {"completion.debounce_ms": 9})
    assert issues == []
    assert after.calls == [(150, 9)]
    assert store.settings.completion.debounce_ms == 9
    assert "completion.debounce_ms" in caplog.text
    assert "watcher bug" in caplog.text
    # The store keeps working.
    store.set_layer(Layer.RUNTIME, {"completion.debounce_ms": 10})
    assert after.calls[-1] == (9, 10)


def test_subscribe_to_unknown_key_fails_loudly() -> None:
    with pytest.raises(ValueError, match="unknown setting"):
        ConfigStore().subscribe("completion.debounce", Recorder())


def test_watcher_that_sets_a_layer_does_not_deadlock() -> None:
    store = ConfigStore()
    seen = Recorder()

    def follow(old: Any, new: Any) -> None:
        store.set_layer(Layer.CLIENT, {"chat.max_tokens": new})

    store.subscribe("completion.max_tokens", follow)
    store.subscribe("chat.max_tokens", seen)
    store.set_layer(Layer.RUNTIME, {"completion.max_tokens": 33})
    assert store.settings.chat.max_tokens == 33
    assert seen.calls == [(1024, 33)]


def test_issues_are_logged_as_warnings(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="trust_lsp.config.store"):
        ConfigStore({Layer.USER: {"completion.debounce_ms": -3}})
    assert "completion.debounce_ms = -3 (layer user)" in caplog.text
