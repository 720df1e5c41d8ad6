"""Reducing a model's answer to its code (table-driven)."""

from __future__ import annotations

import pytest

from trust_lsp.features.actions.extract import (
    extract_code,
    fenced_blocks,
    first_block_closed,
    looks_like_code,
    strip_special_tokens,
)

CODE = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (f"```python\n{CODE}\n```", CODE),
        (f"Here is the fixed code:\n```python\n{CODE}\n```\nIt now returns.", CODE),
        (f"```\n{CODE}\n```", CODE),
        (f"~~~py\n{CODE}\n~~~", CODE),
        (f"````python\n{CODE}\n```\n````", f"{CODE}\n```"),  # longer fence wins
        (f"```python\n{CODE}", CODE),  # unclosed: the model ran out of tokens
        (f"```\nx = 1\n```\nand\n```python\n{CODE}\n```", CODE),  # the longest block
        (f"{CODE}\n\nThis function adds two numbers.", CODE),  # no fences: chatter cut
        (f"Sure! Here it is:\n{CODE}", CODE),
        (f"{CODE}<end_of_turn>", CODE),
        (f"```python\n{CODE}\n```<|im_end|>", CODE),
        ("The code looks correct to me. Nothing to change.", None),
        ("", None),
        ("```\n\n```", None),
    ],
)
def test_extract_code(answer: str, code: str | None) -> None:
    assert extract_code(answer) == code


def test_fenced_blocks_in_order() -> None:
    assert fenced_blocks("```\na\n```\ntext\n```js\nb\n```") == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "closed"),
    [
        ("```python\nx = 1\n", False),
        ("```python\nx = 1\n```", True),
        ("no fence", False),
        ("Sure:\n```\nx\n```\nmore", True),
    ],
)
def test_first_block_closed(text: str, closed: bool) -> None:
    assert first_block_closed(text) is closed


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (CODE, True),
        ("x = compute(1)", True),
        ("This is an explanation of what happens.", False),
        ("", False),
    ],
)
def test_looks_like_code(text: str, code: bool) -> None:
    assert looks_like_code(text) is code


def test_strip_special_tokens() -> None:
    assert strip_special_tokens("a<|endoftext|>b<eos></s>") == "ab"
