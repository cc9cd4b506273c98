"""The ``ballista-flight`` command line.

Thin by design: every server flag comes from a field of ``SchedulerConfig`` or
``ExecutorConfig`` (so each also reads ``BALLISTA_FLIGHT_<FLAG>`` from the
environment), the command builds the config once and hands it to the server.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ballista_flight._version import DATAFUSION_VERSION, __version__
from ballista_flight.config import ExecutorConfig, SchedulerConfig, env_name
from ballista_flight.errors import flight_message
from ballista_flight.logging_setup import LOG_FORMATS, setup_logging

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pyarrow as pa

log = logging.getLogger("ballista_flight.cli")


def _add_model_flags(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        flag = "--" + name.replace("_", "-")
        env = env_name(name)
        default = os.environ.get(env)
        help_text = f"{field.description} [env {env}; default {field.default!s}]"
        if field.annotation is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            choices = None
            if isinstance(field.default, Enum):
                choices = [m.value for m in type(field.default)]
            parser.add_argument(flag, default=default, choices=choices, help=help_text, metavar=name.upper())
        if default is not None and (field.annotation is bool):
            parser.set_defaults(**{name: default.lower() in {"1", "true", "yes", "on"}})


def _build(model: type[BaseModel], args: argparse.Namespace) -> Any:
    values = {k: getattr(args, k) for k in model.model_fields if getattr(args, k, None) is not None}
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(
            (f"--{'.'.join(str(p) for p in e['loc']).replace('_', '-')}: " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise SystemExit(f"ballista-flight: invalid settings: {problems}") from None


def _die_with_parent() -> None:
    """Get SIGTERM when the process that started us dies (Linux; set by StandaloneCluster).

    A cluster must not outlive a parent that was killed before it could stop it.
    """
    parent = os.environ.get("BALLISTA_FLIGHT_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(parent):  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def _catch_stop_signals() -> list[int]:
    """Record SIGTERM and SIGINT from now on (call before serving); the list fills as they come.

    Installed before the server starts, so a signal during start-up stops it cleanly
    instead of killing it. The handler only records: it runs on the main thread
    between bytecodes, and taking a lock there (``Event.set``) deadlocks when the
    main thread holds that lock in ``Event.wait`` -- processes then ignored SIGTERM
    for good.
    """
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    _die_with_parent()
    return received


def _wait_for_signal(received: list[int]) -> None:
    """Block until ``_catch_stop_signals`` has recorded a signal."""
    while not received:
        time.sleep(0.2)


def _cmd_scheduler(args: argparse.Namespace) -> int:
    from ballista_flight.scheduler.server import SchedulerServer

    config: SchedulerConfig = _build(SchedulerConfig, args)
    received = _catch_stop_signals()
    server = SchedulerServer(config)
    log.info("scheduler listening on %s (datafusion %s)", server.uri, DATAFUSION_VERSION)
    print(f"ballista-flight scheduler ready at {server.uri}", flush=True)
    _wait_for_signal(received)
    server.stop()
    return 0


def _cmd_executor(args: argparse.Namespace) -> int:
    from ballista_flight.executor.server import ExecutorServer

    config: ExecutorConfig = _build(ExecutorConfig, args)
    received = _catch_stop_signals()
    server = ExecutorServer(config)
    server.start()
    log.info("executor %s listening on %s", server.executor_id, server.uri)
    _wait_for_signal(received)
    server.stop()
    return 0


def _cmd_standalone(args: argparse.Namespace) -> int:
    from ballista_flight.standalone import StandaloneCluster

    received = _catch_stop_signals()
    cluster = StandaloneCluster(
        executors=args.executors,
        port=args.port,
        shuffle=args.shuffle,
        slots=args.slots,
        memory_limit=args.memory_limit,
        log_level=args.log_level,
        auth_users=args.auth_users or "",
        tls=args.tls,
        log_format=args.log_format,
    )
    cluster.start()
    print(f"ballista-flight cluster ready at {cluster.uri} ({args.executors} executors)", flush=True)
    if cluster.tls_files is not None:
        print(f"TLS with a throwaway CA: --tls-ca {cluster.tls_files.ca}", flush=True)
    try:
        _wait_for_signal(received)
    finally:
        cluster.stop()
    return 0


def format_table(table: pa.Table, max_rows: int = 200) -> str:
    """A plain-text grid of ``table`` (first ``max_rows`` rows)."""
    names = table.column_names
    shown = table.slice(0, max_rows).to_pylist()
    cells = [[("NULL" if r[n] is None else str(r[n])) for n in names] for r in shown]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "| " + " | ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)) + " |", line]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    out.append(line)
    more = table.num_rows - len(shown)
    out.append(
        f"{table.num_rows} row{'s' if table.num_rows != 1 else ''}"
        + (f" ({more} not shown)" if more > 0 else "")
    )
    return "\n".join(out)


# EXPLAIN rows meant for programs, not for reading: shown only on request (--explain-dot).
_MACHINE_PLANS = ("distributed_plan_dot", "distributed_plan_metrics")


def _run_statement(ctx: Any, sql: str, progress: bool = False, explain_dot: bool = False) -> bool:
    """Run one statement and print its result; Ctrl-C cancels it (KeyboardInterrupt goes on)."""
    from pyarrow import flight

    from ballista_flight.client.progress import TextProgress

    started = time.perf_counter()
    bar = TextProgress(sys.stderr) if progress else None
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["table"] = ctx.execute(sql, progress=bar)
        except Exception as exc:
            outcome["error"] = exc

    # The call runs in a thread so that Ctrl-C reaches this one while it blocks.
    worker = threading.Thread(target=run, daemon=True, name="statement")
    ctx.current_job = None
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        cancelled = cancel_statement(ctx, sql)
        print(f"\nCancelled{f' job {cancelled}' if cancelled else ''}.", file=sys.stderr)
        raise
    if bar is not None:
        bar.close()
    if isinstance(outcome.get("error"), flight.FlightError):
        print(f"Error: {flight_message(outcome['error'])}", file=sys.stderr)
        return False
    if "error" in outcome:
        raise outcome["error"]
    table = outcome["table"]
    elapsed = time.perf_counter() - started
    if table.column_names == ["plan_type", "plan"]:
        plans = dict(
            zip(table.column("plan_type").to_pylist(), table.column("plan").to_pylist(), strict=True)
        )
        if explain_dot and "distributed_plan_dot" in plans:
            print(plans["distributed_plan_dot"], end="")
            return True
        for kind, plan in plans.items():
            if kind not in _MACHINE_PLANS:
                print(f"{kind}:\n{plan}")
    elif table.num_columns:
        print(format_table(table))
    print(f"({elapsed:.3f}s)")
    return True


def cancel_statement(ctx: Any, sql: str) -> str | None:
    """Cancel the job running ``sql`` for this client; return its id if one was found.

    Once results are being fetched the job id is known (FlightInfo's app_metadata);
    while GetFlightInfo still runs, the newest unfinished job with this SQL is ours.
    Either way the scheduler stops the job's tasks and releases its shuffle data (a
    closed connection alone would do it too, once this process exits).
    """
    import json

    from pyarrow import flight

    options = flight.FlightCallOptions(timeout=10)
    client = ctx.flight_client  # thread-safe: the statement's own call may still be running on it
    try:
        job_id = ctx.current_job
        if job_id is None:
            jobs = json.loads(next(iter(client.do_action("list_jobs", options))).body.to_pybytes())
            mine = [
                j for j in jobs
                if j.get("sql") == sql and j.get("state") in ("JOB_QUEUED", "JOB_RUNNING", "JOB_RESULTS_READY")
            ]  # fmt: skip
            job_id = mine[-1]["jobId"] if mine else None
        if job_id is not None:
            list(client.do_action(("cancel_job", job_id.encode()), options))
        return str(job_id) if job_id else None
    except flight.FlightError as exc:
        print(f"Error: could not cancel: {flight_message(exc)}", file=sys.stderr)
        return None


def split_statements(text: str) -> list[str]:
    """Split a script on semicolons outside quotes and comments."""
    statements, current, quote = [], [], ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            current.append(text[i:end])
            i = end
            continue
        elif ch == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current))
    return [
        s.strip()
        for s in statements
        if s.strip() and not all(line.strip().startswith("--") or not line.strip() for line in s.splitlines())
    ]


def _cmd_sql(args: argparse.Namespace) -> int:
    ctx = _connect(args)
    ok = True
    # A live bar only when a person watches: both outputs on a terminal.
    progress = args.progress and sys.stdout.isatty() and sys.stderr.isatty()
    if args.command or args.file:
        text = args.command if args.command else Path(args.file).read_text()
        try:
            for statement in split_statements(text):
                ok = _run_statement(ctx, statement, progress, args.explain_dot) and ok
        except KeyboardInterrupt:
            return 130
        return 0 if ok else 1
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - line editing for input()
    print(f"ballista-flight {__version__} connected to {args.scheduler}; end statements with ';', \\q quits")
    buffer: list[str] = []
    while True:
        try:
            line = input("> " if not buffer else ". ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not buffer and line.strip() in {"\\q", "quit", "exit"}:
            return 0
        buffer.append(line)
        if line.rstrip().endswith(";"):
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C cancels the statement, not the prompt
                for statement in split_statements("\n".join(buffer)):
                    _run_statement(ctx, statement, progress, args.explain_dot)
            buffer = []


def _cmd_jobs(args: argparse.Namespace) -> int:
    import json

    import pyarrow as pa
    from pyarrow import flight

    with _connect(args) as ctx:
        client = ctx.flight_client
        try:
            if args.cancel:
                body = next(iter(client.do_action(("cancel_job", args.cancel.encode())))).body
                print(f"job {args.cancel}: {json.loads(body.to_pybytes())['state']}")
                return 0
            if args.status:
                body = next(iter(client.do_action(("job_status", args.status.encode())))).body
                print(format_job_status(json.loads(body.to_pybytes())))
                return 0
            jobs = json.loads(next(iter(client.do_action("list_jobs"))).body.to_pybytes())
        except flight.FlightError as exc:
            print(f"Error: {flight_message(exc)}", file=sys.stderr)
            return 1
    rows = [
        {
            "job_id": j["jobId"],
            "state": j.get("state", "").removeprefix("JOB_").lower(),
            "stages": f"{sum(1 for s in j.get('stages', []) if s.get('tasksDone', 0) >= s.get('tasks', 0))}"
            f"/{len(j.get('stages', []))}",
            "seconds": round(float(j.get("elapsedS", 0.0)), 3),
            "sql": " ".join(j.get("sql", "").split())[:60],
            "error": (j.get("error") or "")[:60],
        }
        for j in jobs
    ]
    print(format_table(pa.Table.from_pylist(rows)) if rows else "no jobs")
    return 0


def format_job_status(job: dict[str, Any]) -> str:
    """One job (the JSON of the job_status action) as text: its state, then a row per stage."""
    import pyarrow as pa

    state = str(job.get("state", "")).removeprefix("JOB_").lower()
    head = (
        f"job {job.get('jobId')}: {state} after {float(job.get('elapsedS', 0.0)):.3f}s, "
        f"{job.get('tasksDone', 0)}/{job.get('tasks', 0)} tasks, {int(job.get('rowsShuffled', 0)):,} rows "
        f"and {int(job.get('bytesShuffled', 0)):,} bytes shuffled, executors {', '.join(job.get('executors', []))}"
    )
    if job.get("error"):
        head += f"\nerror: {job['error']}"
    rows = [
        {
            "stage": int(s.get("stageId", 0)),
            "operator": s.get("operator", ""),
            "output": s.get("output", ""),
            "inputs": ",".join(str(i) for i in s.get("inputs", [])),
            "tasks": f"{s.get('tasksDone', 0)}/{s.get('tasks', 0)}",
            "rows": int(s.get("rows", 0)),
            "bytes": int(s.get("bytes", 0)),
            "start_s": round(float(s.get("startS", 0.0)), 3),
            "end_s": round(float(s.get("endS", 0.0)), 3),
        }
        for s in job.get("stages", [])
    ]
    return head + ("\n" + format_table(pa.Table.from_pylist(rows)) if rows else "")


# The client flags of sql and jobs: (flag, environment variable, default, help).
_CLIENT_FLAGS = [
    (
        "--scheduler",
        "BALLISTA_FLIGHT_SCHEDULER",
        "grpc://127.0.0.1:50050",
        "Scheduler URI, grpc+tls:// for TLS",
    ),
    ("--user", "BALLISTA_FLIGHT_USER", None, "Log in as this user"),
    ("--password", "BALLISTA_FLIGHT_PASSWORD", None, "Password of --user"),
    ("--token", "BALLISTA_FLIGHT_TOKEN", None, "Bearer token"),
    ("--tls-ca", "BALLISTA_FLIGHT_TLS_CA", None, "PEM CA to trust"),
    ("--client-cert", "BALLISTA_FLIGHT_CLIENT_CERT", None, "Client certificate for mutual TLS"),
    ("--client-key", "BALLISTA_FLIGHT_CLIENT_KEY", None, "Key of --client-cert"),
]


def _add_scheduler_flag(parser: argparse.ArgumentParser) -> None:
    for flag, env, default, text in _CLIENT_FLAGS:
        shown = f"; default {default}" if default else ""
        parser.add_argument(flag, default=os.environ.get(env, default), help=f"{text} [env {env}{shown}].")


def _connect(args: argparse.Namespace) -> Any:
    """A client Context for the sql/jobs commands, or SystemExit with a one-line reason."""
    from pyarrow import flight

    from ballista_flight.client.context import connect

    try:
        return connect(
            args.scheduler,
            username=args.user,
            password=args.password,
            token=args.token,
            tls_root_certs=args.tls_ca,
            cert_chain=args.client_cert,
            private_key=args.client_key,
        )
    except (flight.FlightError, OSError) as exc:
        raise SystemExit(
            f"ballista-flight: cannot connect to {args.scheduler}: {flight_message(exc)}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ballista-flight``."""
    parser = argparse.ArgumentParser(
        prog="ballista-flight", description="Distributed DataFusion SQL over Arrow Flight."
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"ballista-flight {__version__} (datafusion {DATAFUSION_VERSION})",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("BALLISTA_FLIGHT_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error", "critical"],
        help="Logging level [env BALLISTA_FLIGHT_LOG_LEVEL; default info].",
    )
    parser.add_argument(
        "--log-format",
        default=os.environ.get("BALLISTA_FLIGHT_LOG_FORMAT", "text"),
        choices=list(LOG_FORMATS),
        help="Log lines as plain text or one JSON object per line, with the job id of lines "
        "that concern a job [env BALLISTA_FLIGHT_LOG_FORMAT; default text].",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("scheduler", help="Run the scheduler.", description="Run the scheduler.")
    _add_model_flags(p, SchedulerConfig)
    p.set_defaults(func=_cmd_scheduler)
    p = sub.add_parser("executor", help="Run an executor.", description="Run an executor.")
    _add_model_flags(p, ExecutorConfig)
    p.set_defaults(func=_cmd_executor)
    p = sub.add_parser(
        "standalone",
        help="Run a scheduler and N executors on loopback.",
        description="Run a scheduler and N executor processes on loopback until Ctrl-C or SIGTERM.",
    )
    env = os.environ.get
    p.add_argument(
        "--executors",
        type=int,
        default=int(env("BALLISTA_FLIGHT_EXECUTORS", "2")),
        help="Executor processes [env BALLISTA_FLIGHT_EXECUTORS; default 2].",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(env("BALLISTA_FLIGHT_PORT", "50050")),
        help="Scheduler port [env BALLISTA_FLIGHT_PORT; default 50050].",
    )
    p.add_argument(
        "--shuffle",
        choices=["memory", "disk"],
        default=env("BALLISTA_FLIGHT_SHUFFLE", "memory"),
        help="Shuffle store of the executors [env BALLISTA_FLIGHT_SHUFFLE; default memory].",
    )
    p.add_argument(
        "--slots",
        type=int,
        default=int(env("BALLISTA_FLIGHT_SLOTS", "0")) or None,
        help="Task slots per executor [env BALLISTA_FLIGHT_SLOTS; default: cores].",
    )
    p.add_argument(
        "--memory-limit",
        default=env("BALLISTA_FLIGHT_MEMORY_LIMIT"),
        help="In-memory shuffle budget per executor, e.g. 1GiB [env BALLISTA_FLIGHT_MEMORY_LIMIT].",
    )
    p.add_argument(
        "--auth-users",
        default=env("BALLISTA_FLIGHT_AUTH_USERS"),
        help="Require login: user:password[,user:password] [env BALLISTA_FLIGHT_AUTH_USERS].",
    )
    p.add_argument(
        "--tls",
        action="store_true",
        default=env("BALLISTA_FLIGHT_TLS", "").lower() in {"1", "true", "yes", "on"},
        help="Serve TLS with a throwaway CA generated for this run (its path is printed) "
        "[env BALLISTA_FLIGHT_TLS].",
    )
    p.set_defaults(func=_cmd_standalone)  # fmt: skip
    p = sub.add_parser(
        "sql", help="Run SQL against a cluster.", description="Run SQL: -c, -f, or an interactive prompt."
    )
    _add_scheduler_flag(p)
    p.add_argument("-c", "--command", help="SQL to run (several statements separated by ';').")
    p.add_argument("-f", "--file", help="File of SQL statements to run.")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("BALLISTA_FLIGHT_PROGRESS", "1").lower() not in {"0", "false", "no", "off"},
        help="Show a live progress bar while a query runs (only on a terminal) "
        "[env BALLISTA_FLIGHT_PROGRESS; default on].",
    )
    p.add_argument(
        "--explain-dot",
        action="store_true",
        default=os.environ.get("BALLISTA_FLIGHT_EXPLAIN_DOT", "").lower() in {"1", "true", "yes", "on"},
        help="For EXPLAIN [ANALYZE] statements print only the stage graph in Graphviz DOT "
        "[env BALLISTA_FLIGHT_EXPLAIN_DOT].",
    )
    p.set_defaults(func=_cmd_sql)  # fmt: skip
    p = sub.add_parser(
        "jobs", help="List recent jobs, or cancel one.", description="List recent jobs, or cancel one."
    )
    _add_scheduler_flag(p)
    p.add_argument("--cancel", metavar="JOB_ID", help="Cancel this job.")
    p.add_argument("--status", metavar="JOB_ID", help="Show this job: state, and each stage's progress.")
    p.set_defaults(func=_cmd_jobs)  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ballista-flight`` command."""
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format, role=args.cmd)
    return int(args.func(args))
