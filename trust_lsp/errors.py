"""One exception tree for all of Trust LSP.

Backend-specific errors (httpx, llama.cpp, HTTP status codes, `{"error": …}` lines) are
mapped to this tree at the backend boundary and nowhere else. Everything above the backends
(the core, the features, the server, the CLI) only ever sees these classes.

    TrustError                      message, recoverable, backend, model
    ├── BackendConnectionError      cannot reach the server (refused, DNS, reset)   recoverable
    ├── ModelNotFoundError          the backend does not have the model (404)      recoverable
    ├── BackendTimeoutError         connect/read/total time limit exceeded         recoverable
    ├── ResourceError               busy (503), out of memory, cannot load model   recoverable
    ├── RateLimitError              429; carries retry_after                       recoverable
    ├── InvalidResponseError        the backend answered garbage / broke protocol  recoverable
    ├── AuthenticationError         401/403, missing API key                       not recoverable
    ├── PrivacyError                the request would need a backend the privacy
    │                               mode forbids                                    not recoverable
    ├── NoBackendAvailableError     every allowed backend failed or was skipped;
    │                               carries the attempts                            not recoverable
    ├── ValidationError             invalid input: config, params, tool arguments   not recoverable
    ├── ToolExecutionError          a tool failed or timed out                      not recoverable
    ├── RequestCancelledError       the caller cancelled the request                not recoverable
    └── UnknownError                anything else (a bug or an unmapped condition)  not recoverable

"Recoverable" means: the same request may succeed on another backend (or on this one after a
pull or a wait), so the fallback policy may try the next backend. It says nothing about
whether output already reached the caller: the core never falls back after that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Attempt",
    "AuthenticationError",
    "BackendConnectionError",
    "BackendTimeoutError",
    "InvalidResponseError",
    "ModelNotFoundError",
    "NoBackendAvailableError",
    "PrivacyError",
    "RateLimitError",
    "RequestCancelledError",
    "ResourceError",
    "ToolExecutionError",
    "TrustError",
    "UnknownError",
    "ValidationError",
]


class TrustError(Exception):
    """Base class of every error Trust LSP raises on purpose.

    `message` is written for the user: it says what happened and what to do about it.
    """

    recoverable: bool = False
    kind: str = "unknown"

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        model: str | None = None,
        recoverable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.backend = backend
        self.model = model
        if recoverable is not None:
            self.recoverable = recoverable

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly summary (for LSP error data, `--json` output and metrics)."""
        return {
            "type": self.kind,
            "message": self.message,
            "recoverable": self.recoverable,
            "backend": self.backend,
            "model": self.model,
        }


class BackendConnectionError(TrustError):
    recoverable = True
    kind = "connection"


class ModelNotFoundError(TrustError):
    recoverable = True
    kind = "model_not_found"


class BackendTimeoutError(TrustError):
    recoverable = True
    kind = "timeout"


class ResourceError(TrustError):
    recoverable = True
    kind = "resource"


class RateLimitError(TrustError):
    recoverable = True
    kind = "rate_limit"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        backend: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, backend=backend, model=model)
        self.retry_after = retry_after


class InvalidResponseError(TrustError):
    recoverable = True
    kind = "invalid_response"


class AuthenticationError(TrustError):
    kind = "authentication"


class PrivacyError(TrustError):
    kind = "privacy"


@dataclass(frozen=True)
class Attempt:
    """One backend the core considered for a request, and why it did not answer."""

    backend: str
    reason: str
    error: str | None = None


class NoBackendAvailableError(TrustError):
    kind = "no_backend"

    def __init__(self, message: str, *, attempts: Sequence[Attempt] = ()) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data["attempts"] = [
            {"backend": a.backend, "reason": a.reason, "error": a.error} for a in self.attempts
        ]
        return data


class ValidationError(TrustError):
    kind = "validation"


class ToolExecutionError(TrustError):
    kind = "tool_execution"


class RequestCancelledError(TrustError):
    kind = "cancelled"


class UnknownError(TrustError):
    kind = "unknown"
