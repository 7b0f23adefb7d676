"""What both processes' `/metrics` and `/healthz` endpoints share; no torch, no aiogram.

Every metric lives in prometheus_client's default registry, so `/metrics` also carries the
process metrics (CPU, memory, open files) the client library collects on Linux. `/healthz`
answers 200 with "ok" when every readiness check passes and 503 listing those that fail; a
container healthcheck (`python -m common.healthcheck`) reads it.
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Final

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

NAMESPACE: Final = "imagine"
METRICS_PATH: Final = "/metrics"
HEALTH_PATH: Final = "/healthz"

# Names of the readiness checks that failed; empty when the process is ready.
Problems = list[str]
# Metrics are not worth stopping a process for; its healthcheck reports the endpoint missing.
PORT_TAKEN: Final = "metrics endpoint off: cannot listen on port %d (%s)"
LISTENING: Final = "metrics on http://%s:%d" + METRICS_PATH


def exposition() -> tuple[bytes, str]:
    """The body and content type of a `/metrics` answer."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def health_answer(problems: Problems) -> tuple[int, str]:
    """Status and text body of a `/healthz` answer."""
    if not problems:
        return HTTPStatus.OK, "ok\n"
    return HTTPStatus.SERVICE_UNAVAILABLE, "".join(f"not ready: {p}\n" for p in problems)


class _Handler(BaseHTTPRequestHandler):
    server: _MetricsServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == METRICS_PATH:
            body, content_type = self.server.render()
            status = int(HTTPStatus.OK)
        elif path == HEALTH_PATH:
            status, text = health_answer(self.server.check())
            body, content_type = text.encode(), "text/plain; charset=utf-8"
        else:
            status, body, content_type = HTTPStatus.NOT_FOUND, b"not found\n", "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # A scrape every few seconds would drown the process's own log.
        return


class _MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        check: Callable[[], Problems],
        render: Callable[[], tuple[bytes, str]],
    ) -> None:
        super().__init__(address, _Handler)
        self.check = check
        self.render = render


def serve_in_thread(
    host: str,
    port: int,
    check: Callable[[], Problems],
    render: Callable[[], tuple[bytes, str]] = exposition,
) -> ThreadingHTTPServer:
    """Serve `/metrics` and `/healthz` from daemon threads, for a process that is not asyncio.
    `render` makes the `/metrics` body (this process's registry unless given).

    Raises OSError when the port is taken; the caller decides whether that is fatal.
    """
    server = _MetricsServer((host, port), check, render)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    log.info(LISTENING, host, server.server_port)
    return server
