"""Apache Ballista (pip ``ballista``) for the TPC-H benchmark, in a virtualenv of its own.

Apache Ballista's Python package pins its own ``datafusion`` (54), so it cannot share our
virtualenv (datafusion 55). This module has two sides:

- the harness side (imported by ``tpch.py`` in our virtualenv): the glibc check (where the
  machine's glibc is older than the wheel's 2.39, Debian 13's is fetched into
  ``benchmarks/.glibc-debian`` and the processes start through its loader, see
  ``debian_glibc.py``), the cached virtualenv under ``benchmarks/.venv-ballista``, and two
  child processes that run this same file with that virtualenv's Python;
- the virtualenv side (``python ballista_apache.py cluster|client``):
  ``cluster`` starts a ``BallistaScheduler`` and a ``BallistaExecutor`` in one process
  (the fastest set-up, see DESIGN.md section 6) and prints ``ready``; ``client`` connects a
  ``BallistaSessionContext`` to it and answers JSON requests, one a line, on stdin: register
  the tables, run a query (warm-up, then timed runs *in that process*, like the other
  engines are timed in theirs), write the result as an Arrow IPC file for the harness.

Only the standard library is imported at the top: the virtualenv side must not need our
package, and the harness side must not need ``ballista``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

VERSION = "54.1.0"  # the latest on PyPI (2026-11-22); DESIGN.md's anchor used 54
GLIBC_NEEDED = (2, 39)  # objdump -T of the wheel's _internal_ballista.abi3.so: GLIBC_2.39
HOST = "127.0.0.1"
SCRIPT = Path(__file__).resolve()
VENV = SCRIPT.parent / ".venv-ballista"
GLIBC_DIR = SCRIPT.parent / ".glibc-debian"
READY_TIMEOUT_S = 60.0
# The executor also serves gRPC on this port, always (ballista 54 has no setting for it), so
# one Apache Ballista executor at a time can run on a machine.
EXECUTOR_GRPC_PORT = 50052


class Unavailable(Exception):
    """Apache Ballista cannot run here; the message says why in one line."""


# ---------------------------------------------------------------- harness side: pure helpers


def glibc_version(libc: str) -> tuple[int, int] | None:
    """``os.confstr("CS_GNU_LIBC_VERSION")`` ("glibc 2.36") as (2, 36); None when not glibc."""
    parts = libc.split()
    if len(parts) != 2 or parts[0] != "glibc":
        return None
    try:
        major, minor = (int(x) for x in parts[1].split(".")[:2])
    except ValueError:
        return None
    return major, minor


def machine_libc() -> str:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return ""


def skip_reason(libc: str) -> str | None:
    """Why the wheel cannot load with this C library (not glibc at all), or None when it can."""
    if glibc_version(libc) is None:
        return f"the `ballista` wheel needs glibc 2.39; this machine's C library is {libc or 'not glibc'}"
    return None


def needs_newer_glibc(libc: str) -> bool:
    """An older glibc: the processes run on Debian 13's, through its loader (debian_glibc.py)."""
    version = glibc_version(libc)
    return version is not None and version < GLIBC_NEEDED


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def venv_commands(base_python: str, venv: Path, launcher: Sequence[str] = ()) -> list[list[str]]:
    """The commands that make the virtualenv: ``ballista`` brings its datafusion and pyarrow.

    pip runs through ``launcher`` (the newer glibc's loader, where one is needed) so that it
    sees the glibc the wheel will load with, and picks the wheel built for it.
    """
    python = str(venv_python(venv))
    return [
        [base_python, "-m", "venv", "--clear", str(venv)],
        [*launcher, python, "-m", "pip", "install", "--quiet", f"ballista=={VERSION}"],
    ]


def cluster_command(python: Sequence[str], scheduler_port: int, executor_port: int, tasks: int) -> list[str]:
    """``-I``: this file's folder stays off sys.path, so nothing of ours shadows a module there."""
    return [
        *python, "-I", str(SCRIPT), "cluster", "--scheduler-port", str(scheduler_port),
        "--executor-port", str(executor_port), "--tasks", str(tasks),
    ]  # fmt: skip


