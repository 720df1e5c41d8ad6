"""Token authentication for the network transports (TCP and WebSocket).

stdio is private to the editor that spawned the server; a TCP or WebSocket port is not
(any local process can connect), so those transports refuse to start without a token and
every connection must present it in `initializationOptions.token` before anything else.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

TOKEN_ENV = "TRUST_LSP_TOKEN"


class TokenConfigError(Exception):
    """The token file is missing, unreadable or empty."""


def load_token(token_file: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The configured token: `--token-file` first, then `TRUST_LSP_TOKEN`; None if neither.

    Surrounding whitespace (a trailing newline in the file) is not part of the token.
    """
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenConfigError(f"cannot read the token file {token_file}: {exc}") from exc
        if not token:
            raise TokenConfigError(f"the token file {token_file} is empty")
        return token
    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV, "").strip()
    return token or None


def token_matches(expected: str, presented: object) -> bool:
    """Constant-time comparison; anything that is not a non-empty string is refused."""
    if not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8"))


def presented_token(initialization_options: object) -> object:
    """The token a client sent: `initializationOptions.token` (or `.trust.token`)."""
    if not isinstance(initialization_options, Mapping):
        return None
    if "token" in initialization_options:
        return initialization_options["token"]
    nested = initialization_options.get("trust")
    if isinstance(nested, Mapping):
        return nested.get("token")
    return None


def strip_token(initialization_options: object) -> object:
    """The options without the token (top level and under `trust`), for logging and config."""
    if not isinstance(initialization_options, Mapping):
        return initialization_options
    options = {k: v for k, v in initialization_options.items() if k != "token"}
    nested = options.get("trust")
    if isinstance(nested, Mapping) and "token" in nested:
        options["trust"] = {k: v for k, v in nested.items() if k != "token"}
    return options
