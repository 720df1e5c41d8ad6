"""The Trust language server: a pygls server built by `build_server`, handlers kept thin.

    server = build_server(config, generator)      # collaborators injected
    server.start_io()

`build_server()` with no arguments builds the configuration and the generator lazily, after
`initialize` (see `services.py`): that is what `trust-lsp` does.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import default_converter

from trust_lsp import __version__
from trust_lsp.server import config_sync
from trust_lsp.server.documents import Document, DocumentStore, uri_to_path
from trust_lsp.server.errors import request_failed
from trust_lsp.server.host import DiagnosticsMemory, LspWorkspaceHost
from trust_lsp.server.positions import UTF16, LineIndex, PositionError
from trust_lsp.server.protocol import TrustProtocol, is_json_error
from trust_lsp.server.services import CoreProvider, Services

if TYPE_CHECKING:
    from trust_lsp.config.store import ConfigIssue, ConfigStore
    from trust_lsp.core.generator import Generator
    from trust_lsp.features.chat.sessions import SessionStore
    from trust_lsp.features.completion.types import DocumentSnapshot

logger = logging.getLogger(__name__)

CommandHandler = Callable[["TrustLanguageServer", types.ExecuteCommandParams], Awaitable[Any]]
# A client that never answers workspace/configuration must not hold up start-up for long.
CONFIGURATION_TIMEOUT_S = 5.0
# Inline suggestions remembered for trust.acceptCompletion (ids are short-lived).
_MAX_SHOWN = 512


class TrustLanguageServer(LanguageServer):
    """One editor connection. Collaborators come from a `CoreProvider`."""

    protocol: TrustProtocol

    def __init__(self, provider: CoreProvider, *, owns_core: bool = True) -> None:
        super().__init__(
            "trust-lsp",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=TrustProtocol,
            converter_factory=default_converter,
            max_workers=4,
        )
        self.provider = provider
        self.owns_core = owns_core
        self.documents = DocumentStore()
        self.diagnostics_seen = DiagnosticsMemory()
        self.host = LspWorkspaceHost(self)
        self._sessions: SessionStore | None = None
        self.encoding = UTF16
        self.client_settings: dict[str, Any] = {}
        self.initialize_params: types.InitializeParams | None = None
        self.commands: dict[str, CommandHandler] = {}
        self.shown: OrderedDict[str, str] = OrderedDict()  # suggestion id -> uri
        self._services: asyncio.Future[Services] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.shutting_down = False

    @property
    def sessions(self) -> SessionStore:
        """Chat sessions of this connection (created on first use: off the start-up path)."""
        if self._sessions is None:
            from trust_lsp.features.chat.sessions import SessionStore

            self._sessions = SessionStore()
        return self._sessions

    # --- collaborators -------------------------------------------------------------------

    def start_services(self) -> None:
        """Begin building the services (after the initialize answer has been sent)."""
        if self._services is not None:
            return
        loop = asyncio.get_running_loop()
        self._services = loop.create_future()
        self.spawn(self._build_services(self._services), name="build-services")

    async def pull_configuration(self) -> dict[str, Any] | None:
        """The client's `trust` settings via `workspace/configuration` (None if it has none,
        does not support it, or does not answer in time)."""
        if not self.supports_configuration():
            return None
        params = types.ConfigurationParams(
            items=[types.ConfigurationItem(section=config_sync.SECTION)]
        )
        try:
            result = await asyncio.wait_for(
                self.workspace_configuration_async(params), CONFIGURATION_TIMEOUT_S
            )
        except TimeoutError:
            logger.warning("the client did not answer workspace/configuration")
            return None
        except Exception as exc:
            logger.info("workspace/configuration failed: %s", exc)
            return None
        return config_sync.settings_from_configuration_result(result)

    async def _build_services(self, future: asyncio.Future[Services]) -> None:
        try:
            # The client's settings come first, so the first request already uses them.
            pulled = await self.pull_configuration()
            if pulled:
                self.client_settings = config_sync.merge_settings(self.client_settings, pulled)
            core = await self.provider.acquire(self.workspace_root(), self.client_settings)
            services = build_session_services(self, core.config, core.generator)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the requests that wait report it
            logger.exception("Trust could not start")
            self.show_message(f"Trust could not start: {exc}", types.MessageType.Error)
            return
        future.set_result(services)
        self.report_config_issues(core.issues)

    async def services(self) -> Services:
        """The services, waiting for them while they are being built."""
        if self._services is None:
            self.start_services()
        assert self._services is not None
        try:
            return await asyncio.shield(self._services)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise request_failed(f"Trust could not start: {exc}") from exc

    def services_now(self) -> Services | None:
        """The services if they are ready (for notifications that must not wait)."""
        fut = self._services
        if fut is None or not fut.done() or fut.cancelled() or fut.exception() is not None:
            return None
        return fut.result()

    async def close_services(self) -> None:
        """Cancel this connection's work; close the core when this server owns it."""
        self.shutting_down = True
        services = self.services_now()
        if services is not None:
            await services.engine.aclose()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.owns_core:
            await self.provider.aclose()

    # --- background tasks ----------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run `coro` in the background: tracked, cancelled at shutdown, errors logged."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=exc)

    # --- client ----------------------------------------------------------------------------

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:  # the connection is gone
            logger.debug("showMessage failed", exc_info=True)

    def log_activity(self, text: str) -> None:
        """A progress line of a chat turn (tool activity) in the editor's server log."""
        try:
            self.window_log_message(
                types.LogMessageParams(type=types.MessageType.Info, message=f"Trust: {text}")
            )
        except Exception:  # the connection is gone
            logger.debug("logMessage failed", exc_info=True)

    def report_config_issues(self, issues: list[ConfigIssue]) -> None:
        """One warning per ignored setting, naming the key (the rest still applies)."""
        for issue in issues:
            self.show_message(f"Trust: invalid setting ignored: {issue}", types.MessageType.Warning)

    def report_server_error(self, error: Exception, source: Any) -> None:
        # pygls shows every internal error to the user; log instead, and answer a message
        # that is not JSON with a JSON-RPC parse error.
        if is_json_error(error):
            self.protocol.send_parse_error(str(error))
        logger.error("server error (%s): %s", getattr(source, "__name__", source), error)

    def _capabilities(self) -> types.ClientCapabilities | None:
        params = self.initialize_params
        return params.capabilities if params is not None else None

    def supports_document_changes(self) -> bool:
        caps = self._capabilities()
        ws = caps.workspace if caps else None
        edit = ws.workspace_edit if ws else None
        return bool(edit and edit.document_changes)

    def can_create_files(self) -> bool:
        caps = self._capabilities()
        ws = caps.workspace if caps else None
        edit = ws.workspace_edit if ws else None
        ops = (edit.resource_operations or []) if edit else []
        return bool(edit and edit.document_changes) and types.ResourceOperationKind.Create in ops

    def supports_code_action_resolve(self) -> bool:
        caps = self._capabilities()
        td = caps.text_document if caps else None
        ca = td.code_action if td else None
        support = ca.resolve_support if ca else None
        return bool(support and "edit" in support.properties)

    def supports_configuration(self) -> bool:
        caps = self._capabilities()
        return bool(caps and caps.workspace and caps.workspace.configuration)

    # --- workspace ------------------------------------------------------------------------

    def workspace_roots(self) -> list[Path]:
        params = self.initialize_params
        roots: list[Path] = []
        try:
            folders = list(self.workspace.folders.values())
        except RuntimeError:
            folders = []
        for folder in folders:
            path = uri_to_path(folder.uri)
            if path:
                roots.append(Path(path))
        if not roots and params is not None:
            if params.root_uri and (path := uri_to_path(params.root_uri)):
                roots.append(Path(path))
            elif params.root_path:
                roots.append(Path(params.root_path))
        return roots

    def workspace_root(self) -> Path | None:
        roots = self.workspace_roots()
        return roots[0] if roots else None

    def document(self, uri: str) -> Document:
        """An open document; InvalidParams when the client never opened it."""
        doc = self.documents.get(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"Document not open: {uri}")
        return doc

    def offset_of(self, doc: Document | LineIndex, position: types.Position) -> int:
        """Python offset of an LSP position; InvalidParams when it is outside the document."""
        index = doc.index if isinstance(doc, Document) else doc
        try:
            return index.offset(position.line, position.character, self.encoding)
        except PositionError as exc:
            raise JsonRpcInvalidParams(f"Invalid position: {exc}") from exc

    def position_of(self, index: LineIndex, offset: int) -> types.Position:
        line, character = index.position(offset, self.encoding)
        return types.Position(line=line, character=character)

    def snapshot(self, doc: Document) -> DocumentSnapshot:
        from trust_lsp.features.completion.types import DocumentSnapshot

        return DocumentSnapshot(doc.uri, doc.text, doc.language_id, doc.version, doc.path)

    def remember_shown(self, uri: str) -> str:
        """An id for a shown inline suggestion (trust.acceptCompletion counts it once)."""
        suggestion_id = uuid.uuid4().hex[:16]
        self.shown[suggestion_id] = uri
        while len(self.shown) > _MAX_SHOWN:
            self.shown.popitem(last=False)
        return suggestion_id

    # --- commands --------------------------------------------------------------------------

    async def execute_command(self, params: types.ExecuteCommandParams) -> Any:
        handler = self.commands.get(params.command)
        if handler is None:
            raise JsonRpcInvalidParams(f"Unknown command {params.command!r}")
        try:
            return await handler(self, params)
        except (JsonRpcException, asyncio.CancelledError):
            raise
        except PositionError as exc:
            raise JsonRpcInvalidParams(f"Invalid position: {exc}") from exc
        except Exception as exc:
            from trust_lsp.errors import TrustError

            if isinstance(exc, TrustError):
                raise request_failed(exc.message, data=exc.to_dict()) from exc
            raise


