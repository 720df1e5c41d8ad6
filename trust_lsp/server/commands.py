"""workspace/executeCommand: trust.chat, trust.ask, trust.newSession, trust.status,
trust.models, trust.pullModel, trust.acceptCompletion (and trust.applyAction for clients
without codeAction/resolve). Arguments and results: docs/lsp.md."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from trust_lsp import __version__
from trust_lsp.backends.base import ModelInfo, PullProgress
from trust_lsp.core.types import RequestKind
from trust_lsp.features.chat.context import WorkspaceContext
from trust_lsp.features.chat.service import ChatAnswer, TurnProgress, answer_from
from trust_lsp.server import args
from trust_lsp.server.app import TrustLanguageServer
from trust_lsp.server.progress import ProgressStream
from trust_lsp.server.streaming import run_streamed

CHAT = "trust.chat"
ASK = "trust.ask"
NEW_SESSION = "trust.newSession"
STATUS = "trust.status"
MODELS = "trust.models"
PULL_MODEL = "trust.pullModel"
ACCEPT_COMPLETION = "trust.acceptCompletion"
APPLY_ACTION = "trust.applyAction"


def workspace_context(
    ls: TrustLanguageServer, uri: str | None, rng: types.Range | None
) -> WorkspaceContext:
    """What the editor shows: roots, open files, and the current file and selection."""
    roots = [str(r) for r in ls.workspace_roots()]
    open_files = [d.path or d.uri for d in ls.documents.all()]
    if uri is None:
        return WorkspaceContext(roots=roots, open_files=open_files)
    doc = ls.documents.get(uri)
    if doc is None:
        raise JsonRpcInvalidParams(f"Document not open: {uri}")
    selection = None
    lines = None
    if rng is not None:
        start = ls.offset_of(doc, rng.start)
        end = ls.offset_of(doc, rng.end)
        selection = (min(start, end), max(start, end))
        lines = (rng.start.line + 1, rng.end.line + 1)
    return WorkspaceContext(
        roots=roots,
        open_files=open_files,
        current_path=doc.path or doc.uri,
        language=doc.language_id,
        text=doc.text,
        selection=selection,
        selection_lines=lines,
    )


async def chat(ls: TrustLanguageServer, params: types.ExecuteCommandParams) -> Any:
    arg = args.single_object(CHAT, params.arguments)
    prompt = args.required_str(CHAT, arg, "prompt")
    session_id = args.optional_str(CHAT, arg, "sessionId")
    context = workspace_context(
        ls, args.optional_str(CHAT, arg, "uri"), args.optional_range(CHAT, arg)
    )
    services = await ls.services()
    session = ls.sessions.get(session_id) if session_id else ls.sessions.new()
    turn = TurnProgress()

    async def work(on_delta: Any) -> ChatAnswer:
        return await services.chat.ask(
            prompt, session=session, context=context, on_delta=on_delta, progress=turn
        )

    answer, interrupted = await run_streamed(ls, params.work_done_token, "Trust", work)
    if interrupted or answer is None:
        answer = answer_from(turn, session, interrupted=True)
    return answer.to_json()


async def ask(ls: TrustLanguageServer, params: types.ExecuteCommandParams) -> Any:
    arg = args.single_object(ASK, params.arguments)
    if arg.get("prompt") is None and arg.get("action") == "custom":
        raise JsonRpcInvalidParams(
            "trust.ask needs a prompt: the editor asks the user for it (Custom prompt)"
        )
    prompt = args.required_str(ASK, arg, "prompt")
    context = workspace_context(
        ls, args.optional_str(ASK, arg, "uri"), args.optional_range(ASK, arg)
    )
    services = await ls.services()
    turn = TurnProgress()

    async def work(on_delta: Any) -> ChatAnswer:
        return await services.chat.ask(
            prompt,
            session=None,
            context=context,
            on_delta=on_delta,
            progress=turn,
            kind=RequestKind.ACTION,
            use_tools=False,
        )

    answer, interrupted = await run_streamed(ls, params.work_done_token, "Ask Trust", work)
    if interrupted or answer is None:
        answer = answer_from(turn, None, interrupted=True)
    return answer.to_json()


async def new_session(ls: TrustLanguageServer, params: types.ExecuteCommandParams) -> Any:
    return {"sessionId": ls.sessions.new().id}


async def status(ls: TrustLanguageServer, params: types.ExecuteCommandParams) -> Any:
    services = await ls.services()
    report: dict[str, Any] = dict(services.generator.status())
    report["version"] = __version__
    report["acceptanceRate"] = services.generator.metrics.acceptance_rate
    report["server"] = {
        "openDocuments": len(ls.documents),
        "chatSessions": len(ls.sessions),
        "positionEncoding": ls.encoding,
        "workspaceRoots": [str(r) for r in ls.workspace_roots()],
    }
    return report


def model_json(info: ModelInfo) -> dict[str, Any]:
    data = asdict(info)
    data["capabilities"] = sorted(info.capabilities)
    return data


async def models(ls: TrustLanguageServer, params: types.ExecuteCommandParams) -> Any:
    services = await ls.services()
    listed = await services.generator.list_models()
    out: dict[str, Any] = {}
    for backend, found in listed.items():
        if isinstance(found, str):
            out[backend] = {"models": [], "error": found}
        else:
            out[backend] = {"models": [model_json(m) for m in found], "error": None}
    return out


async def pull_model(ls: TrustLanguageServer, params: types.ExecuteCommandParams) -> Any:
    arg = args.single_object(PULL_MODEL, params.arguments)
    model = args.required_str(PULL_MODEL, arg, "model")
    services = await ls.services()
    progress = await ProgressStream.open(ls, params.work_done_token)
    progress.begin(f"Pulling {model}", cancellable=True)
    last_percentage = -1

    def on_progress(step: PullProgress) -> None:
        nonlocal last_percentage
        percentage = None
        if step.total and step.completed is not None:
            value = int(step.completed * 100 / step.total)
            # LSP percentages must not go back; Ollama restarts at 0 for every layer.
            if value >= last_percentage:
                percentage = last_percentage = min(value, 100)
        progress.report(message=step.status, percentage=percentage)

    try:
        await services.generator.pull(model, on_progress=on_progress)
    except BaseException as exc:
        progress.end(f"Failed: {exc}")
        raise
    progress.end("Done")
    return {"model": model, "status": "success"}


async def accept_completion(ls: TrustLanguageServer, params: types.ExecuteCommandParams) -> Any:
    arg = args.single_object(ACCEPT_COMPLETION, params.arguments)
    suggestion_id = args.required_str(ACCEPT_COMPLETION, arg, "id")
    if ls.shown.pop(suggestion_id, None) is None:
        return {"accepted": False}  # unknown, or already counted
    services = await ls.services()
    services.generator.metrics.record_completion_accepted()
    return {"accepted": True}


async def apply_action(ls: TrustLanguageServer, params: types.ExecuteCommandParams) -> Any:
    from trust_lsp.server.actions import compute_action_edit

    arg = args.single_object(APPLY_ACTION, params.arguments)
    edit, _ = await compute_action_edit(ls, arg)
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=edit, label="Ask Trust")
    )
    applied = bool(getattr(result, "applied", False))
    return {"applied": applied, "failureReason": getattr(result, "failure_reason", None)}


HANDLERS = {
    CHAT: chat,
    ASK: ask,
    NEW_SESSION: new_session,
    STATUS: status,
    MODELS: models,
    PULL_MODEL: pull_model,
    ACCEPT_COMPLETION: accept_completion,
    APPLY_ACTION: apply_action,
}
