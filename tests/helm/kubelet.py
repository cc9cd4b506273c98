"""Just enough of a kubelet to start the chart's containers as local processes on loopback.

Each pod gets its own loopback address (127.x.y.z), as each pod has its own IP: containers
listen where the chart says (0.0.0.0 becomes the pod's address) on the ports the chart
renders, and two executors can share a port number as their pods do. The Services' and pods'
DNS names are mapped to those addresses by rewriting the host names in the environment.
Everything else is taken from the rendered manifests and the Dockerfile as they are: the
entrypoint, args, env (with $(VAR) references and downward-API fields expanded as the kubelet
does), volume mount paths (mapped to directories under a temporary root) and probes.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dockerfile

from tests.helm.chart import ROOT, container, pod_spec

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, others stay."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REF.sub(sub, value)


def cpu_quantity(text: str) -> float:
    """A CPU quantity in cores: "2", "500m", "1.5"."""
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


@dataclass
class Image:
    """What the Dockerfile's final stage gives a container: its entrypoint and environment."""

    entrypoint: list[str]
    env: dict[str, str]
    user: str

    @classmethod
    def from_dockerfile(cls, path: Path = ROOT / "Dockerfile") -> Image:
        stages: list[list[Any]] = []
        for command in dockerfile.parse_file(str(path)):
            if command.cmd == "FROM":
                stages.append([])
            elif stages:
                stages[-1].append(command)
        entrypoint: list[str] = []
        env: dict[str, str] = {}
        args: dict[str, str] = {}
        user = ""
        for command in stages[-1]:
            if command.cmd == "ENTRYPOINT":
                assert command.json, "ENTRYPOINT must use the exec form"
                entrypoint = list(command.value)
            elif command.cmd == "ENV":
                pairs = list(command.value)
                env.update(zip(pairs[::2], pairs[1::2], strict=True))
            elif command.cmd == "ARG":
                name, _, default = command.value[0].partition("=")
                args[name] = default
            elif command.cmd == "USER":
                user = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], command.value[0])
        return cls(entrypoint, env, user)


@dataclass
class Pod:
    """One pod of a workload, about to run (or running) as a local process."""

    name: str
    ip: str
    manifest: dict[str, Any]  # the Deployment or StatefulSet
    root: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        template = self.manifest["spec"].get("template", self.manifest)
        return template["metadata"]["labels"]  # type: ignore[no-any-return]

    @property
    def container(self) -> dict[str, Any]:
        return container(self.manifest)

    def port(self, name_or_number: str | int) -> int:
        """A container port by name (as probes and Services name them) or number."""
        if isinstance(name_or_number, int):
            return name_or_number
        return next(int(p["containerPort"]) for p in self.container["ports"] if p["name"] == name_or_number)

    def probe_url(self, probe: str) -> str:
        get = self.container[probe]["httpGet"]
        return f"http://{self.ip}:{self.port(get['port'])}{get['path']}"


