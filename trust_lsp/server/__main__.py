"""`trust-lsp`: run the Trust language server (stdio by default; TCP or WebSocket with a token).

Start-up is kept fast: only pygls, lsprotocol and the server's own light modules load
before the server answers `initialize`; the configuration model, the HTTP client and the
backends load right after, and llama.cpp only when the embedded model is first used.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from collections.abc import Sequence

from trust_lsp import __version__
from trust_lsp.server.auth import TOKEN_ENV, TokenConfigError, load_token
from trust_lsp.server.logs import configure_logging

logger = logging.getLogger("trust_lsp.server")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="trust-lsp",
        description="Trust LSP: local-first AI completions, code actions and chat for any "
        "LSP editor. Speaks LSP on stdio unless --tcp or --ws is given.",
    )
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="use stdin/stdout (default)")
    transport.add_argument("--tcp", action="store_true", help="listen on a TCP port")
    transport.add_argument("--ws", action="store_true", help="listen for WebSocket clients")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=2087, help="port to listen on (2087; 0 picks a free one)"
    )
    parser.add_argument(
        "--token-file",
        help=f"file holding the token network clients must present (or set {TOKEN_ENV})",
    )
    parser.add_argument("--log-file", help="write the log here instead of stderr")
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: the server.log_level setting, info)",
    )
    parser.add_argument("--version", action="version", version=f"trust-lsp {__version__}")
    return parser.parse_args(argv)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `trust-lsp` and `python -m trust_lsp`."""
    args = parse_args(argv)
    network = args.tcp or args.ws
    token: str | None = None
    if network:
        try:
            token = load_token(args.token_file)
        except TokenConfigError as exc:
            print(f"trust-lsp: {exc}", file=sys.stderr)
            return 2
        if token is None:
            print(
                "trust-lsp: refusing to listen on the network without a token: pass "
                f"--token-file FILE or set {TOKEN_ENV} (clients send it in "
                "initializationOptions.token)",
                file=sys.stderr,
            )
            return 2
    configure_logging(args.log_level or "info", args.log_file, secrets=[token] if token else [])

    from trust_lsp.server.app import build_server
    from trust_lsp.server.services import CoreProvider

    provider = CoreProvider(log_level_from_config=args.log_level is None)
    if not network:
        from trust_lsp.server.transports import serve_stdio

        return serve_stdio(build_server(provider=provider))

    assert token is not None
    if not _is_loopback(args.host):
        logger.warning("listening on %s: reachable from other machines", args.host)
    from trust_lsp.server.transports import NetworkServer, Transport, announce

    kind: Transport = "tcp" if args.tcp else "ws"
    network_server = NetworkServer(
        kind,
        args.host,
        args.port,
        token,
        lambda shared: build_server(provider=shared, owns_core=False),
        provider,
    )
    try:
        return asyncio.run(network_server.serve(announce(kind)))
    except OSError as exc:
        print(f"trust-lsp: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
