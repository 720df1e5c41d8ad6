"""Keep the extension's `contributes.configuration` in step with the server's Settings model.

The server's pydantic model (`trust_lsp.config.settings.Settings`) is the reference for every
key, default and description; VS Code needs the same keys declared in package.json so that
they show up in the Settings UI. This script derives the declarations from the model:

    .venv/bin/python editors/vscode/scripts/sync_settings.py --write   # update package.json
    .venv/bin/python editors/vscode/scripts/sync_settings.py --check   # exit 1 when stale

`tests/editors/test_vscode_settings.py` runs the check in `make test`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

PACKAGE_JSON = Path(__file__).resolve().parent.parent / "package.json"
PREFIX = "trust."

# Settings that only the extension reads (they never reach the server).
CLIENT_ONLY: dict[str, dict[str, Any]] = {
    "trust.serverPath": {
        "type": "string",
        "default": "",
        "markdownDescription": "Path of the `trust-lsp` executable. Empty: `trust-lsp` on "
        "`PATH`, else `.venv/bin/trust-lsp` in the workspace.",
        "scope": "machine-overridable",
    },
    "trust.serverArgs": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "markdownDescription": "Extra arguments for `trust-lsp` (e.g. `--log-file`).",
        "scope": "machine-overridable",
    },
    "trust.trace.server": {
        "type": "string",
        "enum": ["off", "messages", "verbose"],
        "default": "off",
        "markdownDescription": "Log the LSP messages between VS Code and the server in the "
        "*Trust LSP* output channel.",
    },
}

_COPIED_KEYWORDS = ("type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return dict(defs[ref.rsplit("/", 1)[-1]])
    return schema


def _leaf(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Turn one pydantic JSON-schema property into a VS Code configuration property."""
    out: dict[str, Any] = {}
    variants = schema.get("anyOf")
    if isinstance(variants, list):
        # `str | None` and friends: VS Code accepts a list of types.
        types: list[str] = []
        for variant in variants:
            variant = _resolve(variant, defs)
            kind = variant.get("type")
            if isinstance(kind, str) and kind not in types:
                types.append(kind)
            for key in _COPIED_KEYWORDS[1:]:
                if key in variant:
                    out[key] = variant[key]
        out["type"] = types
    for key in _COPIED_KEYWORDS:
        if key in schema:
            out[key] = schema[key]
    if "items" in schema:
        items = _resolve(schema["items"], defs)
        out["items"] = {k: items[k] for k in ("type", "enum") if k in items}
    out["default"] = schema.get("default")
    out["markdownDescription"] = schema.get("description", "")
    return out


def server_properties() -> dict[str, dict[str, Any]]:
    """Every server setting as `trust.<dotted key>` → VS Code property, in model order."""
    from trust_lsp.config.settings import Settings

    root = Settings.model_json_schema()
    defs: dict[str, Any] = root.get("$defs", {})
    defaults = Settings().model_dump(mode="json")
    out: dict[str, dict[str, Any]] = {}

    def walk(schema: dict[str, Any], path: list[str], default: Any) -> None:
        schema = _resolve(schema, defs)
        props = schema.get("properties")
        if isinstance(props, dict) and schema.get("type", "object") == "object":
            for name, sub in props.items():
                walk(sub, [*path, name], default[name])
            return
        prop = _leaf(schema, defs)
        # The model's own defaults (default_factory ones included) are the reference.
        prop["default"] = default
        out[PREFIX + ".".join(path)] = prop

    walk(root, [], defaults)
    return out


def expected_properties() -> dict[str, dict[str, Any]]:
    """All properties package.json should declare: client-only ones first, then the server's."""
    return {**CLIENT_ONLY, **server_properties()}


def load_package(path: Path = PACKAGE_JSON) -> dict[str, Any]:
    """Read package.json."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def declared_properties(package: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The configuration properties package.json declares now."""
    props: dict[str, dict[str, Any]] = package["contributes"]["configuration"]["properties"]
    return props


def differences(package: dict[str, Any]) -> list[str]:
    """One line per key whose declaration differs from the model (empty: in step)."""
    expected = expected_properties()
    declared = declared_properties(package)
    lines = [f"missing: {key}" for key in expected if key not in declared]
    lines += [f"not a setting: {key}" for key in declared if key not in expected]
    for key, want in expected.items():
        have = declared.get(key)
        if have is None:
            continue
        for field in sorted(set(want) | set(have)):
            if want.get(field) != have.get(field):
                have_value, want_value = have.get(field), want.get(field)
                lines.append(f"{key}.{field}: package.json {have_value!r} != {want_value!r}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Check or rewrite package.json's settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="store_true")
    group.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    package = load_package()
    if args.check:
        diff = differences(package)
        for line in diff:
            print(line)
        if diff:
            print("run: .venv/bin/python editors/vscode/scripts/sync_settings.py --write")
        return 1 if diff else 0
    package["contributes"]["configuration"]["properties"] = expected_properties()
    PACKAGE_JSON.write_text(json.dumps(package, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
