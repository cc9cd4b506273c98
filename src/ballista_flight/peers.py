"""Flight clients to the other processes of a cluster, shared by threads.

Both the scheduler (dispatching tasks) and executors (fetching shuffle data
from each other) keep one client per peer instead of reconnecting per call.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pyarrow import flight

if TYPE_CHECKING:
    from ballista_flight.security import Credentials


class ClientPool:
    """One Flight client per peer URI, shared by threads."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()
        self._clients: dict[str, flight.FlightClient] = {}

    def get(self, uri: str) -> flight.FlightClient:
        """The client for ``uri``, connecting lazily."""
        with self._lock:
            client = self._clients.get(uri)
            if client is None:
                client = self._credentials.client(uri) if self._credentials else flight.FlightClient(uri)
                self._clients[uri] = client
            return client

    def drop(self, uri: str) -> None:
        """Forget a client whose peer failed."""
        with self._lock:
            client = self._clients.pop(uri, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        """Close every client."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
