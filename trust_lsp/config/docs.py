"""Generate docs/configuration.md from the settings model, or check that it is up to date.

python -m trust_lsp.config.docs --write docs/configuration.md
python -m trust_lsp.config.docs --check docs/configuration.md   # exit 1 when stale
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from trust_lsp.config.loader import ollama_url_from_host, toml_value
from trust_lsp.config.schema import FieldSpec, env_var_name, settings_fields, unwrap_optional

__all__ = ["EXAMPLE_TOML", "check", "main", "render"]

EXAMPLE_TOML = """\
# ~/.config/trust/config.toml (or .trust/config.toml in a workspace)
[backends.ollama]
url = "http://127.0.0.1:11434"
chat_model = "qwen2.5-coder:7b"
completion_model = "qwen2.5-coder:1.5b"

[backends.local]
idle_unload_s = 300

[fallback]
order = ["ollama", "local"]

[completion]
debounce_ms = 200
max_tokens = 64

[tools]
write_approval = "ask"
"""

_SECTION_NOTES: dict[str, str] = {
    "backends.ollama": "The Ollama server (native API).",
    "backends.local": "The embedded model, run in-process by llama.cpp. Works with no server.",
    "backends.cloud": "An OpenAI-compatible server: a cloud API, vLLM, llama-server, LM Studio. "
    "Never contacted unless `privacy.mode` is `allow-cloud`.",
    "fallback": "Which backend answers, and what happens when it fails.",
    "privacy": "Whether anything may leave the machine.",
    "completion": "Inline (ghost text) and classic completions.",
    "chat": "Chat, `trust ask` and the Ask Trust code actions.",
    "tools": "Tools the model may call in chat (read, search and edit the workspace).",
    "health": "Background health checks of the backends.",
    "server": "The language server process.",
}

_OLLAMA_HOST_EXAMPLES = ["myhost", "myhost:8080", ":8080", "0.0.0.0", "https://ollama.example"]

_SCALAR_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _type_name(annotation: Any) -> str:
    base, nullable = unwrap_optional(annotation)
    if get_origin(base) is Literal:
        choices = [f'`"{arg}"`' for arg in get_args(base)]
        text = " or ".join(choices) if len(choices) <= 2 else "one of " + ", ".join(choices)
    elif get_origin(base) is list:
        (item,) = get_args(base)
        if get_origin(item) is Literal:
            text = "list of " + ", ".join(f'`"{arg}"`' for arg in get_args(item))
        else:
            text = f"list of {_type_name(item)}s"
    else:
        text = _SCALAR_NAMES.get(base, getattr(base, "__name__", str(base)))
    return f"{text}, optional" if nullable else text


def _default(spec: FieldSpec) -> str:
    if spec.default is None:
        return "unset"
    return f"`{toml_value(spec.default)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _intro() -> str:
    host_rows = "\n".join(
        f"| `{value}` | `{ollama_url_from_host(value)}` |" for value in _OLLAMA_HOST_EXAMPLES
    )
    return f"""\
# Configuration

<!-- Generated from trust_lsp/config/settings.py by
     `python -m trust_lsp.config.docs --write docs/configuration.md` (`make docs`).
     Do not edit by hand: CI fails when this file is out of date. -->

Trust LSP works with no configuration at all: it uses Ollama at `http://127.0.0.1:11434`
when it runs, and otherwise the small model embedded in the package. Every setting below
can be given in any of these layers; a higher layer wins, key by key:

| layer | where | notes |
|---|---|---|
| `default` | built in | the defaults in the tables below |
| `user` | `$XDG_CONFIG_HOME/trust/config.toml` (default `~/.config/trust/config.toml`) | TOML |
| `workspace` | `.trust/config.toml` in the workspace root | TOML |
| `env` | environment variables `TRUST_…`, and `OLLAMA_HOST` | see below |
| `client` | the command line (`--set key=value`), the LSP `initializationOptions` | JSON |
| `runtime` | `workspace/didChangeConfiguration` (section `trust`) | JSON |

`trust config show` lists every effective value and the layer that set it;
`trust config path` prints the two file locations; `trust config set KEY VALUE` writes one
validated key to the user file (`--workspace-file`: to the workspace file; the file is
rewritten, so comments in it are not kept).

## Writing settings

