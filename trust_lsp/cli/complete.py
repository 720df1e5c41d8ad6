"""`trust complete FILE:LINE:COL`: the completion the language server would show there."""

from __future__ import annotations

import json
from pathlib import Path

from trust_lsp.config import ConfigStore
from trust_lsp.core.generator import Generator
from trust_lsp.errors import ValidationError
from trust_lsp.features.completion.engine import CompletionEngine
from trust_lsp.features.completion.types import DocumentSnapshot


def parse_location(spec: str) -> tuple[Path, int, int]:
    """ "path/to/file.py:12:5" (1-based line and column) → (path, line, column)."""
    parts = spec.rsplit(":", 2)
    if len(parts) != 3:
        raise ValidationError(f"expected FILE:LINE:COL, got {spec!r}")
    name, line_text, col_text = parts
    try:
        line, col = int(line_text), int(col_text)
    except ValueError:
        raise ValidationError(f"LINE and COL must be numbers in {spec!r}") from None
    if line < 1 or col < 1:
        raise ValidationError(f"LINE and COL start at 1 in {spec!r}")
    return Path(name), line, col


def offset_of(text: str, line: int, col: int) -> int:
    """Python string offset of a 1-based (line, column); columns count characters."""
    lines = text.split("\n")
    if line > len(lines):
        raise ValidationError(f"line {line} is past the end of the file ({len(lines)} lines)")
    current = lines[line - 1]
    if col > len(current) + 1:
        raise ValidationError(f"column {col} is past the end of line {line} ({len(current)} chars)")
    return sum(len(row) + 1 for row in lines[: line - 1]) + col - 1


async def complete(
    store: ConfigStore, generator: Generator, location: str, *, as_json: bool
) -> int:
    path, line, col = parse_location(location)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path} is not a UTF-8 text file") from None
    offset = offset_of(text, line, col)
    doc = DocumentSnapshot(
        uri=path.resolve().as_uri(),
        text=text,
        language_id=path.suffix.lstrip(".") or "text",
        version=1,
        path=str(path.resolve()),
    )
    engine = CompletionEngine(generator, lambda: store.settings, metrics=generator.metrics)
    suggestions = await engine.complete(doc, offset)
    if as_json:
        print(
            json.dumps(
                [{"text": s.text, "replace_chars": s.replace_chars} for s in suggestions], indent=2
            )
        )
    elif suggestions:
        print(suggestions[0].text)
    return 0 if suggestions else 1
