"""`trust chat`: an interactive session with history, streamed answers and slash commands.

Turns go through the same `ChatService` (history within `chat.context_tokens`, the tool
loop) as the language server's `trust.chat`; the terminal is the tools' host.
Ctrl-C while an answer streams cancels that answer (the partial text stays in the history,
marked as interrupted); Ctrl-C at the prompt says how to leave; Ctrl-D or `/exit` leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from trust_lsp.config import ConfigStore
from trust_lsp.core.generator import Generator
from trust_lsp.errors import TrustError
from trust_lsp.features.chat.context import WorkspaceContext
from trust_lsp.features.chat.service import ChatAnswer, ChatService, TurnProgress
from trust_lsp.features.chat.sessions import ChatSession
from trust_lsp.features.chat.tool_runner import LoopToolRunner
from trust_lsp.tools.workspace import build_registry

from .host import TerminalHost
from .output import AnswerPrinter, provenance

HELP = """commands:
  /new            start a new conversation
  /model [NAME]   show or set the chat model
  /status         backends' health and metrics
  /exit           leave (Ctrl-D works too)
Ctrl-C cancels the answer being written."""


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
        model: str | None = None,
        read_line: Callable[[str], str] = read_line,
    ) -> None:
        self._store = store
        self._generator = generator
        self._read_line = read_line
        self._root = (workspace or Path.cwd()).resolve()
        self._session = self._new_session()
        self._model = model
        self._answer: asyncio.Task[ChatAnswer] | None = None
        host = TerminalHost(self._root, read_line)
        registry = build_registry(lambda: store.settings, metrics=generator.metrics)
        runner = LoopToolRunner(generator, registry, lambda: store.settings, host)
        self._service = ChatService(generator, lambda: store.settings, tool_runner=runner)

    @staticmethod
    def _new_session() -> ChatSession:
        return ChatSession(uuid.uuid4().hex)

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
                    if not self._command(line):
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

    def _command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("/exit", "/quit"):
            return False
        if name == "/new":
            self._session = self._new_session()
            print("(new conversation)", file=sys.stderr)
        elif name == "/model":
            if arg:
                self._model = arg
            current = self._model or self._store.settings.backends.ollama.chat_model
            print(f"chat model: {current}", file=sys.stderr)
        elif name == "/status":
            print(json.dumps(self._generator.status(), indent=2, default=str))
        elif name == "/help":
            print(HELP, file=sys.stderr)
        else:
            print(f"unknown command {name}; /help lists them", file=sys.stderr)
        return True

    async def _ask(self, prompt: str) -> None:
        progress = TurnProgress()
        with AnswerPrinter() as out:
            self._answer = asyncio.ensure_future(
                self._service.ask(
                    prompt,
                    session=self._session,
                    context=WorkspaceContext(roots=[str(self._root)]),
                    on_delta=out.delta,
                    progress=progress,
                    model=self._model,
                )
            )
            try:
                await self._answer
            except asyncio.CancelledError:
                # The service kept the partial answer in the session, marked interrupted.
                print("(answer interrupted)", file=sys.stderr, flush=True)
                return
            except TrustError as error:
                print(f"trust: {error.message}", file=sys.stderr)
                return
            finally:
                self._answer = None
        if progress.tool_calls:
            names = ", ".join(str(call["name"]) for call in progress.tool_calls)
            print(f"  · tools used: {names}", file=sys.stderr)
        print(provenance(progress), file=sys.stderr, flush=True)
