"""The `trust` command line. Each command is a thin wrapper over the core and features."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from trust_lsp import __version__

from .runtime import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    GlobalOptions,
    fail,
    load_store,
    open_generator,
    run,
)

app = typer.Typer(
    name="trust",
    help="Trust: local-first AI for your code — ask, chat, complete, manage models, serve an API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show, locate and change configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace root (default: current directory)."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a setting for this run: KEY=VALUE (repeatable)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _options(workspace: Path | None, overrides: list[str] | None) -> GlobalOptions:
    return GlobalOptions(
        workspace=(workspace or Path.cwd()).resolve(), overrides=tuple(overrides or ())
    )


def _version(value: bool) -> None:
    if value:
        print(f"trust {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Trust: local-first AI for your code."""


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="What to ask.")],
    file: Annotated[Path | None, typer.Option("--file", "-f", help="A file to ask about.")] = None,
    selection: Annotated[
        str | None, typer.Option("--selection", "-s", help="Lines of --file: L1:L2.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model to use.")] = None,
    backend: Annotated[str | None, typer.Option(help="Backend to try first.")] = None,
    workspace: WorkspaceOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Ask one question; the answer streams to the terminal."""
    from .ask import ask as run_ask

    store = load_store(_options(workspace, overrides))

    async def main() -> None:
        async with open_generator(store, start=False) as generator:
            await run_ask(
                store,
                generator,
                question,
                file=file,
                selection=selection,
                model=model,
                backend=backend,
            )

    run(main)


@app.command()
def chat(
    model: Annotated[str | None, typer.Option(help="Chat model to use.")] = None,
    workspace: WorkspaceOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Interactive chat with history; Ctrl-C cancels the current answer."""
    from .chat import Repl

    options = _options(workspace, overrides)
    store = load_store(options)

    async def main() -> None:
        async with open_generator(store) as generator:
            await Repl(store, generator, workspace=options.workspace, model=model).run()

    run(main)


@app.command()
def complete(
    location: Annotated[str, typer.Argument(help="FILE:LINE:COL (1-based).")],
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Print the completion the language server would show at FILE:LINE:COL."""
    from .complete import complete as run_complete

    store = load_store(_options(workspace, overrides), {"completion.debounce_ms": 0})

    async def main() -> int:
        async with open_generator(store, start=False) as generator:
            return await run_complete(store, generator, location, as_json=as_json)

    raise typer.Exit(run(main))


@app.command()
def models(
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    overrides: SetOpt = None,
) -> None:
    """List each backend's models with size and capabilities (insert, tools…)."""
    from .inspect import models as run_models

    store = load_store(_options(workspace, overrides))

    async def main() -> int:
        async with open_generator(store, start=False) as generator:
            return await run_models(generator, as_json=as_json)

    raise typer.Exit(run(main))


@app.command()
def pull(
    model: Annotated[str, typer.Argument(help="Model to download into Ollama.")],
    workspace: WorkspaceOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Download a model into Ollama, with a progress bar."""
    from .inspect import pull as run_pull

    store = load_store(_options(workspace, overrides))

    async def main() -> int:
        async with open_generator(store, start=False) as generator:
            return await run_pull(generator, model)

    raise typer.Exit(run(main))


@app.command()
def status(
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Each backend's health and what to do when it is down; exit 3 when none can answer."""
    from .inspect import status as run_status

    options = _options(workspace, overrides)
    store = load_store(options)

    async def main() -> int:
        async with open_generator(store, start=False) as generator:
            return await run_status(store, generator, options.workspace, as_json=as_json)

    raise typer.Exit(run(main))


app.command("doctor", help="Alias of `trust status`.")(status)


@config_app.command("show")
def config_show(
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Effective settings and the layer each came from."""
    from .inspect import config_show as run_show

    raise typer.Exit(run_show(load_store(_options(workspace, overrides)), as_json=as_json))


@config_app.command("path")
def config_path(workspace: WorkspaceOpt = None) -> None:
    """Where the user and workspace configuration files are."""
    from trust_lsp.config.loader import user_config_path, workspace_config_path

    root = (workspace or Path.cwd()).resolve()
    print(f"user:      {user_config_path()}")
    print(f"workspace: {workspace_config_path(root)}")


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. completion.debounce_ms.")],
    value: Annotated[str, typer.Argument(help="Value (JSON, or a plain string).")],
    workspace_file: Annotated[
        bool, typer.Option("--workspace-file", help="Write .trust/config.toml of the workspace.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write one setting to the user file (or the workspace file), validated first."""
    import json

    from trust_lsp.config.loader import user_config_path, workspace_config_path, write_config_value
    from trust_lsp.errors import TrustError

    root = (workspace or Path.cwd()).resolve()
    path = workspace_config_path(root) if workspace_file else user_config_path()
    try:
        written = write_config_value(path, key, value)
    except TrustError as error:
        fail(error.message, EXIT_CONFIG)
    print(f"{key} = {json.dumps(written, default=str)} written to {path}")
    raise typer.Exit(EXIT_OK)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8808,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    token_file: Annotated[
        Path | None, typer.Option(help="Where the API token is kept (created on first start).")
    ] = None,
    workspace: WorkspaceOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Serve an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models)."""
    from .serve import serve as run_serve

    store = load_store(_options(workspace, overrides))
    raise typer.Exit(run_serve(store, host=host, port=port, token_file=token_file))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        print("trust: interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
