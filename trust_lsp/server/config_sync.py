"""Settings that arrive over LSP: initializationOptions, workspace/configuration and
workspace/didChangeConfiguration (pure helpers; the server applies the results).

- `initializationOptions` (the same nested keys as the config file, optionally under a
  top-level "trust" key; the auth token removed) and the `trust` section of
  `workspace/configuration` at start-up form the CLIENT layer.
- `workspace/didChangeConfiguration` replaces the RUNTIME layer: with the `trust` section
  the notification carries, or — when it carries none (VS Code sends null) — with a fresh
  `workspace/configuration` pull.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECTION = "trust"


def _plain(value: Any) -> Any:
    """Copy nested mappings/lists into plain dicts/lists (clients send odd containers)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def settings_from_initialization_options(options: object) -> dict[str, Any]:
    """The settings in `initializationOptions` (without the token); {} for anything else."""
    if not isinstance(options, Mapping):
        return {}
    nested = options.get(SECTION)
    data: Mapping[str, Any] = nested if isinstance(nested, Mapping) else options
    return {str(k): _plain(v) for k, v in data.items() if k != "token"}


def settings_from_configuration_result(result: object) -> dict[str, Any] | None:
    """The `trust` section from a `workspace/configuration` answer (one item asked).

    None when the client has no such section (null, or not an object).
    """
    if isinstance(result, list | tuple):
        result = result[0] if result else None
    if not isinstance(result, Mapping):
        return None
    section: Mapping[str, Any] = result
    nested = result.get(SECTION)
    if isinstance(nested, Mapping):
        # Some clients answer with the whole settings tree instead of the section.
        section = nested
    return {str(k): _plain(v) for k, v in section.items()}


def settings_from_did_change(settings: object) -> dict[str, Any] | None:
    """The `trust` section carried by `didChangeConfiguration`, None when absent."""
    if not isinstance(settings, Mapping):
        return None
    section = settings.get(SECTION)
    if isinstance(section, Mapping):
        return {str(k): _plain(v) for k, v in section.items()}
    return None


def merge_settings(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of two nested settings mappings (`override` wins)."""
    out: dict[str, Any] = {k: _plain(v) for k, v in base.items()}
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge_settings(out[key], value)
        else:
            out[key] = _plain(value)
    return out
