"""Layered configuration: a pure merge of the layers, and a store that watches for changes.

Layers, lowest first: built-in defaults < user file < workspace file < environment <
client (command line, LSP initializationOptions) < runtime (workspace/didChangeConfiguration).
A layer is a mapping of nested tables and/or dotted keys, optionally wrapped in a top-level
"trust" table. Each leaf value is validated on its own: an invalid one (unknown key, wrong
type, out of range) becomes a `ConfigIssue` and is dropped, so the lower layers and the rest
of the same layer still apply. Nothing here raises on bad configuration.
"""

from __future__ import annotations

import copy
import logging
import reprlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from trust_lsp.config.schema import (
    canonical_key,
    is_secret_key,
    section_keys,
    settings_fields,
    unknown_key_message,
    validate_value,
)
from trust_lsp.config.settings import Settings

__all__ = [
    "LAYER_ORDER",
    "ConfigIssue",
    "ConfigStore",
    "Layer",
    "MergeResult",
    "merge_layers",
]

log = logging.getLogger(__name__)


class Layer(StrEnum):
    """Where a value comes from. Declared lowest precedence first."""

    DEFAULT = "default"
    USER = "user"
    WORKSPACE = "workspace"
    ENV = "env"
    CLIENT = "client"
    RUNTIME = "runtime"


# StrEnum compares as strings, so precedence is by this tuple, never by `<`.
LAYER_ORDER: tuple[Layer, ...] = tuple(Layer)
_RANK = {layer: rank for rank, layer in enumerate(LAYER_ORDER)}

_REDACTED = "<redacted>"
_short_repr = reprlib.Repr()
_short_repr.maxstring = 80
_short_repr.maxother = 80
_short_repr.maxlist = 10


@dataclass(frozen=True)
class ConfigIssue:
    """One piece of configuration that was ignored, and why.

    `key` is the dotted setting ("completion.debounce_ms"), or "" for a problem with a whole
    source (e.g. a file that is not valid TOML; then `value` is the file's path).
    """

    key: str
    layer: Layer
    value: object
    message: str

    def display_value(self) -> str:
        """The value as shown to users: shortened, and hidden when it may be a secret."""
        if is_secret_key(self.key):
            return _REDACTED
        return _short_repr.repr(self.value)

    def __str__(self) -> str:
        if not self.key:
            return f"{self.layer} config: {self.message}"
        return f"{self.key} = {self.display_value()} (layer {self.layer}) ignored: {self.message}"


@dataclass(frozen=True)
class MergeResult:
    """The effective settings, the layer of every leaf key, and what was ignored."""

    settings: Settings
    sources: dict[str, Layer]
    issues: list[ConfigIssue]


def _flatten(data: Mapping[str, Any], layer: Layer) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """Nested tables and dotted keys → {canonical dotted key: value}; unknown keys → issues."""
    leaves = settings_fields()
    sections = section_keys()
    out: dict[str, Any] = {}
    issues: list[ConfigIssue] = []

    def walk(prefix: str, mapping: Mapping[Any, Any]) -> None:
        for raw_key, value in mapping.items():
            if not isinstance(raw_key, str) or not all(p.strip() for p in raw_key.split(".")):
                issues.append(ConfigIssue(f"{prefix}{raw_key}", layer, value, "invalid key"))
                continue
            key = canonical_key(f"{prefix}{raw_key}")
            if not prefix and key == "trust":
                # The optional wrapper, as in VS Code's settings.json: {"trust": {...}}.
                if isinstance(value, Mapping):
                    walk("", value)
                elif value is not None:
                    issues.append(ConfigIssue(key, layer, value, "expected a table of settings"))
                continue
            if key in leaves:
                out[key] = value
            elif key in sections:
                if isinstance(value, Mapping):
                    walk(f"{key}.", value)
                elif value is not None:
                    issues.append(ConfigIssue(key, layer, value, "expected a table of settings"))
            else:
                issues.append(ConfigIssue(key, layer, value, unknown_key_message(key)))

    walk("", data)
    return out, issues


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


