"""Validation of command arguments and custom params (pure): every problem is an
InvalidParams error that names the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams


def single_object(
    command: str, arguments: Sequence[Any] | None, *, required: bool = True
) -> dict[str, Any]:
    """The one object argument of a command (`[{…}]`); `{}` when optional and absent."""
    if not arguments:
        if required:
            raise JsonRpcInvalidParams(f"{command} needs one argument: an object")
        return {}
    if len(arguments) != 1 or not isinstance(arguments[0], Mapping):
        raise JsonRpcInvalidParams(f"{command} takes one argument: an object")
    return dict(arguments[0])


def required_str(command: str, arg: Mapping[str, Any], key: str) -> str:
    value = arg.get(key)
    if not isinstance(value, str) or not value.strip():
        raise JsonRpcInvalidParams(f"{command}: {key!r} must be a non-empty string")
    return value


def optional_str(command: str, arg: Mapping[str, Any], key: str) -> str | None:
    value = arg.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise JsonRpcInvalidParams(f"{command}: {key!r} must be a string")
    return value or None


def _uint(command: str, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise JsonRpcInvalidParams(f"{command}: {where} must be a non-negative integer")
    return value


def position(command: str, value: Any, where: str) -> types.Position:
    if not isinstance(value, Mapping):
        raise JsonRpcInvalidParams(f"{command}: {where} must be a position object")
    return types.Position(
        line=_uint(command, value.get("line"), f"{where}.line"),
        character=_uint(command, value.get("character"), f"{where}.character"),
    )


def optional_range(command: str, arg: Mapping[str, Any], key: str = "range") -> types.Range | None:
    value = arg.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise JsonRpcInvalidParams(f"{command}: {key!r} must be a range object")
    return types.Range(
        start=position(command, value.get("start"), f"{key}.start"),
        end=position(command, value.get("end"), f"{key}.end"),
    )


def range_json(rng: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }
