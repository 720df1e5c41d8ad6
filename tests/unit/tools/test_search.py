"""Glob translation and the two grep engines (ripgrep and Python) on the same tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_tool
from trust_lsp.errors import ValidationError
from trust_lsp.tools.sandbox import WorkspaceSandbox
from trust_lsp.tools.search import MAX_LINE_CHARS, glob_to_regex, grep, match_glob

GLOBS = [
    ("*.py", "app.py", True),
    ("*.py", "src/app.py", False),
    ("**/*.py", "app.py", True),
    ("**/*.py", "src/pkg/app.py", True),
    ("src/**/*.py", "src/app.py", True),
    ("src/**/*.py", "src/a/b/app.py", True),
    ("src/**/*.py", "lib/app.py", False),
    ("src/**", "src/a/b", True),
    ("src/*.ts", "src/a/b.ts", False),
    ("?.md", "a.md", True),
    ("?.md", "ab.md", False),
    ("[ab].txt", "a.txt", True),
    ("[!ab].txt", "a.txt", False),
    ("[!ab].txt", "c.txt", True),
    ("*.{js,ts}", "x.ts", True),
    ("*.{js,ts}", "x.py", False),
    ("a+b(1).txt", "a+b(1).txt", True),
    ("**", "any/thing/at/all", True),
]


@pytest.mark.parametrize(("pattern", "path", "matches"), GLOBS)
def test_glob_to_regex(pattern: str, path: str, matches: bool) -> None:
    assert (glob_to_regex(pattern).match(path) is not None) is matches


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [("*.py", "deep/dir/x.py", True), ("src/*.py", "src/x.py", True), ("src/*.py", "x.py", False)],
)
def test_match_glob_without_slash_matches_the_file_name(
    pattern: str, path: str, matches: bool
) -> None:
    assert match_glob(pattern, path) is matches


def test_unclosed_brace_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="unclosed"):
        glob_to_regex("*.{py")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(
        "def main():\n    return helper()\n\ndef helper():\n    pass\n"
    )
    (root / "src" / "util.ts").write_text("export function helper() {}\n")
    (root / "README.md").write_text("Call helper() to help.\nHELPER in caps.\n")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "dep.js").write_text("helper()\n")
    (root / ".gitignore").write_text("node_modules/\n*.min.js\n")
    (root / "bundle.min.js").write_text("helper()\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("helper\n")
    (root / ".github").mkdir()
    (root / ".github" / "ci.yml").write_text("run: helper\n")
    (root / "image.png").write_bytes(b"\x89PNG\0\0helper()\0")
    (root / "latin1.txt").write_bytes("caf\xe9 helper\n".encode("latin-1"))
    (root / "long.txt").write_text("helper " + "x" * 1000 + "\n")
    return root


def engines() -> list[str]:
    return ["python", "ripgrep"]


def rg_for(engine: str) -> str | None:
    if engine == "ripgrep":
        return require_tool("rg", "the grep tool uses ripgrep when it is installed")
    return None


def rel(root: Path, result_paths: list[tuple[Path, int]]) -> list[tuple[str, int]]:
    return [(p.relative_to(root).as_posix(), line) for p, line in result_paths]


@pytest.mark.parametrize("engine", engines())
async def test_grep_finds_lines_and_respects_ignores(tree: Path, engine: str) -> None:
    sandbox = WorkspaceSandbox([tree])
    result = await grep(sandbox, r"helper\(", tree, rg_path=rg_for(engine))
    found = rel(tree, [(m.path, m.line) for m in result.matches])
    assert found == [("README.md", 1), ("src/app.py", 2), ("src/app.py", 4), ("src/util.ts", 1)]
    assert result.engine == engine
    assert not result.truncated


@pytest.mark.parametrize("engine", engines())
async def test_grep_searches_hidden_files_but_not_git(tree: Path, engine: str) -> None:
    result = await grep(WorkspaceSandbox([tree]), "run: helper", tree, rg_path=rg_for(engine))
    assert rel(tree, [(m.path, m.line) for m in result.matches]) == [(".github/ci.yml", 1)]


@pytest.mark.parametrize("engine", engines())
async def test_grep_options(tree: Path, engine: str) -> None:
    sandbox = WorkspaceSandbox([tree])
    rg = rg_for(engine)
    caps = await grep(sandbox, "^helper in", tree, ignore_case=True, rg_path=rg)
    assert [(m.path.name, m.line, m.text) for m in caps.matches] == [
        ("README.md", 2, "HELPER in caps.")
    ]
    only_py = await grep(sandbox, "helper", tree, file_glob="*.py", rg_path=rg)
    assert {m.path.name for m in only_py.matches} == {"app.py"}
    one_file = await grep(sandbox, "def", tree / "src" / "app.py", rg_path=rg)
    assert [m.line for m in one_file.matches] == [1, 4]
    limited = await grep(sandbox, "helper", tree, max_results=2, rg_path=rg)
    assert len(limited.matches) == 2
    assert limited.truncated


@pytest.mark.parametrize("engine", engines())
async def test_grep_non_utf8_and_long_lines(tree: Path, engine: str) -> None:
    sandbox = WorkspaceSandbox([tree])
    rg = rg_for(engine)
    latin = await grep(sandbox, "helper", tree / "latin1.txt", rg_path=rg)
    assert latin.matches[0].text.endswith(" helper")
    long = await grep(sandbox, "helper", tree / "long.txt", rg_path=rg)
    assert len(long.matches[0].text) == MAX_LINE_CHARS
    assert long.matches[0].text.endswith("…")


@pytest.mark.parametrize("engine", engines())
async def test_invalid_regex_is_a_validation_error(tree: Path, engine: str) -> None:
    with pytest.raises(ValidationError, match="not valid"):
        await grep(WorkspaceSandbox([tree]), "(unclosed", tree, rg_path=rg_for(engine))


async def test_look_around_falls_back_to_python_when_ripgrep_rejects_it(tree: Path) -> None:
    rg = require_tool("rg", "the fallback is for patterns ripgrep rejects")
    result = await grep(WorkspaceSandbox([tree]), r"(?<=def )helper", tree, rg_path=rg)
    assert result.engine == "python"
    assert [(m.path.name, m.line) for m in result.matches] == [("app.py", 4)]