def client_command(python: Sequence[str], address: str | None) -> list[str]:
    """No address: the client runs on that virtualenv's single-process DataFusion (a check)."""
    return [*python, "-I", str(SCRIPT), "client", *(["--address", address] if address else [])]


def rust_panic(text: str) -> str | None:
    """A Rust panic's message from a process's stderr (the line after ``panicked at``), or None."""
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if "panicked at" in line:
            message = next((m for m in lines[i + 1 :] if m), "")
            return f"{line.split('panicked at', 1)[1].strip().rstrip(':')}: {message}".strip(": ")
    return None


def one_line(what: BaseException | str) -> str:
    """An exception as "Type: first line"; a process's output as its last non-empty line."""
    if isinstance(what, BaseException):
        lines = str(what).strip().splitlines()
        return f"{type(what).__name__}: {lines[0].strip()}" if lines else type(what).__name__
    lines = what.strip().splitlines()
    return lines[-1].strip() if lines else ""


def free_ports(count: int) -> list[int]:
    """Ports the OS says are free now (all held open together, so they differ)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


# ---------------------------------------------------------------- harness side: processes


def ensure_venv(venv: Path = VENV, base_python: str = sys.executable, launcher: Sequence[str] = ()) -> Path:
    """Make the virtualenv once (a stamp names the version); its Python's path."""
    stamp = venv / f".ballista-{VERSION}-stamp"
    if stamp.exists():
        return venv_python(venv)
    for command in venv_commands(base_python, venv, launcher):
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise Unavailable(f"`{_shown(command, launcher)}` failed: {one_line(exc)}") from exc
        if done.returncode != 0:
            raise Unavailable(
                f"`{_shown(command, launcher)}` failed: {one_line(done.stderr or done.stdout) or done.returncode}"
            )
    stamp.touch()
    return venv_python(venv)


def _shown(command: list[str], launcher: Sequence[str]) -> str:
    """A command as an error names it: its arguments after the loader and the Python."""
    start = len(launcher) if command[: len(launcher)] == list(launcher) else 0
    return " ".join(command[start + 1 :])


def launcher_for(libc: str, glibc_dir: Path = GLIBC_DIR) -> list[str]:
    """The prefix Ballista's processes start with: none on glibc 2.39+, else Debian 13's loader."""
    reason = skip_reason(libc)
    if reason:
        raise Unavailable(reason)
    if not needs_newer_glibc(libc):
        return []
    from benchmarks import debian_glibc

    try:
        launcher = debian_glibc.ensure(glibc_dir)
        runs_on = debian_glibc.libc_of(launcher, sys.executable)
    except debian_glibc.Unavailable as exc:
        raise Unavailable(
            f"the `ballista` wheel needs glibc 2.39, this machine has {libc}, and {exc}"
        ) from exc
    if needs_newer_glibc(runs_on) or skip_reason(runs_on):
        raise Unavailable(f"the `ballista` wheel needs glibc 2.39; {glibc_dir} gives {runs_on or 'nothing'}")
    return launcher


def prepare(libc: str | None = None) -> list[str]:
    """The command that runs the Ballista virtualenv's Python (made once) with a glibc it loads on."""
    launcher = launcher_for(machine_libc() if libc is None else libc)
    return [*launcher, str(ensure_venv(launcher=launcher))]


def _stderr_tail(path: Path) -> str:
    try:
        return one_line(path.read_text(errors="replace"))
    except OSError:
        return ""


