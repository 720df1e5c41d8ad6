"""Fixtures for the completion engine's tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.completion.fakes import ManualClock
from trust_lsp.config.settings import Settings


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_settings() -> Callable[..., Callable[[], Settings]]:
    """settings(**completion_overrides) → a zero-arg settings callable."""

    def build(**completion: Any) -> Callable[[], Settings]:
        settings = Settings.model_validate({"completion": completion})
        return lambda: settings

    return build
