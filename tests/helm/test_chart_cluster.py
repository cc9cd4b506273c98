"""The chart's own commands start a working cluster.

The rendered scheduler and executor containers (entrypoint from the Dockerfile, args, env with
its $(VAR) references and downward-API fields) run as local processes, one loopback address per
pod, with the chart's Service and pod DNS names mapped to those addresses. Once the rendered
readiness probes answer, TPC-H q1 runs through the client Service's port and must equal
single-process DataFusion; then the `helm test` pod's command runs against the same cluster.
"""

from __future__ import annotations

import socket
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from datafusion import SessionContext

import ballista_flight
from tests.compare import assert_same_result
from tests.conftest import QUERIES_DIR, register_tpch, tpch_data
from tests.helm.chart import NAMESPACE, container, merge, render
from tests.helm.kubelet import Kubelet

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _values(extra: dict[str, Any]) -> dict[str, Any]:
    """Chart values whose ports are free here (tests never use fixed ports); client Service
    port = scheduler port, since no kube-proxy forwards one to the other."""
    flight, http, exec_flight, exec_http = (_free_port() for _ in range(4))
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
        pytest.param({}, id="statefulset-proxied"),
        # Executors advertise their pod IP; the client reads results from them directly.
        pytest.param({"executor": {"kind": "Deployment"}, "scheduler": {"proxyResults": False}}, id="deployment-direct"),
    ],
)  # fmt: skip
def test_rendered_containers_run_tpch_q1(tmp_path: Path, extra: dict[str, Any]) -> None:
    values = _values(extra)
    r = render(values)
    kubelet = Kubelet(NAMESPACE, tmp_path)
    scheduler_pods = kubelet.add_pods(r.workload("scheduler"))
    executor_pods = kubelet.add_pods(r.workload("executor"))
    assert (len(scheduler_pods), len(executor_pods)) == (1, 2)
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
        uri = f"grpc://{kubelet.hosts[client_service['metadata']['name']]}:{client_port}"
        assert uri == f"grpc://{scheduler.ip}:{client_port}"
        data = tpch_data(0.01, 4)
        sql = (QUERIES_DIR / "q01.sql").read_text()
        with ballista_flight.connect(uri, timeout=120) as ctx:
            register_tpch(ctx, data)
            listed = {e["executor_id"]: e["uri"] for e in _executors(uri)}
            assert listed == {p.name: f"grpc://{p.ip}:{p.port('flight')}" for p in executor_pods}
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
        # The helm test pod's own command, against the same cluster.
        test_pod = r.one("Pod")
        env = {"PATH": kubelet.image.env.get("PATH", "/usr/bin:/bin")}
        env.update({e["name"]: e["value"] for e in container(test_pod).get("env", []) if "value" in e})
        argv = kubelet.command(kubelet.pods[0], env)  # entrypoint resolution only
        argv = argv[:1] + [kubelet.rewrite(a) for a in container(test_pod)["args"]]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "3 rows" in done.stdout, done.stdout
    except BaseException:
        for pod in kubelet.pods:
            print(f"--- {pod.name} ({pod.ip}) {pod.argv}\n{kubelet.logs(pod)}")
        raise
    finally:
        kubelet.stop()
    for pod in kubelet.pods:
        assert pod.process is not None
        assert pod.process.returncode == 0, f"{pod.name} exited {pod.process.returncode}: {kubelet.logs(pod)}"


def _executors(uri: str) -> list[dict[str, Any]]:
    from tests.e2e.cluster_utils import executors

    return executors(uri)
