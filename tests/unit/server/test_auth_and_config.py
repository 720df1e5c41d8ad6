"""Token handling, log redaction and settings from LSP messages (pure)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from trust_lsp.server import config_sync
from trust_lsp.server.auth import (
    TokenConfigError,
    load_token,
    presented_token,
    strip_token,
    token_matches,
)
from trust_lsp.server.logs import RedactingFilter


@pytest.mark.parametrize(
    ("presented", "ok"),
    [("secret", True), ("Secret", False), ("", False), (None, False), (42, False)],
)
def test_token_matches(presented: object, ok: bool) -> None:
    assert token_matches("secret", presented) is ok


def test_load_token_prefers_the_file(tmp_path: Path) -> None:
    token_file = tmp_path / "t"
    token_file.write_text(" from-file \n")
    assert load_token(str(token_file), {"TRUST_LSP_TOKEN": "env"}) == "from-file"
    assert load_token(None, {"TRUST_LSP_TOKEN": " env "}) == "env"
    assert load_token(None, {}) is None


def test_load_token_rejects_empty_or_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(TokenConfigError):
        load_token(str(empty), {})
    with pytest.raises(TokenConfigError):
        load_token(str(tmp_path / "missing"), {})


def test_token_is_found_and_stripped_at_both_levels() -> None:
    assert presented_token({"token": "a"}) == "a"
    assert presented_token({"trust": {"token": "b"}}) == "b"
    assert presented_token(["token"]) is None
    assert strip_token({"token": "a", "trust": {"token": "b", "chat": {}}, "x": 1}) == {
        "trust": {"chat": {}},
        "x": 1,
    }


def test_redacting_filter_hides_the_secret() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "params %s", ("tok=abc123",), None)
    RedactingFilter(["abc123"]).filter(record)
    assert record.getMessage() == "params tok=***"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"completion": {"max_tokens": 5}, "token": "x"}, {"completion": {"max_tokens": 5}}),
        ({"trust": {"chat": {"max_tokens": 1}}, "other": 1}, {"chat": {"max_tokens": 1}}),
        (None, {}),
        ("nonsense", {}),
    ],
)
def test_settings_from_initialization_options(options: object, expected: dict[str, Any]) -> None:
    assert config_sync.settings_from_initialization_options(options) == expected


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ([{"chat": {"max_tokens": 3}}], {"chat": {"max_tokens": 3}}),
        ([{"trust": {"chat": {}}}], {"chat": {}}),
        ([None], None),
        ([], None),
        ("bad", None),
    ],
)
def test_settings_from_configuration_result(
    result: object, expected: dict[str, Any] | None
) -> None:
    assert config_sync.settings_from_configuration_result(result) == expected


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"trust": {"chat": {}}}, {"chat": {}}),
        ({"python": {}}, None),
        (None, None),
    ],
)
def test_settings_from_did_change(settings: object, expected: dict[str, Any] | None) -> None:
    assert config_sync.settings_from_did_change(settings) == expected


def test_merge_settings_is_deep() -> None:
    base = {"backends": {"ollama": {"url": "u", "chat_model": "a"}}, "chat": {"max_tokens": 1}}
    over = {"backends": {"ollama": {"chat_model": "b"}}}
    assert config_sync.merge_settings(base, over) == {
        "backends": {"ollama": {"url": "u", "chat_model": "b"}},
        "chat": {"max_tokens": 1},
    }
