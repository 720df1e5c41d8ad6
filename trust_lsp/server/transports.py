"""Network transports (TCP, WebSocket) with token authentication.

Each connection gets its own server object (its own documents and sessions) over one
shared core (configuration and generator, so the models load once). One client is served
at a time: another connection is refused at `initialize` while a session is active. A
refused or dropped connection leaves the server listening; the `exit` notification of an
authenticated client ends the process, as LSP says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pygls.io_ import StdoutWriter, run_async, run_websocket

from trust_lsp.server.app import TrustLanguageServer
from trust_lsp.server.protocol import AuthPolicy
from trust_lsp.server.services import CoreProvider

logger = logging.getLogger(__name__)

Transport = Literal["tcp", "ws"]
# Documents arrive whole in didOpen: allow large WebSocket messages.
WS_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class _Sessions:
    active: TrustLanguageServer | None = None


class NetworkServer:
    """Accepts connections, authenticates them, and runs one server per connection."""

    def __init__(
        self,
        transport: Transport,
        host: str,
        port: int,
        token: str,
        make_server: Callable[[CoreProvider], TrustLanguageServer],
        provider: CoreProvider,
    ) -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self._token = token
        self._make_server = make_server
        self._provider = provider
        self._sessions = _Sessions()
        self._exit: asyncio.Future[int] | None = None

    def _prepare(self) -> TrustLanguageServer:
        server = self._make_server(self._provider)
        sessions = self._sessions

        def admit() -> str | None:
            if sessions.active is not None and sessions.active is not server:
                return "Another client is connected to this Trust server"
            return None

        def authenticated() -> None:
            sessions.active = server

        server.protocol.auth = AuthPolicy(self._token, admit=admit, on_authenticated=authenticated)
        server.protocol.on_exit = self._on_exit
        return server

    def _on_exit(self, code: int) -> None:
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(code)

    async def _finish(self, server: TrustLanguageServer) -> None:
        if self._sessions.active is server:
            self._sessions.active = None
        try:
            await server.close_services()
        except Exception:
            logger.exception("closing a connection's services failed")

    async def _tcp_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        logger.info("connection from %s", peer)
        server = self._prepare()
        server.protocol.set_writer(writer)
        try:
            await run_async(
                stop_event=threading.Event(),
                reader=reader,
                protocol=server.protocol,
                logger=logger,
                error_handler=server.report_server_error,
            )
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            logger.info("connection from %s lost: %s", peer, exc)
        finally:
            await self._finish(server)
            writer.close()
            logger.info("connection from %s closed", peer)

    async def _ws_connection(self, websocket: Any) -> None:
        server = self._prepare()
        try:
            await run_websocket(
                websocket=websocket,
                stop_event=threading.Event(),
                protocol=server.protocol,
                logger=logger,
                error_handler=server.report_server_error,
            )
        finally:
            await self._finish(server)

    async def serve(self, on_listening: Callable[[str, int], None] | None = None) -> int:
        """Listen until an authenticated client sends `exit` (or a signal); the exit code."""
        loop = asyncio.get_running_loop()
        self._exit = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            # Not possible off the main thread or on Windows: then signals end the process.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_exit, 0)
        listener: Any
        if self.transport == "tcp":
            listener = await asyncio.start_server(self._tcp_connection, self.host, self.port)
        else:
            from websockets.asyncio.server import serve

            listener = await serve(
                self._ws_connection, self.host, self.port, max_size=WS_MAX_MESSAGE_BYTES
            )
        sockname = next(iter(listener.sockets)).getsockname()
        host, port = sockname[0], sockname[1]
        logger.info("listening on %s://%s:%s", self.transport, host, port)
        if on_listening is not None:
            on_listening(host, port)
        try:
            code = await self._exit
        finally:
            listener.close()
            await self._provider.aclose()
        return code


async def _serve_stdio(server: TrustLanguageServer) -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    exit_code: asyncio.Future[int] = loop.create_future()

    def on_exit(code: int) -> None:
        if not exit_code.done():
            exit_code.set_result(code)

    server.protocol.on_exit = on_exit
    reading = asyncio.ensure_future(
        run_async(
            stop_event=threading.Event(),
            reader=reader,
            protocol=server.protocol,
            logger=logger,
            error_handler=server.report_server_error,
        )
    )
    await asyncio.wait([reading, exit_code], return_when=asyncio.FIRST_COMPLETED)
    if not exit_code.done():
        # The editor closed our stdin without `exit` (it went away): clean up and stop.
        logger.info("stdin closed: stopping")
        await server.close_services()
        return 1
    reading.cancel()
    return exit_code.result()


def serve_stdio(server: TrustLanguageServer) -> int:
    """Serve one editor on stdin/stdout; returns the exit code (0 after shutdown + exit).

    stdin is read by the event loop itself (pygls reads it through a thread, one hop per
    line: measurable on every request); if stdin cannot be watched by the loop (a regular
    file), pygls' reader is used.
    """
    try:
        return asyncio.run(_serve_stdio(server))
    except ValueError as exc:  # not a pipe, socket or character device
        logger.info("stdin cannot be read by the event loop (%s): using pygls' reader", exc)
        server.start_io()
        return 0
    except KeyboardInterrupt:
        return 130


def announce(transport: Transport) -> Callable[[str, int], None]:
    """Print the address on stderr (port 0 picks a free port: clients need to know it)."""

    def on_listening(host: str, port: int) -> None:
        scheme = "ws" if transport == "ws" else "tcp"
        print(f"trust-lsp listening on {scheme}://{host}:{port}", file=sys.stderr, flush=True)

    return on_listening
