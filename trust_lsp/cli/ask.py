"""`trust ask`: one question, one streamed answer."""

from __future__ import annotations

import sys
from pathlib import Path

from trust_lsp.backends.base import GenerationOptions, Message, TextDelta
from trust_lsp.config import ConfigStore
from trust_lsp.core.generator import Generator
from trust_lsp.core.types import ChatInput, GenerationRequest, GenerationResult, RequestKind
from trust_lsp.errors import ValidationError

from .output import AnswerPrinter, provenance

SYSTEM_PROMPT = (
    "You are Trust, a concise coding assistant. Answer in markdown. Put code in fenced "
    "blocks with the language named."
)


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


def file_context(path: Path, selection: tuple[int, int] | None, *, max_chars: int) -> str:
    """The file (or the selected lines) as a fenced block the model can read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path} is not a UTF-8 text file") from None
    label = str(path)
    if selection is not None:
        lines = text.splitlines(keepends=True)
        start, end = selection
        if start > len(lines):
            raise ValidationError(f"--selection starts at line {start}; {path} has {len(lines)}")
        text = "".join(lines[start - 1 : end])
        label = f"{path} lines {start}-{min(end, len(lines))}"
    if len(text) > max_chars:
        text = text[:max_chars] + "\n… (truncated)\n"
    language = path.suffix.lstrip(".")
    return f"{label}:\n```{language}\n{text.rstrip()}\n```"


def build_ask_messages(question: str, context: str | None) -> list[Message]:
    content = f"{context}\n\n{question}" if context else question
    return [Message("system", SYSTEM_PROMPT), Message("user", content)]


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
) -> GenerationResult:
    """Stream one answer to the terminal and return it."""
    if selection and file is None:
        raise ValidationError("--selection needs --file")
    settings = store.settings
    context = None
    if file is not None:
        chars = settings.chat.context_tokens * 3
        context = file_context(
            file, parse_selection(selection) if selection else None, max_chars=chars
        )
    request = GenerationRequest(
        kind=RequestKind.CHAT,
        chat=ChatInput(messages=build_ask_messages(question, context)),
        options=GenerationOptions(
            temperature=settings.chat.temperature, max_tokens=settings.chat.max_tokens
        ),
        model=model,
        backend=backend,
    )
    with printer or AnswerPrinter() as out:
        result = await generator.generate(
            request, on_event=lambda e: out.delta(e.text) if isinstance(e, TextDelta) else None
        )
    print(provenance(result), file=sys.stderr)
    return result
