"""Post-processing of raw model output into a suggestion: pure, separately tested steps.

`postprocess(raw, ctx)` runs the whole pipeline:

1. strip what comes before the code (a leading FIM "middle" token, an opening code fence,
   a space the cursor already has);
2. cut (each cut returns a prefix of its input, so `is_finished` can tell from a partial
   stream that nothing more will be kept): special tokens, stop sequences, a closing fence,
   the first line in single-line mode, the point where the output repeats the text after
   the cursor or the next line, a dedent out of the cursor's block, a repeating pattern;
3. trim trailing whitespace;
4. drop blank, trivial, and line-above-repeating output;
5. don't duplicate closing brackets/quotes already after the cursor.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from trust_lsp.features.completion.language import block_stops, normalize_language
from trust_lsp.features.completion.types import Suggestion

Mode = Literal["none", "single", "multi"]
MultilineSetting = Literal["auto", "always", "never"]

# Characters that may follow the cursor on its line without making it "mid-line": editors
# auto-close brackets and quotes, so the cursor often sits right before them.
CLOSING_CHARS = frozenset(")]}>\"'`;,")
_PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}
_QUOTES = frozenset("\"'`")

# A line ending like this opens a block: the completion may be several lines long.
BLOCK_OPENERS = (":", "{", "(", "[", "=>", " do", " then", " begin")
_COMMENT_STARTS = ("#", "//", "--", "/*", "*", ";", "%", "<!--")

# Tokens that mean "the code ended here" (FIM and chat templates of the common families).
END_TOKENS = (
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    "<|fim_pad|>",
    "<|file_sep|>",
    "<|repo_name|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|file_separator|>",
    "<fim_prefix>",
    "<fim_suffix>",
    "<fim_middle>",
    "<fim_pad>",
    "<file_sep>",
    "<reponame>",
    "<filename>",
    "<end_of_turn>",
    "<start_of_turn>",
    "<eos>",
    "<EOT>",
    "<PRE>",
    "<SUF>",
    "<MID>",
    "<｜fim▁begin｜>",
    "<｜fim▁hole｜>",
    "<｜fim▁end｜>",
    "<｜end▁of▁sentence｜>",
    "[PREFIX]",
    "[SUFFIX]",
)
# A model sometimes echoes the token that asked for the middle before answering.
MIDDLE_TOKENS = ("<|fim_middle|>", "<fim_middle>", "<MID>", "<｜fim▁end｜>")

SUFFIX_PROBE_CHARS = 32
MIN_SUFFIX_OVERLAP = 10
MIN_CHARS = 4
SINGLE_LINE_STOPS = ("\n",)
MULTI_LINE_STOPS = ("\n\n\n",)
_MARKDOWN_LIKE = frozenset({"markdown", "mdx", "rst", "restructuredtext", "plaintext", ""})
_REPEAT = re.compile(r"(.{4,80}?)\1{3,}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class CursorContext:
    """The text around the cursor (tails are enough) and the completion mode."""

    prefix: str
    suffix: str
    mode: Mode = "single"
    language_id: str = ""
    stops: tuple[str, ...] = ()

    @property
    def line_before(self) -> str:
        """The cursor's line up to the cursor."""
        return self.prefix[self.prefix.rfind("\n") + 1 :]

    @property
    def line_after(self) -> str:
        """The cursor's line after the cursor."""
        return self.suffix.split("\n", 1)[0]


# --- mode -----------------------------------------------------------------------------------


def only_closers(text: str) -> bool:
    """True when `text` holds nothing but closing brackets, quotes, `;`, `,` and spaces."""
    return all(c in CLOSING_CHARS or c.isspace() for c in text)


def opens_block(line: str) -> bool:
    """True when a line ends by opening a block (`:`, `{`, `(`, `=>`, `do`…)."""
    stripped = line.rstrip()
    return bool(stripped) and stripped.endswith(BLOCK_OPENERS)


def is_comment_line(line: str) -> bool:
    """True when the line is a comment (then one line is enough)."""
    return line.lstrip().startswith(_COMMENT_STARTS)


