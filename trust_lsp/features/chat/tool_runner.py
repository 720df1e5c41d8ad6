"""Chat with tools: the adapter between `ChatService` and `trust_lsp.tools.loop`.

Used by the language server (its host is the editor) and by `trust chat` (its host is the
terminal). Text deltas go to the chat's stream. Tool activity lines ("reading src/app.py",
a failed call's outcome) go into the same stream between the text, as an italic markdown
line of their own (`activity_line`), so every client shows the steps where they happened
and the stream still concatenates to the answer; each is also passed to `on_activity`
(the server writes it to `window/logMessage`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from trust_lsp.backends.base import TextDelta
from trust_lsp.core.types import GenerationRequest, Selected
from trust_lsp.features.chat.service import TurnProgress

if TYPE_CHECKING:
    from trust_lsp.config.settings import Settings
    from trust_lsp.core.generator import Generator
    from trust_lsp.tools.host import WorkspaceHost
    from trust_lsp.tools.registry import ToolRegistry


def activity_line(text: str, *, after: str) -> str:
    """A tool step as its own markdown paragraph, following the stream's last piece `after`."""
    lead = "" if not after or after.endswith("\n\n") else "\n" if after.endswith("\n") else "\n\n"
    return f"{lead}_▸ {text}_\n\n"


class LoopToolRunner:
    """Runs chat turns through `run_chat_turn` with one `WorkspaceHost`."""

    def __init__(
        self,
        generator: Generator,
        registry: ToolRegistry,
        settings: Callable[[], Settings],
        host: WorkspaceHost,
        *,
        on_activity: Callable[[str], None] = lambda text: None,
    ) -> None:
        self._generator = generator
        self._registry = registry
        self._settings = settings
        self._host = host
        self._on_activity = on_activity

    def enabled(self) -> bool:
        """Tools are offered when some are enabled and there is a workspace folder."""
        return bool(self._settings().tools.enabled) and bool(self._host.roots)

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
                progress.skipped = event.skipped
            elif isinstance(event, Activity):
                self._on_activity(event.text)
                if not isinstance(event, ToolActivity) or not event.ok:
                    last = progress.text[-1] if progress.text else ""
                    on_delta(activity_line(event.text, after=last))

        result = await run_chat_turn(
            self._generator, request, self._registry, self._host, on_event=on_event
        )
        progress.usage = result.usage
        progress.tool_calls.extend(result.tool_calls)
        if result.backend:
            progress.backend, progress.model, progress.cloud = (
                result.backend,
                result.model,
                result.cloud,
            )
