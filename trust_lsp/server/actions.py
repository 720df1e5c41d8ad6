"""textDocument/codeAction and codeAction/resolve: the "Ask Trust" actions.

Listing is instant (no model call). An edit action carries its request in `data` and is
resolved in `codeAction/resolve` (or, for clients that cannot resolve edits, through the
`trust.applyAction` command, which applies the same edit with `workspace/applyEdit`).
Explain and Custom prompt are `trust.ask` commands.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from trust_lsp.backends.base import GenerationOptions
from trust_lsp.core.types import CompletionInput, GenerationRequest, RequestKind
from trust_lsp.features.actions.catalog import (
    EDIT_KINDS,
    EXPLAIN_PROMPT,
    TITLES,
    ActionContext,
    ActionKind,
    available_actions,
    build_edit_messages,
    diagnostic_title,
)
from trust_lsp.features.actions.docstring import docstring_from_completion, docstring_site
from trust_lsp.features.actions.extract import extract_code, first_block_closed
from trust_lsp.features.actions.placement import (
    FileInsert,
    Placement,
    TextChange,
    UnusableAnswerError,
    path_of_tests_for,
    place_action_code,
    python_module_name,
)
from trust_lsp.features.chat.context import estimate_tokens
from trust_lsp.features.chat.service import TurnProgress
from trust_lsp.server import args
from trust_lsp.server.app import TrustLanguageServer
from trust_lsp.server.documents import Document
from trust_lsp.server.errors import REQUEST_CANCELLED, content_modified, request_failed
from trust_lsp.server.positions import LineIndex
from trust_lsp.server.streaming import run_streamed

APPLY_ACTION = "trust.applyAction"
ASK = "trust.ask"
# Context lines around the selection given to the model (not edited).
CONTEXT_CHARS = 800
DOCSTRING_PREFIX_CHARS = 4000
DOCSTRING_SUFFIX_CHARS = 2000
DOCSTRING_MAX_TOKENS = 160

KIND_OF: dict[ActionKind, str] = {
    ActionKind.FIX_DIAGNOSTIC: "quickfix.trust",
    ActionKind.FIX: "quickfix.trust",
    ActionKind.REFACTOR: "refactor.rewrite.trust",
    ActionKind.DOCUMENT: "refactor.rewrite.trust",
    ActionKind.TESTS: "refactor.trust",
    ActionKind.EXPLAIN: "refactor.trust",
    ActionKind.CUSTOM: "refactor.trust",
}


def kind_allowed(kind: str, only: list[str] | None) -> bool:
    """LSP `only` filter: a requested kind matches itself and its sub-kinds."""
    if not only:
        return True
    return any(o == "" or kind == o or kind.startswith(o + ".") for o in only)


def _whole_lines(text: str, start: int, end: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    return line_start, len(text) if line_end == -1 else line_end


def list_actions(ls: TrustLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """textDocument/codeAction: the actions for the range (instant, no model call)."""
    doc = ls.documents.get(params.text_document.uri)
    if doc is None:
        return []
    start = ls.offset_of(doc, params.range.start)
    end = ls.offset_of(doc, params.range.end)
    start, end = min(start, end), max(start, end)
    diagnostics = list(params.context.diagnostics)
    ls.diagnostics_seen.remember(doc.uri, doc.path, doc.version, diagnostics)
    only = [str(getattr(k, "value", k)) for k in params.context.only or []]
    actions: list[types.CodeAction] = []
    kinds = available_actions(start == end, [d.message for d in diagnostics])
    quickfixes = iter(diagnostics)
    for kind in kinds:
        if not kind_allowed(KIND_OF[kind], only):
            if kind is ActionKind.FIX_DIAGNOSTIC:
                next(quickfixes)
            continue
        if kind is ActionKind.FIX_DIAGNOSTIC:
            diag = next(quickfixes)
            try:
                actions.append(_quickfix(ls, doc, diag, start, end))
            except JsonRpcInvalidParams:
                continue  # a diagnostic outside the document: no quick fix for it
        else:
            actions.append(_selection_action(ls, doc, kind, params.range, diagnostics))
    return actions


async def resolve_action(ls: TrustLanguageServer, action: types.CodeAction) -> types.CodeAction:
    """codeAction/resolve: ask the model and attach the edit."""
    data = action.data
    if not isinstance(data, dict) or data.get("source") != "trust":
        return action  # not one of ours: nothing to add
    edit, turn = await compute_action_edit(ls, data)
    action.edit = edit
    action.data = {**data, "backend": turn.backend, "model": turn.model}
    return action


def _data(doc: Document, kind: ActionKind, rng: types.Range, messages: list[str]) -> dict[str, Any]:
    return {
        "source": "trust",
        "kind": kind.value,
        "uri": doc.uri,
        "version": doc.version,
        "range": args.range_json(rng),
        "diagnostics": messages,
    }


def _edit_action(
    ls: TrustLanguageServer, title: str, kind: ActionKind, data: dict[str, Any]
) -> types.CodeAction:
    action = types.CodeAction(title=title, kind=KIND_OF[kind], data=data)
    if not ls.supports_code_action_resolve():
        action.command = types.Command(title=title, command=APPLY_ACTION, arguments=[data])
    return action


def _quickfix(
    ls: TrustLanguageServer, doc: Document, diag: types.Diagnostic, start: int, end: int
) -> types.CodeAction:
    if start == end:
        # No selection: fix the whole lines the diagnostic covers.
        d_start = ls.offset_of(doc, diag.range.start)
        d_end = ls.offset_of(doc, diag.range.end)
        start, end = _whole_lines(doc.text, min(d_start, d_end), max(d_start, d_end))
    index = doc.index
    rng = types.Range(start=ls.position_of(index, start), end=ls.position_of(index, end))
    data = _data(doc, ActionKind.FIX_DIAGNOSTIC, rng, [diag.message])
    action = _edit_action(ls, diagnostic_title(diag.message), ActionKind.FIX_DIAGNOSTIC, data)
    action.diagnostics = [diag]
    return action


def _selection_action(
    ls: TrustLanguageServer,
    doc: Document,
    kind: ActionKind,
    rng: types.Range,
    diagnostics: list[types.Diagnostic],
) -> types.CodeAction:
    title = TITLES[kind]
    where = {"uri": doc.uri, "range": args.range_json(rng)}
    if kind is ActionKind.EXPLAIN:
        command = types.Command(
            title=title, command=ASK, arguments=[{"prompt": EXPLAIN_PROMPT, **where}]
        )
        return types.CodeAction(title=title, kind=KIND_OF[kind], command=command)
    if kind is ActionKind.CUSTOM:
        command = types.Command(title=title, command=ASK, arguments=[{"action": "custom", **where}])
        return types.CodeAction(title=title, kind=KIND_OF[kind], command=command)
    messages = [d.message for d in diagnostics] if kind is ActionKind.FIX else []
    return _edit_action(ls, title, kind, _data(doc, kind, rng, messages))


def _existing_text(ls: TrustLanguageServer, path: str) -> str | None:
    open_text = ls.host.document_text(Path(path))
    if open_text is not None:
        return open_text
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


async def compute_action_edit(
    ls: TrustLanguageServer, data: dict[str, Any]
) -> tuple[types.WorkspaceEdit, TurnProgress]:
    """Ask the model for an edit action's code and turn it into a workspace edit."""
    where = "codeAction data"
    try:
        kind = ActionKind(str(data.get("kind")))
    except ValueError:
        raise JsonRpcInvalidParams(f"{where}: unknown action kind {data.get('kind')!r}") from None
    if kind not in EDIT_KINDS:
        raise JsonRpcInvalidParams(f"{where}: {kind.value} is not an edit action")
    uri = args.required_str(where, data, "uri")
    rng = args.optional_range(where, data)
    if rng is None:
        raise JsonRpcInvalidParams(f"{where}: 'range' is required")
    raw_messages = data.get("diagnostics") or []
    messages = (
        [m for m in raw_messages if isinstance(m, str)] if isinstance(raw_messages, list) else []
    )
    doc = ls.document(uri)
    listed_version = data.get("version")
    if isinstance(listed_version, int) and listed_version != doc.version:
        raise content_modified("The document changed since the action was listed: ask again")
    start = ls.offset_of(doc, rng.start)
    end = ls.offset_of(doc, rng.end)
    start, end = min(start, end), max(start, end)
    version, text = doc.version, doc.text
    root = ls.workspace_root()
    services = await ls.services()
    ctx = ActionContext(
        code=text[start:end],
        language=doc.language_id,
        path=doc.path,
        before=text[max(0, start - CONTEXT_CHARS) : start],
        after=text[end : end + CONTEXT_CHARS],
        diagnostics=messages,
        module=python_module_name(doc.path, str(root) if root else None) if doc.path else None,
    )
    title = (
        diagnostic_title(messages[0])
        if kind is ActionKind.FIX_DIAGNOSTIC and messages
        else TITLES.get(kind, "Ask Trust")
    )
    site = (
        docstring_site(text, start, end, doc.language_id) if kind is ActionKind.DOCUMENT else None
    )
    if site is not None:
        # A Python definition: the model completes the docstring in place.
        request = GenerationRequest(
            kind=RequestKind.ACTION,
            completion=CompletionInput(
                prefix=site.prefix[-DOCSTRING_PREFIX_CHARS:],
                suffix=site.suffix[:DOCSTRING_SUFFIX_CHARS],
            ),
            options=GenerationOptions(
                temperature=services.config.settings.chat.temperature,
                max_tokens=DOCSTRING_MAX_TOKENS,
                stop=('"""',),
            ),
        )
        until = _closes_docstring
    else:
        request = services.chat.build_request(
            build_edit_messages(kind, ctx), kind=RequestKind.ACTION
        )
        # An edit is about as long as the selection (tests a few times longer): a model
        # that rambles is cut off instead of running to chat.max_tokens.
        limit = 256 + 3 * estimate_tokens(ctx.code)
        if request.options.max_tokens is None or request.options.max_tokens > limit:
            request = replace(request, options=replace(request.options, max_tokens=limit))
        # The code is in the first fenced block: stop there (chatty models go on and on).
        until = first_block_closed
    turn = TurnProgress()

    async def work(on_delta: Any) -> None:
        await services.chat.generate(request, turn, on_delta, until=until)

    _, interrupted = await run_streamed(ls, None, title, work)
    if interrupted:
        raise JsonRpcException(message="Ask Trust was cancelled", code=REQUEST_CANCELLED)
    if doc.version != version or ls.documents.get(uri) is not doc:
        raise content_modified("The document changed while Trust was answering: ask again")
    if site is not None:
        docstring = docstring_from_completion(turn.answer, site.indent)
        if docstring is None:
            _unusable(ls, title, "the answer contained no documentation", turn)
        placement: Placement = TextChange(site.offset, site.offset, docstring)
        return workspace_edit(ls, doc, placement), turn
    code = extract_code(turn.answer)
    if code is None:
        _unusable(ls, title, "the model's answer contained no code", turn)
    existing = None
    if kind is ActionKind.TESTS and doc.path and root is not None:
        existing = _existing_text(ls, path_of_tests_for(doc.path, str(root)))
    try:
        placement = place_action_code(
            kind,
            text,
            start,
            end,
            code,
            path=doc.path,
            language=doc.language_id,
            root=str(root) if root else None,
            existing_tests=existing,
            can_create_files=ls.can_create_files(),
        )
    except UnusableAnswerError as exc:
        _unusable(ls, title, str(exc), turn)
    return workspace_edit(ls, doc, placement), turn


