"""Run a piece of generation while streaming its text as work-done progress.

Two ways to stop it, with different outcomes:
- `$/cancelRequest` cancels the request: the work is cancelled and the client gets the
  usual -32800 error (pygls answers it);
- `window/workDoneProgress/cancel` stops only the generation: the request still answers,
  with what was produced so far (`interrupted`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from lsprotocol import types

from trust_lsp.server.app import TrustLanguageServer
from trust_lsp.server.progress import ProgressStream

T = TypeVar("T")


async def run_streamed(
    ls: TrustLanguageServer,
    token: types.ProgressToken | None,
    title: str,
    work: Callable[[Callable[[str], None]], Awaitable[T]],
) -> tuple[T | None, bool]:
    """Run `work(on_delta)`, reporting each delta as progress; (result, interrupted).

    `interrupted` True (and result None) when the client cancelled the progress; the caller
    builds the partial answer from what it collected.
    """
    progress = await ProgressStream.open(ls, token)
    progress.begin(title, cancellable=True)

    def on_delta(delta: str) -> None:
        progress.report(message=delta)

    task: asyncio.Future[T] = asyncio.ensure_future(work(on_delta))
    stopped_by_client = False

    def stop() -> None:
        nonlocal stopped_by_client
        stopped_by_client = True
        task.cancel()

    progress.on_cancel(stop)
    try:
        result = await task
    except asyncio.CancelledError:
        progress.end("Cancelled")
        current = asyncio.current_task()
        request_cancelled = current is not None and current.cancelling() > 0
        if stopped_by_client and not request_cancelled:
            return None, True
        raise
    except BaseException as exc:
        progress.end(f"Failed: {exc}")
        raise
    progress.end("Done")
    return result, False
