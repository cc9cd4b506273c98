"""The HTTP side port: health probes and Prometheus metrics.

pyarrow Flight servers answer the gRPC health check UNIMPLEMENTED, so
Kubernetes probes and Prometheus scrapes get a small HTTP server beside the
Flight port: ``/healthz`` (the process is alive), ``/readyz`` (ready for work)
and ``/metrics`` (Prometheus text). Metrics are read from the server's own
state at scrape time, so there is no second copy of any counter.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from prometheus_client.metrics_core import Metric

    # (path with its query string, Authorization header) -> (status, body, content type), or None: 404
    Routes = Callable[[str, str | None], tuple[int, bytes, str] | None]

log = logging.getLogger("ballista_flight.http")


class _Collector:
    """Adapts a function returning metric families to prometheus_client's collector protocol."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


class HealthServer:
    """Serves /healthz, /readyz and /metrics on ``host:port`` from a daemon thread.

    ``routes`` answers any other path (the scheduler's web page and its JSON API).
    """

    def __init__(
        self,
        host: str,
        port: int,
        ready: Callable[[], bool],
        collect: Callable[[], Iterable[Metric]],
        routes: Routes | None = None,
    ) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(collect))  # type: ignore[arg-type]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._reply(200, b"ok\n", "text/plain")
                elif path == "/readyz":
                    ok = ready()
                    self._reply(200 if ok else 503, b"ready\n" if ok else b"not ready\n", "text/plain")
                elif path == "/metrics":
                    self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                else:
                    answer = (
                        routes(self.path, self.headers.get("Authorization")) if routes is not None else None
                    )
                    if answer is None:
                        self._reply(404, b"not found\n", "text/plain")
                    else:
                        self._reply(*answer)

            def _reply(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                if code == 401:  # a browser then asks for the user name and password
                    self.send_header("WWW-Authenticate", 'Basic realm="ballista-flight"')
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug(format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="http")
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
