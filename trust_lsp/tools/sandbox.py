"""The workspace sandbox: every path a tool touches is resolved and checked here.

A path from the model is confined to the workspace roots: symlinks are resolved before the
check (a link that points outside is refused), `..` may not leave the roots, `~` is not
expanded, NUL bytes and over-long paths are refused, and device files, FIFOs and sockets are
never opened. Paths under `.git/` and paths matched by a `.gitignore` are invisible to the
model: they are refused when named and skipped when listing or searching (ignored files are
where secrets such as `.env` usually live). Binary files (a NUL byte in the first 8 KiB) are
skipped by searches and refused by `read_file`.

Only `.gitignore` files inside the roots count (not the global excludes file, not
`.git/info/exclude`, not ignore files above a root); ripgrep is run with the same rules.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

from trust_lsp.errors import ValidationError

__all__ = [
    "BINARY_SNIFF_BYTES",
    "MAX_COMPONENT_CHARS",
    "MAX_PATH_CHARS",
    "GitIgnoreRules",
    "WorkspaceSandbox",
    "is_binary_file",
    "looks_binary",
]

MAX_PATH_CHARS = 4096  # PATH_MAX on Linux
MAX_COMPONENT_CHARS = 255  # NAME_MAX
BINARY_SNIFF_BYTES = 8192
GIT_DIR = ".git"


def looks_binary(head: bytes) -> bool:
    """The heuristic git and ripgrep use: a NUL byte in the first 8 KiB means binary."""
    return b"\0" in head[:BINARY_SNIFF_BYTES]


def is_binary_file(path: Path) -> bool:
    """True when the file's first 8 KiB contain a NUL byte (unreadable files count too)."""
    try:
        with path.open("rb") as handle:
            return looks_binary(handle.read(BINARY_SNIFF_BYTES))
    except OSError:
        return True


class GitIgnoreRules:
    """`.gitignore` matching for one root, with nested `.gitignore` files.

    Rules of a deeper `.gitignore` override those above it; a path inside an ignored
    directory is ignored whatever its own rules say (git cannot re-include it either).
    Parsed files are cached; `clear()` forgets them (e.g. after a `.gitignore` changed).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[Path, GitIgnoreSpec | None] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget the parsed `.gitignore` files."""
        with self._lock:
            self._specs.clear()

    def spec_for(self, directory: Path) -> GitIgnoreSpec | None:
        """The rules of `directory/.gitignore`, or None when it has none."""
        with self._lock:
            if directory in self._specs:
                return self._specs[directory]
        spec: GitIgnoreSpec | None = None
        try:
            text = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = None
        if text is not None:
            lines = text.splitlines()
            if any(line.strip() and not line.startswith("#") for line in lines):
                spec = GitIgnoreSpec.from_lines(lines)
        with self._lock:
            self._specs[directory] = spec
        return spec

    def match_in(
        self, specs: Sequence[tuple[Path, GitIgnoreSpec]], path: Path, is_dir: bool
    ) -> bool:
        """Whether `path` is ignored by `specs` (outermost first), ignoring its ancestors."""
        ignored = False
        for base, spec in specs:
            rel = path.relative_to(base).as_posix()
            if is_dir:
                rel += "/"
            result = spec.check_file(rel)
            if result.include is not None:
                ignored = result.include
        return ignored

    def is_ignored(self, path: Path, is_dir: bool) -> bool:
        """Whether `path` (inside the root) or one of its parent directories is ignored."""
        rel_parts = path.relative_to(self.root).parts
        specs: list[tuple[Path, GitIgnoreSpec]] = []
        current = self.root
        for index, part in enumerate(rel_parts):
            spec = self.spec_for(current)
            if spec is not None:
                specs.append((current, spec))
            current = current / part
            last = index == len(rel_parts) - 1
            if part == GIT_DIR:
                return True
            if self.match_in(specs, current, is_dir=is_dir or not last):
                return True
        return False