def _build(
    winners: dict[str, tuple[Any, Layer]], issues: list[ConfigIssue]
) -> tuple[Settings, dict[str, Layer]]:
    """Validate the winning values together; drop any a cross-field rule rejects."""
    winners = dict(winners)
    # Each value passed alone, so this normally succeeds at once. The loop guards a
    # model-level validator added later: the rejected keys fall back, never the whole config.
    for _ in range(len(winners) + 1):
        try:
            settings = Settings.model_validate(_nest({k: v for k, (v, _) in winners.items()}))
        except PydanticValidationError as exc:
            before = len(winners)
            for error in exc.errors(include_url=False):
                loc = ".".join(str(part) for part in error["loc"])
                under = [k for k in winners if k == loc or k.startswith(f"{loc}.")] or list(winners)
                if not under:
                    continue
                # Drop only the highest layer's values involved: they overrode the rest.
                top = max((winners[k][1] for k in under), key=_RANK.__getitem__)
                for key in under:
                    value, layer = winners[key]
                    if layer == top:
                        del winners[key]
                        issues.append(ConfigIssue(key, layer, value, str(error["msg"])))
            if len(winners) == before:
                break
            continue
        sources = {key: Layer.DEFAULT for key in settings_fields()}
        sources.update({key: layer for key, (_, layer) in winners.items()})
        return settings, sources
    return Settings(), {key: Layer.DEFAULT for key in settings_fields()}


def _value_at(settings: Settings, key: str) -> Any:
    node: Any = settings
    for part in key.split(".") if key else ():
        node = getattr(node, part)
    return node


def _with_outcome(
    issue: ConfigIssue, settings: Settings, sources: Mapping[str, Layer]
) -> ConfigIssue:
    if issue.key not in sources:
        return issue
    layer = sources[issue.key]
    effective = (
        _REDACTED if is_secret_key(issue.key) else _short_repr.repr(_value_at(settings, issue.key))
    )
    return replace(issue, message=f"{issue.message}; using {effective} from layer {layer}")


def merge_layers(layers: Mapping[Layer, Mapping[str, Any]]) -> MergeResult:
    """Merge configuration layers into validated settings. Pure; never raises on bad input.

    For every leaf key the highest layer holding a valid value wins. `None` means "not set
    here" for a key that cannot be empty, and "empty" for one that can (e.g.
    `backends.local.model_path`). Lists replace, never concatenate.
    """
    leaves = settings_fields()
    issues: list[ConfigIssue] = []
    winners: dict[str, tuple[Any, Layer]] = {}
    for layer in LAYER_ORDER:
        data = layers.get(layer)
        if not data:
            continue
        if not isinstance(data, Mapping):
            issues.append(ConfigIssue("", layer, data, "expected a table of settings"))
            continue
        flat, layer_issues = _flatten(data, layer)
        issues.extend(layer_issues)
        for key, raw in flat.items():
            if raw is None and not leaves[key].nullable:
                continue
            try:
                value = validate_value(key, raw)
            except ValueError as exc:
                issues.append(ConfigIssue(key, layer, raw, str(exc)))
                continue
            winners[key] = (value, layer)
    settings, sources = _build(winners, issues)
    return MergeResult(
        settings=settings,
        sources=sources,
        issues=[_with_outcome(issue, settings, sources) for issue in issues],
    )


@dataclass(eq=False)
class _Watcher:
    key: str
    callback: Callable[[Any, Any], None]
    active: bool = field(default=True)


