"""`trust ask`: one question, one streamed answer (through the same `ChatService` as the
language server's `trust.ask`)."""

from __future__ import annotations

import sys
from pathlib import Path

from trust_lsp.config import ConfigStore
from trust_lsp.core.generator import Generator
from trust_lsp.errors import ValidationError
from trust_lsp.features.chat.context import WorkspaceContext
from trust_lsp.features.chat.service import ChatAnswer, ChatService, TurnProgress

from .output import AnswerPrinter, provenance


def parse_selection(spec: str) -> tuple[int, int]:
    """ "L1:L2" (1-based, inclusive) → (start, end); "L" → (L, L)."""
    first, _, last = spec.partition(":")
    try:
        start = int(first)
        end = int(last) if last else start
    except ValueError:
        raise ValidationError(f"--selection expects L1:L2 (line numbers), got {spec!r}") from None
    if start < 1 or end < start:
        raise ValidationError(f"--selection {spec!r}: lines start at 1 and L2 must be ≥ L1")
    return start, end


def file_context(path: Path, selection: tuple[int, int] | None) -> WorkspaceContext:
    """The file as the chat context: its text, and the selected lines (the whole file when
    no selection is given)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path} is not a UTF-8 text file") from None
    lines = text.splitlines(keepends=True)
    start, end = selection or (1, max(1, len(lines)))
    if start > max(1, len(lines)):
        raise ValidationError(f"--selection starts at line {start}; {path} has {len(lines)}")
    end = min(end, len(lines))
    first = sum(len(line) for line in lines[: start - 1])
    last = first + sum(len(line) for line in lines[start - 1 : end])
    return WorkspaceContext(
        current_path=str(path),
        language=path.suffix.lstrip("."),
        text=text,
        selection=(first, last),
        selection_lines=(start, end),
    )


async def ask(
    store: ConfigStore,
    generator: Generator,
    question: str,
    *,
    file: Path | None,
    selection: str | None,
    model: str | None = None,
    backend: str | None = None,
    printer: AnswerPrinter | None = None,
) -> ChatAnswer:
    """Stream one answer to the terminal and return it."""
    if selection and file is None:
        raise ValidationError("--selection needs --file")
    context = None
    if file is not None:
        context = file_context(file, parse_selection(selection) if selection else None)
    service = ChatService(generator, lambda: store.settings)
    progress = TurnProgress()
    with printer or AnswerPrinter() as out:
        answer = await service.ask(
            question,
            session=None,
            context=context,
            on_delta=out.delta,
            use_tools=False,
            model=model,
            backend=backend,
            progress=progress,
        )
    print(provenance(progress), file=sys.stderr)
    return answer
