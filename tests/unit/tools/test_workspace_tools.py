"""Every workspace tool through the registry, with a fake editor host."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool
from tests.fakes.workspace_host import FakeHost
from trust_lsp.backends.base import ToolCall
from trust_lsp.config.settings import Settings, ToolsSettings
from trust_lsp.tools.edits import diff_summary, replace_exact
from trust_lsp.tools.registry import ToolContext, ToolResult
from trust_lsp.tools.sandbox import WorkspaceSandbox
from trust_lsp.tools.workspace import DEFAULT_READ_LINES, build_registry

APP = "def main():\n    return helper()\n\n\ndef helper():\n    return 42\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text(APP)
    (ws / "src" / "dup.py").write_text("x = 1\nx = 1\ny = 2\n")
    (ws / "README.md").write_text("# Demo\n")
    (ws / ".gitignore").write_text(".env\ndist/\n")
    (ws / ".env").write_text("API_KEY=do-not-leak\n")
    (ws / "dist").mkdir()
    (ws / "dist" / "bundle.js").write_text("return helper()\n")
    (ws / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (ws / "big.txt").write_text("".join(f"row {i}\n" for i in range(1, 1001)))
    return ws


@pytest.fixture
def host(root: Path) -> FakeHost:
    return FakeHost([root])


class Runner:
    """Run tool calls like the chat loop does."""

    def __init__(self, host: FakeHost, **tools: Any) -> None:
        self.host = host
        self.tools = ToolsSettings(**tools)
        self.registry = build_registry(lambda: Settings(tools=self.tools))
        self.context = ToolContext(host, WorkspaceSandbox(list(host.roots)), self.tools)

    async def __call__(self, name: str, **arguments: Any) -> ToolResult:
        return await self.registry.execute(
            ToolCall(name, arguments, raw_arguments="{}"), self.context
        )


@pytest.fixture
def run(host: FakeHost) -> Runner:
    return Runner(host)


# --- read_file -------------------------------------------------------------------------------


async def test_read_file_whole(run: Runner) -> None:
    result = await run("read_file", path="src/app.py")
    assert result.ok
    assert result.content == "src/app.py (lines 1-6 of 6):\n" + APP.rstrip("\n")
    assert result.summary == "read src/app.py lines 1-6"


async def test_read_file_line_range(run: Runner) -> None:
    result = await run("read_file", path="src/app.py", start_line=5, end_line=6)
    assert result.content == "src/app.py (lines 5-6 of 6):\ndef helper():\n    return 42"
    beyond = await run("read_file", path="src/app.py", start_line=5, end_line=60)
    assert beyond.content.startswith("src/app.py (lines 5-6 of 6):")


async def test_read_file_default_window_says_how_to_go_on(run: Runner) -> None:
    result = await run("read_file", path="big.txt")
    assert result.content.startswith(f"big.txt (lines 1-{DEFAULT_READ_LINES} of 1000):\nrow 1\n")
    assert result.content.endswith(
        f"row {DEFAULT_READ_LINES}\n[{1000 - DEFAULT_READ_LINES} more lines; "
        f"read on with start_line={DEFAULT_READ_LINES + 1}]"
    )


async def test_read_file_prefers_the_editor_buffer(run: Runner, host: FakeHost, root: Path) -> None:
    host.buffers[root / "src" / "app.py"] = "unsaved = True\n"
    result = await run("read_file", path="src/app.py")
    assert result.content == "src/app.py (lines 1-1 of 1, unsaved editor buffer):\nunsaved = True"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"path": "missing.py"}, "missing.py does not exist"),
        ({"path": "src"}, "is a directory; use list_directory"),
        ({"path": "logo.png"}, "binary file"),
        ({"path": ".env"}, "excluded by .gitignore"),
        ({"path": "../ws/../../etc/passwd"}, "leads outside the workspace"),
        ({"path": "src/app.py", "start_line": 7}, "start_line 7 is past the end"),
        ({"path": "src/app.py", "start_line": 3, "end_line": 2}, "end_line (2) is before"),
    ],
)
async def test_read_file_errors(run: Runner, arguments: dict[str, Any], message: str) -> None:
    result = await run("read_file", **arguments)
    assert not result.ok
    assert message in result.content
    assert "do-not-leak" not in result.content


# --- list_directory / glob / grep ------------------------------------------------------------


async def test_list_directory(run: Runner) -> None:
    result = await run("list_directory")
    # .env and dist/ are ignored; binary files are listed (only their content is refused).
    assert result.content == (
        "./ (5 entries; directories end with /):\nsrc/\n.gitignore\nREADME.md\nbig.txt\nlogo.png"
    )
    sub = await run("list_directory", path="src")
    assert sub.content.splitlines()[1:] == ["app.py", "dup.py"]
    not_dir = await run("list_directory", path="README.md")
    assert not not_dir.ok and "not a directory" in not_dir.content


async def test_glob(run: Runner) -> None:
    result = await run("glob", pattern="**/*.py")
    assert result.content == "src/app.py\nsrc/dup.py"
    assert result.summary == "2 files match **/*.py"
    top = await run("glob", pattern="*.py")
    assert top.ok and top.content == "No files match '*.py' (try '**/*.py' for any depth)."
    ignored = await run("glob", pattern="**/*.js")
    assert ignored.content.startswith("No files match")
    scoped = await run("glob", pattern="*.py", path="src")
    assert scoped.content == "src/app.py\nsrc/dup.py"


@pytest.mark.parametrize("engine", ["python", "ripgrep"])
async def test_grep(host: FakeHost, engine: str) -> None:
    rg = require_tool("rg", "grep uses ripgrep when installed") if engine == "ripgrep" else None
    run = Runner(host)
    run.registry = build_registry(lambda: Settings(tools=run.tools), rg_path=lambda: rg)
    result = await run("grep", pattern=r"return \w+")
    assert result.ok
    assert result.content == "src/app.py:2:     return helper()\nsrc/app.py:6:     return 42"
    assert result.summary == r"2 matches in 1 file for return \w+"
    none = await run("grep", pattern="zzz_nothing")
    assert none.content == "No matches for 'zzz_nothing'."
    limited = await run("grep", pattern="row", path="big.txt", max_results=3)
    assert limited.content.splitlines()[:3] == [
        "big.txt:1: row 1",
        "big.txt:2: row 2",
        "big.txt:3: row 3",
    ]
    assert "stopped after 3 matches" in limited.content
    bad = await run("grep", pattern="([")
    assert not bad.ok and "not valid" in bad.content
    leak = await run("grep", pattern="API_KEY")
    assert leak.content == "No matches for 'API_KEY'."


# --- edit_file / write_file ------------------------------------------------------------------


async def test_edit_file_asks_then_applies_through_the_editor(
    run: Runner, host: FakeHost, root: Path
) -> None:
    result = await run(
        "edit_file", path="src/app.py", old_string="return 42", new_string="return 43"
    )
    assert result.ok, result.content
    assert result.content == "Edited src/app.py (+1 −1 lines)."
    assert host.approvals == [
        (
            "Trust wants to edit src/app.py (+1 −1 lines). Apply?",
            "src/app.py: +1 −1 lines\n-    return 42\n+    return 43",
        )
    ]
    assert host.edits == [(root / "src" / "app.py", APP.replace("return 42", "return 43"))]
    assert (root / "src" / "app.py").read_text() == APP  # the tool itself wrote nothing


async def test_edit_file_edits_the_open_buffer_text(
    run: Runner, host: FakeHost, root: Path
) -> None:
    path = root / "src" / "app.py"
    host.buffers[path] = "value = 'unsaved'\n"
    result = await run("edit_file", path="src/app.py", old_string="unsaved", new_string="saved")
    assert result.ok
    assert host.edits == [(path, "value = 'saved'\n")]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"old_string": "nothing like this", "new_string": "x"}, "was not found"),
        ({"old_string": "return   42", "new_string": "x"}, "was not found"),
        ({"old_string": "x = 1", "new_string": "x = 2"}, "occurs 2 times"),
        ({"old_string": "y = 2", "new_string": "y = 2"}, "the same: nothing to change"),
    ],
)
async def test_edit_file_uniqueness_and_mismatch(
    run: Runner, host: FakeHost, arguments: dict[str, Any], message: str
) -> None:
    result = await run("edit_file", path="src/dup.py", **arguments)
    assert not result.ok
    assert message in result.content
    assert result.content.startswith("Error: src/dup.py: ")
    assert host.approvals == [] and host.edits == []


async def test_edit_file_replace_all(run: Runner, host: FakeHost, root: Path) -> None:
    result = await run(
        "edit_file", path="src/dup.py", old_string="x = 1", new_string="x = 2", replace_all=True
    )
    assert result.ok
    assert result.content == "Edited src/dup.py (+2 −2 lines). 2 occurrences replaced."
    assert host.edits == [(root / "src" / "dup.py", "x = 2\nx = 2\ny = 2\n")]


async def test_edit_file_whitespace_hint(run: Runner) -> None:
    result = await run("edit_file", path="src/app.py", old_string="  return 42  ", new_string="x")
    assert "different leading/trailing whitespace" in result.content


async def test_edit_file_missing_file(run: Runner) -> None:
    result = await run("edit_file", path="nope.py", old_string="a", new_string="b")
    assert not result.ok and "use write_file to create it" in result.content


async def test_write_file_creates_through_the_editor(
    run: Runner, host: FakeHost, root: Path
) -> None:
    result = await run("write_file", path="src/new.py", content="print('new')\n")
    assert result.ok
    assert result.content == "Created src/new.py (+1 −0 lines)."
    assert host.approvals[0][0] == "Trust wants to create src/new.py (+1 −0 lines). Apply?"
    assert host.edits == [(root / "src" / "new.py", "print('new')\n")]
    assert not (root / "src" / "new.py").exists()


async def test_write_file_overwrite_and_no_change(run: Runner, host: FakeHost) -> None:
    replaced = await run("write_file", path="README.md", content="# Demo\n\nMore.\n")
    assert replaced.ok and replaced.content == "Wrote README.md (+2 −0 lines)."
    same = await run("write_file", path="README.md", content="# Demo\n")
    assert same.ok and "already has this content" in same.content
    assert len(host.edits) == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"path": "src", "content": "x"}, "is a directory"),
        ({"path": "dist/new.js", "content": "x"}, "excluded by .gitignore"),
        ({"path": "/tmp/evil.py", "content": "x"}, "outside the workspace"),
        ({"path": ".git/hooks/pre-commit", "content": "x"}, ".git/"),
    ],
)
async def test_write_file_refusals(
    run: Runner, host: FakeHost, arguments: dict[str, Any], message: str
) -> None:
    result = await run("write_file", **arguments)
    assert not result.ok and message in result.content
    assert host.approvals == [] and host.edits == []


# --- approval policies -----------------------------------------------------------------------


async def test_declined_approval_leaves_the_file_and_tells_the_model(
    host: FakeHost, root: Path
) -> None:
    host.approve = False
    run = Runner(host)
    result = await run("edit_file", path="src/app.py", old_string="42", new_string="0")
    assert not result.ok
    assert result.error == "declined"
    assert "The user declined the edit of src/app.py; the file is unchanged." in result.content
    assert host.edits == []
    assert (root / "src" / "app.py").read_text() == APP


async def test_policy_always_applies_without_asking(host: FakeHost, root: Path) -> None:
    run = Runner(host, write_approval="always")
    result = await run("edit_file", path="src/app.py", old_string="42", new_string="0")
    assert result.ok
    assert host.approvals == []
    assert host.edits == [(root / "src" / "app.py", APP.replace("42", "0"))]


async def test_policy_never_refuses(host: FakeHost) -> None:
    run = Runner(host, write_approval="never")
    result = await run("write_file", path="new.py", content="x\n")
    assert not result.ok
    assert result.error == "declined"
    assert 'tools.write_approval is "never"' in result.content
    assert host.approvals == [] and host.edits == []


async def test_failed_apply_is_reported(host: FakeHost) -> None:
    host.apply_ok = False
    host.apply_reason = "the document changed"
    run = Runner(host)
    result = await run("edit_file", path="src/app.py", old_string="42", new_string="0")
    assert not result.ok
    assert result.content == (
        "Error: The editor could not apply the edit of src/app.py: the document changed. "
        "The file is unchanged."
    )


async def test_waiting_for_the_user_does_not_count_against_the_time_limit(
    host: FakeHost,
) -> None:
    async def slow_user(title: str, detail: str) -> bool:
        await asyncio.sleep(0.3)  # longer than the tool time limit below
        return True

    host.approve = slow_user
    run = Runner(host, timeout_s=0.1)
    result = await run("edit_file", path="src/app.py", old_string="42", new_string="0")
    assert result.ok, result.content
    assert len(host.edits) == 1


# --- diagnostics / open documents ------------------------------------------------------------


async def test_get_diagnostics(run: Runner, host: FakeHost, root: Path) -> None:
    host.published = [
        {"path": str(root / "src" / "app.py"), "line": 2, "severity": "error", "message": "boom"},
        {"path": str(root / ".env"), "line": 1, "severity": "warning", "message": "hidden"},
        {"path": "/elsewhere/x.py", "line": 1, "severity": "error", "message": "outside"},
    ]
    everything = await run("get_diagnostics")
    assert everything.content == "src/app.py:2: error: boom"
    one = await run("get_diagnostics", path="src/app.py")
    assert one.content == "src/app.py:2: error: boom"
    none = await run("get_diagnostics", path="README.md")
    assert none.content == "No diagnostics for README.md."


async def test_open_documents(run: Runner, host: FakeHost, root: Path) -> None:
    assert (await run("open_documents")).content == "No documents from the workspace are open."
    host.buffers = {root / "src" / "app.py": APP, root / ".env": "x", Path("/other/y.py"): "y"}
    assert (await run("open_documents")).content == "src/app.py"


# --- pure helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "added", "removed", "preview"),
    [
        ("a\nb\n", "a\nc\n", 1, 1, ("-b", "+c")),
        ("", "x\ny\n", 2, 0, ("+x", "+y")),
        ("a\nb\nc\n", "a\n", 0, 2, ("-b", "-c")),
        ("same\n", "same\n", 0, 0, ()),
    ],
)
def test_diff_summary(
    old: str, new: str, added: int, removed: int, preview: tuple[str, ...]
) -> None:
    summary = diff_summary(old, new)
    assert (summary.added, summary.removed, summary.preview) == (added, removed, preview)


def test_diff_summary_preview_is_short() -> None:
    summary = diff_summary("", "".join(f"{i}\n" for i in range(100)), preview_lines=5)
    assert summary.added == 100 and len(summary.preview) == 5


@pytest.mark.parametrize(
    ("text", "old", "new", "replace_all", "expected"),
    [
        ("a b c", "b", "B", False, ("a B c", 1)),
        ("a b b", "b", "B", True, ("a B B", 2)),
        ("line\r\n", "line", "LINE", False, ("LINE\r\n", 1)),
    ],
)
def test_replace_exact(
    text: str, old: str, new: str, replace_all: bool, expected: tuple[str, int]
) -> None:
    assert replace_exact(text, old, new, replace_all=replace_all) == expected


def test_tool_descriptions_and_schemas_are_offered(run: Runner) -> None:
    specs = {spec.name: spec for spec in run.registry.specs()}
    assert list(specs) == [
        "read_file",
        "list_directory",
        "glob",
        "grep",
        "write_file",
        "edit_file",
        "get_diagnostics",
        "open_documents",
    ]
    for spec in specs.values():
        assert spec.description
        params: Mapping[str, Any] = spec.parameters
        assert params["type"] == "object" and params["additionalProperties"] is False


def test_schemas_have_no_length_limits(run: Runner) -> None:
    # llama.cpp expands maxLength into one grammar rule per character; a limit in the
    # thousands breaks its grammar parser and crashes the embedded backend.
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert "maxLength" not in node
            for value in node.values():
                walk(value)

    for spec in run.registry.specs():
        walk(dict(spec.parameters))


async def test_over_long_patterns_are_refused(run: Runner) -> None:
    result = await run("grep", pattern="a" * 1001)
    assert not result.ok and "too long" in result.content
    result = await run("glob", pattern="*" * 1001)
    assert not result.ok and "too long" in result.content
