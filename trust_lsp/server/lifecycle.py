"""Life cycle, document sync and configuration notifications."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.capabilities import ServerCapabilitiesBuilder

from trust_lsp.server import config_sync
from trust_lsp.server.app import TrustLanguageServer
from trust_lsp.server.documents import Change

logger = logging.getLogger(__name__)

CONFIGURATION_TIMEOUT_S = 10.0


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

    @server.feature(types.INITIALIZED)
    def initialized(ls: TrustLanguageServer, params: types.InitializedParams) -> None:
        if ls.supports_configuration():
            ls.spawn(_pull_client_configuration(ls), name="pull-configuration")

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
        if settings is None and ls.supports_configuration():
            settings = await _request_configuration(ls)
        if settings is None:
            return
        await _apply(ls, "runtime", settings)


def _change(change: Any) -> Change:
    rng = getattr(change, "range", None)
    if rng is None:
        return Change(change.text)
    return Change(
        change.text,
        ((rng.start.line, rng.start.character), (rng.end.line, rng.end.character)),
    )


async def _request_configuration(ls: TrustLanguageServer) -> dict[str, Any] | None:
    params = types.ConfigurationParams(items=[types.ConfigurationItem(section=config_sync.SECTION)])
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(params), CONFIGURATION_TIMEOUT_S
        )
    except TimeoutError:
        logger.warning("the client did not answer workspace/configuration")
        return None
    except Exception as exc:
        logger.info("workspace/configuration failed: %s", exc)
        return None
    return config_sync.settings_from_configuration_result(result)


async def _pull_client_configuration(ls: TrustLanguageServer) -> None:
    settings = await _request_configuration(ls)
    if settings:
        await _apply(ls, "client", config_sync.merge_settings(ls.client_settings, settings))


async def _apply(ls: TrustLanguageServer, layer_name: str, settings: dict[str, Any]) -> None:
    from trust_lsp.config.store import Layer

    services = await ls.services()
    layer = Layer.RUNTIME if layer_name == "runtime" else Layer.CLIENT
    if layer is Layer.CLIENT:
        ls.client_settings = settings
    issues = services.config.set_layer(layer, settings)
    ls.report_config_issues(issues, again=layer is Layer.RUNTIME)