def build_session_services(
    server: TrustLanguageServer, config: ConfigStore, generator: Generator
) -> Services:
    """The per-connection services over a shared core (imports the features lazily)."""
    from trust_lsp.features.chat.service import ChatService
    from trust_lsp.features.completion.engine import CompletionEngine
    from trust_lsp.server.tools_bridge import tool_runner_for

    def settings() -> Any:
        return config.settings

    engine = CompletionEngine(generator, settings, metrics=generator.metrics)
    chat = ChatService(generator, settings)
    chat.tool_runner = tool_runner_for(server, generator, settings)
    return Services(config=config, generator=generator, engine=engine, chat=chat)


def build_server(
    config: ConfigStore | None = None,
    generator: Generator | None = None,
    *,
    provider: CoreProvider | None = None,
    owns_core: bool = True,
) -> TrustLanguageServer:
    """The Trust language server with its features registered.

    `config` / `generator`: use these (the client's settings go into the CLIENT layer of
    `config`); omitted, they are built after initialize from the workspace's configuration.
    `provider` shares one core between several servers (network transports: one server per
    connection); `owns_core` False leaves closing it to the caller.
    """
    from trust_lsp.server import completion, lifecycle, routes

    server = TrustLanguageServer(provider or CoreProvider(config, generator), owns_core=owns_core)
    lifecycle.register(server)
    completion.register(server)
    routes.register(server)
    return server
