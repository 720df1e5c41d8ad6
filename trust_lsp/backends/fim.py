"""Fill-in-the-middle (FIM) templates by model family, and the choice of FIM mode.

A code model fills the hole between `prefix` and `suffix` when the prompt is laid out with
its family's special tokens (exact spelling; spaces are significant). Three ways to ask:

- "suffix":   the server renders FIM itself (Ollama: the model's template uses `.Suffix`,
              i.e. `/api/show` lists the `insert` capability) — send prompt + suffix.
- "template": the server cannot, but the family's template is known — render it here and
              send it raw (Ollama: `raw: true`).
- "prefix":   neither — a plain continuation of the prefix.

Everything here is pure and table-tested (tests/unit/backends/test_fim.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from trust_lsp.backends.base import FimMode, ModelInfo

__all__ = [
    "CODEGEMMA",
    "CODELLAMA",
    "CODESTRAL",
    "DEEPSEEK_CODER",
    "QWEN_CODER",
    "STARCODER",
    "TEMPLATES",
    "FimTemplate",
    "choose_fim_mode",
    "fim_template_for",
    "render_fim",
]


@dataclass(frozen=True, slots=True)
class FimTemplate:
    """One family's FIM layout: `layout` has `{prefix}` and `{suffix}` placeholders."""

    name: str
    layout: str
    stop: tuple[str, ...]
    # Qwen2.5-Coder's repository form: <|repo_name|>name\n<|file_sep|>path\ncontent…
    repo_name_token: str | None = None
    file_sep_token: str | None = None


CODELLAMA = FimTemplate(
    "codellama",
    "<PRE> {prefix} <SUF>{suffix} <MID>",
    ("<PRE>", "<SUF>", "<MID>", "<EOT>"),
)
STARCODER = FimTemplate(
    "starcoder",
    "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>", "<|endoftext|>"),
)
DEEPSEEK_CODER = FimTemplate(
    "deepseek-coder",
    "<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
    ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "<｜end▁of▁sentence｜>", "<|EOT|>"),
)
QWEN_CODER = FimTemplate(
    "qwen2.5-coder",
    "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
    (
        "<|endoftext|>",
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|fim_pad|>",
        "<|repo_name|>",
        "<|file_sep|>",
        "<|im_start|>",
        "<|im_end|>",
    ),
    repo_name_token="<|repo_name|>",
    file_sep_token="<|file_sep|>",
)
CODESTRAL = FimTemplate(
    "codestral",
    "[SUFFIX]{suffix}[PREFIX]{prefix}",
    ("[PREFIX]", "[SUFFIX]", "</s>"),
)
CODEGEMMA = FimTemplate(
    "codegemma",
    "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
    (
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        "<|file_separator|>",
        "<end_of_turn>",
        "<eos>",
    ),
)

TEMPLATES: dict[str, FimTemplate] = {
    t.name: t for t in (CODELLAMA, STARCODER, DEEPSEEK_CODER, QWEN_CODER, CODESTRAL, CODEGEMMA)
}

# Model-name rules, first match wins. Names are more specific than Ollama's `family`
# (CodeLlama and DeepSeek-Coder v1 report family "llama", Qwen2.5-Coder reports "qwen2",
# shared with chat models that were never trained to fill in the middle).
_NAME_RULES: tuple[tuple[re.Pattern[str], FimTemplate | None], ...] = (
    # Qwen3-Coder and the general Qwen models are not FIM models in this form.
    (re.compile(r"qwen2\.5[-_]?coder"), QWEN_CODER),
    # CodeGemma's instruction-tuned variants (codegemma:7b is the "it" model) do not infill.
    (re.compile(r"codegemma.*(?:[-:_]it\b|instruct)|codegemma:7b$"), None),
    (re.compile(r"codegemma"), CODEGEMMA),
    (re.compile(r"codestral"), CODESTRAL),
    (re.compile(r"deepseek[-_]?coder"), DEEPSEEK_CODER),
    (re.compile(r"starcoder|stable[-_]?code|santacoder"), STARCODER),
    # CodeLlama 34b/70b were not trained for infilling.
    (re.compile(r"code[-_]?llama.*\b(?:34b|70b)"), None),
    (re.compile(r"code[-_]?llama"), CODELLAMA),
)

# Ollama `family` values (from /api/show details) that imply one FIM layout.
_FAMILY_RULES: dict[str, FimTemplate] = {
    "starcoder": STARCODER,
    "starcoder2": STARCODER,
    "codegemma": CODEGEMMA,
    "codestral": CODESTRAL,
}


_PLACEHOLDER = re.compile(r"\{(prefix|suffix)\}")


def fim_template_for(model: str, family: str | None = None) -> FimTemplate | None:
    """The FIM template for a model, from its name first, then its family; None if unknown.

    A template name (e.g. "codellama", "qwen2.5-coder") is accepted as `family`, so a user
    can name the layout of a custom model explicitly.
    """
    name = model.strip().lower()
    for pattern, template in _NAME_RULES:
        if pattern.search(name):
            return template
    if family:
        key = family.strip().lower()
        return TEMPLATES.get(key) or _FAMILY_RULES.get(key)
    return None


def choose_fim_mode(info: ModelInfo) -> FimMode:
    """How to ask this model to fill in the middle: "suffix", "template" or "prefix"."""
    if "insert" in info.capabilities:
        return "suffix"
    if fim_template_for(info.name, info.family) is not None:
        return "template"
    return "prefix"


def render_fim(
    template: FimTemplate,
    prefix: str,
    suffix: str,
    *,
    path: str | None = None,
    repo_name: str | None = None,
    files: Sequence[tuple[str, str]] = (),
) -> str:
    """Lay out prefix and suffix in the template (text is inserted verbatim).

    For templates with a repository form (Qwen2.5-Coder), `repo_name`, other `files`
    (path, content) and the current file's `path` are prepended as the model was trained;
    other templates ignore them.
    """
    # Substitute in one pass so braces in the user's code are never read as placeholders.
    values = {"prefix": prefix, "suffix": suffix}
    body = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template.layout)
    if template.file_sep_token is None or not (repo_name or files or path):
        return body
    parts: list[str] = []
    if repo_name and template.repo_name_token:
        parts.append(f"{template.repo_name_token}{repo_name}\n")
    for file_path, content in files:
        parts.append(f"{template.file_sep_token}{file_path}\n{content}\n")
    if path:
        parts.append(f"{template.file_sep_token}{path}\n")
    return "".join(parts) + body
