"""The collaborators of a server: configuration, generator, completion engine, chat.

They are built after `initialize` has been answered, not before: the workspace root and
the client's settings are only known then, and importing the configuration model and the
HTTP client (~0.15 s) before answering would slow every editor's start-up. Requests that
arrive meanwhile wait for them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trust_lsp.config.store import ConfigIssue, ConfigStore
    from trust_lsp.core.generator import Generator
    from trust_lsp.features.chat.service import ChatService
    from trust_lsp.features.completion.engine import CompletionEngine

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Core:
    """What outlives one connection: the configuration and the generator (with its models)."""

    config: ConfigStore
    generator: Generator
    issues: list[ConfigIssue]


@dataclass(slots=True)
class Services:
    """What one editor connection uses."""

    config: ConfigStore
    generator: Generator
    engine: CompletionEngine
    chat: ChatService


class CoreProvider:
    """Builds the core on first use (lazily importing it) and hands it to each session.

    With `config` / `generator` given (tests, embedding) those are used as they are; the
    client's settings then only replace the CLIENT layer of that store. Without them the
    store is `load_config(workspace_root, client=…)` (user file, workspace file,
    environment, client) and the generator is built from it.
    """

    def __init__(
        self,
        config: ConfigStore | None = None,
        generator: Generator | None = None,
        *,
        env: Mapping[str, str] | None = None,
        log_level_from_config: bool = False,
    ) -> None:
        """`log_level_from_config`: follow the `server.log_level` setting (when the
        command line did not set a level)."""
        self._log_level_from_config = log_level_from_config
        self._config = config
        self._generator = generator
        self._owns_generator = generator is None
        self._env = env
        self._core: Core | None = None

    async def acquire(self, workspace_root: Path | None, client: Mapping[str, Any]) -> Core:
        """The core, with the CLIENT layer set to `client`; starts the generator."""
        from trust_lsp.config import Layer, load_config
        from trust_lsp.core.factory import build_generator

        if self._core is None:
            if self._config is None:
                env = os.environ if self._env is None else self._env
                config = load_config(workspace_root, env=env, client=dict(client))
                issues = list(config.issues)
            else:
                config = self._config
                issues = [i for i in config.issues if i.layer != Layer.CLIENT]
                issues += config.set_layer(Layer.CLIENT, dict(client))
            generator = self._generator or build_generator(config)
            self._core = Core(config, generator, issues)
            if self._log_level_from_config:
                _set_log_level(config.settings.server.log_level)
                config.subscribe("server.log_level", lambda _old, new: _set_log_level(new))
        else:
            # A new connection (network transports): its settings replace the last one's.
            self._core.issues = self._core.config.set_layer(Layer.CLIENT, dict(client))
        await self._core.generator.start()
        return self._core

    async def aclose(self) -> None:
        """Close the generator if this provider built it."""
        if self._core is not None and self._owns_generator:
            await self._core.generator.aclose()


def _set_log_level(level: str) -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    # pygls and httpx log every message at INFO: keep them quiet unless debugging.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("pygls", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(quiet)
