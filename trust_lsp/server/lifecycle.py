"""Life cycle, document sync and configuration notifications."""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.capabilities import ServerCapabilitiesBuilder

from trust_lsp.server import config_sync
from trust_lsp.server.app import TrustLanguageServer
from trust_lsp.server.documents import Change

logger = logging.getLogger(__name__)


def _encoding_value(encoding: object) -> str:
    value = getattr(encoding, "value", encoding)
    return str(value)


def register(server: TrustLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: TrustLanguageServer, params: types.InitializeParams) -> None:
        ls.initialize_params = params
        ls.encoding = _encoding_value(
            ServerCapabilitiesBuilder.choose_position_encoding(params.capabilities)
        )
        ls.client_settings = config_sync.settings_from_initialization_options(
            params.initialization_options
        )
        # Runs after this answer is written (the handler chain is synchronous), so the
        # configuration and generator imports do not delay the initialize result.
        ls.start_services()

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: TrustLanguageServer, params: None) -> None:
        await ls.close_services()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TrustLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.documents.open(item.uri, item.language_id, item.version, item.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TrustLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        changes = [_change(c) for c in params.content_changes]
        uri = params.text_document.uri
        ls.documents.change(uri, params.text_document.version, changes, ls.encoding)
        ls.diagnostics_seen.forget(uri)
        services = ls.services_now()
        if services is not None:
            services.engine.note_edit(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TrustLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.close(uri)
        ls.diagnostics_seen.forget(uri)
        services = ls.services_now()
        if services is not None:
            services.engine.close_document(uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: TrustLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        settings = config_sync.settings_from_did_change(params.settings)
        if settings is None:
            settings = await ls.pull_configuration()
        if settings is None:
            return
        await _apply(ls, settings)


def _change(change: Any) -> Change:
    rng = getattr(change, "range", None)
    if rng is None:
        return Change(change.text)
    return Change(
        change.text,
        ((rng.start.line, rng.start.character), (rng.end.line, rng.end.character)),
    )


async def _apply(ls: TrustLanguageServer, settings: dict[str, Any]) -> None:
    """Settings changed at run time: they replace the RUNTIME layer."""
    from trust_lsp.config.store import Layer

    services = await ls.services()
    issues = services.config.set_layer(Layer.RUNTIME, settings)
    ls.report_config_issues(issues)
