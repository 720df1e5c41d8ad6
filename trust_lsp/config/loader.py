"""Read the configuration sources into layers: the files, the environment, `OLLAMA_HOST`.

Also writes one key to a config file (`trust config set`), validated against the model.
Reading never raises on bad content: a malformed file becomes a `ConfigIssue`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import math
import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trust_lsp.config.schema import (
    ENV_PREFIX,
    canonical_key,
    parse_text_value,
    settings_fields,
    unknown_key_message,
    validate_value,
)
from trust_lsp.config.store import ConfigIssue, ConfigStore, Layer
from trust_lsp.errors import ValidationError
from trust_lsp.files import write_text_atomically

__all__ = [
    "OLLAMA_DEFAULT_PORT",
    "dumps_toml",
    "env_layer",
    "load_config",
    "ollama_url_from_host",
    "read_config_file",
    "toml_value",
    "user_config_path",
    "workspace_config_path",
    "write_config_value",
]

OLLAMA_DEFAULT_PORT = 11434
_OLLAMA_URL_KEY = "backends.ollama.url"


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/trust/config.toml`, or `~/.config/trust/config.toml`."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        base = Path(xdg)
    else:
        home = env.get("HOME")
        base = (Path(home) if home else Path.home()) / ".config"
    return base / "trust" / "config.toml"


def workspace_config_path(root: Path) -> Path:
    """`<root>/.trust/config.toml`."""
    return Path(root) / ".trust" / "config.toml"


def read_config_file(path: Path, layer: Layer) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """A TOML config file as layer data. A missing file is an empty layer, not an issue;
    an unreadable or malformed one is ignored as a whole and reported."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return {}, [ConfigIssue("", layer, str(path), f"cannot read {path}: {reason}")]
    try:
        return tomllib.loads(raw.decode("utf-8")), []
    except UnicodeDecodeError:
        message = f"{path} is not UTF-8 text; the file is ignored"
    except tomllib.TOMLDecodeError as exc:
        message = f"{path} is not valid TOML ({exc}); the file is ignored"
    return {}, [ConfigIssue("", layer, str(path), message)]


def ollama_url_from_host(value: str) -> str:
    """Ollama's base URL from an `OLLAMA_HOST` value, read the way Ollama's clients do.

    "host", "host:port", ":port", "[v6]:port", "scheme://host[:port][/path]". No scheme means
    http on port 11434; an explicit http:// or https:// without a port means 80 or 443 (as
    in Ollama's own clients). The wildcard addresses a server listens on (0.0.0.0, ::) are
    not addresses a client can use, so they become 127.0.0.1.
    """
    text = value.strip()
    port = OLLAMA_DEFAULT_PORT
    scheme, sep, hostport = text.partition("://")
    if not sep:
        scheme, hostport = "http", text
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    # Raises ValueError for a malformed address such as "[::1"; the caller reports it.
    split = urllib.parse.urlsplit(f"{scheme}://{hostport}")
    host = split.hostname or "127.0.0.1"
    # A port that is not a number or out of range: Ollama's server and CLI use the default.
    with contextlib.suppress(ValueError):
        port = split.port or port
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if address.is_unspecified:
            host = "127.0.0.1"
        elif address.version == 6:
            host = f"[{host}]"
    path = split.path.strip("/")
    return f"{scheme}://{host}:{port}" + (f"/{path}" if path else "")


def env_layer(env: Mapping[str, str]) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """The environment layer: `TRUST_SECTION__KEY` variables and `OLLAMA_HOST`.

    Only variables with a `__` are settings (TRUST_CLOUD_API_KEY and other plain `TRUST_`
    variables are left alone). Values are parsed by the setting's type (see
    `parse_text_value`); an empty variable counts as unset. `TRUST_BACKENDS__OLLAMA__URL`
    wins over `OLLAMA_HOST`.
    """
    data: dict[str, Any] = {}
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :]
        if "__" not in rest:
            continue
        raw = env[name]
        if not raw.strip():
            continue
        key = ".".join(part.lower() for part in rest.split("__"))
        data[key] = parse_text_value(key, raw)
    host = env.get("OLLAMA_HOST", "").strip()
    issues: list[ConfigIssue] = []
    if host and _OLLAMA_URL_KEY not in data:
        try:
            data[_OLLAMA_URL_KEY] = ollama_url_from_host(host)
        except ValueError as exc:
            message = f"OLLAMA_HOST is not a usable address ({exc})"
            issues.append(ConfigIssue(_OLLAMA_URL_KEY, Layer.ENV, host, message))
    return data, issues


