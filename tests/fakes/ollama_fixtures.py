"""Fixtures: the Ollama test server (`tests/fakes/ollama_server.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.ollama_server import OllamaTestServer


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    """A fresh Ollama test server on a free loopback port (default models, no delays)."""
    with OllamaTestServer() as server:
        yield server