def completion_mode(prefix: str, suffix: str, setting: MultilineSetting = "auto") -> Mode:
    """Single line, several lines, or no completion at all, from the cursor position.

    - right before an identifier character: none (completing inside a word is noise);
    - mid-line before other text: a single line (filling e.g. call arguments);
    - end of line (or only closing brackets/quotes after the cursor): several lines when
      the line opens a block or is blank, one line otherwise (and for comment lines);
    - `setting` "always"/"never" forces several lines / one line where a completion is
      offered at all.
    """
    ctx = CursorContext(prefix, suffix)
    after = ctx.line_after
    if after[:1].isalnum() or after[:1] == "_":
        return "none"
    if not only_closers(after):
        return "single"
    if setting != "auto":
        return "multi" if setting == "always" else "single"
    before = ctx.line_before
    if not before.strip() or (opens_block(before) and not is_comment_line(before)):
        return "multi"
    return "single"


def stop_sequences(mode: Mode, language_id: str = "") -> tuple[str, ...]:
    """Stop sequences to send with the request: the line end, or block ends."""
    if mode == "multi":
        return MULTI_LINE_STOPS + block_stops(language_id)
    return SINGLE_LINE_STOPS


# --- strip ----------------------------------------------------------------------------------


def strip_leading_tokens(text: str) -> str:
    """Remove FIM "middle" tokens echoed at the start of the output."""
    changed = True
    while changed:
        changed = False
        for token in MIDDLE_TOKENS:
            if text.startswith(token):
                text = text[len(token) :]
                changed = True
    return text


def strip_opening_fence(text: str, language_id: str = "") -> str:
    """Drop an opening Markdown code fence line (```python) at the start of the output."""
    if normalize_language(language_id) in _MARKDOWN_LIKE:
        return text
    stripped = text.lstrip()
    if not stripped.startswith("```"):
        return text
    first, sep, rest = stripped.partition("\n")
    if re.fullmatch(r"```[\w+#.-]*\s*", first) is None:
        return text
    return rest if sep else ""


def strip_duplicate_space(text: str, prefix: str) -> str:
    """Remove leading blanks when the code before the cursor already ends with a blank.

    Not in indentation: on a line holding only blanks so far, more leading blanks in the
    output are the rest of the indentation.
    """
    line = prefix[prefix.rfind("\n") + 1 :]
    if line[-1:] in (" ", "\t") and line.strip():
        return text.lstrip(" \t")
    return text


# --- cuts (each returns a prefix of its input) ---------------------------------------------


def cut_at_end_tokens(text: str, tokens: Sequence[str] = END_TOKENS) -> str:
    """Cut at the first special token (end of text, FIM markers, turn markers)."""
    return cut_at_stops(text, tokens)


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """Cut at the earliest stop sequence."""
    end = len(text)
    for stop in stops:
        index = text.find(stop) if stop else -1
        if index != -1:
            end = min(end, index)
    return text[:end]


def cut_at_closing_fence(text: str, language_id: str = "") -> str:
    """Cut at a line that starts with ``` (the end of a fenced answer)."""
    if normalize_language(language_id) in _MARKDOWN_LIKE:
        return text
    match = re.search(r"(^|\n)[ \t]*```", text)
    return text if match is None else text[: match.start()]


def first_line(text: str) -> str:
    """The text up to the first line break."""
    return text.split("\n", 1)[0]