class Kubelet:
    """Starts pods of the rendered workloads; maps DNS names to the pods' loopback addresses."""

    def __init__(self, namespace: str, root: Path, secrets: dict[str, dict[str, str]] | None = None) -> None:
        self.namespace = namespace
        self.root = root
        self.secrets = secrets or {}
        self.image = Image.from_dockerfile()
        self.pods: list[Pod] = []
        self.hosts: dict[str, str] = {}  # DNS name -> loopback address
        # A loopback /24 of our own, so that fixed container ports collide with nothing.
        seed = os.getpid() % 250 + 1, int(time.monotonic() * 1000) % 250 + 1
        self._net = f"127.{seed[0]}.{seed[1]}."

    def add_pods(self, workload: dict[str, Any], cluster_domain: str = "cluster.local") -> list[Pod]:
        """The pods a Deployment or StatefulSet would create (or a Pod), with names and addresses."""
        name = workload["metadata"]["name"]
        replicas = int(workload["spec"].get("replicas", 1))
        added = []
        for i in range(replicas):
            if workload["kind"] == "Pod":
                pod_name = name
            elif workload["kind"] == "StatefulSet":
                pod_name = f"{name}-{i}"
            else:
                pod_name = f"{name}-5d8f7c9b6-{'abcdefghij'[i]}x{i}z"
            pod = Pod(pod_name, f"{self._net}{len(self.pods) + 1}", workload, self.root / pod_name)
            self.pods.append(pod)
            added.append(pod)
            if workload["kind"] == "StatefulSet":
                service = workload["spec"]["serviceName"]
                self.hosts[f"{pod_name}.{service}.{self.namespace}.svc.{cluster_domain}"] = pod.ip
        return added

    def add_service(self, service: dict[str, Any], cluster_domain: str = "cluster.local") -> None:
        """Map a Service's names to the one pod it selects (the scheduler's Services)."""
        selector = service["spec"]["selector"]
        selected = [p for p in self.pods if selector.items() <= p.labels.items()]
        if len(selected) != 1 or service["spec"].get("clusterIP") == "None":
            return  # headless, or many pods: reached by pod names instead
        name = service["metadata"]["name"]
        for host in (name, f"{name}.{self.namespace}", f"{name}.{self.namespace}.svc",
                     f"{name}.{self.namespace}.svc.{cluster_domain}"):  # fmt: skip
            self.hosts[host] = selected[0].ip
        for port in service["spec"]["ports"]:
            # A Service port forwards to its target port; we connect to the pod directly, so
            # the two must agree for the rewritten addresses to hold.
            assert selected[0].port(port["targetPort"]) == port["port"], "service port != target port"

    def rewrite(self, text: str) -> str:
        """Replace the DNS names the chart wrote with the loopback addresses behind them."""
        for host in sorted(self.hosts, key=len, reverse=True):
            text = re.sub(rf"(?<![\w.-]){re.escape(host)}(?![\w.-])", self.hosts[host], text)
        return text

    def local_path(self, pod: Pod, path: str) -> str:
        """A path inside the container, moved to the pod's volume (and subPath) mounted there."""
        for mount in sorted(pod.container.get("volumeMounts", []), key=lambda m: -len(m["mountPath"])):
            mount_path = mount["mountPath"].rstrip("/")
            if path == mount_path or path.startswith(mount_path + "/"):
                volume = pod.root / "volumes" / mount["name"] / mount.get("subPath", "")
                return str(volume) + path[len(mount_path) :]
        return path

    def environment(self, pod: Pod) -> dict[str, str]:
        """The container's environment as the kubelet builds it: image ENV, envFrom, then env."""
        c = pod.container
        env = dict(self.image.env)
        for source in c.get("envFrom", []):
            env.update(self.secrets[source["secretRef"]["name"]])
        fields = {"metadata.name": pod.name, "metadata.namespace": self.namespace, "status.podIP": pod.ip}
        for entry in c.get("env", []):
            if "value" in entry:
                env[entry["name"]] = expand(entry["value"], env)
            elif "fieldRef" in entry["valueFrom"]:
                env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
            elif "resourceFieldRef" in entry["valueFrom"]:
                ref = entry["valueFrom"]["resourceFieldRef"]
                kind, _, resource = ref["resource"].partition(".")
                quantity = c["resources"].get(kind, {}).get(resource)
                cores = cpu_quantity(str(quantity)) if quantity else float(os.cpu_count() or 1)
                env[entry["name"]] = str(max(1, math.ceil(cores / cpu_quantity(ref.get("divisor", "1")))))
            elif "secretKeyRef" in entry["valueFrom"]:
                ref = entry["valueFrom"]["secretKeyRef"]
                secret = self.secrets.get(ref["name"], {})
                if ref["key"] in secret:
                    env[entry["name"]] = secret[ref["key"]]
                else:
                    assert ref.get("optional"), f"secret {ref['name']} has no key {ref['key']}"
        for name, raw in env.items():
            value = self.rewrite(raw)
            if name.endswith("_HOST") and value in ("0.0.0.0", "::"):
                value = pod.ip  # all of the pod's interfaces: here, its own loopback address
            env[name] = self.local_path(pod, value) if value.startswith("/") else value
        if any(m["mountPath"] == "/tmp" for m in c.get("volumeMounts", [])):
            env["TMPDIR"] = self.local_path(pod, "/tmp")
        return env

    def command(self, pod: Pod, env: dict[str, str]) -> list[str]:
        """command (or the image's ENTRYPOINT) + args, with $(VAR) expanded and names rewritten."""
        argv = list(pod.container.get("command") or self.image.entrypoint)
        argv += [self.rewrite(expand(a, env)) for a in pod.container.get("args", [])]
        # The image puts the console script on the PATH; here it is in the virtualenv.
        if argv[0] == "ballista-flight":
            argv[0] = str(Path(sys.executable).with_name("ballista-flight"))
        return argv

    def start(self, pod: Pod) -> None:
        pod.root.mkdir(parents=True, exist_ok=True)
        for volume in pod_spec(pod.manifest).get("volumes", []):
            if "secret" in volume:  # a Secret volume: one file per key
                directory = pod.root / "volumes" / volume["name"]
                directory.mkdir(parents=True, exist_ok=True)
                for key, text in self.secrets[volume["secret"]["secretName"]].items():
                    (directory / key).write_text(text)
        for mount in pod.container.get("volumeMounts", []):
            Path(self.local_path(pod, mount["mountPath"])).mkdir(parents=True, exist_ok=True)
        pod.env = self.environment(pod)
        pod.argv = self.command(pod, pod.env)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            # Ends the process with the test run, even if the test is killed (cli._die_with_parent).
            "BALLISTA_FLIGHT_PARENT_PID": str(os.getpid()),
            **pod.env,
        }
        log = (pod.root / "log.txt").open("wb")
        pod.process = subprocess.Popen(
            pod.argv, env=env, cwd=pod.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every pod's startup and readiness probe endpoints answer 200."""
        deadline = time.monotonic() + timeout
        for probe in ("startupProbe", "readinessProbe"):
            for pod in self.pods:
                url = pod.probe_url(probe)
                while not _ok(url):
                    assert pod.process is not None
                    if pod.process.poll() is not None:
                        raise AssertionError(f"{pod.name} exited: {self.logs(pod)}")
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{pod.name}: {url} not ready: {self.logs(pod)}")
                    time.sleep(0.1)

    def logs(self, pod: Pod) -> str:
        path = pod.root / "log.txt"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM every pod, executors first (they drain), and wait as their grace periods allow."""

        def is_scheduler(pod: Pod) -> bool:
            return pod.labels["app.kubernetes.io/component"] == "scheduler"

        for pod in sorted(self.pods, key=is_scheduler):
            if pod.process is not None and pod.process.poll() is None:
                pod.process.send_signal(signal.SIGTERM)
                grace = pod_spec(pod.manifest).get("terminationGracePeriodSeconds", 30)
                try:
                    pod.process.wait(grace)
                except subprocess.TimeoutExpired:
                    pod.process.kill()
                    pod.process.wait()


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
