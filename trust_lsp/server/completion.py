"""textDocument/inlineCompletion and textDocument/completion: thin glue to the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from trust_lsp.server.app import TrustLanguageServer
from trust_lsp.server.positions import LineIndex

if TYPE_CHECKING:
    from trust_lsp.features.completion.types import Suggestion

ACCEPT_COMMAND = "trust.acceptCompletion"
_LABEL_CHARS = 60


@dataclass(frozen=True, slots=True)
class ItemEdit:
    """A classic completion item as offsets: replace [start, end) with `new_text`."""

    start: int
    end: int
    new_text: str
    label: str


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _line_end(text: str, offset: int) -> int:
    end = len(text)
    for terminator in ("\n", "\r"):
        found = text.find(terminator, offset)
        if found != -1:
            end = min(end, found)
    return end


def replace_end(text: str, offset: int, replace_chars: int) -> int:
    """End of the replaced text, kept on the cursor's line (LSP ranges of items must be)."""
    return min(offset + max(0, replace_chars), _line_end(text, offset))


def classic_item(text: str, offset: int, suggestion: Suggestion) -> ItemEdit:
    """The edit of a classic completion item (pure).

    The range starts at the beginning of the word being typed, so the client's own
    filtering matches the item while the user types along the suggestion.
    """
    start = offset
    while start > 0 and _is_word(text[start - 1]):
        start -= 1
    typed = text[start:offset]
    new_text = typed + suggestion.text
    first_line = new_text.strip().splitlines()[0] if new_text.strip() else new_text
    label = first_line if len(first_line) <= _LABEL_CHARS else first_line[:_LABEL_CHARS] + "…"
    return ItemEdit(start, replace_end(text, offset, suggestion.replace_chars), new_text, label)


def register(server: TrustLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: TrustLanguageServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        services = await ls.services()
        # From here to engine.complete nothing awaits: offset and snapshot agree.
        doc = ls.document(params.text_document.uri)
        offset = ls.offset_of(doc, params.position)
        if doc.refusal() is not None:
            return types.InlineCompletionList(items=[])
        snapshot = ls.snapshot(doc)
        others = [ls.snapshot(d) for d in ls.documents.all() if d is not doc and not d.refusal()]
        suggestions = await services.engine.complete(snapshot, offset, others=others)
        # The document may have changed while the model answered: positions are in the
        # text the suggestions were made for.
        index = (
            (doc.index if doc.text is snapshot.text else LineIndex.of(snapshot.text))
            if suggestions
            else None
        )
        items: list[types.InlineCompletionItem] = []
        for suggestion in suggestions:
            assert index is not None
            end = replace_end(snapshot.text, offset, suggestion.replace_chars)
            suggestion_id = ls.remember_shown(snapshot.uri)
            items.append(
                types.InlineCompletionItem(
                    insert_text=suggestion.text,
                    range=types.Range(start=params.position, end=ls.position_of(index, end)),
                    command=types.Command(
                        title="Accept Trust completion",
                        command=ACCEPT_COMMAND,
                        arguments=[{"uri": snapshot.uri, "id": suggestion_id}],
                    ),
                )
            )
        return types.InlineCompletionList(items=items)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(resolve_provider=False),
    )
    async def completion(
        ls: TrustLanguageServer, params: types.CompletionParams
    ) -> types.CompletionList:
        services = await ls.services()
        doc = ls.document(params.text_document.uri)
        offset = ls.offset_of(doc, params.position)
        if doc.refusal() is not None:
            return types.CompletionList(is_incomplete=False, items=[])
        snapshot = ls.snapshot(doc)
        cached = services.engine.from_cache(snapshot, offset)
        if cached is None:
            # Never wait for the model here: other completion sources are waiting with us.
            others = [
                ls.snapshot(d) for d in ls.documents.all() if d is not doc and not d.refusal()
            ]
            services.engine.complete_in_background(snapshot, offset, others)
            return types.CompletionList(is_incomplete=True, items=[])
        index = doc.index
        items = []
        for rank, suggestion in enumerate(cached):
            edit = classic_item(snapshot.text, offset, suggestion)
            rng = types.Range(
                start=ls.position_of(index, edit.start), end=ls.position_of(index, edit.end)
            )
            items.append(
                types.CompletionItem(
                    label=edit.label,
                    kind=types.CompletionItemKind.Text,
                    detail="Trust",
                    filter_text=edit.new_text,
                    sort_text=f"0{rank:03d}",
                    insert_text_format=types.InsertTextFormat.PlainText,
                    text_edit=types.TextEdit(range=rng, new_text=edit.new_text),
                )
            )
        return types.CompletionList(
            is_incomplete=services.engine.is_generating(snapshot.uri), items=items
        )
