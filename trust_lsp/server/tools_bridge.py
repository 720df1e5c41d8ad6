"""Chat with tools: the adapter between the chat service and `trust_lsp.tools.loop`.

Text deltas go to the chat's stream (and so to `$/progress`). Tool activity lines ("reading
src/app.py", a failed call's outcome) go into the same stream between the text, as an
italic markdown line of their own (`activity_line`), so every client shows the steps where
they happened and the reports still concatenate to the result; they are also written to
`window/logMessage` for the editor's server log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from trust_lsp.backends.base import TextDelta
from trust_lsp.core.types import GenerationRequest, Selected
from trust_lsp.features.chat.service import ToolTurnRunner, TurnProgress

if TYPE_CHECKING:
    from trust_lsp.config.settings import Settings
    from trust_lsp.core.generator import Generator
    from trust_lsp.server.app import TrustLanguageServer
    from trust_lsp.tools.registry import ToolRegistry

logger = logging.getLogger(__name__)


def activity_line(text: str, *, after: str) -> str:
    """A tool step as its own markdown paragraph, following the stream's last piece `after`."""
    lead = "" if not after or after.endswith("\n\n") else "\n" if after.endswith("\n") else "\n\n"
    return f"{lead}_▸ {text}_\n\n"


class LoopToolRunner:
    """Runs chat turns through `run_chat_turn` with this connection's `WorkspaceHost`."""

    def __init__(
        self,
        server: TrustLanguageServer,
        generator: Generator,
        registry: ToolRegistry,
        settings: Callable[[], Settings],
    ) -> None:
        self._server = server
        self._generator = generator
        self._registry = registry
        self._settings = settings

    def enabled(self) -> bool:
        """Tools are offered when some are enabled and the editor has a workspace folder."""
        return bool(self._settings().tools.enabled) and bool(self._server.workspace_roots())

    async def __call__(
        self,
        request: GenerationRequest,
        progress: TurnProgress,
        on_delta: Callable[[str], None],
    ) -> None:
        from trust_lsp.tools.loop import Activity, ToolActivity, run_chat_turn

        def on_event(event: object) -> None:
            if isinstance(event, TextDelta):
                if event.text:
                    on_delta(event.text)
            elif isinstance(event, Selected):
                progress.backend, progress.model, progress.cloud = (
                    event.backend,
                    event.model,
                    event.cloud,
                )
            elif isinstance(event, Activity):
                self._server.log_activity(event.text)
                if not isinstance(event, ToolActivity) or not event.ok:
                    last = progress.text[-1] if progress.text else ""
                    on_delta(activity_line(event.text, after=last))

        result = await run_chat_turn(
            self._generator, request, self._registry, self._server.host, on_event=on_event
        )
        progress.usage = result.usage
        progress.tool_calls.extend(result.tool_calls)
        if result.backend:
            progress.backend, progress.model, progress.cloud = (
                result.backend,
                result.model,
                result.cloud,
            )


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
    return LoopToolRunner(server, generator, registry, settings)
