"""What the core needs from the configuration: the effective settings and change watchers.

`trust_lsp.config.store.ConfigStore` satisfies this protocol; the core depends on the
protocol only, so its unit tests can hand it any object with the same two members.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from trust_lsp.config.settings import Settings


class ConfigSource(Protocol):
    @property
    def settings(self) -> Settings:
        """The effective, validated settings (read once per request)."""
        ...

    def subscribe(self, key: str, callback: Callable[[Any, Any], None]) -> Callable[[], None]:
        """Call `callback(old, new)` when the effective value of `key` changes."""
        ...
