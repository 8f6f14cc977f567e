"""`zenml stack deploy`: the zenml-kf-stack chart installed with a stack's values, by helm.

The chart ships inside the package (`zenml_kf/charts/zenml-kf-stack`, the repository's
`charts/` folder), so deploying works from a pip install. helm itself is the user's:
it is found on PATH, and its errors are passed on in one line.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from zenml_kf.exceptions import StackError, first_line

if TYPE_CHECKING:
    from zenml_kf.stack.chart_values import StackDoc

CHART = Path(__file__).resolve().parents[1] / "charts" / "zenml-kf-stack"


def chart_path() -> Path:
    if not (CHART / "Chart.yaml").is_file():
        raise StackError(f"the zenml-kf-stack chart is missing ({CHART}); reinstall zenml-kf")
    return CHART


def deploy_chart(
    doc: StackDoc,
    namespace: str,
    release: str,
    values_files: list[Path],
    set_values: list[str],
    dry_run: bool,
    timeout_seconds: float = 600,
) -> str:
    """Run `helm upgrade --install` (or `helm template` with `dry_run`); returns its output."""
    import yaml

    from zenml_kf.stack.chart_values import values_for

    helm = shutil.which("helm")
    if helm is None:
        raise StackError(
            "helm is not on PATH; install Helm 3 (https://helm.sh/docs/intro/install/), or render the "
            "manifests yourself: zenml stack export-values -o values.yaml && helm template ..."
        )
    for file in values_files:
        if not file.is_file():
            raise StackError(f"values file '{file}' does not exist; check the path")
    with tempfile.TemporaryDirectory(prefix="zenml-kf-deploy-") as folder:
        stack_values = Path(folder) / "stack-values.yaml"
        stack_values.write_text(yaml.safe_dump(values_for(doc), sort_keys=False))
        action = ["template"] if dry_run else ["upgrade", "--install", "--wait", "--create-namespace"]
        command = [
            helm,
            *action,
            release,
            str(chart_path()),
            "--namespace",
            namespace,
            "-f",
            str(stack_values),
        ]
        for file in values_files:
            command += ["-f", str(file)]
        for item in set_values:
            command += ["--set", item]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            raise StackError(f"helm did not finish within {timeout_seconds:g} s; check the cluster") from None
    if proc.returncode != 0:
        message = (
            first_line(proc.stderr.replace("Error: ", "", 1))
            if proc.stderr.strip()
            else f"exit {proc.returncode}"
        )
        raise StackError(f"helm {' '.join(action[:2])} failed: {message}")
    return proc.stdout
