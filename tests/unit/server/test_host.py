"""The LSP WorkspaceHost: edits, diagnostics memory, protocol conformance."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from trust_lsp.server.app import build_server
from trust_lsp.server.host import DiagnosticsMemory, whole_file_edit
from trust_lsp.tools.host import WorkspaceHost


def test_server_host_is_a_workspace_host(tmp_path: Path) -> None:
    server = build_server()
    server.documents.open((tmp_path / "a.py").as_uri(), "python", 3, "x = 1\n")
    assert isinstance(server.host, WorkspaceHost)
    assert server.host.document_text(tmp_path / "a.py") == "x = 1\n"
    assert server.host.document_text(tmp_path / "b.py") is None
    assert server.host.open_documents() == [tmp_path / "a.py"]


def test_whole_file_edit_replaces_everything_in_utf16_units() -> None:
    edit = whole_file_edit(
        "file:///a.py", "x = '😀'\ny", "new", version=4, encoding="utf-16", document_changes=True
    )
    assert edit.document_changes is not None
    (change,) = edit.document_changes
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.version == 4
    (text_edit,) = change.edits
    assert isinstance(text_edit, types.TextEdit)
    assert text_edit.range.end == types.Position(line=1, character=1)
    assert text_edit.new_text == "new"


def test_whole_file_edit_creates_a_missing_file() -> None:
    edit = whole_file_edit(
        "file:///n.py", None, "hi\n", version=None, encoding="utf-16", document_changes=True
    )
    assert edit.document_changes is not None
    create, change = edit.document_changes
    assert isinstance(create, types.CreateFile) and create.uri == "file:///n.py"
    assert isinstance(change, types.TextDocumentEdit)


def test_whole_file_edit_without_document_changes() -> None:
    edit = whole_file_edit(
        "file:///a.py", "abc", "xyz", version=1, encoding="utf-8", document_changes=False
    )
    assert edit.changes is not None and list(edit.changes) == ["file:///a.py"]


def _diag(line: int, message: str) -> types.Diagnostic:
    position = types.Position(line=line, character=0)
    return types.Diagnostic(
        range=types.Range(start=position, end=position),
        message=message,
        severity=types.DiagnosticSeverity.Warning,
    )


def test_diagnostics_memory_is_per_version() -> None:
    memory = DiagnosticsMemory()
    memory.remember("file:///a.py", "/a.py", 1, [_diag(2, "unused"), _diag(0, "style")])
    memory.remember("file:///a.py", "/a.py", 1, [_diag(2, "unused")])  # seen again: once
    seen = memory.all({"file:///a.py": 1})
    assert [(d["line"], d["message"], d["severity"]) for d in seen] == [
        (1, "style", "warning"),
        (3, "unused", "warning"),
    ]
    assert memory.all({"file:///a.py": 2}) == []  # the document changed since
    memory.remember("file:///a.py", "/a.py", 2, [_diag(5, "new")])
    assert [d["message"] for d in memory.all({"file:///a.py": 2})] == ["new"]
