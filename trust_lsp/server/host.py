"""The editor side of the workspace tools (`trust_lsp.tools.host.WorkspaceHost`) over LSP.

- Open buffers come from the server's own document store (what the editor sent).
- Diagnostics: an LSP server is never sent the diagnostics other servers publish, and this
  server offers no `textDocument/diagnostic` pull of its own. What it does see are the
  diagnostics the client puts in `textDocument/codeAction` contexts (those overlapping the
  range the user is looking at); those are kept per document until the document changes.
  So `diagnostics()` is partial by nature: it reports what the editor has shown us.
- Approval is a `window/showMessageRequest` with "Allow" / "Deny".
- Edits are `workspace/applyEdit` (whole-file replacement), so the editor keeps undo
  history and unsaved buffers consistent; a missing file is created with `CreateFile` when
  the client supports it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from trust_lsp.server.documents import Document
from trust_lsp.server.positions import LineIndex

if TYPE_CHECKING:
    from trust_lsp.server.app import TrustLanguageServer

logger = logging.getLogger(__name__)

APPROVAL_TIMEOUT_S = 300.0
APPLY_EDIT_TIMEOUT_S = 60.0
ALLOW = "Allow"
DENY = "Deny"
_SEVERITY = {1: "error", 2: "warning", 3: "information", 4: "hint"}


def _key(path: Path | str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return str(path)


class DiagnosticsMemory:
    """Diagnostics seen in code-action contexts, per document version."""

    def __init__(self) -> None:
        self._by_uri: dict[str, tuple[int, dict[tuple[int, int, str], dict[str, Any]]]] = {}

    def remember(
        self, uri: str, path: str | None, version: int, diagnostics: Sequence[types.Diagnostic]
    ) -> None:
        known = self._by_uri.get(uri)
        if known is None or known[0] != version:
            known = (version, {})
            self._by_uri[uri] = known
        for diag in diagnostics:
            entry = {
                "path": path or uri,
                "line": diag.range.start.line + 1,
                "character": diag.range.start.character,
                "severity": _SEVERITY.get(int(diag.severity or 1), "error"),
                "message": diag.message,
                "source": diag.source,
                "code": diag.code if isinstance(diag.code, int | str) else None,
            }
            known[1][(diag.range.start.line, diag.range.start.character, diag.message)] = entry

    def forget(self, uri: str) -> None:
        self._by_uri.pop(uri, None)

    def all(self, current_versions: dict[str, int]) -> list[dict[str, Any]]:
        """Diagnostics of documents whose version has not changed since they were seen."""
        out: list[dict[str, Any]] = []
        for uri, (version, entries) in self._by_uri.items():
            if current_versions.get(uri, version) != version:
                continue
            out.extend(sorted(entries.values(), key=lambda e: (e["line"], e["character"])))
        return out


class LspWorkspaceHost:
    """`WorkspaceHost` for one LSP connection."""

    def __init__(self, server: TrustLanguageServer) -> None:
        self._server = server

    @property
    def roots(self) -> Sequence[Path]:
        return self._server.workspace_roots()

    def _document(self, path: Path) -> Document | None:
        wanted = _key(path)
        for doc in self._server.documents.all():
            if doc.path is not None and _key(doc.path) == wanted:
                return doc
        return None

    def document_text(self, path: Path) -> str | None:
        doc = self._document(path)
        return doc.text if doc is not None else None

    def open_documents(self) -> list[Path]:
        return [Path(d.path) for d in self._server.documents.all() if d.path is not None]

    def diagnostics(self, path: Path | None = None) -> list[dict[str, Any]]:
        versions = {d.uri: d.version for d in self._server.documents.all()}
        found = self._server.diagnostics_seen.all(versions)
        if path is None:
            return found
        wanted = _key(path)
        return [d for d in found if _key(d["path"]) == wanted]

    async def request_approval(self, title: str, detail: str) -> bool:
        params = types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=f"{title}\n\n{detail}" if detail else title,
            actions=[types.MessageActionItem(title=ALLOW), types.MessageActionItem(title=DENY)],
        )
        try:
            answer = await asyncio.wait_for(
                self._server.window_show_message_request_async(params), APPROVAL_TIMEOUT_S
            )
        except TimeoutError:
            logger.info("approval request timed out: %s", title)
            return False
        except Exception as exc:
            logger.warning("approval request failed: %s", exc)
            return False
        chosen = getattr(answer, "title", None)
        if chosen is None and isinstance(answer, dict):
            chosen = answer.get("title")
        return chosen == ALLOW

    async def apply_edit(self, path: Path, new_text: str) -> tuple[bool, str | None]:
        path = Path(_key(path))
        uri = path.as_uri()
        doc = self._document(path)
        version: int | None = None
        if doc is not None:
            old: str | None = doc.text
            uri, version = doc.uri, doc.version
        elif path.is_file():
            try:
                old = path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                return False, f"cannot read {path}: {exc}"
        else:
            old = None
        if old is None and not self._server.can_create_files():
            return False, "the editor does not accept file creation through LSP"
        edit = whole_file_edit(
            uri,
            old,
            new_text,
            version=version,
            encoding=self._server.encoding,
            document_changes=self._server.supports_document_changes() or old is None,
        )
        params = types.ApplyWorkspaceEditParams(edit=edit, label=f"Trust: edit {path.name}")
        try:
            result = await asyncio.wait_for(
                self._server.workspace_apply_edit_async(params), APPLY_EDIT_TIMEOUT_S
            )
        except TimeoutError:
            return False, "the editor did not answer workspace/applyEdit"
        except Exception as exc:
            return False, f"workspace/applyEdit failed: {exc}"
        applied = bool(getattr(result, "applied", False))
        reason = getattr(result, "failure_reason", None)
        return applied, None if applied else (reason or "the editor refused the edit")


def whole_file_edit(
    uri: str,
    old: str | None,
    new_text: str,
    *,
    version: int | None,
    encoding: str,
    document_changes: bool,
) -> types.WorkspaceEdit:
    """A workspace edit replacing the whole of `old` by `new_text` (creating the file when
    `old` is None)."""
    if old is None:
        end = types.Position(line=0, character=0)
    else:
        line, character = LineIndex.of(old).position(len(old), encoding)
        end = types.Position(line=line, character=character)
    text_edit = types.TextEdit(
        range=types.Range(start=types.Position(line=0, character=0), end=end), new_text=new_text
    )
    if not document_changes:
        return types.WorkspaceEdit(changes={uri: [text_edit]})
    changes: list[Any] = []
    if old is None:
        changes.append(
            types.CreateFile(
                uri=uri, options=types.CreateFileOptions(overwrite=False, ignore_if_exists=True)
            )
        )
    changes.append(
        types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=[text_edit],
        )
    )
    return types.WorkspaceEdit(document_changes=changes)
