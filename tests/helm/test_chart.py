"""The Helm chart: lint, schema, Kubernetes validation, and what the rendered manifests say.

Rendered with Helm's own engine (helm-python-sdk), validated offline against the Kubernetes
API schemas (kubernetes-validate --strict). No cluster needed.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import helm_python
import pytest
from kubernetes_validate import utils as kv

from ballista_flight.cli import build_parser
from ballista_flight.config import ExecutorConfig, SchedulerConfig, env_name
from tests.helm.chart import (
    CHART,
    NAMESPACE,
    RELEASE,
    VALUE_SETS,
    Rendered,
    container,
    default_values,
    env_entries,
    merge,
    plain_env,
    pod_spec,
    render,
    schema,
)

# Kubernetes versions every manifest must validate against: the oldest the chart supports
# (Chart.yaml kubeVersion) and the newest the installed kubernetes-validate knows.
KUBE_VERSIONS = ["1.27.0", kv.latest_version()]
# Custom resources have no schema in kubernetes-validate; their fields are asserted below.
CUSTOM_KINDS = {"ServiceMonitor"}

RENDERED: dict[str, Rendered] = {}


def rendered(name: str) -> Rendered:
    if name not in RENDERED:
        RENDERED[name] = render(VALUE_SETS[name])
    return RENDERED[name]


@pytest.fixture(params=sorted(VALUE_SETS))
def value_set(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- helm's own checks ----------------------------------------------------------------------


def test_helm_lint_passes_for_every_value_set(value_set: str) -> None:
    report = helm_python.lint(str(CHART), VALUE_SETS[value_set], strict=True, namespace=NAMESPACE,
                              kube_version="v" + KUBE_VERSIONS[-1])  # fmt: skip
    assert report["errors"] == []
    # Only the "icon is recommended" info may remain (severity 1); no warnings or errors.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_values_satisfy_schema(value_set: str) -> None:
    with helm_python.Chart.load(str(CHART)) as chart:
        chart.validate_schema(VALUE_SETS[value_set])


BAD_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown executor kind": ({"executor": {"kind": "DaemonSet"}}, "/executor/kind"),
    "port out of range": ({"scheduler": {"port": 70000}}, "/scheduler/port"),
    "port as text": ({"executor": {"httpPort": "http"}}, "/executor/httpPort"),
    "unknown setting": ({"executor": {"config": {"shufle": "disk"}}}, "shufle"),
    "setting the chart owns": ({"scheduler": {"config": {"port": 1}}}, "port"),
    "bad shuffle mode": ({"executor": {"config": {"shuffle": "tape"}}}, "/executor/config/shuffle"),
    "bad memory limit": ({"executor": {"config": {"memory_limit": "lots"}}}, "/executor/config/memory_limit"),
    "auth without its secret": ({"auth": {"enabled": True}}, "existingSecret"),
    "tls without its secret": ({"tls": {"enabled": True}}, "existingSecret"),
    "bad emptyDir medium": ({"executor": {"shuffleVolume": {"emptyDir": {"medium": "HugePages"}}}}, "medium"),
    "bad service type": ({"scheduler": {"service": {"type": "Ingress"}}}, "/scheduler/service/type"),
    "bad log level": ({"logLevel": "verbose"}, "/logLevel"),
    "misspelled top-level key": ({"executors": {"replicas": 3}}, "executors"),
    "negative replicas": ({"executor": {"replicas": -1}}, "/executor/replicas"),
    "bad image digest": ({"image": {"digest": "latest"}}, "/image/digest"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_schema_rejects_bad_values(case: str) -> None:
    values, where = BAD_VALUES[case]
    with helm_python.Chart.load(str(CHART)) as chart:
        with pytest.raises(helm_python.HelmValuesError) as caught:
            chart.validate_schema(values)
        assert where in str(caught.value)
        # helm install would refuse them the same way: rendering validates first.
        with pytest.raises(helm_python.HelmValuesError):
            chart.render(values, name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"executor": {"kind": "Deployment", "shuffleVolume": {"type": "persistentVolumeClaim"}}},
         "persistentVolumeClaim needs executor.kind StatefulSet"),
        ({"executor": {"kind": "Deployment"}, "tls": {"enabled": True, "existingSecret": "t"}},
         "tls.enabled needs executor.kind StatefulSet"),
        ({"tls": {"enabled": True, "existingSecret": "t", "ca": False, "clientAuth": True}},
         "tls.clientAuth needs tls.ca"),
        ({"executor": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}}},
         "minReplicas must not exceed maxReplicas"),
    ],
)  # fmt: skip
def test_impossible_combinations_fail_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    with helm_python.Chart.load(str(CHART)) as chart, pytest.raises(helm_python.HelmError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(caught.value)


def test_every_manifest_validates_against_kubernetes(value_set: str) -> None:
    manifests = rendered(value_set).all()
    assert manifests
    for manifest in manifests:
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        for version in KUBE_VERSIONS:
            try:
                kv.validate(manifest, version, strict=True)
            except kv.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                pytest.fail(
                    f"{manifest['kind']}/{manifest['metadata']['name']} invalid on {version}: {path}: {exc.message}"
                )


def test_custom_kinds_are_the_only_ones_without_a_kubernetes_schema() -> None:
    for manifest in rendered("secure").all():
        if manifest["kind"] in CUSTOM_KINDS:
            with pytest.raises(kv.SchemaNotFoundError):
                kv.validate(manifest, KUBE_VERSIONS[-1], strict=True)


def test_values_yaml_documents_every_value() -> None:
    """Every leaf value (and every map or list left empty) has a `# --` comment above it."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    missing = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "- ")) or ":" not in stripped:
            continue
        key, _, rest = stripped.partition(":")
        indent = len(line) - len(line.lstrip())
        next_indent = next(
            (len(n) - len(n.lstrip()) for n in lines[i + 1 :] if n.strip() and not n.strip().startswith("#")),
            0,
        )
        is_section = not rest.strip() and next_indent > indent
        if is_section and not any(lines[j].strip().startswith("# --") for j in range(max(0, i - 1), i)):
            # A section needs no comment of its own when its children are documented.
            continue
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#") and not lines[j].strip().startswith("# --"):
            j -= 1
        # Inside a documented map or list value (e.g. podSecurityContext) children need no comment.
        parent_documented = _inside_documented_block(lines, i, indent)
        if not (j >= 0 and lines[j].strip().startswith("# --")) and not parent_documented:
            missing.append(f"line {i + 1}: {key}")
    assert missing == []


