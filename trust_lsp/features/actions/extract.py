"""Reduce a model's answer to the code it contains (pure).

Models wrap code in fences, add "Here is the fixed code:" before it and an explanation
after it, and sometimes leak special tokens. An edit must contain only code, so:

- fenced blocks win: the longest closed block (or the text after an opening fence the model
  never closed, when it ran out of tokens);
- without fences, leading and trailing prose lines are dropped and what is left must look
  like code;
- no code at all → None (the caller reports an error instead of applying a broken edit).
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([\w+#.-]*)[^\n]*$", re.MULTILINE)
_SPECIAL_TOKENS = re.compile(
    r"<\|(?:im_end|im_start|endoftext|end|eot_id|file_sep|fim_[a-z]+)\|>"
    r"|<(?:end_of_turn|start_of_turn|eos|bos|file_separator)>"
    r"|</?s>|<EOT>"
)
_PROSE_START = re.compile(
    r"^(?:here(?:'s| is| are)|sure|certainly|of course|okay|ok,|below|this |the |i |i'|"
    r"note|explanation|in this|these |we |you |to |it |that )",
    re.IGNORECASE,
)
_CODE_PUNCTUATION = re.compile(r"[{}();=\[\]<>]")
_COMMENT_STARTS = ("#", "//", "/*", "*", "--", ";")
# Characters and words that rarely appear in English prose but constantly in code.
_CODE_HINTS = re.compile(
    r"[{}();=<>\[\]]|^\s*(?:def|class|import|from|return|function|const|let|var|if|for|"
    r"while|fn|pub|package|#include|public|private|struct|@\w+)\b|^\s*(?:#|//|/\*|\*|--)",
    re.MULTILINE,
)


def strip_special_tokens(text: str) -> str:
    """Remove chat/FIM special tokens a backend may leak into the text."""
    return _SPECIAL_TOKENS.sub("", text)


def fenced_blocks(text: str) -> list[str]:
    """Contents of the fenced code blocks of `text`, in order.

    A fence opened and never closed yields the rest of the text (the model stopped early).
    """
    blocks: list[str] = []
    pos = 0
    while True:
        opening = _FENCE.search(text, pos)
        if opening is None:
            break
        fence = opening.group(1)
        body_start = opening.end() + 1
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.M)
        close = closing.search(text, body_start)
        if close is None:
            blocks.append(text[body_start:])
            break
        blocks.append(text[body_start : close.start()])
        pos = close.end()
    return [b.rstrip("\n") for b in blocks]


def first_block_closed(text: str) -> bool:
    """True once `text` contains a complete fenced block (a streaming answer can stop)."""
    opening = _FENCE.search(text)
    if opening is None:
        return False
    fence = opening.group(1)
    closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.M)
    return closing.search(text, opening.end() + 1) is not None


def looks_like_code(text: str) -> bool:
    """A cheap guess whether `text` is code rather than prose."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return False
    hinted = sum(1 for line in lines if _CODE_HINTS.search(line))
    indented = sum(1 for line in lines if line.startswith((" ", "\t")))
    prose = sum(1 for line in lines if _is_prose(line))
    return hinted + indented > prose and hinted > 0


def _is_prose(line: str) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    starts_like_prose = _PROSE_START.match(stripped) is not None
    if starts_like_prose and stripped.endswith(":"):
        return True  # "Here is the fixed code (with types):"
    if _CODE_PUNCTUATION.search(stripped) or stripped.startswith(_COMMENT_STARTS):
        return False
    if starts_like_prose:
        return True
    # A sentence: several words, ending like a sentence.
    return len(stripped.split()) >= 4 and stripped[-1:] in ".:!?"


def extract_code(answer: str) -> str | None:
    """The code in a model's answer, or None when it contains none."""
    text = strip_special_tokens(answer).replace("\r\n", "\n")
    blocks = [b for b in fenced_blocks(text) if b.strip()]
    if blocks:
        return max(blocks, key=len)
    lines = text.split("\n")
    while lines and (not lines[0].strip() or _is_prose(lines[0])):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _is_prose(lines[-1])):
        lines.pop()
    code = "\n".join(lines)
    if not code.strip() or not looks_like_code(code):
        return None
    return code
