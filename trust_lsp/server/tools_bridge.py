"""Chat with tools in the language server: the editor is the tools' host."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from trust_lsp.features.chat.service import ToolTurnRunner
from trust_lsp.features.chat.tool_runner import LoopToolRunner

if TYPE_CHECKING:
    from trust_lsp.config.settings import Settings
    from trust_lsp.core.generator import Generator
    from trust_lsp.server.app import TrustLanguageServer

logger = logging.getLogger(__name__)


def tool_runner_for(
    server: TrustLanguageServer, generator: Generator, settings: Callable[[], Settings]
) -> ToolTurnRunner | None:
    """The tool runner, or None when the tools package cannot be loaded."""
    try:
        from trust_lsp.tools.workspace import build_registry
    except ImportError as exc:  # a broken install must not break plain chat
        logger.warning("chat tools unavailable: %s", exc)
        return None
    registry = build_registry(settings, metrics=generator.metrics)
    return LoopToolRunner(
        generator, registry, settings, server.host, on_activity=server.log_activity
    )
