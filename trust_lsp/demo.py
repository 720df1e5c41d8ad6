"""`make demo`: Trust LSP as an editor sees it, on the embedded model, with no Ollama.

Starts `trust-lsp` exactly as an editor does (a subprocess speaking LSP on stdio), points
the Ollama backend at a loopback port where nothing listens (so every request falls back
to the embedded gemma3 270M model), opens a sample file, and shows:

1. an inline completion (ghost text),
2. an "Ask Trust" code action resolved to a workspace edit,
3. a chat answer streamed as `$/progress` reports, printed as they arrive,

each with the backend that answered. Run: `python -m trust_lsp.demo`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from rich.console import Console
from rich.syntax import Syntax

SAMPLE = '''\
def fibonacci(n):
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)


def average(values):
    total = 0
    for value in values:
        total += value
    return total / len(values)


def is_prime(n):
    '''
REQUEST_TIMEOUT_S = 180.0
MODEL_LOAD_TIMEOUT_S = 180.0
CHAT_PROMPT = "In one or two sentences: what does the function average do?"

console = Console(highlight=False)


def closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command() -> list[str]:
    """`trust-lsp` from this environment (what an editor's configuration names)."""
    script = Path(sys.executable).with_name("trust-lsp")
    if script.exists():
        return [str(script)]
    found = shutil.which("trust-lsp")
    return [found] if found else [sys.executable, "-m", "trust_lsp"]


def capabilities() -> types.ClientCapabilities:
    """What a typical editor announces (progress, versioned edits, code-action resolve)."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=["utf-16"]),
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(
            configuration=False,
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
        ),
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]),
            ),
        ),
    )


class DemoClient(LanguageClient):
    """A pygls client that prints streamed progress as it arrives."""

    def __init__(self) -> None:
        super().__init__("trust-demo", "1")
        self.streaming: str | None = None
        self.streamed: list[str] = []

        # pygls' client decorators are untyped: register through a typed alias.
        register: Callable[[str], Callable[[Callable[..., Any]], Any]] = self.feature

        def create(params: types.WorkDoneProgressCreateParams) -> None:
            return None

        def progress(params: types.ProgressParams) -> None:
            value = params.value
            kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
            message = (
                value.get("message") if isinstance(value, dict) else getattr(value, "message", None)
            )
            if params.token == self.streaming and kind == "report" and message:
                self.streamed.append(message)
                console.print(message, end="", style="bold", soft_wrap=True)

        def show(params: types.ShowMessageParams) -> None:
            console.print(f"   [yellow]server says:[/] {params.message}")

        def log(params: types.LogMessageParams) -> None:
            return None

        register(types.WINDOW_WORK_DONE_PROGRESS_CREATE)(create)
        register(types.PROGRESS)(progress)
        register(types.WINDOW_SHOW_MESSAGE)(show)
        register(types.WINDOW_LOG_MESSAGE)(log)

        # lsprotocol reads any code action that has a `command` as a bare Command; editors
        # tell them apart by the type of `command` (a string only in a Command).
        converter = self.protocol._converter

        def code_action_or_command(obj: Any, _: Any) -> types.Command | types.CodeAction:
            if isinstance(obj.get("command"), str):
                return converter.structure(obj, types.Command)
            return converter.structure(obj, types.CodeAction)

        converter.register_structure_hook(
            Union[types.Command, types.CodeAction],  # noqa: UP007
            code_action_or_command,
        )


async def command(client: DemoClient, name: str, args: list[Any] | None = None, **kw: Any) -> Any:
    return await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=args, **kw)
        ),
        REQUEST_TIMEOUT_S,
    )


def completion_counts(status: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for backend, data in status["metrics"]["latency"].get("completion", {}).items():
        counts[backend] = sum(data.get("requests", {}).values())
    return counts


async def wait_for_model(client: DemoClient) -> str:
    """Wait until the embedded model is loaded (the server preheats it at start)."""
    started = time.monotonic()
    with console.status("   loading the embedded model…"):
        while time.monotonic() - started < MODEL_LOAD_TIMEOUT_S:
            status = await command(client, "trust.status")
            local = status["backends"]["local"]
            if local["preheated"]:
                return (
                    f"{', '.join(local['preheated'])} ready in {time.monotonic() - started:.1f} s"
                )
            await asyncio.sleep(0.25)
    return "still loading: the first answers will include the load time"


def heading(title: str) -> None:
    console.print()
    console.rule(f"[bold cyan]{title}", align="left", style="cyan")


async def run_demo() -> int:
    port = closed_loopback_port()
    options = {
        "backends": {"ollama": {"url": f"http://127.0.0.1:{port}"}},
        "fallback": {"order": ["ollama", "local"]},
        # The embedded 270M model is small: short answers keep the demo quick, and it is
        # not good at calling tools, so chat runs without them here.
        "chat": {"max_tokens": 120, "temperature": 0.0},
        "completion": {"timeout_s": 60, "max_tokens": 48},
        "tools": {"enabled": []},
        "server": {"preheat": True},
    }
    console.print("[bold]Trust LSP demo[/] — an editor's view of the language server\n")
    console.print(
        f"   server:  [green]{' '.join(server_command())}[/] (stdio, as an editor runs it)"
    )
    console.print(
        f"   Ollama:  http://127.0.0.1:{port} [dim](nothing listens there: requests fall back "
        "to the embedded model)[/]"
    )

    workdir = Path(tempfile.mkdtemp(prefix="trust-demo-"))
    sample = workdir / "sample.py"
    sample.write_text(SAMPLE, encoding="utf-8")
    client = DemoClient()
    await client.start_io(*server_command())
    try:
        heading("Start")
        started = time.monotonic()
        result = await asyncio.wait_for(
            client.initialize_async(
                types.InitializeParams(
                    capabilities=capabilities(),
                    root_uri=workdir.as_uri(),
                    initialization_options=options,
                    process_id=os.getpid(),
                )
            ),
            REQUEST_TIMEOUT_S,
        )
        client.initialized(types.InitializedParams())
        caps = result.capabilities
        commands = caps.execute_command_provider.commands if caps.execute_command_provider else []
        console.print(
            f"   initialize answered in {(time.monotonic() - started) * 1000:.0f} ms: "
            f"inline completion {'✓' if caps.inline_completion_provider else '✗'}, "
            f"code actions {'✓' if caps.code_action_provider else '✗'}, "
            f"{len(commands)} commands"
        )
        console.print(f"   {await wait_for_model(client)}")

        uri = sample.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=SAMPLE
                )
            )
        )
        console.print(f"   opened {sample.name}:")
        console.print(Syntax(SAMPLE, "python", line_numbers=True, theme="ansi_dark"))

        await show_inline_completion(client, uri)
        await show_code_action(client, uri)
        await show_chat(client, uri)

        heading("Done")
        await asyncio.wait_for(client.shutdown_async(None), REQUEST_TIMEOUT_S)
        client.exit(None)
        console.print("   shut down cleanly. Next: editors/ for VS Code and Neovim set-up.")
        return 0
    finally:
        stop: Callable[[], Awaitable[None]] = client.stop
        await asyncio.wait_for(stop(), REQUEST_TIMEOUT_S)
        shutil.rmtree(workdir, ignore_errors=True)


async def show_inline_completion(client: DemoClient, uri: str) -> None:
    heading("1. Inline completion (ghost text)")
    lines = SAMPLE.split("\n")
    cursor = types.Position(line=len(lines) - 1, character=len(lines[-1]))
    console.print(f"   cursor at line {cursor.line + 1}, inside [bold]def is_prime(n):[/]")
    before = completion_counts(await command(client, "trust.status"))
    started = time.monotonic()
    result = await asyncio.wait_for(
        client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=cursor,
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
        ),
        REQUEST_TIMEOUT_S,
    )
    elapsed = time.monotonic() - started
    status = await command(client, "trust.status")
    after = completion_counts(status)
    backend = next((b for b in after if after[b] > before.get(b, 0)), "?")
    model = status["backends"].get(backend, {}).get("models", {}).get("completion", "?")
    if isinstance(result, types.InlineCompletionList):
        items = list(result.items)
    else:
        items = list(result or [])
    if items:
        console.print("   ghost text:")
        text = items[0].insert_text
        ghost = "    " + (text if isinstance(text, str) else text.value)
        for line in ghost.split("\n"):
            console.print(f"   [grey62 italic]{line}[/]")
    else:
        console.print("   [yellow]no suggestion this time[/] (the model's output was dropped)")
    console.print(f"   answered by [green]{backend}[/] ({model}) in {elapsed:.1f} s")


async def show_code_action(client: DemoClient, uri: str) -> None:
    heading("2. Ask Trust code action")
    selection = types.Range(
        start=types.Position(line=7, character=0), end=types.Position(line=12, character=0)
    )
    started = time.monotonic()
    listed = await asyncio.wait_for(
        client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=selection,
                context=types.CodeActionContext(diagnostics=[]),
            )
        ),
        REQUEST_TIMEOUT_S,
    )
    actions = [a for a in listed or [] if isinstance(a, types.CodeAction)]
    console.print(
        f"   selection: lines 8-12 ([bold]average[/]); {len(actions)} actions listed in "
        f"{(time.monotonic() - started) * 1000:.0f} ms (no model call):"
    )
    for action in actions:
        console.print(f"     • {action.title}")
    for title in ("Ask Trust: Add documentation", "Ask Trust: Fix", "Ask Trust: Refactor"):
        chosen = next((a for a in actions if a.title == title), None)
        if chosen is None:
            continue
        console.print(f"   resolving [bold]{title}[/] …")
        started = time.monotonic()
        try:
            resolved = await asyncio.wait_for(
                client.code_action_resolve_async(chosen), REQUEST_TIMEOUT_S
            )
        except Exception as exc:  # the small model may answer without usable code
            console.print(f"   [yellow]{exc}[/]")
            continue
        elapsed = time.monotonic() - started
        data = resolved.data if isinstance(resolved.data, dict) else {}
        edit = resolved.edit
        changes = edit.document_changes if edit is not None else None
        for change in changes or []:
            if isinstance(change, types.TextDocumentEdit):
                for text_edit in change.edits:
                    if not isinstance(text_edit, types.TextEdit):
                        continue
                    show_edit(text_edit)
        console.print(
            f"   answered by [green]{data.get('backend', '?')}[/] ({data.get('model', '?')}) "
            f"in {elapsed:.1f} s"
        )
        return
    console.print("   [yellow]the model gave no usable edit this time[/]")


def show_edit(text_edit: types.TextEdit) -> None:
    rng = text_edit.range
    if rng.start == rng.end:
        where = f"insert before line {rng.start.line + 1}"
    else:
        where = f"replace lines {rng.start.line + 1}-{rng.end.line}"
    console.print(f"   workspace edit ({where}):")
    for line in text_edit.new_text.rstrip("\n").split("\n"):
        console.print(f"   [green]+ {line}[/]")


async def show_chat(client: DemoClient, uri: str) -> None:
    heading("3. Chat, streamed")
    console.print(f"   you: [bold]{CHAT_PROMPT}[/]")
    console.print("   trust: ", end="")
    client.streaming = "demo-chat"
    started = time.monotonic()
    result = await command(
        client,
        "trust.chat",
        [{"prompt": CHAT_PROMPT, "uri": uri}],
        work_done_token="demo-chat",
    )
    elapsed = time.monotonic() - started
    console.print()
    streamed = "".join(client.streamed)
    usage = result.get("usage") or {}
    console.print(
        f"   answered by [green]{result['backend']}[/] ({result['model']}) in {elapsed:.1f} s, "
        f"{len(client.streamed)} progress reports, {usage.get('completionTokens', '?')} tokens; "
        f"streamed text {'=' if streamed == result['text'] else '≠'} result"
    )
    if result["backend"] == "local":
        console.print(
            "   [dim]The embedded gemma3 270M is a tiny base model, meant as an offline "
            "fallback: good at completing code, basic in chat. With Ollama and a chat model "
            "the same command gives fuller answers.[/]"
        )


def main() -> int:
    """Entry point of `make demo`."""
    try:
        return asyncio.run(run_demo())
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
