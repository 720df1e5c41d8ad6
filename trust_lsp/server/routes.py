"""Registration of the code-action and command handlers, with lazy imports.

The handlers' modules pull in the features (prompt building, chat, the core's types);
importing them only when the first such request arrives keeps them off the start-up path,
where every millisecond delays the editor's initialize.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from trust_lsp.server.app import TrustLanguageServer

COMMANDS = (
    "trust.chat",
    "trust.ask",
    "trust.newSession",
    "trust.status",
    "trust.models",
    "trust.pullModel",
    "trust.acceptCompletion",
    "trust.applyAction",
)
CODE_ACTION_KINDS = ["quickfix", "refactor", "refactor.rewrite"]


async def run_command(ls: TrustLanguageServer, params: types.ExecuteCommandParams) -> Any:
    """Dispatch one of `COMMANDS` to its handler in `commands.py`."""
    from trust_lsp.server.commands import HANDLERS

    return await HANDLERS[params.command](ls, params)


def register(server: TrustLanguageServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=CODE_ACTION_KINDS, resolve_provider=True),
    )
    def code_action(
        ls: TrustLanguageServer, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        from trust_lsp.server.actions import list_actions

        return list_actions(ls, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(
        ls: TrustLanguageServer, action: types.CodeAction
    ) -> types.CodeAction:
        from trust_lsp.server.actions import resolve_action

        return await resolve_action(ls, action)

    for name in COMMANDS:
        server.commands[name] = run_command
        # Registered with pygls only so executeCommandProvider lists it; TrustProtocol
        # dispatches with the whole ExecuteCommandParams (the workDoneToken included).
        server.command(name)(_advertised_only(name))


def _advertised_only(name: str) -> Any:
    def handler(*_: Any) -> None:
        raise RuntimeError(f"{name} is dispatched by TrustProtocol, not by pygls")

    return handler
