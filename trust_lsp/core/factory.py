"""Build the backends and the generator from a configuration store.

Backends get their settings as zero-arg callables reading the store, so a configuration
change applies to their next request. Backend modules are imported here, inside the
functions, to keep them (and their HTTP / llama.cpp dependencies) off the import path of
code that only needs the core's types.
"""

from __future__ import annotations

from collections.abc import Mapping

from trust_lsp.backends.base import Backend
from trust_lsp.core.config_source import ConfigSource
from trust_lsp.core.generator import Generator
from trust_lsp.core.metrics import Metrics


def build_backends(config: ConfigSource) -> dict[str, Backend]:
    """The three backends, named as in `fallback.order`: ollama, local, cloud.

    Building one contacts nothing (the privacy gate decides later what may be contacted).
    """
    from trust_lsp.backends.local import LocalBackend
    from trust_lsp.backends.ollama import OllamaBackend
    from trust_lsp.backends.openai import OpenAIBackend

    return {
        "ollama": OllamaBackend(lambda: config.settings.backends.ollama),
        "local": LocalBackend(lambda: config.settings.backends.local),
        "cloud": OpenAIBackend(lambda: config.settings.backends.cloud),
    }


def build_generator(
    config: ConfigSource,
    backends: Mapping[str, Backend] | None = None,
    *,
    metrics: Metrics | None = None,
) -> Generator:
    """A generator over `backends` (default: `build_backends(config)`). Call `start()` next."""
    return Generator(
        config, backends if backends is not None else build_backends(config), metrics=metrics
    )