@dataclass(frozen=True, slots=True)
class WalkEntry:
    """A file found by `WorkspaceSandbox.walk`: its absolute path and the root it is in."""

    path: Path
    root: Path


class WorkspaceSandbox:
    """Resolve model-supplied paths inside the workspace roots, and walk the visible files.

    Relative paths resolve against the first root. Every refusal raises `ValidationError`
    with a message written for the model (it says what to do instead).
    """

    def __init__(self, roots: Sequence[Path]) -> None:
        if not roots:
            raise ValidationError("No workspace folder is open: the workspace tools need one.")
        resolved: list[Path] = []
        for root in roots:
            real = Path(os.path.realpath(Path(root).expanduser()))
            if real not in resolved:
                resolved.append(real)
        self.roots: tuple[Path, ...] = tuple(resolved)
        self._first_root = str(self.roots[0])
        self._first_prefix = self._first_root.rstrip("/") + "/"
        self._rules = {root: GitIgnoreRules(root) for root in self.roots}

    # --- resolving -----------------------------------------------------------------------

    def root_of(self, path: Path) -> Path | None:
        """The root that contains `path` (an absolute, resolved path), if any."""
        for root in self.roots:
            if path == root or path.is_relative_to(root):
                return root
        return None

    def resolve(self, path_str: str, *, allow_ignored: bool = False) -> Path:
        """Resolve `path_str` to an absolute path inside a root, or raise ValidationError.

        The path need not exist (for `write_file`); when it does, it must be a regular file
        or a directory. Ignored paths are refused unless `allow_ignored`.
        """
        if not isinstance(path_str, str):
            raise ValidationError("A path must be a string.")
        if "\0" in path_str:
            raise ValidationError("The path contains a NUL byte; paths cannot contain one.")
        if not path_str.strip():
            raise ValidationError(
                "The path is empty; use '.' for the workspace root or a relative path."
            )
        if len(path_str) > MAX_PATH_CHARS:
            raise ValidationError(
                f"The path is too long ({len(path_str)} characters; at most {MAX_PATH_CHARS})."
            )
        if any(len(part) > MAX_COMPONENT_CHARS for part in path_str.split("/")):
            raise ValidationError(
                f"A path component is longer than {MAX_COMPONENT_CHARS} characters."
            )
        if path_str.startswith("~"):
            raise ValidationError(
                f"'{_shorten(path_str)}': '~' is not expanded. Use a path relative to the "
                f"workspace root ({self.roots[0]})."
            )
        raw = Path(path_str)
        candidate = raw if raw.is_absolute() else self.roots[0] / raw
        # realpath resolves every symlink of the existing part of the path, so the check
        # below sees where the path really leads, not what it says.
        real = Path(os.path.realpath(candidate))
        root = self.root_of(real)
        if root is None:
            lexical = Path(os.path.normpath(candidate))
            if self.root_of(lexical) is not None:
                reason = "it is a symbolic link (or goes through one) that points outside"
            elif ".." in raw.parts:
                reason = "'..' leads outside"
            else:
                reason = "it is outside"
            raise ValidationError(
                f"'{_shorten(path_str)}' is refused: {reason} the workspace "
                f"({', '.join(str(r) for r in self.roots)}). Tools only work on files inside "
                "the workspace."
            )
        if GIT_DIR in real.relative_to(root).parts:
            raise ValidationError(
                f"'{_shorten(path_str)}' is inside .git/, which the tools do not touch."
            )
        try:
            mode = real.stat().st_mode
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            raise ValidationError(
                f"'{_shorten(path_str)}' cannot be read: {exc.strerror}."
            ) from None
        if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ValidationError(
                f"'{_shorten(path_str)}' is a device file, FIFO or socket; only regular files "
                "and directories can be used."
            )
        if (
            not allow_ignored
            and real != root
            and self._rules[root].is_ignored(real, is_dir=mode is not None and stat.S_ISDIR(mode))
        ):
            raise ValidationError(
                f"'{_shorten(path_str)}' is excluded by .gitignore; the tools do not read or "
                "write ignored files."
            )
        return real

    def display(self, path: Path) -> str:
        """How a path is shown to the model: relative to the first root, else absolute."""
        # String slicing, not Path.relative_to: grep shows hundreds of paths per call.
        text = str(path)
        first = self._first_root
        if text == first:
            return "."
        if text.startswith(self._first_prefix):
            return text[len(self._first_prefix) :]
        return text

    def is_ignored(self, path: Path, *, is_dir: bool) -> bool:
        """Whether a resolved path inside a root is excluded (.git/ or .gitignore)."""
        root = self.root_of(path)
        if root is None:
            return True
        if path == root:
            return False
        return self._rules[root].is_ignored(path, is_dir=is_dir)

    # --- walking -------------------------------------------------------------------------

    def list_dir(self, directory: Path) -> list[tuple[str, bool]]:
        """The visible entries of one directory, sorted: (name, is_dir).

        Symbolic links are listed only when they stay inside the workspace; special files,
        `.git` and ignored entries are left out.
        """
        root = self.root_of(directory)
        if root is None:
            raise ValidationError(f"'{directory}' is outside the workspace.")
        rules = self._rules[root]
        specs = self._specs_down_to(rules, directory)
        out: list[tuple[str, bool]] = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name == GIT_DIR:
                    continue
                path = Path(entry.path)
                if entry.is_symlink():
                    real = Path(os.path.realpath(path))
                    if self.root_of(real) is None:
                        continue
                    try:
                        mode = real.stat().st_mode
                    except OSError:
                        continue
                else:
                    try:
                        mode = entry.stat(follow_symlinks=False).st_mode
                    except OSError:
                        continue
                is_dir = stat.S_ISDIR(mode)
                if not (is_dir or stat.S_ISREG(mode)):
                    continue
                if rules.match_in(specs, path, is_dir=is_dir):
                    continue
                out.append((entry.name, is_dir))
        out.sort(key=lambda item: (not item[1], item[0]))
        return out

    def walk(
        self, start: Path | None = None, *, stop: threading.Event | None = None
    ) -> Iterator[WalkEntry]:
        """Every visible regular file under `start` (default: every root), depth first.

        Symbolic links are not followed (as ripgrep does by default), `.git` and ignored
        paths are pruned. `stop` lets another thread end the walk early.
        """
        starts = [start] if start is not None else list(self.roots)
        for top in starts:
            root = self.root_of(top)
            if root is None:
                continue
            rules = self._rules[root]
            yield from self._walk_dir(rules, top, self._specs_down_to(rules, top), stop)

    def _specs_down_to(
        self, rules: GitIgnoreRules, directory: Path
    ) -> list[tuple[Path, GitIgnoreSpec]]:
        specs: list[tuple[Path, GitIgnoreSpec]] = []
        current = rules.root
        for part in (*directory.relative_to(rules.root).parts, None):
            spec = rules.spec_for(current)
            if spec is not None:
                specs.append((current, spec))
            if part is None:
                break
            current = current / part
        return specs

    def _walk_dir(
        self,
        rules: GitIgnoreRules,
        directory: Path,
        specs: list[tuple[Path, GitIgnoreSpec]],
        stop: threading.Event | None,
    ) -> Iterator[WalkEntry]:
        if stop is not None and stop.is_set():
            return
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        subdirs: list[Path] = []
        for entry in entries:
            if entry.name == GIT_DIR:
                continue
            try:
                if entry.is_symlink():
                    continue
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = not is_dir and entry.is_file(follow_symlinks=False)
            except OSError:
                continue
            if not (is_dir or is_file):
                continue
            path = Path(entry.path)
            if specs and rules.match_in(specs, path, is_dir=is_dir):
                continue
            if is_dir:
                subdirs.append(path)
            else:
                yield WalkEntry(path, rules.root)
        for sub in subdirs:
            spec = rules.spec_for(sub)
            yield from self._walk_dir(
                rules, sub, [*specs, (sub, spec)] if spec is not None else specs, stop
            )


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
