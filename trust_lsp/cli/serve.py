"""`trust serve`: run the OpenAI-compatible API with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
from pathlib import Path

from trust_lsp.config import ConfigStore
from trust_lsp.config.loader import user_config_path

from .runtime import open_generator


def default_token_path() -> Path:
    return user_config_path().parent / "api-token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(store: ConfigStore, *, host: str, port: int, token_file: Path | None) -> int:
    """Serve until interrupted. The token is printed once, when it is created."""
    import os

    import uvicorn

    from .api import ApiServer, load_or_create_token

    env_token = os.environ.get("TRUST_API_TOKEN", "").strip()
    if env_token:
        token, created, where = env_token, False, "$TRUST_API_TOKEN"
    else:
        path = token_file or default_token_path()
        token, created = load_or_create_token(path)
        where = str(path)
    if created:
        print(f"trust: created an API token in {where} (mode 0600):\n  {token}", file=sys.stderr)
    else:
        print(f"trust: API token from {where}", file=sys.stderr)
    if not is_loopback(host):
        print(
            f"trust: warning: listening on {host}, not loopback: anyone who can reach it and "
            "has the token can use your models",
            file=sys.stderr,
        )

    async def main() -> None:
        async with open_generator(store) as generator:
            app = ApiServer(store, generator, token).app()
            config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
            server = uvicorn.Server(config)
            print(
                f"trust: serving the OpenAI-compatible API on http://{host}:{port}/v1",
                file=sys.stderr,
                flush=True,
            )
            await server.serve()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0