def _inside_documented_block(lines: list[str], i: int, indent: int) -> bool:
    for j in range(i - 1, -1, -1):
        line = lines[j]
        if not line.strip() or line.strip().startswith("#"):
            continue
        parent_indent = len(line) - len(line.lstrip())
        if parent_indent < indent:
            k = j - 1
            while k >= 0 and lines[k].strip().startswith("#") and not lines[k].strip().startswith("# --"):
                k -= 1
            return (k >= 0 and lines[k].strip().startswith("# --")) or _inside_documented_block(
                lines, j, parent_indent
            )
    return False


# -- what the manifests say ------------------------------------------------------------------


def test_labels_follow_the_kubernetes_recommendations(value_set: str) -> None:
    for manifest in rendered(value_set).all():
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "ballista-flight"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/version"] == "0.1.0"
        assert labels["helm.sh/chart"] == "ballista-flight-0.1.0"
        assert manifest["metadata"]["namespace"] == NAMESPACE
        if manifest["kind"] in ("Deployment", "StatefulSet"):
            selector = manifest["spec"]["selector"]["matchLabels"]
            pod_labels = manifest["spec"]["template"]["metadata"]["labels"]
            assert set(selector) == {
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/component",
            }
            assert selector.items() <= pod_labels.items()


def test_services_select_the_pods_and_ports_agree_with_the_cli_flags(value_set: str) -> None:
    r = rendered(value_set)
    values = merge(default_values(), VALUE_SETS[value_set])
    for component, config in (("scheduler", SchedulerConfig), ("executor", ExecutorConfig)):
        workload = r.workload(component)
        env = plain_env(workload)
        ports = {p["name"]: p["containerPort"] for p in container(workload)["ports"]}
        # The container ports are where the process listens: the env read by --port and --http-port.
        assert ports == {"flight": values[component]["port"], "http": values[component]["httpPort"]}
        assert env[env_name("port")] == str(ports["flight"])
        assert env[env_name("http_port")] == str(ports["http"])
        assert {"port", "http_port", "host"} <= set(config.model_fields)
        assert env[env_name("host")] == "0.0.0.0"
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        services = [s for s in r.find("Service") if s["spec"]["selector"].items() <= pod_labels.items()]
        assert services, f"no Service selects the {component}"
        for service in services:
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in ports, f"{service['metadata']['name']} targets an unknown port"
    # Executors find the scheduler on its registration Service, at the scheduler's Flight port.
    internal = r.named("Service", f"{_fullname(value_set)}-scheduler-internal")
    assert internal["spec"]["publishNotReadyAddresses"] is True
    flight_port = next(p["port"] for p in internal["spec"]["ports"] if p["name"] == "flight")
    host = f"{internal['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
    scheme = "grpc+tls" if values["tls"]["enabled"] else "grpc"
    assert plain_env(r.workload("executor"))[env_name("scheduler")] == f"{scheme}://{host}:{flight_port}"
    # The scheduler advertises the same name, so executors can report results to it.
    assert plain_env(r.workload("scheduler"))[env_name("advertise_host")] == host
    client = r.named("Service", f"{_fullname(value_set)}-scheduler")
    assert client["spec"]["type"] == values["scheduler"]["service"]["type"]
    assert [p["port"] for p in client["spec"]["ports"]] == [values["scheduler"]["service"]["port"]]