def cut_at_suffix_overlap(text: str, suffix: str) -> str:
    """Cut where the output starts repeating the text after the cursor.

    The start of the suffix (blanks skipped, up to 32 chars) is searched for in the output;
    at least 10 characters must agree, so a short suffix such as `)` is left to
    `avoid_closing_duplicates`.
    """
    probe = suffix.lstrip()[:SUFFIX_PROBE_CHARS]
    if len(probe.rstrip()) < MIN_SUFFIX_OVERLAP:
        return text
    seed = probe[:MIN_SUFFIX_OVERLAP]
    index = text.find(seed)
    while index != -1:
        rest = text[index:]
        common = min(len(rest), len(probe))
        if rest[:common] == probe[:common]:
            return text[:index]
        index = text.find(seed, index + 1)
    return text


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def lines_match(generated: str, existing: str) -> bool:
    """Whether a generated line is (nearly) the existing one.

    Short lines (brackets, `end`) must match exactly, indentation included, or a closing
    brace of an inner block would be taken for the outer one; longer lines match when their
    stripped forms are within 10% edit distance.
    """
    a, b = generated.strip(), existing.strip()
    if not a or not b:
        return False
    if len(b) < 3:
        return generated.rstrip() == existing.rstrip()
    if a == b:
        return True
    if abs(len(a) - len(b)) > len(b) // 10 or len(b) < 10:
        return False
    return _edit_distance(a, b) <= len(b) // 10


def next_nonblank_line(suffix: str) -> str | None:
    """The first non-blank line below the cursor's line."""
    for line in suffix.split("\n")[1:]:
        if line.strip():
            return line
    return None


def cut_at_next_line(text: str, ctx: CursorContext) -> str:
    """Cut before the first output line that repeats the next non-blank line of the file.

    The first output line counts together with the text before the cursor on its line.
    """
    existing = next_nonblank_line(ctx.suffix)
    if existing is None:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        candidate = ctx.line_before + line if i == 0 else line
        if lines_match(candidate, existing):
            return "\n".join(lines[:i])
    return text


def indent_width(line: str) -> int:
    """Width of the leading blanks (tabs count 4)."""
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


_CLOSER_LINE = re.compile(r"[)\]}]|end\b")


