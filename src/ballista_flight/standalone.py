"""An embedded cluster: one scheduler and N executor processes on loopback."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pyarrow import flight

from ballista_flight.security import Credentials

if TYPE_CHECKING:
    from types import TracebackType

    from ballista_flight.tls import TlsFiles

log = logging.getLogger("ballista_flight.standalone")


def free_port() -> int:
    """A loopback port free right now (for the processes of a local cluster, and tests)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StandaloneCluster:
    """Starts and stops a scheduler and executors as child processes.

    The children end when the thread that started them ends (Linux parent-death
    signal), so a killed parent leaves nothing behind: start a cluster from a
    thread that lives as long as the cluster should (normally the main thread).
    """

    def __init__(
        self,
        executors: int = 2,
        port: int = 0,
        shuffle: str = "memory",
        slots: int | None = None,
        memory_limit: str | None = None,
        work_dir: Path | None = None,
        extra_scheduler_args: list[str] | None = None,
        extra_executor_args: list[str] | None = None,
        log_level: str = "warning",
        auth_users: str = "",
        auth_tokens: str = "",
        tls: bool = False,
        tls_client_auth: bool = False,
        log_format: str = "text",
        env: dict[str, str] | None = None,
    ) -> None:
        self.n_executors = executors
        self.port = port or free_port()
        self.shuffle = shuffle
        self.slots = slots
        self.memory_limit = memory_limit
        self._own_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="ballista-flight-"))
        self.extra_scheduler_args = extra_scheduler_args or []
        self.extra_executor_args = extra_executor_args or []
        self.log_level = log_level
        self.log_format = log_format
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.executors: list[subprocess.Popen[bytes]] = []
        # Security: settings reach the children through the environment, never argv (ps).
        self._env: dict[str, str] = dict(env or {})
        self.secret = ""
        if auth_users or auth_tokens:
            self.secret = secrets.token_urlsafe(32)
            self._env.update(
                BALLISTA_FLIGHT_AUTH_ENABLED="true",
                BALLISTA_FLIGHT_CLUSTER_SECRET=self.secret,
                BALLISTA_FLIGHT_AUTH_USERS=auth_users,
                BALLISTA_FLIGHT_AUTH_TOKENS=auth_tokens,
            )
        self.tls_files: TlsFiles | None = None
        if tls or tls_client_auth:
            from ballista_flight.tls import generate

            self.tls_files = generate(self.work_dir / "tls")
            self._env.update(
                BALLISTA_FLIGHT_TLS_CERT=str(self.tls_files.cert),
                BALLISTA_FLIGHT_TLS_KEY=str(self.tls_files.key),
                BALLISTA_FLIGHT_TLS_CA=str(self.tls_files.ca),
                BALLISTA_FLIGHT_TLS_CLIENT_AUTH=str(tls_client_auth).lower(),
            )
        self._mtls = tls_client_auth

    @property
    def uri(self) -> str:
        """Where clients connect."""
        scheme = "grpc+tls" if self.tls_files else "grpc"
        return f"{scheme}://127.0.0.1:{self.port}"

    def credentials(self) -> Credentials:
        """What the cluster's own processes present: its CA, client certificate and a signed token."""
        files = self.tls_files
        return Credentials(
            secret=self.secret.encode() if self.secret else None,
            tls_root_certs=files.ca.read_bytes() if files else None,
            cert_chain=files.client_cert.read_bytes() if files and self._mtls else None,
            private_key=files.client_key.read_bytes() if files and self._mtls else None,
        )

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable, "-m", "ballista_flight",
            "--log-level", self.log_level, "--log-format", self.log_format, *args,
        ]  # fmt: skip
        # The child asks the kernel to end it with us (see cli._die_with_parent).
        env = dict(os.environ, BALLISTA_FLIGHT_PARENT_PID=str(os.getpid()), **self._env)
        return subprocess.Popen(cmd, env=env, start_new_session=True)

    def start(self, timeout: float = 60.0) -> None:
        """Start every process and wait until all executors registered."""
        self.scheduler = self._spawn(
            ["scheduler", "--host", "127.0.0.1", "--port", str(self.port), *self.extra_scheduler_args]
        )
        self._wait_scheduler(timeout)
        for i in range(self.n_executors):
            self.executors.append(self._spawn(self._executor_args(i)))
        self.wait_ready(timeout)

    def _executor_args(self, i: int) -> list[str]:
        args = [
            "executor", "--scheduler", self.uri, "--host", "127.0.0.1", "--port", "0",
            "--shuffle", self.shuffle, "--work-dir", str(self.work_dir),
            "--executor-id", f"executor-{i}",
        ]  # fmt: skip
        if self.slots:
            args += ["--slots", str(self.slots)]
        if self.memory_limit:
            args += ["--memory-limit", self.memory_limit]
        return args + self.extra_executor_args

    def restart_executor(self, i: int, timeout: float = 60.0) -> subprocess.Popen[bytes]:
        """Start executor ``i`` again (same id and settings) after it died; wait until it registered."""
        old = self.executors[i]
        if old.poll() is None:
            msg = f"executor {i} is still running"
            raise RuntimeError(msg)
        self.executors[i] = self._spawn(self._executor_args(i))
        self._wait_answering(f"executor-{i}", timeout)
        return self.executors[i]

    def _wait_answering(self, executor_id: str, timeout: float) -> None:
        """Until the scheduler lists ``executor_id`` at a URI where it answers."""
        import json

        deadline = time.monotonic() + timeout
        options = flight.FlightCallOptions(timeout=1.0)
        with flight.FlightClient(self.uri) as client:
            while time.monotonic() < deadline:
                self._check_alive()
                try:
                    listed = json.loads(next(iter(client.do_action("list_executors"))).body.to_pybytes())
                    for info in listed:
                        if info["executor_id"] == executor_id:
                            with flight.FlightClient(info["uri"]) as executor:
                                list(executor.do_action("stats", options))
                            return
                except flight.FlightError:
                    pass
                time.sleep(0.1)
        msg = f"{executor_id} did not rejoin within {timeout:.0f}s"
        raise TimeoutError(msg)

    def _wait_scheduler(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.credentials().client(self.uri) as client:
            while time.monotonic() < deadline:
                self._check_alive()
                try:
                    list(client.do_action("list_executors"))
                    return
                except flight.FlightError:
                    time.sleep(0.05)
        self.stop()
        msg = f"scheduler did not start within {timeout:.0f}s"
        raise TimeoutError(msg)

    def wait_ready(self, timeout: float) -> None:
        """Block until the scheduler lists all executors."""
        deadline = time.monotonic() + timeout
        client = self.credentials().client(self.uri)
        try:
            while time.monotonic() < deadline:
                self._check_alive()
                try:
                    body = next(iter(client.do_action("list_executors"))).body.to_pybytes()
                    import json

                    if len(json.loads(body)) >= self.n_executors:
                        return
                except flight.FlightError:
                    pass
                time.sleep(0.1)
        finally:
            client.close()
        self.stop()
        msg = f"cluster did not become ready within {timeout:.0f}s"
        raise TimeoutError(msg)

    def _check_alive(self) -> None:
        for proc in [self.scheduler, *self.executors]:
            if proc is not None and proc.poll() is not None:
                self.stop()
                msg = f"cluster process exited early with code {proc.returncode}: {proc.args!r}"
                raise RuntimeError(msg)

    def stop(self, grace: float = 40.0) -> None:
        """Stop the executors, then the scheduler (so no executor outlives it); remove shuffle files."""
        deadline = time.monotonic() + grace
        self._terminate(self.executors, deadline)
        self._terminate([p for p in [self.scheduler] if p is not None], deadline + grace)
        self.executors = []
        self.scheduler = None
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    @staticmethod
    def _terminate(procs: list[subprocess.Popen[bytes]], deadline: float) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("process %d did not stop within its grace period; killing it", proc.pid)
                proc.kill()
                proc.wait()

    def __enter__(self) -> StandaloneCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
