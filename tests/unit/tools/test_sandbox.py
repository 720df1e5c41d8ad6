"""WorkspaceSandbox: confinement, .gitignore, .git, binary and special files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trust_lsp.errors import ValidationError
from trust_lsp.tools.sandbox import (
    MAX_PATH_CHARS,
    WorkspaceSandbox,
    is_binary_file,
    looks_binary,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/: sources, an ignored build dir, .git, secrets and links; outside/ beside it."""
    root = tmp_path / "root"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('app')\n")
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "build").mkdir()
    (root / "build" / "out.js").write_text("built\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / ".env").write_text("TOKEN=secret\n")
    (root / "debug.log").write_text("log\n")
    (root / "keep.log").write_text("kept\n")
    (root / ".gitignore").write_text("# build output\nbuild/\n*.log\n!keep.log\n.env\n")
    (root / "src" / ".gitignore").write_text("generated_*.py\n")
    (root / "src" / "generated_api.py").write_text("gen\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside\n")
    (root / "link_out").symlink_to(outside)
    (root / "link_file_out").symlink_to(outside / "secret.txt")
    (root / "link_null").symlink_to("/dev/null")
    (root / "link_in").symlink_to(root / "src")
    return root


def sandbox_for(root: Path) -> WorkspaceSandbox:
    return WorkspaceSandbox([root])


REFUSED = [
    ("../outside/secret.txt", "'..' leads outside"),
    ("src/../../outside/secret.txt", "'..' leads outside"),
    ("..", "'..' leads outside"),
    ("/etc/passwd", "outside the workspace"),
    ("/", "outside the workspace"),
    ("link_out/secret.txt", "symbolic link"),
    ("link_file_out", "symbolic link"),
    ("link_null", "symbolic link"),
    ("~/.ssh/id_rsa", "'~' is not expanded"),
    ("~", "'~' is not expanded"),
    ("src/app.py\0.txt", "NUL byte"),
    ("a/" * (MAX_PATH_CHARS // 2 + 1), "too long"),
    ("x" * 256, "longer than 255"),
    ("", "empty"),
    ("   ", "empty"),
    (".git/config", ".git/"),
    ("src/../.git/config", ".git/"),
    (".env", ".gitignore"),
    ("debug.log", ".gitignore"),
    ("build/out.js", ".gitignore"),
    ("build", ".gitignore"),
    ("build/new_file.js", ".gitignore"),
    ("src/generated_api.py", ".gitignore"),
]


@pytest.mark.parametrize(("path", "message"), REFUSED, ids=[repr(p[0])[:40] for p in REFUSED])
def test_refused_paths_name_the_problem(tree: Path, path: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        sandbox_for(tree).resolve(path)
    assert message in str(info.value)


def test_absolute_path_to_the_outside_sibling_is_refused(tree: Path) -> None:
    with pytest.raises(ValidationError, match="outside the workspace"):
        sandbox_for(tree).resolve(str(tree.parent / "outside" / "secret.txt"))


def test_prefix_sibling_is_not_inside(tree: Path) -> None:
    # /x/root2 starts with /x/root as a string but is not inside it.
    sibling = tree.parent / (tree.name + "2")
    sibling.mkdir()
    (sibling / "f.txt").write_text("f")
    with pytest.raises(ValidationError, match="outside"):
        sandbox_for(tree).resolve(str(sibling / "f.txt"))


ALLOWED = [
    ("src/app.py", "src/app.py"),
    ("./src/app.py", "src/app.py"),
    ("src/pkg/../app.py", "src/app.py"),
    ("src//pkg/mod.py", "src/pkg/mod.py"),
    (".", "."),
    ("src", "src"),
    ("keep.log", "keep.log"),  # re-included by a negated pattern
    ("src/new_file.py", "src/new_file.py"),  # need not exist (write_file)
    ("link_in/app.py", "src/app.py"),  # a link that stays inside resolves to its target
    (".gitignore", ".gitignore"),
]


@pytest.mark.parametrize(("path", "expected"), ALLOWED)
def test_inside_paths_resolve(tree: Path, path: str, expected: str) -> None:
    sandbox = sandbox_for(tree)
    resolved = sandbox.resolve(path)
    assert resolved.is_absolute()
    assert sandbox.display(resolved) == expected


def test_absolute_path_inside_is_allowed(tree: Path) -> None:
    sandbox = sandbox_for(tree)
    assert sandbox.resolve(str(tree / "src" / "app.py")) == tree / "src" / "app.py"


def test_ignored_paths_can_be_allowed_explicitly(tree: Path) -> None:
    assert sandbox_for(tree).resolve(".env", allow_ignored=True) == tree / ".env"


def test_fifo_inside_the_root_is_refused(tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    with pytest.raises(ValidationError, match="device file, FIFO or socket"):
        sandbox_for(tree).resolve("pipe")


def test_device_file_inside_a_root_is_refused() -> None:
    # A workspace that contains /dev itself: the device check, not confinement, refuses.
    sandbox = WorkspaceSandbox([Path("/dev")])
    with pytest.raises(ValidationError, match="device file"):
        sandbox.resolve("null")


def test_relative_paths_resolve_against_the_first_root(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "only_b.txt").write_text("b")
    sandbox = WorkspaceSandbox([first, second])
    assert sandbox.resolve("only_b.txt") == first / "only_b.txt"
    assert sandbox.resolve(str(second / "only_b.txt")) == second / "only_b.txt"
    assert sandbox.display(second / "only_b.txt") == str(second / "only_b.txt")


def test_no_roots_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="No workspace folder"):
        WorkspaceSandbox([])


def test_root_given_through_a_symlink_is_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "f.py").write_text("f")
    alias = tmp_path / "alias"
    alias.symlink_to(real)
    sandbox = WorkspaceSandbox([alias])
    assert sandbox.resolve("f.py") == real / "f.py"
    assert sandbox.resolve(str(alias / "f.py")) == real / "f.py"


def test_walk_skips_ignored_git_symlinks_and_special_files(tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    found = sorted(sandbox_for(tree).display(e.path) for e in sandbox_for(tree).walk())
    assert found == [".gitignore", "keep.log", "src/.gitignore", "src/app.py", "src/pkg/mod.py"]


def test_walk_from_a_subdirectory_applies_parent_rules(tree: Path) -> None:
    sandbox = sandbox_for(tree)
    (tree / "src" / "pkg" / "trace.log").write_text("t")
    found = sorted(sandbox.display(e.path) for e in sandbox.walk(tree / "src" / "pkg"))
    assert found == ["src/pkg/mod.py"]


def test_nested_gitignore_can_re_include(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "docs").mkdir(parents=True)
    (root / ".gitignore").write_text("*.md\n")
    (root / "docs" / ".gitignore").write_text("!README.md\n")
    (root / "docs" / "README.md").write_text("r")
    (root / "docs" / "notes.md").write_text("n")
    sandbox = WorkspaceSandbox([root])
    assert sandbox.resolve("docs/README.md") == root / "docs" / "README.md"
    with pytest.raises(ValidationError, match=r"\.gitignore"):
        sandbox.resolve("docs/notes.md")
    found = sorted(sandbox.display(e.path) for e in sandbox.walk())
    assert found == [".gitignore", "docs/.gitignore", "docs/README.md"]


def test_list_dir_shows_visible_entries_dirs_first(tree: Path) -> None:
    entries = sandbox_for(tree).list_dir(tree)
    assert entries == [
        ("link_in", True),
        ("src", True),
        (".gitignore", False),
        ("keep.log", False),
    ]


@pytest.mark.parametrize(
    ("head", "binary"),
    [
        (b"plain text\n", False),
        (b"", False),
        (b"\x89PNG\r\n\x1a\n\0\0", True),
        ("é".encode(), False),
    ],
)
def test_looks_binary(head: bytes, binary: bool) -> None:
    assert looks_binary(head) is binary


def test_binary_detection_only_reads_the_first_8_kib(tmp_path: Path) -> None:
    late = tmp_path / "late_nul.txt"
    late.write_bytes(b"a" * 9000 + b"\0")
    early = tmp_path / "early_nul.bin"
    early.write_bytes(b"ab\0cd")
    assert not is_binary_file(late)
    assert is_binary_file(early)
