"""`trust chat`: an interactive session with history, streamed answers and slash commands.

Ctrl-C while an answer streams cancels that answer (the partial text stays in the history,
marked as interrupted); Ctrl-C at the prompt says how to leave; Ctrl-D or `/exit` leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from trust_lsp.backends.base import GenerationOptions, Message, TextDelta
from trust_lsp.config import ConfigStore
from trust_lsp.core.generator import Generator
from trust_lsp.core.types import ChatInput, GenerationRequest, GenerationResult, RequestKind
from trust_lsp.errors import TrustError
from trust_lsp.tools.loop import Activity, run_chat_turn
from trust_lsp.tools.workspace import build_registry

from .ask import SYSTEM_PROMPT
from .host import TerminalHost
from .output import AnswerPrinter, provenance

HELP = """commands:
  /new            start a new conversation
  /model [NAME]   show or set the chat model
  /status         backends' health and metrics
  /exit           leave (Ctrl-D works too)
Ctrl-C cancels the answer being written."""

INTERRUPTED_NOTE = "\n\n[answer interrupted]"


@dataclass
class ChatSession:
    """The conversation so far (system prompt first)."""

    messages: list[Message] = field(default_factory=lambda: [Message("system", SYSTEM_PROMPT)])
    model: str | None = None

    def reset(self) -> None:
        self.messages = [Message("system", SYSTEM_PROMPT)]


def read_line(prompt: str) -> str:
    """`input()` with line editing on a terminal; in a pipe the prompt goes to stderr."""
    if sys.stdin.isatty():
        return input(prompt)
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


class Repl:
    """Reads lines, runs answers as cancellable tasks, handles slash commands."""

    def __init__(
        self,
        store: ConfigStore,
        generator: Generator,
        *,
        workspace: Path | None = None,
        read_line: Callable[[str], str] = read_line,
    ) -> None:
        self._store = store
        self._generator = generator
        self._read_line = read_line
        self._session = ChatSession()
        self._answer: asyncio.Task[GenerationResult] | None = None
        self._host = TerminalHost(workspace or Path.cwd(), read_line)
        self._registry = build_registry(lambda: store.settings, metrics=generator.metrics)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, self._on_interrupt)
        print("Trust chat — /help for commands, Ctrl-D to leave.", file=sys.stderr)
        try:
            while True:
                try:
                    line = await loop.run_in_executor(None, self._read_line, "you> ")
                except EOFError:
                    print(file=sys.stderr)
                    return
                line = line.strip()
                if not line:
                    continue
                if line.startswith("/"):
                    if not await self._command(line):
                        return
                    continue
                await self._ask(line)
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)

    def _on_interrupt(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()
        else:
            print("\n(use /exit or Ctrl-D to leave)", file=sys.stderr, flush=True)

    async def _command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("/exit", "/quit"):
            return False
        if name == "/new":
            self._session.reset()
            print("(new conversation)", file=sys.stderr)
        elif name == "/model":
            if arg:
                self._session.model = arg
            current = self._session.model or self._store.settings.backends.ollama.chat_model
            print(f"chat model: {current}", file=sys.stderr)
        elif name == "/status":
            print(json.dumps(self._generator.status(), indent=2, default=str))
        elif name == "/help":
            print(HELP, file=sys.stderr)
        else:
            print(f"unknown command {name}; /help lists them", file=sys.stderr)
        return True

    async def _ask(self, prompt: str) -> None:
        self._session.messages.append(Message("user", prompt))
        settings = self._store.settings
        request = GenerationRequest(
            kind=RequestKind.CHAT,
            chat=ChatInput(messages=list(self._session.messages)),
            options=GenerationOptions(
                temperature=settings.chat.temperature, max_tokens=settings.chat.max_tokens
            ),
            model=self._session.model,
        )
        with AnswerPrinter() as out:

            def on_event(event: object) -> None:
                if isinstance(event, TextDelta):
                    out.delta(event.text)
                elif isinstance(event, Activity):
                    out.activity(event.text)

            self._answer = asyncio.ensure_future(self._turn(request, on_event))
            try:
                result = await self._answer
            except asyncio.CancelledError:
                partial = out.text
                result = None
            except TrustError as error:
                print(f"trust: {error.message}", file=sys.stderr)
                self._session.messages.pop()
                return
            finally:
                self._answer = None
        if result is None:
            self._session.messages.append(Message("assistant", partial + INTERRUPTED_NOTE))
            print("(answer interrupted)", file=sys.stderr, flush=True)
            return
        self._session.messages.append(Message("assistant", result.text))
        print(provenance(result), file=sys.stderr, flush=True)

    async def _turn(
        self, request: GenerationRequest, on_event: Callable[[object], None]
    ) -> GenerationResult:
        """One answer: with the workspace tools when any are enabled, else a plain stream."""
        if not self._store.settings.tools.enabled:
            return await self._generator.generate(request, on_event=on_event)
        turn = await run_chat_turn(
            self._generator, request, self._registry, self._host, on_event=on_event
        )
        if turn.tool_calls:
            names = ", ".join(call["name"] for call in turn.tool_calls)
            print(f"  · tools used: {names}", file=sys.stderr)
        return GenerationResult(
            text=turn.text,
            backend=turn.backend,
            model=turn.model,
            cloud=turn.cloud,
            usage=turn.usage,
            done_reason=turn.stopped_reason,
        )