def _fullname(value_set: str) -> str:
    return str(VALUE_SETS[value_set].get("fullnameOverride", f"{RELEASE}-ballista-flight"))


def test_probes_hit_the_health_endpoints_on_the_http_port(value_set: str) -> None:
    r = rendered(value_set)
    for component in ("scheduler", "executor"):
        c = container(r.workload(component))
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_pods_run_locked_down(value_set: str) -> None:
    r = rendered(value_set)
    pods = [r.workload("scheduler"), r.workload("executor"), *r.find("Pod")]
    for pod in pods:
        spec = pod_spec(pod)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        sc = container(pod)["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["runAsNonRoot"] is True
        # With a read-only root, /tmp must be a volume.
        assert any(m["mountPath"] == "/tmp" for m in container(pod)["volumeMounts"])


def test_executors_advertise_an_address_other_pods_reach() -> None:
    sts = rendered("defaults").workload("executor")
    assert sts["kind"] == "StatefulSet"
    assert sts["spec"]["serviceName"] == f"{RELEASE}-ballista-flight-executor"
    headless = rendered("defaults").named("Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    env = env_entries(sts)
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env[env_name("advertise_host")]["value"] == (
        f"$(POD_NAME).{sts['spec']['serviceName']}.{NAMESPACE}.svc.cluster.local"
    )
    assert env[env_name("executor_id")]["value"] == "$(POD_NAME)"
    deployment = rendered("deployment").workload("executor")
    assert deployment["kind"] == "Deployment"
    env = env_entries(deployment)
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env[env_name("advertise_host")]["value"] == "$(POD_IP)"
    # $(VAR) references only work for variables defined before them.
    names = list(env)
    assert names.index("POD_IP") < names.index(env_name("advertise_host"))


def test_slots_follow_the_cpu_request_unless_set() -> None:
    env = env_entries(rendered("defaults").workload("executor"))
    ref = env[env_name("slots")]["valueFrom"]["resourceFieldRef"]
    assert ref == {"containerName": "executor", "resource": "requests.cpu", "divisor": "1"}
    assert env_entries(rendered("deployment").workload("executor"))[env_name("slots")]["value"] == "4"


def test_shuffle_volume_is_the_work_dir() -> None:
    for value_set, expect in (
        ("defaults", {"sizeLimit": "20Gi"}),
        ("memory-nodeport", {"medium": "Memory", "sizeLimit": "2Gi"}),
    ):
        executor = rendered(value_set).workload("executor")
        assert plain_env(executor)[env_name("work_dir")] == "/var/lib/ballista-flight"
        mount = next(
            m for m in container(executor)["volumeMounts"] if m["mountPath"] == "/var/lib/ballista-flight"
        )
        volume = next(v for v in pod_spec(executor)["volumes"] if v["name"] == mount["name"])
        assert volume["emptyDir"] == expect
    sts = rendered("pvc-hpa").workload("executor")
    assert [v["name"] for v in pod_spec(sts)["volumes"]].count("shuffle") == 0
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "shuffle"
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Delete",
        "whenScaled": "Delete",
    }


def test_settings_from_values_become_environment_variables() -> None:
    r = rendered("pvc-hpa")
    executor, scheduler = plain_env(r.workload("executor")), plain_env(r.workload("scheduler"))
    assert executor[env_name("memory_limit")] == "1000000"  # not 1e+06
    assert executor[env_name("job_ttl_s")] == "1800"
    assert executor[env_name("shuffle")] == "disk"
    assert scheduler[env_name("heartbeat_timeout_s")] == "7.5"
    assert scheduler[env_name("shuffle_partitions")] == "16"
    for workload in (r.workload("executor"), r.workload("scheduler")):
        c = container(workload)
        assert {"secretRef": {"name": "s3-credentials"}} in c["envFrom"]
        assert {"name": "data", "mountPath": "/data", "readOnly": True} in c["volumeMounts"]
        assert plain_env(workload)["AWS_REGION"] == "eu-west-1"
        assert plain_env(workload)[env_name("s3_endpoint")] == "http://minio:9000"
        assert plain_env(workload)[env_name("s3_allow_http")] == "true"
        key = env_entries(workload)[env_name("s3_secret_access_key")]["valueFrom"]["secretKeyRef"]
        assert key == {"name": "s3-keys", "key": "secret-access-key"}


def test_every_setting_is_reachable_from_values() -> None:
    """Each config field is set by the chart in some value set, or accepted under <role>.config."""
    props = schema()["properties"]
    for role, model in (("scheduler", SchedulerConfig), ("executor", ExecutorConfig)):
        allowed = set(props[role]["properties"]["config"]["properties"])
        assert allowed <= set(model.model_fields), f"{role}.config accepts unknown settings"
        set_by_chart = set()
        for value_set in VALUE_SETS:
            set_by_chart |= set(env_entries(rendered(value_set).workload(role)))
        fields = {f for f in model.model_fields if env_name(f) in set_by_chart} | allowed
        assert set(model.model_fields) <= fields, (
            f"{role} settings out of reach: {set(model.model_fields) - fields}"
        )
        # And the chart sets nothing the program does not read.
        known = {env_name(f) for f in model.model_fields}
        known |= {"BALLISTA_FLIGHT_LOG_LEVEL"}
        ours = {n for n in set_by_chart if n.startswith("BALLISTA_FLIGHT_")}
        assert ours <= known, f"{role}: unknown variables {ours - known}"
        # The CLI parses the chart's literal values (a bad one would exit with a message).
        parser_env = {k: v for k, v in plain_env(rendered("pvc-hpa").workload(role)).items() if "$(" not in v}
        _parse_with_env(role, parser_env)


def _parse_with_env(role: str, env: dict[str, str]) -> None:
    import os

    from ballista_flight.cli import _build

    saved = dict(os.environ)
    try:
        os.environ.update(
            {k: v for k, v in env.items() if k.upper() != "BALLISTA_FLIGHT_SLOTS" or v.isdigit()}
        )
        args = build_parser().parse_args([role])
        config = _build(SchedulerConfig if role == "scheduler" else ExecutorConfig, args)
        assert config.port == int(env[env_name("port")])
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_auth_and_tls_come_from_secrets() -> None:
    r = rendered("secure")
    for role in ("scheduler", "executor"):
        env = env_entries(r.workload(role))
        assert env[env_name("auth_enabled")]["value"] == "true"
        assert env[env_name("cluster_secret")]["valueFrom"]["secretKeyRef"] == {
            "name": "bf-auth",
            "key": "cluster-secret",
        }
        assert env[env_name("tls_cert")]["value"] == "/etc/ballista-flight/tls/tls.crt"
        assert env[env_name("tls_key")]["value"] == "/etc/ballista-flight/tls/tls.key"
        assert env[env_name("tls_ca")]["value"] == "/etc/ballista-flight/tls/ca.crt"
        assert env[env_name("tls_client_auth")]["value"] == "true"
        volume = next(v for v in pod_spec(r.workload(role))["volumes"] if v["name"] == "tls")
        assert volume["secret"]["secretName"] == "bf-tls"
        assert {"name": "tls", "mountPath": "/etc/ballista-flight/tls", "readOnly": True} in container(
            r.workload(role)
        )["volumeMounts"]
    assert (
        env_entries(r.workload("scheduler"))[env_name("auth_users")]["valueFrom"]["secretKeyRef"]["key"]
        == "users"
    )
    assert env_name("auth_users") not in env_entries(r.workload("executor"))
    # TLS changes the scheme of every URI the chart writes.
    assert plain_env(r.workload("executor"))[env_name("scheduler")].startswith("grpc+tls://")
    test_pod = r.one("Pod")
    assert container(test_pod)["args"][2].startswith("grpc+tls://")
    # The sql command's own variables: a token, the CA, and a client certificate for mTLS.
    pod_env = env_entries(test_pod)
    assert pod_env["BALLISTA_FLIGHT_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "bf-auth",
        "key": "client-token",
    }
    assert pod_env["BALLISTA_FLIGHT_TLS_CA"]["value"] == "/etc/ballista-flight/tls/ca.crt"
    assert pod_env["BALLISTA_FLIGHT_CLIENT_CERT"]["value"] == "/etc/ballista-flight/tls/tls.crt"
    assert pod_env["BALLISTA_FLIGHT_CLIENT_KEY"]["value"] == "/etc/ballista-flight/tls/tls.key"
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    sql_help = parser.format_help() + commands.choices["sql"].format_help()
    for name in pod_env:
        assert name in sql_help, f"the sql command reads no {name}"
    assert "grpc+tls://" in r.notes
    assert "*.bf-ballista-flight-executor.analytics.svc.cluster.local" in r.notes


def test_network_policy_admits_only_the_cluster_and_its_clients() -> None:
    for value_set in ("secure", "memory-nodeport"):
        r = rendered(value_set)
        proxy = merge(default_values(), VALUE_SETS[value_set])["scheduler"]["proxyResults"]
        client_label = f"{_fullname(value_set)}-client"
        policies = {
            p["metadata"]["labels"]["app.kubernetes.io/component"]: p for p in r.find("NetworkPolicy")
        }
        assert set(policies) == {"scheduler", "executor"}
        for component, policy in policies.items():
            assert policy["spec"]["policyTypes"] == ["Ingress"]
            flight_rule = next(
                rule for rule in policy["spec"]["ingress"] if rule["ports"][0]["port"] == "flight"
            )
            sources = [
                p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
                for p in flight_rule["from"]
            ]
            clients = [
                p
                for p in flight_rule["from"]
                if client_label in p.get("podSelector", {}).get("matchLabels", {})
            ]
            if component == "scheduler":
                assert "executor" in sources
                assert clients
            else:
                assert {"scheduler", "executor"} <= set(sources)
                assert bool(clients) == (not proxy), (
                    "clients reach executors only when results are not relayed"
                )
        # The helm test pod is a client.
        assert r.one("Pod")["metadata"]["labels"][client_label] == "true"


def test_autoscaler_and_disruption_budget() -> None:
    r = rendered("pvc-hpa")
    hpa = r.one("HorizontalPodAutoscaler")
    sts = r.workload("executor")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": sts["metadata"]["name"],
    }
    assert "replicas" not in sts["spec"], "the autoscaler owns the replica count"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    assert r.find("PodDisruptionBudget", "executor")[0]["spec"]["maxUnavailable"] == 1
    assert not r.find("PodDisruptionBudget", "scheduler"), "off by default: one replica"
    assert rendered("defaults").workload("executor")["spec"]["replicas"] == 2
    # A pod's grace period outlasts the executor's drain.
    grace = int(plain_env(sts)[env_name("shutdown_grace_s")])
    assert pod_spec(sts)["terminationGracePeriodSeconds"] > grace