In TOML files, use tables (`[completion]` then `debounce_ms = 200`) or dotted keys
(`completion.debounce_ms = 200`). Editor settings (`initializationOptions`,
`workspace/configuration`) use the same nested keys as JSON, optionally inside a top-level
`"trust"` object, so `{{"trust": {{"completion": {{"debounce_ms": 200}}}}}}` works; camelCase
names (`debounceMs`) are accepted too. A JSON `null` means "not set here" (the lower layers
apply), except for settings marked *optional*, where it means empty.

## Environment variables

`TRUST_` followed by the key's parts joined with `__`, in upper case: `TRUST_BACKENDS__OLLAMA__URL`,
`TRUST_COMPLETION__DEBOUNCE_MS=200`. Values are read by the setting's type: numbers and
booleans as JSON (`200`, `true`), lists as JSON (`["ollama","local"]`) or comma-separated
(`ollama,local`), strings as they are. An empty variable is ignored. `TRUST_` variables
without `__` (such as `TRUST_CLOUD_API_KEY`) are not settings and are left alone.

`OLLAMA_HOST` sets `backends.ollama.url`, read the way Ollama's own tools read it
(`TRUST_BACKENDS__OLLAMA__URL` wins when both are set). No scheme means `http://` and port
11434; the wildcard address a server listens on becomes `127.0.0.1`:

| `OLLAMA_HOST` | URL used |
|---|---|
{host_rows}

## API keys

The cloud backend's key is never written in a configuration file, never logged and never
shown: it is read from the environment variable named by `backends.cloud.api_key_env`
(default `TRUST_CLOUD_API_KEY`). A key found in a config file is ignored with a warning.

## Invalid values

A value of the wrong type, out of range, or under an unknown key is ignored and reported
(in the language server's log; `trust` prints it on stderr), naming the key, the layer and
the value; the value from the next lower layer applies, and so does the rest
of the configuration. A file that is not valid TOML is ignored as a whole and reported the
same way. Trust never fails to start because of its configuration.

## Example

```toml
{EXAMPLE_TOML}```
"""


def _section_table(section: str, specs: list[FieldSpec]) -> list[str]:
    lines = [f"### `{section}`", ""]
    if note := _SECTION_NOTES.get(section):
        lines += [note, ""]
    lines += [
        "| key | type | default | environment variable | description |",
        "|---|---|---|---|---|",
    ]
    for spec in specs:
        name = spec.key.rsplit(".", 1)[-1]
        lines.append(
            f"| `{name}` | {_cell(_type_name(spec.annotation))} | {_cell(_default(spec))} "
            f"| `{env_var_name(spec.key)}` | {_cell(spec.description)} |"
        )
    return [*lines, ""]


def render() -> str:
    """The whole configuration reference, as Markdown."""
    sections: dict[str, list[FieldSpec]] = {}
    for key, spec in settings_fields().items():
        sections.setdefault(key.rsplit(".", 1)[0], []).append(spec)
    lines = [_intro(), "## Reference", ""]
    for section, specs in sections.items():
        lines += _section_table(section, specs)
    return "\n".join(lines).rstrip("\n") + "\n"


def check(path: Path) -> str | None:
    """None when `path` matches the generated text, else a message saying what to do."""
    expected = render()
    try:
        actual = path.read_text(encoding="utf-8")
    except OSError:
        return f"{path} is missing: run `make docs` and commit it"
    if actual == expected:
        return None
    diff = difflib.unified_diff(
        actual.splitlines(), expected.splitlines(), str(path), "generated", lineterm="", n=1
    )
    shown = "\n".join(list(diff)[:40])
    return (
        f"{path} is out of date with trust_lsp/config/settings.py: run `make docs` "
        f"(python -m trust_lsp.config.docs --write {path}) and commit it.\n{shown}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: --write PATH or --check PATH."""
    parser = argparse.ArgumentParser(prog="python -m trust_lsp.config.docs", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, metavar="PATH", help="write the reference")
    group.add_argument("--check", type=Path, metavar="PATH", help="exit 1 when PATH is stale")
    args = parser.parse_args(argv)
    if args.write is not None:
        path: Path = args.write
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
        print(f"wrote {path}")
        return 0
    problem = check(args.check)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    print(f"{args.check} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
