"""Rendering the Helm chart with Helm's own engine (helm-python-sdk) and reading the result."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "ballista-flight"
RELEASE = "bf"
NAMESPACE = "analytics"

# Value sets the chart must render, lint and validate with. Each turns on features the others
# leave off, so that every template and branch is rendered at least once.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    # Executors as a Deployment advertising their pod IP; the scheduler behind a LoadBalancer.
    "deployment": {
        "executor": {"kind": "Deployment", "replicas": 3, "slots": 4},
        "scheduler": {
            "service": {
                "type": "LoadBalancer",
                "loadBalancerSourceRanges": ["10.0.0.0/8"],
                "externalTrafficPolicy": "Local",
            },
        },
        "image": {"digest": "sha256:" + "ab" * 32},
    },
    # Everything a locked-down namespace wants: auth, mutual TLS, NetworkPolicy, ServiceMonitor,
    # in-cluster clients fetching results from the executors.
    "secure": {
        "auth": {"enabled": True, "existingSecret": "bf-auth"},
        "tls": {"enabled": True, "existingSecret": "bf-tls", "clientAuth": True},
        "networkPolicy": {
            "enabled": True,
            "clients": [{"namespaceSelector": {"matchLabels": {"team": "analytics"}}}],
            "metrics": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}],
        },
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "scheduler": {"proxyResults": False, "pdb": {"enabled": True}},
    },
    # Shuffle on one PVC per executor, autoscaled executors, data from object storage and a
    # shared volume, placement rules.
    "pvc-hpa": {
        "executor": {
            "shuffleVolume": {
                "type": "persistentVolumeClaim",
                "persistentVolumeClaim": {"storageClassName": "fast-ssd", "size": "100Gi"},
            },
            "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 8},
            "config": {"shuffle": "disk", "job_ttl_s": 1800, "memory_limit": 1000000},
            "nodeSelector": {"node-pool": "compute"},
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "sql", "effect": "NoSchedule"}
            ],
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "executor"}},
                },
            ],
        },
        "scheduler": {
            "config": {"heartbeat_timeout_s": 7.5, "shuffle_partitions": 16},
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "node-pool", "operator": "In", "values": ["system"]}
                                ]
                            }
                        ]
                    }
                }
            },
        },
        "objectStoreSecret": "s3-credentials",
        "objectStore": {
            "s3": {
                "endpoint": "http://minio:9000",
                "region": "eu-west-1",
                "allowHttp": True,
                "existingSecret": "s3-keys",
            }
        },
        "extraVolumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "lake", "readOnly": True}}],
        "extraVolumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
        "extraEnv": [{"name": "AWS_REGION", "value": "eu-west-1"}],
    },
    # Shuffle spills to RAM (tmpfs), NodePort Service, NetworkPolicy with the scheduler relaying results.
    "memory-nodeport": {
        "executor": {"shuffleVolume": {"emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}},
        "scheduler": {"service": {"type": "NodePort", "nodePort": 30050}},
        "networkPolicy": {"enabled": True},
        "fullnameOverride": "sql",
    },
}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (as Helm merges values files)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class Rendered:
    """One rendering of the chart: its manifests, hook (test) manifests and NOTES.txt."""

    manifests: list[dict[str, Any]]
    tests: list[dict[str, Any]]
    notes: str

    def all(self) -> list[dict[str, Any]]:
        return self.manifests + self.tests

    def find(self, kind: str, component: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.all()
            if m["kind"] == kind
            and (component is None or m["metadata"]["labels"].get("app.kubernetes.io/component") == component)
        ]

    def one(self, kind: str, component: str | None = None) -> dict[str, Any]:
        found = self.find(kind, component)
        assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
        return found[0]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        found = [m for m in self.all() if m["kind"] == kind and m["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def workload(self, component: str) -> dict[str, Any]:
        found = [m for m in self.all() if m["kind"] in ("Deployment", "StatefulSet")
                 and m["metadata"]["labels"]["app.kubernetes.io/component"] == component]  # fmt: skip
        assert len(found) == 1
        return found[0]


def render(values: dict[str, Any] | None = None, name: str = RELEASE, namespace: str = NAMESPACE) -> Rendered:
    """Render the chart as ``helm template`` would, offline."""
    with helm_python.Chart.load(str(CHART)) as chart:
        files = chart.render(values or {}, name=name, namespace=namespace)
    manifests, tests, notes = [], [], ""
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        docs = [d for d in yaml.safe_load_all(text) if d]
        (tests if "/templates/tests/" in path else manifests).extend(docs)
    return Rendered(manifests, tests, notes)


def container(workload: dict[str, Any]) -> dict[str, Any]:
    """The one container of a workload's pod template (or of a Pod)."""
    spec = workload["spec"]["template"]["spec"] if "template" in workload["spec"] else workload["spec"]
    containers = spec["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"] if "template" in workload["spec"] else workload["spec"]  # type: ignore[no-any-return]


def plain_env(workload: dict[str, Any]) -> dict[str, str]:
    """The container's literal environment values (entries with valueFrom are left out)."""
    return {e["name"]: e["value"] for e in container(workload).get("env", []) if "value" in e}


def env_entries(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(workload).get("env", [])}


def schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text())  # type: ignore[no-any-return]


def default_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())  # type: ignore[no-any-return]