def test_service_monitor_scrapes_the_http_ports() -> None:
    r = rendered("secure")
    monitor = r.one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "scheme": "http", "interval": "30s"}
    ]
    selector = monitor["spec"]["selector"]
    scraped = []
    for service in r.find("Service"):
        labels = service["metadata"]["labels"]
        matches = selector["matchLabels"].items() <= labels.items() and all(
            labels.get(e["key"]) in e["values"] for e in selector["matchExpressions"]
        )
        if matches and any(p["name"] == "http" for p in service["spec"]["ports"]):
            scraped.append(labels["app.kubernetes.io/component"])
    assert sorted(scraped) == ["executor", "scheduler"]


def test_helm_test_pod_queries_the_client_service() -> None:
    r = rendered("defaults")
    pod = r.one("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    client = r.named("Service", f"{RELEASE}-ballista-flight-scheduler")
    args = container(pod)["args"]
    assert args[:2] == ["sql", "--scheduler"]
    assert (
        args[2]
        == f"grpc://{client['metadata']['name']}.{NAMESPACE}.svc.cluster.local:{client['spec']['ports'][0]['port']}"
    )
    assert args[3] == "--command"
    assert pod["spec"]["restartPolicy"] == "Never"


def test_notes_tell_how_to_connect() -> None:
    notes = rendered("defaults").notes
    assert "port-forward service/bf-ballista-flight-scheduler 50050:50050" in notes
    assert "flight.FlightClient(" in notes
    assert "adbc_driver_flightsql" in notes
    assert "proxyResults is false" in rendered("secure").notes


def test_names_stay_valid_for_the_longest_release_name() -> None:
    """Helm allows 53-character release names; every name must stay a DNS label, and a
    StatefulSet's name leaves room for the controller-revision-hash label (63 - 11)."""
    r = render(name="r" * 53)
    label = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    for manifest in r.all():
        name = manifest["metadata"]["name"]
        assert len(name) <= 63, name
        assert label.match(name), name
    assert len(r.workload("executor")["metadata"]["name"]) <= 52
    internal = plain_env(r.workload("scheduler"))[env_name("advertise_host")].split(".")[0]
    assert len(internal) <= 63


def test_chart_version_matches_the_package() -> None:
    import yaml

    from ballista_flight import __version__

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__