def load_config(
    workspace_root: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    client: Mapping[str, Any] | None = None,
    user_file: Path | None = None,
) -> ConfigStore:
    """A store with the user file, the workspace file, the environment and client layers.

    `env` defaults to `os.environ`; `user_file` to `user_config_path(env)`. Problems are in
    `store.issues` (and logged); this never raises on bad configuration.
    """
    env = os.environ if env is None else env
    layers: dict[Layer, Mapping[str, Any]] = {}
    issues: dict[Layer, list[ConfigIssue]] = {}
    layers[Layer.USER], issues[Layer.USER] = read_config_file(
        user_file if user_file is not None else user_config_path(env), Layer.USER
    )
    if workspace_root is not None:
        layers[Layer.WORKSPACE], issues[Layer.WORKSPACE] = read_config_file(
            workspace_config_path(workspace_root), Layer.WORKSPACE
        )
    layers[Layer.ENV], issues[Layer.ENV] = env_layer(env)
    if client:
        layers[Layer.CLIENT] = client
    return ConfigStore(layers, issues=issues)


def write_config_value(path: Path, key: str, value: object) -> object:
    """Set one key in a TOML config file, validated first; returns the value written.

    A string value is parsed by the setting's type ("200" → 200, "a,b" → a list); `None`
    (or an empty string for a setting that can be empty) removes the key. Other keys and
    unknown content of the file are kept; comments and formatting are not (the file is
    rewritten). Raises `trust_lsp.errors.ValidationError` for an unknown key, an invalid
    value, or an existing file that is not valid TOML (which is then left untouched).
    """
    key = canonical_key(key)
    spec = settings_fields().get(key)
    if spec is None:
        raise ValidationError(f"{key}: {unknown_key_message(key)}")
    if isinstance(value, str):
        value = parse_text_value(key, value)
    elif spec.kind == "str" and isinstance(value, int | float) and not isinstance(value, bool):
        # `trust config set backends.ollama.chat_model 123` means the string "123".
        value = str(value)
    if value is not None:
        try:
            value = validate_value(key, value)
        except ValueError as exc:
            raise ValidationError(f"{key} = {value!r} is invalid: {exc}") from None
    elif not spec.nullable:
        raise ValidationError(f"{key} cannot be empty (default: {spec.default!r})")

    document: dict[str, Any] = {}
    if path.exists():
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(f"{path} is not valid TOML ({exc}); fix or remove it") from None
    # Keep a file that wraps everything in [trust] in that shape.
    target = document
    wrapped = document.get("trust")
    if isinstance(wrapped, dict) and set(document) == {"trust"}:
        target = wrapped
    *parents, last = key.split(".")
    node = target
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    write_text_atomically(path, dumps_toml(document))
    return value


# --- a small TOML writer (tomllib only reads) ------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def toml_value(value: Any) -> str:
    """One TOML value (string, number, boolean, date, array, inline table) as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _write_table(lines: list[str], path: tuple[str, ...], table: Mapping[str, Any]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    if path and (scalars or not tables):
        if lines:
            lines.append("")
        lines.append("[" + ".".join(_toml_key(part) for part in path) + "]")
    for key, value in scalars:
        lines.append(f"{_toml_key(key)} = {toml_value(value)}")
    for key, value in tables:
        _write_table(lines, (*path, key), value)


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Serialize nested mappings of TOML values (what `tomllib` returns) as TOML text."""
    lines: list[str] = []
    _write_table(lines, (), data)
    return "\n".join(lines) + "\n" if lines else ""