class Cluster:
    """A Ballista scheduler and executor in one child process on loopback."""

    def __init__(self, python: Sequence[str], tasks: int | None = None) -> None:
        self.python = python
        self.tasks = tasks or os.cpu_count() or 1
        self.scheduler_port, self.executor_port = free_ports(2)
        self.address = f"df://{HOST}:{self.scheduler_port}"
        self._dir = Path(tempfile.mkdtemp(prefix="ballista-apache-"))
        self._log = self._dir / "cluster.log"
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start and wait for ``ready``; Unavailable with the process's own word if it fails."""
        if wait_for_port(HOST, EXECUTOR_GRPC_PORT, 0):
            self.stop()  # its scratch folder
            raise Unavailable(
                f"port {EXECUTOR_GRPC_PORT}, which Ballista's executor always binds for gRPC, is in use "
                "(another Apache Ballista executor on this machine?)"
            )
        command = cluster_command(self.python, self.scheduler_port, self.executor_port, self.tasks)
        with self._log.open("w") as log:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
            )
        line = _read_line(self._proc.stdout, READY_TIMEOUT_S)
        if line.strip() == "ready":
            return
        log = self._log.read_text(errors="replace") if self._log.exists() else ""
        self.stop()
        why = line.strip().removeprefix("error: ") or rust_panic(log) or one_line(log) or "no answer"
        raise Unavailable(f"the Apache Ballista cluster did not start: {why}")

    def stop(self) -> None:
        """Closing stdin asks the process to close scheduler and executor; then it is made to."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _end(proc)
        shutil.rmtree(self._dir, ignore_errors=True)


class Client:
    """A client process in the Ballista virtualenv, spoken to in JSON lines."""

    def __init__(self, python: Sequence[str], address: str | None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="ballista-client-"))
        self._log = self._dir / "client.log"
        with self._log.open("w") as log:
            self._proc: subprocess.Popen[str] | None = subprocess.Popen(
                client_command(python, address),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            )  # fmt: skip
        hello = self._reply_line(READY_TIMEOUT_S)
        if not hello.get("ok"):
            self.close()
            raise Unavailable(f"the Apache Ballista client did not start: {hello.get('error')}")
        self.versions: dict[str, str] = hello.get("versions", {})
        self._count = 0

    def _reply_line(self, timeout_s: float | None) -> dict[str, Any]:
        assert self._proc is not None
        line = _read_line(self._proc.stdout, timeout_s)
        if not line:
            return {"ok": False, "error": _stderr_tail(self._log) or "the client process ended"}
        reply: dict[str, Any] = json.loads(line)
        return reply

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._proc is None or self._proc.stdin is None:
            raise RuntimeError("apache ballista: the client is closed")
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()
        reply = self._reply_line(None)
        if not reply.get("ok"):
            raise RuntimeError(f"apache ballista: {reply.get('error')}")
        return reply

    def register(self, tables: dict[str, str]) -> None:
        self.request({"op": "register", "tables": tables})

    def query(self, sql: str, warmup: int, runs: int) -> tuple[list[float], Any]:
        """Seconds of each timed run and the last result, read back from its IPC file."""
        self._count += 1
        out = self._dir / f"result-{self._count}.arrow"
        reply = self.request({"op": "query", "sql": sql, "warmup": warmup, "runs": runs, "out": str(out)})
        try:
            return [float(s) for s in reply["seconds"]], read_ipc(out)
        finally:
            out.unlink(missing_ok=True)

    def run(self, sql: str) -> Any:
        return self.query(sql, warmup=0, runs=1)[1]

    def timed(self, sql: str) -> tuple[float, Any]:
        """Seconds of one run timed in the client process, and its rows."""
        seconds, table = self.query(sql, warmup=0, runs=1)
        return seconds[0], table

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _end(proc)
        shutil.rmtree(self._dir, ignore_errors=True)


def _read_line(stream: IO[str] | None, timeout_s: float | None) -> str:
    """One line from a child's stdout, or "" at its end or after ``timeout_s``."""
    if stream is None:
        return ""
    if timeout_s is not None:
        ready, _, _ = select.select([stream], [], [], timeout_s)
        if not ready:
            return ""
    return stream.readline()


