"""JSON-RPC errors the server answers with (besides pygls' own)."""

from __future__ import annotations

from typing import Any

from pygls.exceptions import JsonRpcException

# LSP error codes (lsprotocol.types.LSPErrorCodes), spelled out to keep imports light.
REQUEST_FAILED = -32803
CONTENT_MODIFIED = -32801
REQUEST_CANCELLED = -32800


def request_failed(message: str, *, data: Any = None) -> JsonRpcException:
    """A request that was valid but could not be done (no backend, no code in an answer…)."""
    return JsonRpcException(message=message, code=REQUEST_FAILED, data=data)


def content_modified(message: str) -> JsonRpcException:
    """The document changed since the request was prepared."""
    return JsonRpcException(message=message, code=CONTENT_MODIFIED)
