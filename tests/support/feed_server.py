"""A scriptable local HTTP server for the feeds connector tests.

Stdlib only: a ThreadingHTTPServer on 127.0.0.1 (or another loopback address),
port 0 (HTTPS when given an SSL context). A route maps a path (query ignored)
to a `Reply` or to a function of the `Request` returning one.
Every request is recorded, so tests can check the headers the client sent.

    with FeedServer() as server:
        server.route("/feed.xml", Reply(body=RSS, content_type="application/rss+xml"))
        fetch(FeedSource(server.url("/feed.xml"), "press"))
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Reply:
    """What the server answers.

    `body` is bytes, or a function returning an iterable of chunks (a generator
    streams a huge answer without allocating it; it is sent chunked unless
    `content_length` is given). `delay` sleeps before answering; `trickle`
    sends the headers, then the body one byte (or chunk) at a time with this
    pause between them.
    """

    status: int = 200
    body: bytes | Callable[[], Iterable[bytes]] = b""
    content_type: str | None = "application/xml"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    trickle: float = 0.0
    content_length: int | None = None
    gzip: bool = False


Handler = Reply | Callable[[Request], Reply]


def static(
    body: bytes,
    content_type: str = "application/xml",
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    gzip: bool = False,
) -> Callable[[Request], Reply]:
    """A resource that answers conditional GETs with 304 like a real server."""

    def handler(request: Request) -> Reply:
        headers: dict[str, str] = {}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = last_modified
        inm = request.header("If-None-Match")
        ims = request.header("If-Modified-Since")
        if (etag and inm == etag) or (not inm and last_modified and ims == last_modified):
            return Reply(status=304, headers=headers, content_type=None)
        return Reply(body=body, content_type=content_type, headers=headers, gzip=gzip)

    return handler


def redirect(location: str, status: int = 301) -> Reply:
    return Reply(status=status, headers={"Location": location}, content_type=None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FeedServer


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        request = Request(
            method="GET",
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        owner.record(request)
        handler = owner.handler_for(parts.path)
        reply = Reply(status=404, body=b"not found", content_type="text/plain")
        if handler is not None:
            reply = handler(request) if callable(handler) else handler
        # the client may give up (size cap, timeout): expected in tests
        with contextlib.suppress(ConnectionError, TimeoutError):
            self._send(reply, owner.stopping)
        self.close_connection = True

    def _send(self, reply: Reply, stopping: threading.Event) -> None:
        if reply.delay and stopping.wait(reply.delay):
            return
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        chunks: Iterator[bytes]
        if isinstance(reply.body, bytes):
            data = gzip.compress(reply.body) if reply.gzip else reply.body
            if reply.gzip:
                self.send_header("Content-Encoding", "gzip")
            length = reply.content_length if reply.content_length is not None else len(data)
            if reply.status in (204, 304):
                self.end_headers()
                return
            self.send_header("Content-Length", str(length))
            pieces = [data[i : i + 1] for i in range(len(data))] if reply.trickle else [data]
            chunks = iter(pieces)
            chunked = False
        else:
            chunks = iter(reply.body())
            if reply.content_length is not None:
                self.send_header("Content-Length", str(reply.content_length))
                chunked = False
            else:
                self.send_header("Transfer-Encoding", "chunked")
                chunked = True
        self.end_headers()
        self.wfile.flush()
        for chunk in chunks:
            if stopping.is_set():
                return
            if reply.trickle and stopping.wait(reply.trickle):
                return
            if not chunk:
                continue
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.wfile.write(chunk)
            self.wfile.flush()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()


class FeedServer:
    """A local HTTP server with scriptable routes; use as a context manager."""

    def __init__(self, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._httpd = _Server((host, 0), _RequestHandler)
        self._httpd.owner = self
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> str:
        """Serve `handler` at `path`; returns the full URL."""
        with self._lock:
            self._routes[path] = handler
        return self.url(path)

    def routes(self, mapping: Mapping[str, Handler]) -> None:
        for path, handler in mapping.items():
            self.route(path, handler)

    def handler_for(self, path: str) -> Handler | None:
        with self._lock:
            return self._routes.get(path)

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
