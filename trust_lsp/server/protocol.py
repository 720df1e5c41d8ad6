"""pygls protocol subclass: the places where pygls 2.1's defaults are not robust enough.

- A request whose params do not fit the method's type is answered with InvalidParams
  (pygls drops it unanswered: the deserialisation error happens before a handler exists).
- A message that is not JSON is answered with a ParseError (id null).
- `workspace/executeCommand` reaches the server with the whole `ExecuteCommandParams`, so a
  command can stream on the request's `workDoneToken`, and runs as a cancellable task.
- On network transports nothing but `initialize` with the right token is accepted before
  authentication; a refused connection gets an error answer and is closed.
- The token is removed from the initialize params before pygls logs them.
- Document sync is the server's own (see `documents.py`): the builtin handlers only forward.
- On a network transport `exit` ends the process through a callback, not `sys.exit` from
  inside a handler.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import JsonRPCResponseMessage, RPCNotification, RPCRequest

from trust_lsp.server.auth import presented_token, strip_token, token_matches

if TYPE_CHECKING:
    from trust_lsp.server.app import TrustLanguageServer

logger = logging.getLogger(__name__)

INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
PARSE_ERROR = -32700
SERVER_NOT_INITIALIZED = -32002
# JSON-RPC reserves -32000…-32099 for implementation-defined server errors.
AUTHENTICATION_FAILED = -32000
# A short pause between the error answer and closing the connection, so the answer is
# flushed first on every transport.
_CLOSE_DELAY_S = 0.05


@dataclass(frozen=True, slots=True)
class RejectedRequest:
    """A request that could not be deserialised: answered with an error, never handled."""

    id: int | str
    method: str
    reason: str
    jsonrpc: str = "2.0"


@dataclass(slots=True)
class AuthPolicy:
    """What a network connection must present, and who else may be connected."""

    token: str
    # Returns a refusal reason when this connection may not start a session (e.g. another
    # client is connected), None when it may.
    admit: Callable[[], str | None] = lambda: None
    on_authenticated: Callable[[], None] = lambda: None


class TrustProtocol(LanguageServerProtocol):
    """The language server protocol with Trust's robustness and security fixes."""

    _server: TrustLanguageServer

    def __init__(self, server: TrustLanguageServer, converter: Any) -> None:
        super().__init__(server, converter)
        self.auth: AuthPolicy | None = None
        self.authenticated = False
        # Set by network transports: called with the exit code instead of sys.exit().
        self.on_exit: Callable[[int], None] | None = None
        self._pending_closes: set[Any] = set()

    # --- deserialisation -------------------------------------------------------------

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if not isinstance(data, dict):
                raise
            msg_id = data.get("id")
            method = data.get("method")
            if isinstance(msg_id, int | str) and isinstance(method, str):
                reason = _cause_text(exc)
                return RejectedRequest(id=msg_id, method=method, reason=reason)
            if isinstance(msg_id, int | str) and "method" not in data:
                # A response of an unexpected shape: hand over the raw result so whoever
                # awaits it gets an answer instead of waiting forever.
                return JsonRPCResponseMessage(id=msg_id, jsonrpc="2.0", result=data.get("result"))
            raise

    def handle_message(self, message: Any) -> None:
        if self.auth is not None and not self.authenticated and not self._authenticate(message):
            return
        if self._shutdown and isinstance(message, RPCRequest | RejectedRequest):
            # pygls drops these silently; LSP says: answer them with InvalidRequest.
            self._send_error(message.id, INVALID_REQUEST, "The server is shutting down")
            return
        if isinstance(message, RejectedRequest):
            logger.warning("invalid params for %s: %s", message.method, message.reason)
            self._send_error(
                message.id, INVALID_PARAMS, f"Invalid params for {message.method}: {message.reason}"
            )
            return
        super().handle_message(message)

    def _send_error(self, msg_id: int | str | None, code: int, message: str) -> None:
        self._send_data(
            {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}
        )

    def send_parse_error(self, detail: str) -> None:
        """Answer a message that is not JSON (JSON-RPC: id null)."""
        self._send_error(None, PARSE_ERROR, f"Parse error: {detail}")

    # --- authentication ----------------------------------------------------------------

    def _authenticate(self, message: Any) -> bool:
        """Decide a message that arrives before authentication; True lets it through."""
        assert self.auth is not None
        is_request = isinstance(message, RPCRequest)
        method = getattr(message, "method", None)
        if is_request and method == types.INITIALIZE:
            params = message.params
            options = getattr(params, "initialization_options", None)
            if not token_matches(self.auth.token, presented_token(options)):
                logger.warning("initialize refused: missing or wrong token")
                self._refuse(
                    message.id,
                    AUTHENTICATION_FAILED,
                    "Authentication failed: this server needs the token in "
                    "initializationOptions.token",
                )
                return False
            refusal = self.auth.admit()
            if refusal is not None:
                self._refuse(message.id, AUTHENTICATION_FAILED, refusal)
                return False
            self.authenticated = True
            self.auth.on_authenticated()
            return True
        if is_request or isinstance(message, RejectedRequest):
            self._refuse(message.id, SERVER_NOT_INITIALIZED, "Send initialize with the token first")
        elif isinstance(message, RPCNotification) and method == types.EXIT:
            self.close_connection()
        else:
            logger.warning("message before authentication: closing the connection")
            self.close_connection()
        return False

    def _refuse(self, msg_id: int | str, code: int, message: str) -> None:
        self._send_error(msg_id, code, message)
        self.close_connection()

    def close_connection(self) -> None:
        """Close the transport after pending writes are flushed."""
        writer = self.writer
        if writer is None:
            return

        pending = self._pending_closes

        def close() -> None:
            try:
                result = writer.close()
                if inspect.isawaitable(result):
                    pending.add(asyncio.ensure_future(result))
            except Exception:  # already closed
                logger.debug("closing the connection failed", exc_info=True)

        try:
            asyncio.get_running_loop().call_later(_CLOSE_DELAY_S, close)
        except RuntimeError:
            close()

    # --- lifecycle ---------------------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(
        self, params: types.InitializeParams
    ) -> Generator[Any, Any, types.InitializeResult]:
        # The token is secret: pygls logs the params at INFO right away.
        params.initialization_options = strip_token(params.initialization_options)
        return (yield from super().lsp_initialize(params))

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        if self.on_exit is None:
            return (yield from super().lsp_exit(*args))
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None
        self.close_connection()
        self.on_exit(0 if self._shutdown else 1)
        return None

    # --- documents: the server keeps its own copy ----------------------------------------

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, None]:
        if (user_handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield user_handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        if (user_handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield user_handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, None]:
        if (user_handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield user_handler, (params,), None

    # --- commands ------------------------------------------------------------------------

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(  # type: ignore[override]
        self, params: types.ExecuteCommandParams
    ) -> Any:
        # An async builtin runs as a task registered under the request id, so
        # $/cancelRequest cancels it (a generator handler would run the command detached).
        return await self._server.execute_command(params)


def _cause_text(exc: BaseException) -> str:
    """A short description of why deserialisation failed (cattrs nests its errors)."""
    cause = exc.__cause__ or exc
    parts: list[str] = []

    def walk(err: BaseException) -> None:
        subs = getattr(err, "exceptions", None)
        if subs:
            for sub in subs:
                walk(sub)
        else:
            notes = getattr(err, "__notes__", None) or []
            where = f" ({'; '.join(str(n) for n in notes)})" if notes else ""
            parts.append(f"{type(err).__name__}: {err}{where}")

    walk(cause)
    text = "; ".join(parts) if parts else str(cause)
    return text[:500]


def is_json_error(error: BaseException) -> bool:
    """True when pygls' reader failed because the message body is not JSON."""
    return isinstance(error, json.JSONDecodeError | UnicodeDecodeError)
