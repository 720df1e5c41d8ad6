"""Streaming answers to the terminal: rendered markdown on a terminal, plain text in a pipe."""

from __future__ import annotations

import sys
from typing import Any, Protocol, TextIO

from trust_lsp.errors import Attempt


class AnswerPrinter:
    """Prints an answer as its deltas arrive.

    On a terminal the text is rendered as markdown (rich, imported only here) and refreshed in
    place; in a pipe each delta is written as it comes, so `trust ask … | less` streams too.
    """

    def __init__(self, stream: TextIO | None = None, *, markdown: bool | None = None) -> None:
        self._stream = stream or sys.stdout
        self._markdown = self._stream.isatty() if markdown is None else markdown
        self._text: list[str] = []
        self._live: Any = None

    def __enter__(self) -> AnswerPrinter:
        if self._markdown:
            from rich.console import Console
            from rich.live import Live
            from rich.markdown import Markdown

            self._md = Markdown
            console = Console(file=self._stream)
            self._live = Live(Markdown(""), console=console, refresh_per_second=12)
            self._live.__enter__()
        return self

    def delta(self, text: str) -> None:
        self._text.append(text)
        if self._live is not None:
            self._live.update(self._md("".join(self._text)))
        else:
            self._stream.write(text)
            self._stream.flush()

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
        elif self._text and not "".join(self._text).endswith("\n"):
            self._stream.write("\n")
            self._stream.flush()

    @property
    def text(self) -> str:
        return "".join(self._text)


class Answered(Protocol):
    """Who answered (a chat turn's `TurnProgress`)."""

    backend: str
    model: str
    cloud: bool
    skipped: tuple[Attempt, ...]


def provenance(result: Answered, *, interrupted: bool = False) -> str:
    """One line saying who answered: shown on stderr after every answer."""
    where = f"{result.backend} ({result.model})" if result.model else result.backend
    parts = [f"answered by {where}"]
    if result.cloud:
        parts.append("CLOUD: this answer left your machine")
    if result.skipped:
        parts.append("skipped " + ", ".join(f"{a.backend}: {a.reason}" for a in result.skipped))
    if interrupted:
        parts.append("interrupted")
    return "— " + "; ".join(parts)


def human_size(size: int | None) -> str:
    if not size:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
