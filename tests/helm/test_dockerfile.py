"""The Dockerfile: hadolint finds nothing, and the image is what the chart expects.

No Docker engine runs here, so the image is never built in tests; what it runs is: the
entrypoint and environment below are the ones test_chart_cluster.py starts the chart with.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import dockerfile
import pytest

from tests.helm.chart import ROOT, container, default_values, render
from tests.helm.kubelet import Image

DOCKERFILE = ROOT / "Dockerfile"


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    done = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _stages() -> list[list[dockerfile.Command]]:
    stages: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            stages.append([command])
        elif stages:
            stages[-1].append(command)
    return stages


def test_multi_stage_build_installs_the_wheel_in_a_slim_python() -> None:
    stages = _stages()
    assert len(stages) == 2
    builder, runtime = stages
    base = next(c for c in dockerfile.parse_file(str(DOCKERFILE)) if c.cmd == "ARG").value[0]
    assert base.startswith("PYTHON_IMAGE=python:3.11-slim")
    assert builder[0].value == ("${PYTHON_IMAGE}", "AS", "builder")
    assert any(c.cmd == "RUN" and "build --wheel" in c.value[0] for c in builder)
    copies = [c for c in runtime if c.cmd == "COPY"]
    assert [c.flags for c in copies] == [("--from=builder",)], "the runtime takes only the wheel"
    assert any(c.cmd == "RUN" and "pip install /wheels/*.whl" in c.value[0] for c in runtime)


def test_one_entrypoint_for_both_roles_matches_the_console_script() -> None:
    image = Image.from_dockerfile()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert image.entrypoint == ["ballista-flight"]
    assert scripts["ballista-flight"] == "ballista_flight.__main__:main"  # sets the allocator up first
    r = render()
    assert container(r.workload("scheduler"))["args"][0] == "scheduler"
    assert container(r.workload("executor"))["args"][0] == "executor"
    for manifest in (r.workload("scheduler"), r.workload("executor"), r.one("Pod")):
        assert "command" not in container(manifest), "the image's ENTRYPOINT runs"
        assert container(manifest)["image"] == "ballista-flight:0.1.0"


def test_runs_as_the_non_root_user_the_chart_declares() -> None:
    image = Image.from_dockerfile()
    uid, _, gid = image.user.partition(":")
    assert uid.isdigit(), "numeric, so that runAsNonRoot can check it"
    assert int(uid) > 0
    pod = default_values()["podSecurityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))


def test_writes_go_to_the_mounted_work_dir() -> None:
    image = Image.from_dockerfile()
    work_dir = image.env["BALLISTA_FLIGHT_WORK_DIR"]
    assert image.env["HOME"] == work_dir
    executor = render().workload("executor")
    mounts = {m["mountPath"] for m in container(executor)["volumeMounts"]}
    assert {work_dir, "/tmp"} <= mounts
    workdir = [c.value[0] for c in _stages()[-1] if c.cmd == "WORKDIR"]
    assert workdir == [work_dir]


@pytest.mark.parametrize("needed", ["pyproject.toml", "README.md", "src/"])
def test_dockerignore_keeps_what_the_build_copies(needed: str) -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    assert f"!{needed}" in lines
