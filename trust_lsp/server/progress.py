"""Work-done progress: how streamed text reaches any LSP client.

A stream uses the request's own `workDoneToken` when the client sent one, otherwise a token
the server creates with `window/workDoneProgress/create` — only when the client says it
supports `window.workDoneProgress`. Without either there is no progress at all (the
command's result still carries the whole text).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

logger = logging.getLogger(__name__)

# A client that never answers window/workDoneProgress/create must not stall a command.
CREATE_TIMEOUT_S = 5.0


def client_supports_progress(server: LanguageServer) -> bool:
    try:
        window = server.client_capabilities.window
    except Exception:  # not initialized
        return False
    return bool(window is not None and window.work_done_progress)


class ProgressStream:
    """begin / report… / end on one token; every method is a no-op without a token."""

    def __init__(self, server: LanguageServer, token: types.ProgressToken | None) -> None:
        self._server = server
        self.token = token
        self._begun = False
        self._ended = False
        self._cancel_callbacks: list[Callable[[], None]] = []

    @classmethod
    async def open(
        cls, server: LanguageServer, token: types.ProgressToken | None, *, create: bool = True
    ) -> ProgressStream:
        """A stream on `token`, or on a server-created token when allowed and supported."""
        if token is None and create and client_supports_progress(server):
            candidate: types.ProgressToken = f"trust-{uuid.uuid4().hex}"
            try:
                await asyncio.wait_for(
                    server.work_done_progress.create_async(candidate), CREATE_TIMEOUT_S
                )
                token = candidate
            except TimeoutError:
                logger.warning("the client did not answer window/workDoneProgress/create")
            except Exception as exc:  # the client refused: no progress, the result still comes
                logger.info("window/workDoneProgress/create refused: %s", exc)
        return cls(server, token)

    @property
    def active(self) -> bool:
        return self.token is not None

    def begin(self, title: str, message: str | None = None, *, cancellable: bool = True) -> None:
        if self.token is None or self._begun:
            return
        self._begun = True
        self._server.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(title=title, message=message, cancellable=cancellable),
        )
        future = self._server.work_done_progress.tokens.get(self.token)
        if future is not None:
            future.add_done_callback(self._on_token_done)

    def report(self, message: str | None = None, percentage: int | None = None) -> None:
        if self.token is None or not self._begun or self._ended:
            return
        self._server.work_done_progress.report(
            self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
        )

    def end(self, message: str | None = None) -> None:
        if self.token is None or not self._begun or self._ended:
            return
        self._ended = True
        self._server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        # pygls never forgets a token: drop it so a long session does not leak them.
        self._server.work_done_progress.tokens.pop(self.token, None)

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the client cancels this progress."""
        self._cancel_callbacks.append(callback)

    def _on_token_done(self, future: object) -> None:
        cancelled = getattr(future, "cancelled", lambda: False)()
        if not cancelled or self._ended:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for callback in self._cancel_callbacks:
            if loop is not None:
                loop.call_soon(callback)
            else:
                callback()
