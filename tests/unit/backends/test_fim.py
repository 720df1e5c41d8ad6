"""FIM templates: family lookup, mode choice and rendering (table-driven)."""

from __future__ import annotations

import pytest

from trust_lsp.backends.base import ModelInfo
from trust_lsp.backends.fim import (
    CODEGEMMA,
    CODELLAMA,
    CODESTRAL,
    DEEPSEEK_CODER,
    QWEN_CODER,
    STARCODER,
    FimTemplate,
    choose_fim_mode,
    fim_template_for,
    render_fim,
)


@pytest.mark.parametrize(
    ("model", "family", "expected"),
    [
        ("qwen2.5-coder:1.5b", "qwen2", QWEN_CODER),
        ("qwen2.5-coder:7b-base-q4_K_M", "qwen2", QWEN_CODER),
        ("hf.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M", None, QWEN_CODER),
        ("Qwen2.5Coder", None, QWEN_CODER),
        ("qwen3-coder:30b", "qwen3moe", None),
        ("qwen2.5:7b", "qwen2", None),
        ("codellama:7b-code", "llama", CODELLAMA),
        ("codellama:13b", "llama", CODELLAMA),
        ("codellama:34b-code", "llama", None),
        ("codellama:70b", "llama", None),
        ("starcoder2:3b", "starcoder2", STARCODER),
        ("stable-code:3b-code", "stablelm", STARCODER),
        ("deepseek-coder:1.3b-base", "llama", DEEPSEEK_CODER),
        ("deepseek-coder-v2:16b", "deepseek2", DEEPSEEK_CODER),
        ("codestral:22b", "llama", CODESTRAL),
        ("codegemma:2b", "gemma", CODEGEMMA),
        ("codegemma:7b-code", "gemma", CODEGEMMA),
        ("codegemma:7b", "gemma", None),
        ("codegemma:7b-instruct", "gemma", None),
        ("my-custom-model", "starcoder2", STARCODER),
        ("my-custom-model", "qwen2.5-coder", QWEN_CODER),
        ("llama3.2:1b", "llama", None),
        ("gemma3:270m", "gemma3", None),
        ("yi-coder:1.5b", "llama", None),
        ("anything", None, None),
    ],
)
def test_template_lookup(model: str, family: str | None, expected: FimTemplate | None) -> None:
    assert fim_template_for(model, family) is expected


@pytest.mark.parametrize(
    ("info", "mode"),
    [
        (
            ModelInfo(
                "qwen2.5-coder:1.5b",
                family="qwen2",
                capabilities=frozenset({"completion", "insert", "tools"}),
            ),
            "suffix",
        ),
        # insert wins even for a model with no known template
        (
            ModelInfo("custom:latest", family="mystery", capabilities=frozenset({"insert"})),
            "suffix",
        ),
        (
            ModelInfo(
                "deepseek-coder:1.3b-base", family="llama", capabilities=frozenset({"completion"})
            ),
            "template",
        ),
        # capabilities unknown (older server): the family template still applies
        (ModelInfo("starcoder2:3b", family="starcoder2"), "template"),
        (
            ModelInfo("gemma3:270m", family="gemma3", capabilities=frozenset({"completion"})),
            "prefix",
        ),
        (
            ModelInfo(
                "llama3.2:1b", family="llama", capabilities=frozenset({"completion", "tools"})
            ),
            "prefix",
        ),
    ],
)
def test_choose_fim_mode(info: ModelInfo, mode: str) -> None:
    assert choose_fim_mode(info) == mode


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (CODELLAMA, "<PRE> def f(): <SUF>\n    return x <MID>"),
        (STARCODER, "<fim_prefix>def f():<fim_suffix>\n    return x<fim_middle>"),
        (DEEPSEEK_CODER, "<｜fim▁begin｜>def f():<｜fim▁hole｜>\n    return x<｜fim▁end｜>"),
        (QWEN_CODER, "<|fim_prefix|>def f():<|fim_suffix|>\n    return x<|fim_middle|>"),
        (CODESTRAL, "[SUFFIX]\n    return x[PREFIX]def f():"),
        (CODEGEMMA, "<|fim_prefix|>def f():<|fim_suffix|>\n    return x<|fim_middle|>"),
    ],
)
def test_render_exact_tokens(template: FimTemplate, expected: str) -> None:
    assert render_fim(template, "def f():", "\n    return x") == expected


@pytest.mark.parametrize(
    ("template", "must_stop"),
    [
        (CODELLAMA, {"<PRE>", "<SUF>", "<MID>", "<EOT>"}),
        (
            STARCODER,
            {"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>", "<|endoftext|>"},
        ),
        (DEEPSEEK_CODER, {"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"}),
        (
            QWEN_CODER,
            {
                "<|endoftext|>",
                "<|fim_prefix|>",
                "<|fim_suffix|>",
                "<|fim_middle|>",
                "<|file_sep|>",
                "<|im_start|>",
                "<|im_end|>",
            },
        ),
        (CODESTRAL, {"[PREFIX]", "[SUFFIX]"}),
        (CODEGEMMA, {"<|file_separator|>", "<end_of_turn>", "<eos>"}),
    ],
)
def test_stop_lists(template: FimTemplate, must_stop: set[str]) -> None:
    assert must_stop <= set(template.stop)


def test_deepseek_tokens_use_full_width_bars() -> None:
    rendered = render_fim(DEEPSEEK_CODER, "a", "b")
    assert "\uff5c" in rendered and "\u2581" in rendered and "|" not in rendered


def test_braces_and_placeholders_in_code_are_inserted_verbatim() -> None:
    prefix = 'f"{prefix}" + "{suffix}" {'
    suffix = "} {prefix}"
    assert (
        render_fim(STARCODER, prefix, suffix)
        == f"<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>"
    )


def test_empty_suffix_renders_the_template_anyway() -> None:
    assert render_fim(QWEN_CODER, "x = ", "") == "<|fim_prefix|>x = <|fim_suffix|><|fim_middle|>"


def test_qwen_repo_form() -> None:
    rendered = render_fim(
        QWEN_CODER,
        "import a\n",
        "\n",
        path="pkg/main.py",
        repo_name="demo",
        files=[("pkg/a.py", "X = 1")],
    )
    assert rendered == (
        "<|repo_name|>demo\n"
        "<|file_sep|>pkg/a.py\nX = 1\n"
        "<|file_sep|>pkg/main.py\n"
        "<|fim_prefix|>import a\n<|fim_suffix|>\n<|fim_middle|>"
    )


@pytest.mark.parametrize("template", [CODELLAMA, STARCODER, DEEPSEEK_CODER, CODESTRAL, CODEGEMMA])
def test_repo_context_ignored_without_repo_form(template: FimTemplate) -> None:
    plain = render_fim(template, "p", "s")
    assert render_fim(template, "p", "s", path="x.py", repo_name="r", files=[("y", "z")]) == plain