def _end(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


# ---------------------------------------------------------------- both sides: results


def write_ipc(table: Any, path: str | Path) -> None:
    import pyarrow as pa

    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_ipc(path: str | Path) -> Any:
    """Read whole into memory (not memory-mapped): the file is deleted right after."""
    import pyarrow as pa

    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all()


# ---------------------------------------------------------------- virtualenv side


def handle(ctx: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Answer one request with a DataFusion-API context (Ballista's is one); errors in one line."""
    try:
        if request["op"] == "register":
            for name, path in request["tables"].items():
                ctx.register_parquet(name, path)
            return {"ok": True}
        if request["op"] == "query":
            sql = request["sql"]
            for _ in range(int(request.get("warmup", 0))):
                ctx.sql(sql).to_arrow_table()
            seconds = []
            table = None
            for _ in range(max(1, int(request.get("runs", 1)))):
                started = time.perf_counter()
                table = ctx.sql(sql).to_arrow_table()
                seconds.append(time.perf_counter() - started)
            write_ipc(table, request["out"])
            return {"ok": True, "seconds": seconds, "rows": table.num_rows if table is not None else 0}
        return {"ok": False, "error": f"unknown op {request['op']!r}"}
    except Exception as exc:
        return {"ok": False, "error": one_line(exc)}


def serve(ctx: Any, lines: Iterable[str], reply: Callable[[dict[str, Any]], None]) -> None:
    for line in lines:
        if line.strip():
            reply(handle(ctx, json.loads(line)))


def _protocol_out() -> IO[str]:
    """Keep the real stdout for replies; anything a library prints goes to stderr instead."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return out


def client_main(address: str | None) -> int:
    out = _protocol_out()

    def reply(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    try:
        import datafusion
        import pyarrow

        versions = {
            "datafusion": datafusion.__version__,
            "pyarrow": pyarrow.__version__,
            "libc": os.confstr("CS_GNU_LIBC_VERSION") or "",
        }
        if address:
            import ballista
            from ballista import BallistaSessionContext

            versions["ballista"] = ballista.__version__
            ctx: Any = BallistaSessionContext(address)
        else:
            ctx = datafusion.SessionContext()
    except Exception as exc:
        reply({"ok": False, "error": f"the `ballista` package does not load: {one_line(exc)}"})
        return 1
    reply({"ok": True, "versions": versions})
    serve(ctx, sys.stdin, reply)
    return 0


def cluster_main(scheduler_port: int, executor_port: int, tasks: int) -> int:
    def say(line: str) -> None:
        print(line, flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        from ballista import BallistaExecutor, BallistaScheduler
    except Exception as exc:
        say(f"error: the `ballista` package does not load: {one_line(exc)}")
        return 1
    scheduler = BallistaScheduler(bind_host=HOST, bind_port=scheduler_port)
    executor = None
    try:
        scheduler.start()
        if not wait_for_port(HOST, scheduler_port, READY_TIMEOUT_S):
            say(f"error: the scheduler does not listen on {HOST}:{scheduler_port}")
            return 1
        executor = BallistaExecutor(
            bind_port=executor_port,
            bind_host=HOST,
            scheduler_host=HOST,
            scheduler_port=scheduler_port,
            concurrent_tasks=tasks,
        )
        executor.start()
        if not wait_for_port(HOST, executor_port, READY_TIMEOUT_S):
            say(f"error: the executor does not listen on {HOST}:{executor_port}")
            return 1
        say("ready")
        sys.stdin.read()  # until the harness closes our stdin
        return 0
    except Exception as exc:
        say(f"error: {one_line(exc)}")
        return 1
    finally:
        if executor is not None:
            executor.close()
        scheduler.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="role", required=True)
    cluster = sub.add_parser("cluster", help="a BallistaScheduler and a BallistaExecutor, until stdin closes")
    cluster.add_argument("--scheduler-port", type=int, required=True)
    cluster.add_argument("--executor-port", type=int, required=True)
    cluster.add_argument("--tasks", type=int, default=os.cpu_count() or 1, help="executor's concurrent tasks")
    client = sub.add_parser("client", help="answer JSON requests on stdin")
    client.add_argument("--address", help="df://host:port of the scheduler (none: local DataFusion)")
    args = parser.parse_args(argv)
    if args.role == "cluster":
        return cluster_main(args.scheduler_port, args.executor_port, args.tasks)
    return client_main(args.address)


if __name__ == "__main__":
    raise SystemExit(main())
