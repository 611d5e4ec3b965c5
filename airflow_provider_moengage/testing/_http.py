"""The HTTP side of the emulator: a threaded server that hands each request to one function."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

#: How long a connection-reset response waits between the partial body and the reset, so that
#: the client has read the headers and the reset lands mid-body.
_RESET_PAUSE = 0.05


@dataclass(frozen=True)
class Incoming:
    """
    A request as the emulator sees it.

    :param method: the HTTP method.
    :param path: the path without the query string.
    :param headers: the headers, names lower-cased.
    :param body: the raw body.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Any:
        """The body parsed as JSON, or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Response:
    """
    What to send back, and how.

    :param status: the HTTP status.
    :param body: the body bytes.
    :param headers: the headers (Content-Length is added when sending).
    :param payload: the parsed body, when it is JSON the emulator built.
    :param delay: real seconds to wait before sending.
    :param reset: send part of the body, then reset the connection.
    :param ratelimit_headers: whether the emulator's ``x-ratelimit-*`` headers belong on it.
    """

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    payload: Any = None
    delay: float = 0
    reset: bool = False
    ratelimit_headers: bool = True


class Server(ThreadingHTTPServer):
    """The HTTP server, which also tracks open connections so that ``stop()`` can close them."""

    daemon_threads = True
    # Many triggers start their fetches in the same millisecond; the default backlog of 5 drops
    # connection attempts, which then wait a second to retry.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], respond: Callable[[Incoming], Response]) -> None:
        self.respond = respond
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._connections_lock:
            if is_open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Print errors, except a client leaving mid-response (timeouts and resets do that)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut kept-alive connections, so their threads end and clients see the server gone."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    # Headers and body go out in separate writes; with Nagle on, each response waits for a
    # delayed ACK (about 40 ms), which would make a test suite of many requests crawl.
    disable_nagle_algorithm = True
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, is_open=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, is_open=False)

    def do_POST(self) -> None:
        incoming = Incoming(
            method=self.command,
            path=urlsplit(self.path).path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self._read_body(),
        )
        try:
            response = self.server.respond(incoming)
        except Exception:
            # A bug, or a test's mutate callable failing: answer, so the client does not hang, then
            # let the server print the traceback.
            self.close_connection = True
            headers = {"Content-Type": "text/plain", "Connection": "close"}
            self._send(Response(500, traceback.format_exc().encode(), headers))
            raise
        if response.delay:
            time.sleep(response.delay)
        if response.reset:
            self._send_cut(response)
        else:
            self._send(response)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read ``emulator.requests``, not the log."""

    def _send(self, response: Response) -> None:
        self._send_headers(response, len(response.body))
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _send_headers(self, response: Response, content_length: int) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(content_length))
        self.end_headers()

    def _send_cut(self, response: Response) -> None:
        """Promise more body than is sent, send half, then reset the connection (RST, not FIN)."""
        self._send_headers(response, len(response.body) + 1024)
        self.wfile.write(response.body[: len(response.body) // 2])
        time.sleep(_RESET_PAUSE)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
