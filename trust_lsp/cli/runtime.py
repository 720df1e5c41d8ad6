"""What every `trust` command shares: configuration, the generator, errors and exit codes.

Exit codes (documented in docs/cli.md):
    0   success
    1   an error the message explains (backend failure, bad file, …)
    2   usage error (unknown option, malformed argument)
    3   no backend can answer (`trust status`, or a request nobody could serve)
    4   invalid configuration value (`trust config set`)
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from trust_lsp.config import ConfigStore, Layer, load_config
from trust_lsp.core.factory import build_generator
from trust_lsp.core.generator import Generator
from trust_lsp.errors import NoBackendAvailableError, TrustError, ValidationError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NO_BACKEND = 3
EXIT_CONFIG = 4
EXIT_INTERRUPTED = 130

T = TypeVar("T")


@dataclass(frozen=True)
class GlobalOptions:
    """Options every command accepts."""

    workspace: Path
    overrides: tuple[str, ...] = ()


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """`--set key=value` pairs → a dotted-key mapping, each value parsed by the key's type."""
    from trust_lsp.config.schema import canonical_key, parse_text_value

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"--set expects KEY=VALUE, got {pair!r}")
        key = canonical_key(key.strip())
        out[key] = parse_text_value(key, raw)
    return out


def load_store(options: GlobalOptions, extra: dict[str, Any] | None = None) -> ConfigStore:
    """Configuration for a command: files, environment, then `--set` as the command-line layer."""
    client = parse_overrides(options.overrides)
    if extra:
        client.update(extra)
    store = load_config(options.workspace, client=client)
    for issue in store.issues:
        print(f"trust: warning: {issue}", file=sys.stderr)
    return store


@asynccontextmanager
async def open_generator(store: ConfigStore, *, start: bool = True) -> AsyncIterator[Generator]:
    """A started generator, closed on exit (its HTTP pools and background tasks too)."""
    generator = build_generator(store)
    try:
        if start:
            await generator.start()
        yield generator
    finally:
        await generator.aclose()


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print one line saying what went wrong and what to do, and exit."""
    print(f"trust: {message}", file=sys.stderr)
    raise SystemExit(code)


def exit_code_for(error: TrustError) -> int:
    if isinstance(error, NoBackendAvailableError):
        return EXIT_NO_BACKEND
    return EXIT_ERROR


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command's coroutine; map our errors to one line and an exit code."""
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        print("trust: interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except TrustError as error:
        fail(error.message, exit_code_for(error))


def describe_layer(layer: Layer) -> str:
    return {
        Layer.DEFAULT: "default",
        Layer.USER: "user file",
        Layer.WORKSPACE: "workspace file",
        Layer.ENV: "environment",
        Layer.CLIENT: "command line",
        Layer.RUNTIME: "runtime",
    }[layer]
