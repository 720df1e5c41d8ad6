"""The workspace tools: read, list, find, search, write and edit files; diagnostics.

Every path goes through the `WorkspaceSandbox`; open documents are read from the editor's
buffer (what the user sees, saved or not), other files from disk; edits go through the
editor after approval (see `edits`). `build_registry()` gives the registry the chat uses.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trust_lsp.config.settings import Settings
from trust_lsp.errors import ToolExecutionError, ValidationError
from trust_lsp.tools.edits import propose_edit, replace_exact
from trust_lsp.tools.registry import (
    Tool,
    ToolContext,
    ToolImpl,
    ToolMetrics,
    ToolOutput,
    ToolRegistry,
)
from trust_lsp.tools.sandbox import is_binary_file
from trust_lsp.tools.search import glob_to_regex, grep

__all__ = ["DEFAULT_READ_LINES", "build_registry", "read_text", "workspace_tools"]

DEFAULT_READ_LINES = 400  # read_file without end_line shows at most this many lines
MAX_LIST_ENTRIES = 500
MAX_GLOB_RESULTS = 500
MAX_DIAGNOSTICS = 200
MAX_READ_BYTES = 5 * 1024 * 1024

# No maxLength in the schemas: llama.cpp turns a string length limit into one grammar rule
# per character, and a limit in the thousands breaks its grammar parser (the embedded
# backend derives its grammar from these schemas). Lengths are checked in code instead.
_PATH = {"type": "string", "minLength": 1}
MAX_PATTERN_CHARS = 1000


def _path_prop(description: str) -> dict[str, Any]:
    return {**_PATH, "description": description}


def read_text(context: ToolContext, path: Path) -> tuple[str | None, bool]:
    """The current text of `path`: (text, from the editor buffer). None: no such file."""
    buffer = context.host.document_text(path)
    if buffer is not None:
        return buffer, True
    if not path.exists():
        return None, False
    if path.is_dir():
        raise ValidationError(
            f"{context.sandbox.display(path)} is a directory; use list_directory for it."
        )
    if path.stat().st_size > MAX_READ_BYTES:
        raise ValidationError(
            f"{context.sandbox.display(path)} is larger than {MAX_READ_BYTES // 2**20} MiB; "
            "use grep to find the part you need."
        )
    if is_binary_file(path):
        raise ValidationError(f"{context.sandbox.display(path)} is a binary file; it is not read.")
    return path.read_bytes().decode("utf-8", errors="replace"), False


def _pattern(value: str, what: str) -> str:
    if len(value) > MAX_PATTERN_CHARS:
        raise ValidationError(f"The {what} is too long (at most {MAX_PATTERN_CHARS} characters).")
    return value


# --- read_file -------------------------------------------------------------------------------


async def _read_file(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
    path = context.sandbox.resolve(args["path"])
    display = context.sandbox.display(path)
    text, from_buffer = read_text(context, path)
    if text is None:
        raise ValidationError(f"{display} does not exist. Use glob or list_directory to find it.")
    lines = text.splitlines()
    total = len(lines)
    start = int(args.get("start_line", 1))
    explicit_end = args.get("end_line")
    if explicit_end is not None and int(explicit_end) < start:
        raise ValidationError(f"end_line ({explicit_end}) is before start_line ({start}).")
    if total == 0:
        return ToolOutput(f"{display} is empty.", f"read {display} (empty)")
    if start > total:
        raise ValidationError(f"start_line {start} is past the end: {display} has {total} lines.")
    limit_end = start + DEFAULT_READ_LINES - 1
    end = min(total, int(explicit_end) if explicit_end is not None else limit_end)
    source = ", unsaved editor buffer" if from_buffer else ""
    header = f"{display} (lines {start}-{end} of {total}{source}):"
    body = "\n".join(lines[start - 1 : end])
    note = ""
    if end < total and explicit_end is None:
        note = f"\n[{total - end} more lines; read on with start_line={end + 1}]"
    return ToolOutput(f"{header}\n{body}{note}", f"read {display} lines {start}-{end}")


def _read_activity(args: Mapping[str, Any]) -> str:
    where = ""
    if "start_line" in args or "end_line" in args:
        where = f" lines {args.get('start_line', 1)}-{args.get('end_line', '…')}"
    return f"reading {args['path']}{where}"


# --- list_directory --------------------------------------------------------------------------


async def _list_directory(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
    path = context.sandbox.resolve(args.get("path", "."))
    display = context.sandbox.display(path)
    if not path.exists():
        raise ValidationError(f"{display} does not exist.")
    if not path.is_dir():
        raise ValidationError(f"{display} is a file, not a directory; use read_file for it.")
    entries = context.sandbox.list_dir(path)
    if not entries:
        return ToolOutput(f"{display}/ is empty.", f"listed {display} (empty)")
    shown = [name + ("/" if is_dir else "") for name, is_dir in entries[:MAX_LIST_ENTRIES]]
    note = ""
    if len(entries) > MAX_LIST_ENTRIES:
        note = f"\n[{len(entries) - MAX_LIST_ENTRIES} more entries not shown; use glob]"
    text = f"{display}/ ({len(entries)} entries; directories end with /):\n" + "\n".join(shown)
    return ToolOutput(text + note, f"listed {display} ({len(entries)} entries)")


# --- glob ------------------------------------------------------------------------------------


async def _glob(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
    pattern: str = _pattern(args["pattern"], "glob pattern")
    base = context.sandbox.resolve(args.get("path", "."))
    if not base.is_dir():
        raise ValidationError(f"{context.sandbox.display(base)} is not a directory.")
    regex = glob_to_regex(pattern)
    stop = threading.Event()  # set when the call is cancelled or times out

    def collect() -> tuple[list[str], int]:
        found: list[str] = []
        count = 0
        for entry in context.sandbox.walk(base, stop=stop):
            rel = entry.path.relative_to(base).as_posix()
            if regex.match(rel):
                count += 1
                if len(found) < MAX_GLOB_RESULTS:
                    found.append(context.sandbox.display(entry.path))
        return found, count

    try:
        found, count = await asyncio.to_thread(collect)
    finally:
        stop.set()
    if not found:
        hint = "" if "/" in pattern or "**" in pattern else f" (try '**/{pattern}' for any depth)"
        return ToolOutput(f"No files match {pattern!r}{hint}.", f"no files match {pattern}")
    note = f"\n[{count - len(found)} more not shown]" if count > len(found) else ""
    return ToolOutput("\n".join(sorted(found)) + note, f"{_plural(count, 'file')} match {pattern}")


# --- grep ------------------------------------------------------------------------------------


def _make_grep(rg_path: Callable[[], str | None]) -> ToolImpl:
    async def _grep(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
        pattern: str = _pattern(args["pattern"], "regular expression")
        if args.get("glob") is not None:
            _pattern(args["glob"], "glob")
        start = context.sandbox.resolve(args.get("path", "."))
        if not start.exists():
            raise ValidationError(f"{context.sandbox.display(start)} does not exist.")
        max_results = int(args.get("max_results", 100))
        result = await grep(
            context.sandbox,
            pattern,
            start,
            file_glob=args.get("glob"),
            ignore_case=bool(args.get("case_insensitive", False)),
            max_results=max_results,
            rg_path=rg_path(),
        )
        if not result.matches:
            return ToolOutput(f"No matches for {pattern!r}.", f"no matches for {pattern}")
        lines = [f"{context.sandbox.display(m.path)}:{m.line}: {m.text}" for m in result.matches]
        note = ""
        if result.truncated:
            note = (
                f"\n[stopped after {max_results} matches; use a more specific pattern, a "
                "path or a glob to narrow the search]"
            )
        files = len({m.path for m in result.matches})
        count = f"{len(result.matches)}{'+' if result.truncated else ''}"
        summary = f"{_plural(count, 'match', 'matches')} in {_plural(files, 'file')} for {pattern}"
        return ToolOutput("\n".join(lines) + note, summary)

    return _grep


# --- write_file / edit_file ------------------------------------------------------------------


async def _write_file(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
    path = context.sandbox.resolve(args["path"])
    if path.is_dir():
        raise ValidationError(f"{context.sandbox.display(path)} is a directory.")
    old, _ = read_text(context, path)
    content: str = args["content"]
    if old == content:
        display = context.sandbox.display(path)
        return ToolOutput(f"{display} already has this content; nothing changed.", "no change")
    return await propose_edit(
        context, path, old, content, verb="Wrote" if old is not None else "Created"
    )


async def _edit_file(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
    path = context.sandbox.resolve(args["path"])
    old, _ = read_text(context, path)
    if old is None:
        raise ValidationError(
            f"{context.sandbox.display(path)} does not exist; use write_file to create it."
        )
    try:
        new, count = replace_exact(
            old, args["old_string"], args["new_string"], replace_all=bool(args.get("replace_all"))
        )
    except ToolExecutionError as exc:
        raise ToolExecutionError(f"{context.sandbox.display(path)}: {exc.message}") from None
    output = await propose_edit(context, path, old, new, verb="Edited")
    if count > 1:
        return ToolOutput(f"{output.text} {count} occurrences replaced.", output.summary)
    return output


# --- diagnostics and open documents ----------------------------------------------------------


async def _get_diagnostics(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
    path = context.sandbox.resolve(args["path"]) if "path" in args else None
    items = context.host.diagnostics(path)
    visible = []
    for item in items:
        item_path = item.get("path")
        shown = "?"
        if item_path is not None:
            p = Path(str(item_path))
            if context.sandbox.root_of(p) is None or context.sandbox.is_ignored(p, is_dir=False):
                continue
            shown = context.sandbox.display(p)
        visible.append(
            f"{shown}:{item.get('line', '?')}: {item.get('severity', 'error')}: "
            f"{item.get('message', '')}"
        )
    where = context.sandbox.display(path) if path is not None else "the open documents"
    if not visible:
        return ToolOutput(f"No diagnostics for {where}.", f"no diagnostics for {where}")
    note = ""
    if len(visible) > MAX_DIAGNOSTICS:
        note = f"\n[{len(visible) - MAX_DIAGNOSTICS} more not shown]"
    return ToolOutput(
        "\n".join(visible[:MAX_DIAGNOSTICS]) + note, f"{len(visible)} diagnostics for {where}"
    )


async def _open_documents(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
    shown = []
    for path in context.host.open_documents():
        if context.sandbox.root_of(path) is None or context.sandbox.is_ignored(path, is_dir=False):
            continue
        shown.append(context.sandbox.display(path))
    if not shown:
        return ToolOutput("No documents from the workspace are open.", "no open documents")
    return ToolOutput("\n".join(shown), f"{len(shown)} open documents")


def _plural(count: int | str, one: str, many: str | None = None) -> str:
    return f"{count} {one if str(count) == '1' else (many or one + 's')}"


# --- the tool table --------------------------------------------------------------------------


def workspace_tools(rg_path: Callable[[], str | None] | None = None) -> list[Tool]:
    """The eight workspace tools. `rg_path` finds ripgrep (default: on PATH)."""
    find_rg = rg_path or (lambda: shutil.which("rg"))
    path_hint = "Path relative to the workspace root (or absolute inside the workspace)."
    return [
        Tool(
            "read_file",
            "Read a text file of the workspace, optionally a range of lines (1-based, "
            f"inclusive). Without end_line at most {DEFAULT_READ_LINES} lines are returned. "
            "Open documents are read from the editor, including unsaved changes.",
            {
                "type": "object",
                "properties": {
                    "path": _path_prop(path_hint),
                    "start_line": {"type": "integer", "minimum": 1, "description": "First line."},
                    "end_line": {"type": "integer", "minimum": 1, "description": "Last line."},
                },
                "required": ["path"],
                "additionalProperties": False,
            },
            _read_file,
            _read_activity,
        ),
        Tool(
            "list_directory",
            "List the files and directories in a workspace directory (directories end "
            "with /). Files ignored by .gitignore are not shown.",
            {
                "type": "object",
                "properties": {"path": _path_prop(path_hint + " Default: the root.")},
                "additionalProperties": False,
            },
            _list_directory,
            lambda a: f"listing {a.get('path', '.')}",
        ),
        Tool(
            "glob",
            "Find files whose path matches a glob pattern, e.g. '**/*.py' (any depth) or "
            "'src/*.ts'. '*' stays within one directory, '**' spans directories, '{a,b}' "
            "gives alternatives.",
            {
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "minLength": 1},
                    "path": _path_prop("Directory to search in. Default: the root."),
                },
                "required": ["pattern"],
                "additionalProperties": False,
            },
            _glob,
            lambda a: f"finding {a['pattern']}",
        ),
        Tool(
            "grep",
            "Search file contents with a regular expression; returns path:line: text for "
            "each matching line. Skips binary files and files ignored by .gitignore.",
            {
                "type": "object",
                "properties": {
                    "pattern": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Regular expression.",
                    },
                    "path": _path_prop("File or directory to search. Default: the root."),
                    "glob": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Only search files matching this glob, e.g. '*.py'.",
                    },
                    "case_insensitive": {"type": "boolean"},
                    "max_results": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                "required": ["pattern"],
                "additionalProperties": False,
            },
            _make_grep(find_rg),
            lambda a: (
                f"searching for {a['pattern']!r}" + (f" in {a['path']}" if a.get("path") else "")
            ),
        ),
        Tool(
            "write_file",
            "Create a file or replace its whole content. The user is asked to approve the "
            "change; prefer edit_file for changes to an existing file.",
            {
                "type": "object",
                "properties": {
                    "path": _path_prop(path_hint),
                    "content": {"type": "string", "description": "The complete new content."},
                },
                "required": ["path", "content"],
                "additionalProperties": False,
            },
            _write_file,
            lambda a: f"writing {a['path']}",
        ),
        Tool(
            "edit_file",
            "Replace an exact piece of text in a file with new text. old_string must match "
            "the file exactly (including indentation) and occur once, unless replace_all is "
            "true. The user is asked to approve the change.",
            {
                "type": "object",
                "properties": {
                    "path": _path_prop(path_hint),
                    "old_string": {"type": "string", "minLength": 1},
                    "new_string": {"type": "string"},
                    "replace_all": {"type": "boolean"},
                },
                "required": ["path", "old_string", "new_string"],
                "additionalProperties": False,
            },
            _edit_file,
            lambda a: f"editing {a['path']}",
        ),
        Tool(
            "get_diagnostics",
            "Errors and warnings the editor reports (from its language servers and "
            "linters), for one file or for all open documents.",
            {
                "type": "object",
                "properties": {"path": _path_prop("A file. Default: every open document.")},
                "additionalProperties": False,
            },
            _get_diagnostics,
            lambda a: f"checking diagnostics{' of ' + a['path'] if a.get('path') else ''}",
        ),
        Tool(
            "open_documents",
            "List the documents open in the editor.",
            {"type": "object", "properties": {}, "additionalProperties": False},
            _open_documents,
            lambda a: "listing open documents",
        ),
    ]


def build_registry(
    settings: Callable[[], Settings] = Settings,
    *,
    metrics: ToolMetrics | None = None,
    rg_path: Callable[[], str | None] | None = None,
) -> ToolRegistry:
    """A registry with the workspace tools (which of them are offered: `tools.enabled`)."""
    registry = ToolRegistry(settings, metrics)
    registry.register_all(workspace_tools(rg_path))
    return registry