class ConfigStore:
    """The effective configuration of one process, built from layers, with change watchers.

    `settings` is cached: it is recomputed only by `set_layer`, so reading it per keystroke
    costs an attribute lookup. Treat the returned model as read-only.
    """

    def __init__(
        self,
        layers: Mapping[Layer, Mapping[str, Any]] | None = None,
        *,
        issues: Mapping[Layer, Sequence[ConfigIssue]] | None = None,
    ) -> None:
        """Build a store from layers (none: the defaults).

        `issues` are problems found while reading a layer's source (a malformed file);
        they are reported with the store's issues until that layer is replaced.
        """
        self._lock = threading.RLock()
        self._layers: dict[Layer, Mapping[str, Any]] = {
            layer: copy.deepcopy(data) for layer, data in (layers or {}).items()
        }
        self._source_issues: dict[Layer, list[ConfigIssue]] = {
            layer: list(found) for layer, found in (issues or {}).items()
        }
        self._watchers: list[_Watcher] = []
        self._result = merge_layers(self._layers)
        for issue in self.issues:
            log.warning("configuration: %s", issue)

    @property
    def settings(self) -> Settings:
        """The effective, validated settings."""
        return self._result.settings

    @property
    def issues(self) -> list[ConfigIssue]:
        """Everything ignored: source problems first, then invalid values, by layer."""
        found = [i for layer in LAYER_ORDER for i in self._source_issues.get(layer, ())]
        return found + list(self._result.issues)

    def layer(self, layer: Layer) -> dict[str, Any]:
        """A copy of the raw data of one layer ({} when unset)."""
        with self._lock:
            data = self._layers.get(layer)
            return copy.deepcopy(dict(data)) if isinstance(data, Mapping) else {}

    def set_layer(
        self,
        layer: Layer,
        data: Mapping[str, Any],
        *,
        issues: Sequence[ConfigIssue] = (),
    ) -> list[ConfigIssue]:
        """Replace one layer, recompute the settings, and notify watchers of changed keys.

        Returns the issues of this layer (its source problems and its ignored values).
        """
        with self._lock:
            old = self._result.settings
            # Copied, so a caller mutating its dict later cannot change the settings unseen.
            self._layers[layer] = copy.deepcopy(data) if data else {}
            self._source_issues[layer] = list(issues)
            self._result = merge_layers(self._layers)
            new = self._result.settings
            watchers = list(self._watchers)
        layer_issues = [i for i in self.issues if i.layer == layer]
        for issue in layer_issues:
            log.warning("configuration: %s", issue)
        self._notify(watchers, old, new)
        return layer_issues

    def _notify(self, watchers: list[_Watcher], old: Settings, new: Settings) -> None:
        if old == new:
            return
        for watcher in watchers:
            if not watcher.active:
                continue
            before = _value_at(old, watcher.key)
            after = _value_at(new, watcher.key)
            if before == after:
                continue
            try:
                watcher.callback(before, after)
            except Exception:
                # A broken watcher must not break configuration for everyone else.
                log.exception("configuration watcher for %r failed", watcher.key or "*")

    def source_of(self, key: str) -> Layer:
        """The layer that set a leaf key; for a section, the highest layer among its keys.

        Raises `KeyError` for a key the settings model does not have.
        """
        key = canonical_key(key)
        sources = self._result.sources
        if key in sources:
            return sources[key]
        if key in section_keys():
            under = [layer for k, layer in sources.items() if k.startswith(f"{key}.")]
            return max(under, key=_RANK.__getitem__)
        raise KeyError(f"unknown setting {key!r}")

    def explain(self) -> list[tuple[str, object, Layer]]:
        """Every leaf key with its effective value and the layer that set it."""
        settings, sources = self._result.settings, self._result.sources
        return [(key, _value_at(settings, key), sources[key]) for key in settings_fields()]

    def subscribe(self, key: str, callback: Callable[[Any, Any], None]) -> Callable[[], None]:
        """Call `callback(old, new)` whenever the effective value under `key` changes.

        `key` is a leaf ("backends.ollama.url"), a section prefix ("backends.ollama": the
        callback gets the old and new section models), or "" for the whole settings.
        Returns a function that unsubscribes (calling it twice is harmless). Raises
        `ValueError` for a key the model does not have, so a typo fails loudly.
        """
        key = canonical_key(key) if key else ""
        if key and key not in settings_fields() and key not in section_keys():
            raise ValueError(f"cannot watch unknown setting {key!r}")
        watcher = _Watcher(key, callback)
        with self._lock:
            self._watchers.append(watcher)

        def unsubscribe() -> None:
            watcher.active = False
            with self._lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)

        return unsubscribe