def cut_at_dedent(text: str, ctx: CursorContext) -> str:
    """In multi-line output, stop where a line leaves the cursor's block.

    The block's indentation is that of the cursor's line (its column when the line is
    blank). A later line indented less ends the output; so does a line back at that
    indentation after the body of a block the cursor's line opened — except a closing
    bracket/`end`, which is kept as the block's last line.
    """
    before = ctx.line_before
    base = indent_width(before) if before.strip() else len(before.expandtabs(4))
    opened = opens_block(before)
    lines = text.split("\n")
    deeper = False
    for i in range(1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        width = indent_width(line)
        if width > base:
            deeper = True
            continue
        if width < base:
            return "\n".join(lines[:i])
        if opened and deeper:
            if _CLOSER_LINE.match(line.lstrip()):
                return "\n".join(lines[: i + 1])
            return "\n".join(lines[:i])
    return text


def cut_repetition(text: str) -> str:
    """Cut a pattern (4–80 chars with a letter) repeated 4 times or more to one copy."""
    for match in _REPEAT.finditer(text):
        unit = match.group(1)
        if any(c.isalpha() for c in unit):
            return text[: match.start() + len(unit)]
    return text


# --- trim and filters -----------------------------------------------------------------------


def trim_trailing_whitespace(text: str) -> str:
    """Remove trailing blanks from every line and blank lines at the end."""
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


def is_blank(text: str) -> bool:
    """True when there is nothing but whitespace."""
    return not text.strip()


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def is_trivial(text: str, ctx: CursorContext) -> bool:
    """True for output under 4 characters (blanks around it aside), unless it finishes a word.

    Decision: a short output is kept only when it completes the identifier being typed at
    the end of a line (`retu` → `rn`): ghost text of a lone `)` or `;` is noise, but the
    end of a long word saves keystrokes.
    """
    if len(text.strip()) >= MIN_CHARS:
        return False
    finishes_word = (
        _word_char(ctx.line_before[-1:])
        and _word_char(text[:1])
        and all(_word_char(c) for c in text.strip())
        and only_closers(ctx.line_after)
    )
    return not finishes_word


def repeats_line_above(text: str, ctx: CursorContext) -> bool:
    """True when the first output line makes the cursor's line equal the line above it."""
    line = (ctx.line_before + first_line(text)).strip()
    if len(line) < MIN_CHARS or not any(c.isalnum() for c in line):
        return False
    for above in reversed(ctx.prefix.split("\n")[:-1]):
        if above.strip():
            return above.strip() == line
    return False


def _closes_outer(text: str, char: str) -> bool:
    """Whether `char` in `text` closes something opened before the text (it is unmatched)."""
    if char in _PAIRS:
        return text.count(char) > text.count(_PAIRS[char])
    if char in _QUOTES:
        return text.count(char) % 2 == 1
    return True


def _is_subsequence(needle: str, haystack: str) -> bool:
    chars = iter(haystack)
    return all(c in chars for c in needle)


def avoid_closing_duplicates(text: str, line_after: str) -> Suggestion:
    """Don't duplicate closing brackets/quotes that already follow the cursor.

    When the output ends with (a start of) the closers after the cursor, and those closers
    close something opened before the output, they are trimmed from the output. Otherwise,
    when the output closes all of them itself (they appear in it, in order), the suggestion
    replaces them (`replace_chars`). Else the output is inserted as is.
    """
    closers = line_after.rstrip()
    if not closers or not only_closers(closers):
        return Suggestion(text)
    tight = "".join(closers.split())
    for k in range(len(tight), 0, -1):
        if text.endswith(tight[:k]):
            kept = text
            for char in reversed(tight[:k]):
                if not _closes_outer(kept, char):
                    break
                kept = kept[:-1]
            else:
                return Suggestion(kept)
    if _is_subsequence(tight, text) and all(
        _closes_outer(text, c) for c in tight if c in _PAIRS or c in _QUOTES
    ):
        return Suggestion(text, replace_chars=len(closers))
    return Suggestion(text)


# --- pipeline -------------------------------------------------------------------------------


def strip_start(raw: str, ctx: CursorContext) -> str:
    """The stripping steps: leading tokens, an opening fence, a duplicated blank."""
    text = strip_leading_tokens(raw)
    text = strip_opening_fence(text, ctx.language_id)
    return strip_duplicate_space(text, ctx.prefix)


def truncate(text: str, ctx: CursorContext) -> str:
    """The cutting steps, in order; the result is a prefix of `text`."""
    text = cut_at_end_tokens(text)
    text = cut_at_stops(text, ctx.stops)
    text = cut_at_closing_fence(text, ctx.language_id)
    if ctx.mode != "multi":
        text = first_line(text)
    text = cut_at_suffix_overlap(text, ctx.suffix)
    text = cut_at_next_line(text, ctx)
    if ctx.mode == "multi":
        text = cut_at_dedent(text, ctx)
    return cut_repetition(text)


def is_finished(raw: str, ctx: CursorContext) -> bool:
    """Whether a partial stream already holds all that `postprocess` will keep.

    Only complete lines are judged (a partial last line may still grow into a match), so
    the caller can close the stream early instead of paying for tokens that will be cut.
    """
    if ctx.mode == "none":
        return True
    if ctx.mode == "single":
        return "\n" in strip_start(raw, ctx)
    newline = raw.rfind("\n")
    if newline == -1:
        return False
    body = strip_start(raw[:newline], ctx)
    return len(truncate(body, ctx)) < len(body)


def complete_lines(raw: str) -> str | None:
    """The output up to its last line break (its complete lines), None when it has none."""
    newline = raw.rfind("\n")
    return raw[:newline] if newline > 0 else None


def drop_unfinished_line(raw: str, ctx: CursorContext) -> str:
    """Output cut by the token limit: in multi-line mode its last line is likely half a
    statement, so keep only the complete lines (when there are any)."""
    if ctx.mode != "multi" or raw.endswith("\n"):
        return raw
    kept = complete_lines(raw)
    return kept if kept and kept.strip() else raw


def postprocess(raw: str, ctx: CursorContext) -> Suggestion | None:
    """The suggestion to show for raw model output, or None when nothing is worth showing."""
    if ctx.mode == "none":
        return None
    text = trim_trailing_whitespace(truncate(strip_start(raw, ctx), ctx))
    if is_blank(text) or is_trivial(text, ctx) or repeats_line_above(text, ctx):
        return None
    suggestion = avoid_closing_duplicates(text, ctx.line_after)
    if is_blank(suggestion.text):
        return None
    return suggestion
