"""What the settings model looks like, as data: leaf keys, their types, and per-key validation.

The store, the loader (environment parsing, `trust config set`) and the docs generator all
read the model through these functions, so a key added to `settings.py` needs no other edit.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from trust_lsp.config.settings import Settings

__all__ = [
    "ENV_PREFIX",
    "FieldSpec",
    "canonical_key",
    "env_var_name",
    "is_secret_key",
    "parse_text_value",
    "section_keys",
    "settings_fields",
    "unknown_key_message",
    "unwrap_optional",
    "validate_value",
]

ENV_PREFIX = "TRUST_"

ValueKind = Literal["str", "list", "bool", "int", "float", "other"]


@dataclass(frozen=True)
class FieldSpec:
    """One leaf setting: its dotted key and what the model says about it."""

    key: str
    section: type[BaseModel]
    name: str
    annotation: Any
    default: Any
    description: str
    nullable: bool
    kind: ValueKind


def unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """`X | None` → (X, True); anything else → (it, False)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1:
            return rest[0], len(rest) != len(args)
        return annotation, len(rest) != len(args)
    return annotation, False


def _kind(base: Any) -> ValueKind:
    if base is str:
        return "str"
    if get_origin(base) is Literal and all(isinstance(arg, str) for arg in get_args(base)):
        return "str"
    if get_origin(base) is list:
        return "list"
    if base is bool:
        return "bool"
    if base is int:
        return "int"
    if base is float:
        return "float"
    return "other"


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _walk(
    model: type[BaseModel], prefix: str, out: dict[str, FieldSpec], sections: set[str]
) -> None:
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        if _is_section(info.annotation):
            sections.add(key)
            assert isinstance(info.annotation, type)
            _walk(info.annotation, f"{key}.", out, sections)
            continue
        base, nullable = unwrap_optional(info.annotation)
        out[key] = FieldSpec(
            key=key,
            section=model,
            name=name,
            annotation=info.annotation,
            default=info.get_default(call_default_factory=True),
            description=info.description or "",
            nullable=nullable,
            kind=_kind(base),
        )


@cache
def _schema(model: type[BaseModel]) -> tuple[dict[str, FieldSpec], frozenset[str]]:
    fields: dict[str, FieldSpec] = {}
    sections: set[str] = set()
    _walk(model, "", fields, sections)
    return fields, frozenset(sections)


def settings_fields(model: type[BaseModel] = Settings) -> dict[str, FieldSpec]:
    """Every leaf setting by dotted key ("backends.ollama.url"), in model order."""
    return _schema(model)[0]


def section_keys(model: type[BaseModel] = Settings) -> frozenset[str]:
    """Every section (table) key: "backends", "backends.ollama", "completion", …"""
    return _schema(model)[1]


_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def _snake(part: str) -> str:
    # Editors such as VS Code spell settings in camelCase ("debounceMs"); the model is
    # snake_case. Converting is unambiguous because no key differs only by case.
    return _CAMEL.sub(r"\1_\2", part).lower()


def canonical_key(key: str) -> str:
    """The model's spelling of a dotted key: strips a leading "trust.", snake_cases parts."""
    parts = [_snake(part.strip()) for part in key.split(".")]
    if len(parts) > 1 and parts[0] == "trust":
        parts = parts[1:]
    return ".".join(parts)


def env_var_name(key: str) -> str:
    """The environment variable that sets `key`: TRUST_ + parts joined by "__", upper case."""
    return ENV_PREFIX + "__".join(key.split(".")).upper()


_SECRET = re.compile(r"(api_?key|token|secret|password)", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """True when a value under this key may be a credential and must never be shown."""
    last = key.rsplit(".", 1)[-1]
    return bool(_SECRET.search(last)) and not last.lower().endswith("_env")


def unknown_key_message(key: str) -> str:
    """A user message for a key the model does not have, with a suggestion when close."""
    if is_secret_key(key) and "cloud" in key:
        return (
            "API keys are never read from configuration; put the key in the environment "
            "variable named by backends.cloud.api_key_env (default TRUST_CLOUD_API_KEY)"
        )
    known = [*settings_fields(), *section_keys()]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown setting{hint}"


def _first_error(exc: PydanticValidationError) -> str:
    errors = exc.errors(include_url=False)
    if not errors:
        return str(exc)
    return str(errors[0]["msg"])


def validate_value(key: str, value: Any) -> Any:
    """Validate one leaf value against the model and return it converted.

    Raises `ValueError` with a short reason when the value is invalid. Field validators of
    the section run too (e.g. the "huggingface" alias in `fallback.order`).
    """
    spec = settings_fields()[key]
    try:
        section = spec.section.model_validate({spec.name: value})
    except PydanticValidationError as exc:
        raise ValueError(_first_error(exc)) from None
    return getattr(section, spec.name)


def _json_or_str(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_text_value(key: str, text: str) -> Any:
    """Turn a value written as text (an environment variable, a command line) into data.

    Strings stay strings (a JSON-quoted string is unquoted); lists are JSON or
    comma-separated; everything else is JSON when it parses (`200`, `true`, `0.5`), else
    the text itself, which the model then converts or rejects. Empty text means "unset"
    (None) for a setting that can be empty.
    """
    stripped = text.strip()
    spec = settings_fields().get(key)
    if spec is None:
        return _json_or_str(stripped)
    if stripped == "" and spec.nullable:
        return None
    if spec.kind == "str":
        parsed = _json_or_str(stripped)
        return parsed if isinstance(parsed, str) else stripped
    if spec.kind == "list":
        if stripped.startswith("["):
            return _json_or_str(stripped)
        return [part.strip() for part in stripped.split(",") if part.strip()]
    return _json_or_str(stripped)
