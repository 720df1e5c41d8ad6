"""File search for the `glob` and `grep` tools: ripgrep when installed, Python otherwise.

Both engines see the same files: `.gitignore` rules inside the roots are respected, `.git/`
is skipped, hidden files are searched, symbolic links are not followed and binary files (a
NUL byte near the start) are skipped. ripgrep's regex dialect (Rust) and Python's differ in
corners (look-around and back-references exist only in Python); a pattern either engine
rejects comes back as a `ValidationError` that names the problem.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from trust_lsp.errors import ToolExecutionError, ValidationError
from trust_lsp.tools.sandbox import BINARY_SNIFF_BYTES, WorkspaceSandbox, looks_binary

__all__ = [
    "MAX_LINE_CHARS",
    "GrepMatch",
    "GrepResult",
    "glob_to_regex",
    "grep",
    "grep_python",
    "grep_ripgrep",
    "match_glob",
]

MAX_LINE_CHARS = 300  # a matching line is cut to this length in results
MAX_FILE_BYTES = 20 * 1024 * 1024  # files larger than this are not searched by the fallback
_READ_CHUNK = 256 * 1024
_MATCH_PREFIX = b'{"type":"match"'

# ripgrep with the sandbox's rules: .gitignore files inside the searched tree only, hidden
# files included, .git excluded, no user config, no symlink following (its default).
RG_BASE_ARGS: tuple[str, ...] = (
    "--json",
    "--no-config",
    "--hidden",
    "--no-ignore-global",
    "--no-ignore-exclude",
    "--no-ignore-dot",
    "--no-ignore-parent",
    "--no-require-git",
    "--glob",
    "!.git",
)


class RegexNotSupportedError(ValidationError):
    """ripgrep rejected the pattern (the Python engine may still accept it)."""


@dataclass(frozen=True, slots=True, order=True)
class GrepMatch:
    """One matching line: absolute path, 1-based line number, the line (cut to 300 chars)."""

    path: Path
    line: int
    text: str


@dataclass(slots=True)
class GrepResult:
    matches: list[GrepMatch] = field(default_factory=list)
    truncated: bool = False  # more matches exist than were collected
    engine: str = "python"


# --- glob patterns ---------------------------------------------------------------------------


@lru_cache(maxsize=256)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob to a regex over '/'-separated relative paths.

    `*` and `?` stay within one path component, `**` spans components (`**/` also matches
    no directory at all), `[abc]` / `[!abc]` are character classes and `{a,b}` alternatives.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    depth = 0  # inside {…}
    while i < n:
        char = pattern[i]
        if pattern.startswith("**", i):
            j = i + 2
            at_start = i == 0 or pattern[i - 1] == "/"
            if at_start and j < n and pattern[j] == "/":
                out.append("(?:.*/)?")
                i = j + 1
                continue
            out.append(".*")
            i = j
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif char == "{":
            depth += 1
            out.append("(?:")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        i += 1
    if depth:
        raise ValidationError(f"The glob {pattern!r} has an unclosed '{{'.")
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error as exc:
        raise ValidationError(f"The glob {pattern!r} is not valid: {exc}.") from None


def match_glob(pattern: str, rel_path: str) -> bool:
    """Whether a relative path matches a glob; a glob without '/' matches the file name."""
    target = rel_path if "/" in pattern else rel_path.rsplit("/", 1)[-1]
    return glob_to_regex(pattern).match(target) is not None


# --- grep ------------------------------------------------------------------------------------


async def grep(
    sandbox: WorkspaceSandbox,
    pattern: str,
    start: Path,
    *,
    file_glob: str | None = None,
    ignore_case: bool = False,
    max_results: int = 100,
    rg_path: str | None = None,
) -> GrepResult:
    """Search `start` (a resolved directory or file) for lines matching `pattern`.

    With `rg_path` ripgrep does the search; otherwise the Python fallback does, in a
    worker thread (cancelling the awaiting task stops it at the next file).
    """
    if rg_path is not None:
        try:
            return await grep_ripgrep(
                rg_path,
                pattern,
                start,
                file_glob=file_glob,
                ignore_case=ignore_case,
                max_results=max_results,
            )
        except RegexNotSupportedError:
            # Look-around and back-references: Rust's regex has none, Python's re has both.
            regex = _compile(pattern, ignore_case)
    else:
        regex = _compile(pattern, ignore_case)
    stop = threading.Event()
    try:
        return await asyncio.to_thread(
            grep_python, sandbox, regex, start, file_glob, max_results, stop
        )
    finally:
        stop.set()


def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.MULTILINE | (re.IGNORECASE if ignore_case else 0))
    except re.error as exc:
        raise ValidationError(f"The regular expression {pattern!r} is not valid: {exc}.") from None


def grep_python(
    sandbox: WorkspaceSandbox,
    regex: re.Pattern[str],
    start: Path,
    file_glob: str | None,
    max_results: int,
    stop: threading.Event | None = None,
) -> GrepResult:
    """The pure-Python engine (blocking): walk the visible files and search each one."""
    result = GrepResult(engine="python")
    if start.is_file():
        files = [start]
        base = start.parent
    else:
        files = None
        base = start
    entries = files if files is not None else (e.path for e in sandbox.walk(start, stop=stop))
    for path in entries:
        if stop is not None and stop.is_set():
            break
        if file_glob is not None:
            rel = os.path.relpath(path, base).replace(os.sep, "/")
            if not match_glob(file_glob, rel):
                continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if looks_binary(data[:BINARY_SNIFF_BYTES]):
            continue
        text = data.decode("utf-8", errors="replace")
        if regex.search(text) is None:  # the common case: one C-speed scan, no line work
            continue
        line_no, counted_to, last_line_start = 1, 0, -1
        for match in regex.finditer(text):
            begin = match.start()
            line_start = text.rfind("\n", 0, begin) + 1
            if line_start == last_line_start:
                continue  # one result per line, like ripgrep
            line_no += text.count("\n", counted_to, line_start)
            counted_to = line_start
            last_line_start = line_start
            line_end = text.find("\n", begin)
            line = text[line_start : line_end if line_end != -1 else len(text)]
            if len(result.matches) >= max_results:
                result.truncated = True
                return result
            result.matches.append(GrepMatch(path, line_no, _cut(line.rstrip("\r"))))
    return result


async def grep_ripgrep(
    rg_path: str,
    pattern: str,
    start: Path,
    *,
    file_glob: str | None = None,
    ignore_case: bool = False,
    max_results: int = 100,
    extra_args: Sequence[str] = (),
) -> GrepResult:
    """Run ripgrep with `--json` and collect up to `max_results` matching lines.

    ripgrep is stopped as soon as enough matches arrived; matches come back sorted by path
    and line (ripgrep itself searches in parallel, in no fixed order).
    """
    args = [rg_path, *RG_BASE_ARGS, *extra_args]
    if ignore_case:
        args.append("--ignore-case")
    if file_glob is not None:
        args += ["--glob", file_glob]
    args += ["--regexp", pattern, "--", str(start)]
    result = GrepResult(engine="ripgrep")
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.ensure_future(proc.stderr.read())
    finished = False
    try:
        pending = b""
        while not result.truncated:
            # Big reads, split here: far fewer event-loop wakeups than readline per line.
            chunk = await proc.stdout.read(_READ_CHUNK)
            if not chunk:
                finished = True
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for raw in lines:
                if not raw.startswith(_MATCH_PREFIX):
                    continue  # begin/end/summary messages
                match = _parse_rg_match(raw)
                if match is None:
                    continue
                if len(result.matches) >= max_results:
                    result.truncated = True
                    break
                result.matches.append(match)
    finally:
        # Kill only a ripgrep that is still writing: Popen.send_signal polls (and reaps) an
        # exited child first, racing asyncio's child watcher, which then logs a warning.
        if not finished and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.wait()
        stderr = (await stderr_task).decode("utf-8", errors="replace").strip()
    if proc.returncode == 2 and not result.matches and not result.truncated:
        # 2 = error: a bad regex, or unreadable files (then matches may still exist).
        first = stderr.splitlines()[0] if stderr else "unknown error"
        if "regex" in stderr.lower():
            # Drop ripgrep's advice about its own flags: the model cannot pass flags.
            detail = stderr.split("\n\nConsider enabling PCRE2")[0].strip()
            raise RegexNotSupportedError(
                f"The regular expression {pattern!r} is not valid: {detail}"
            )
        if "glob" in stderr.lower():
            raise ValidationError(f"The glob {file_glob!r} is not valid: {first}")
        raise ToolExecutionError(f"ripgrep failed: {first}")
    result.matches.sort(key=_order)
    return result


def _order(match: GrepMatch) -> tuple[str, int]:
    # Comparing strings is much cheaper than comparing Path objects.
    return (str(match.path), match.line)


def _parse_rg_match(raw: bytes) -> GrepMatch | None:
    try:
        data: dict[str, Any] = json.loads(raw)["data"]
        path = _rg_text(data["path"])
        line = _rg_text(data["lines"])
        number = int(data["line_number"])
    except (ValueError, KeyError, TypeError):
        return None
    return GrepMatch(Path(path), number, _cut(line.rstrip("\r\n")))


def _rg_text(value: dict[str, Any]) -> str:
    # ripgrep sends non-UTF-8 data base64-encoded under "bytes".
    if "text" in value:
        return str(value["text"])
    return base64.b64decode(value["bytes"]).decode("utf-8", errors="replace")


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"
