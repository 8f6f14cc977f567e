"""Re-submitting an unchanged pipeline to KFP: `zenml run` against kfp.Client alone.

Both talk to the loopback KFP API server of the tests (tests/kubeflow/kfp_api_server.py,
which checks every request against KFP's REST contract), so the figure is the client
side's own cost: process start, imports, compiling and the API calls.

- zenml-kf: `zenml run flows.py:linear_pipeline --no-build` on a kubeflow stack whose
  pipeline was submitted before: it names the content-tagged image (unchanged code, so
  the image is reused), compiles, finds the identical version (no upload), creates the
  run and prints the KFP UI link. Timed from the process start to its exit, right after
  the link is printed.
- kfp alone: `kfp.Client(host).create_run_from_pipeline_package(...)` on the same
  compiled YAML, in a fresh process (it uploads nothing either: it sends the spec inline).

Usage: python benchmarks/bench_submit.py [--repeat 9]. Prints medians, interleaved.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ZENML = str(Path(sys.executable).parent / "zenml")
KFP_ALONE = """
import sys, kfp
client = kfp.Client(host=sys.argv[1])
run = client.create_run_from_pipeline_package(
    sys.argv[2], arguments={"scale-factor": 3.0}, run_name="bench", experiment_name="linear"
)
print(run.run_id)
"""


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def main() -> None:
    from tests.kubeflow.kfp_api_server import KFPServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3 if os.environ.get("BENCH_QUICK") else 9)
    args = parser.parse_args()
    server = KFPServer().start()
    folder = Path(tempfile.mkdtemp(prefix="bench-submit-"))
    try:
        root = folder / "project"
        shutil.copytree(REPO / "tests" / "compiler" / "project", root)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZENML_KF_")}
        env.update(
            GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@e", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@e"
        )
        setup = [
            ["git", "init", "-q"],
            [ZENML, "init"],
            [ZENML, "artifact-store", "register", "bucket", "--flavor", "s3", "--path", "s3://b/p"],
            [ZENML, "metadata-store", "register", "kfp", "--flavor", "grpc", "--host", "127.0.0.1"],
            [ZENML, "orchestrator", "register", "kf", "--flavor", "kubeflow", "--host", server.url,
             "--image-registry", "registry.example.com/team/steps"],
            [ZENML, "stack", "register", "prod", "-o", "kf", "-a", "bucket", "-m", "kfp", "--set"],
            [ZENML, "run", "flows.py:linear_pipeline", "--no-build"],  # the first submission
            [ZENML, "compile", "flows.py:linear_pipeline", "--output", "linear.yaml"],
        ]  # fmt: skip
        for command in setup:
            timed(command, root, env)
        ours, theirs = [], []
        uploads = sum(1 for r in server.requests if "upload" in r.path)
        for _ in range(args.repeat):
            ours.append(timed([ZENML, "run", "flows.py:linear_pipeline", "--no-build"], root, env))
            theirs.append(
                timed([sys.executable, "-c", KFP_ALONE, server.url, str(root / "linear.yaml")], root, env)
            )
        assert sum(1 for r in server.requests if "upload" in r.path) == uploads, "a re-submission uploaded"
        ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
        print(f"re-submission of an unchanged pipeline, median of {args.repeat} (fresh processes):")
        print(f"  zenml run (to the printed KFP UI link):          {ours_median * 1000:7.0f} ms")
        print(f"  kfp.Client.create_run_from_pipeline_package:     {theirs_median * 1000:7.0f} ms")
        print(f"  ratio zenml-kf / kfp alone:                      {ours_median / theirs_median:7.2f}x")
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