def _closes_docstring(text: str) -> bool:
    return '"""' in text


def _unusable(ls: TrustLanguageServer, title: str, why: str, turn: TurnProgress) -> NoReturn:
    """Report an answer that cannot become an edit: a message and a RequestFailed error."""
    message = f"{title}: {why} ({turn.backend or 'no backend'})"
    ls.show_message(message, types.MessageType.Error)
    raise request_failed(message, data={"answer": turn.answer[:4000], "backend": turn.backend})


def workspace_edit(
    ls: TrustLanguageServer, doc: Document, placement: Placement
) -> types.WorkspaceEdit:
    """A `WorkspaceEdit` for a placement, versioned when the client supports it."""
    versioned = ls.supports_document_changes()
    if isinstance(placement, TextChange):
        index = doc.index
        edit = types.TextEdit(
            range=types.Range(
                start=ls.position_of(index, placement.start),
                end=ls.position_of(index, placement.end),
            ),
            new_text=placement.text,
        )
        if not versioned:
            return types.WorkspaceEdit(changes={doc.uri: [edit]})
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=doc.uri, version=doc.version
                    ),
                    edits=[edit],
                )
            ]
        )
    assert isinstance(placement, FileInsert)
    target = Path(placement.path)
    open_doc = ls.documents.by_path(str(target))
    uri = open_doc.uri if open_doc is not None else target.as_uri()
    if placement.existing is None:
        at = types.Position(line=0, character=0)
    else:
        at = ls.position_of(LineIndex.of(placement.existing), len(placement.existing))
    insert = types.TextEdit(range=types.Range(start=at, end=at), new_text=placement.text)
    if placement.existing is not None and not versioned:
        return types.WorkspaceEdit(changes={uri: [insert]})
    changes: list[Any] = []
    if placement.existing is None:
        changes.append(
            types.CreateFile(
                uri=uri, options=types.CreateFileOptions(overwrite=False, ignore_if_exists=True)
            )
        )
    changes.append(
        types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(
                uri=uri, version=open_doc.version if open_doc is not None else None
            ),
            edits=[insert],
        )
    )
    return types.WorkspaceEdit(document_changes=changes)
