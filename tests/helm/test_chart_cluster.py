"""The chart's own commands start a working cluster.

The rendered scheduler and executor containers (entrypoint from the Dockerfile, args, env with
its $(VAR) references and downward-API fields) run as local processes, one loopback address per
pod, with the chart's Service and pod DNS names mapped to those addresses. Once the rendered
readiness probes answer, TPC-H q1 runs through the client Service's port and must equal
single-process DataFusion; then the `helm test` pod's command runs against the same cluster.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from datafusion import SessionContext
from pyarrow import flight

import ballista_flight
from ballista_flight import tls
from ballista_flight.standalone import free_port
from tests.compare import assert_same_result
from tests.conftest import QUERIES_DIR, register_tpch, tpch_data
from tests.helm.chart import NAMESPACE, merge, render
from tests.helm.kubelet import Kubelet

pytestmark = pytest.mark.slow


def _values(extra: dict[str, Any]) -> dict[str, Any]:
    """Chart values whose ports are free here (tests never use fixed ports); client Service
    port = scheduler port, since no kube-proxy forwards one to the other."""
    flight, http, exec_flight, exec_http = (free_port() for _ in range(4))
    values: dict[str, Any] = {
        "scheduler": {"port": flight, "httpPort": http, "service": {"port": flight}},
        "executor": {"port": exec_flight, "httpPort": exec_http, "replicas": 2,
                     "resources": {"requests": {"cpu": "2", "memory": "1Gi"}},
                     "config": {"memory_limit": "256MiB"}},
        "logLevel": "warning",
    }  # fmt: skip
    return merge(values, extra)


@pytest.mark.parametrize(
    "extra",
    [
        # Executors advertise their pod IP; clients read results from them directly.
        pytest.param({"executor": {"kind": "Deployment"}, "scheduler": {"proxyResults": False}}, id="deployment-direct"),
        # The default StatefulSet (pod DNS names) and proxied results, with bearer tokens, a
        # cluster secret and mutual TLS from the chart's Secret references.
        pytest.param(
            {"auth": {"enabled": True, "existingSecret": "bf-auth"},
             "tls": {"enabled": True, "existingSecret": "bf-tls", "clientAuth": True}},
            id="statefulset-auth-mtls",
        ),
    ],
)  # fmt: skip
def test_rendered_containers_run_tpch_q1(tmp_path: Path, extra: dict[str, Any]) -> None:
    values = _values(extra)
    r = render(values)
    kubelet = Kubelet(NAMESPACE, tmp_path)
    scheduler_pods = kubelet.add_pods(r.workload("scheduler"))
    executor_pods = kubelet.add_pods(r.workload("executor"))
    assert (len(scheduler_pods), len(executor_pods)) == (1, 2)
    credentials = _secrets(kubelet, tmp_path / "certs")
    for service in r.find("Service"):
        kubelet.add_service(service)
    client_service = r.named("Service", "bf-ballista-flight-scheduler")
    client_port = client_service["spec"]["ports"][0]["port"]
    try:
        for pod in kubelet.pods:
            kubelet.start(pod)
        kubelet.wait_ready()
        # Each executor registered under its pod name, at the address the chart made it advertise.
        (scheduler,) = scheduler_pods
        for pod in executor_pods:
            assert pod.env["BALLISTA_FLIGHT_EXECUTOR_ID"] == pod.name
            assert pod.env["BALLISTA_FLIGHT_ADVERTISE_HOST"] == pod.ip
            assert pod.env["BALLISTA_FLIGHT_SLOTS"] == "2"
        secure = bool(values.get("tls", {}).get("enabled"))
        scheme = "grpc+tls" if secure else "grpc"
        uri = f"{scheme}://{kubelet.hosts[client_service['metadata']['name']]}:{client_port}"
        assert uri == f"{scheme}://{scheduler.ip}:{client_port}"
        data = tpch_data(0.01, 4)
        sql = (QUERIES_DIR / "q01.sql").read_text()
        options = credentials if secure else {}
        with ballista_flight.connect(uri, timeout=120, **options) as ctx:
            register_tpch(ctx, data)
            action = next(iter(ctx.flight_client.do_action("list_executors")))
            listed = {e["executor_id"]: e["uri"] for e in json.loads(action.body.to_pybytes())}
            assert listed == {p.name: f"{scheme}://{p.ip}:{p.port('flight')}" for p in executor_pods}
            result = ctx.sql(sql)
            got = result.to_arrow()
            direct = [e.locations for e in result.info.endpoints] if result.info else []
        reference = SessionContext()
        register_tpch(reference, data)
        assert_same_result(got, reference.sql(sql).to_arrow_table(), ordered=True, context="q01")
        if values["scheduler"].get("proxyResults", True):
            assert all(not locations for locations in direct), "results should come through the scheduler"
        else:
            assert direct
            assert all(locations for locations in direct), "results should come from the executors"
        if secure:
            # Without the token, or without a client certificate, the cluster refuses.
            no_token = {**options, "token": None}
            no_certificate = {"token": options["token"], "tls_root_certs": options["tls_root_certs"]}
            for refused in (no_token, no_certificate):
                with pytest.raises(flight.FlightError), ballista_flight.connect(uri, 30, **refused) as other:
                    other.execute("SELECT 1")
        # The helm test pod's own command, against the same cluster.
        test_pod = kubelet.add_pods(r.one("Pod"))[0]
        kubelet.start(test_pod)
        assert test_pod.process is not None
        code = test_pod.process.wait(120)
        output = kubelet.logs(test_pod)
        assert code == 0, output
        assert "3 rows" in output, output
        if not secure:
            # What NOTES.txt tells users to run after a port-forward, as it is written there.
            _run_notes_snippets(r.notes, scheduler.ip, tmp_path)
    except BaseException:
        for pod in kubelet.pods:
            print(f"--- {pod.name} ({pod.ip}) {pod.argv}\n{kubelet.logs(pod)}")
        raise
    finally:
        kubelet.stop()
    for pod in kubelet.pods:
        assert pod.process is not None
        assert pod.process.returncode == 0, f"{pod.name} exited {pod.process.returncode}: {kubelet.logs(pod)}"


def _secrets(kubelet: Kubelet, directory: Path) -> dict[str, Any]:
    """The Secrets the secure values refer to; returns the client's credentials."""
    files = tls.generate(directory, hosts=[p.ip for p in kubelet.pods])
    kubelet.secrets["bf-tls"] = {
        "tls.crt": files.cert.read_text(), "tls.key": files.key.read_text(), "ca.crt": files.ca.read_text(),
    }  # fmt: skip
    token = secrets.token_hex(16)
    kubelet.secrets["bf-auth"] = {
        "cluster-secret": secrets.token_hex(32),
        "tokens": f"{secrets.token_hex(16)},{token}",
        "users": "alice:wonderland",
        "client-token": token,
    }
    return {
        "token": token,
        "tls_root_certs": files.ca,
        "cert_chain": files.client_cert,
        "private_key": files.client_key,
    }


def _notes_snippet(notes: str, heading: str) -> str:
    """The indented code block under ``heading`` in NOTES.txt, dedented."""
    lines = notes.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading)) + 1
    block = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        block.append(line[2:])
    return "\n".join(block)


def _run_notes_snippets(notes: str, scheduler_ip: str, tmp_path: Path) -> None:
    """The pyarrow.flight and ADBC snippets, with the port-forward's 127.0.0.1 pointing at the scheduler pod."""
    code = "\n".join(_notes_snippet(notes, heading) for heading in ("pyarrow.flight", "ADBC"))
    code = code.replace("127.0.0.1", scheduler_ip)
    script = tmp_path / "snippets.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"NOTES.txt snippets failed:\n{code}\n{done.stderr}"
    assert done.stdout.count("x: int64") == 2, done.stdout
