"""Step images on the cluster path: sizes, rebuild time, `zenml image build`, entrypoint.

Needs a Docker engine, so `run_all.py` leaves it out unless asked; `make bench-images`
runs it (`python benchmarks/bench_images.py --docker`), starting the engine and the
Python base image with scripts/setup_docker.sh. Builds install from a wheelhouse made on
the host (`pip wheel`), as the tests do, so no build needs the network.

Measured on the README's example (examples/digits, scikit-learn from a requirements file):
- the base image's size, and the bytes of any layer made by an instruction that handled
  the build inputs (the wheels, the requirements, the CA bundle): should be 0;
- the digits step image's size;
- the rebuild after a one-line code change (`zenml image build`, the user's module
  imported again), and which of the image's layers changed;
- `zenml image build` on the unchanged project (the tag exists);
- the entrypoint's overhead: `python -m zenml_kf.entrypoint` running the importer step
  against `python -c` importing the user module and calling the step's function, both
  timed inside one `docker run` of the step image (the floor).

Usage: python benchmarks/bench_images.py --docker [--reps 7] [--rebuilds 3]
BENCH_QUICK=1 cuts the repetitions. Exit 1 when a measurement failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core_harness import (
    BenchmarkError,
    Row,
    child_env,
    log,
    median,
    render_table,
    run_process,
)

REPO = Path(__file__).resolve().parents[1]
ZENML = str(Path(sys.executable).parent / "zenml")
TARGET = "digits/pipeline.py:digits_pipeline_run"
_TAG = re.compile(r"(zenml-kf-(?:base|steps):[0-9a-f]{16})")

# Runs inside the step image: the entrypoint and the floor alternate, each a fresh process.
IN_IMAGE = r"""
import json, os, statistics, subprocess, sys, time
args, reps, floor = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def timed(cmd):
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started

def entrypoint(i):
    out = f"/tmp/out/{i}"
    executor_input = {
        "inputs": {"parameterValues": {}},
        "outputs": {
            "artifacts": {
                name: {"artifacts": [{"name": name, "uri": f"{out}/{name}", "metadata": {}}]}
                for name in ("images", "labels")
            },
            "outputFile": f"{out}/executor_output.json",
        },
    }
    argv = [json.dumps(executor_input) if a == "{{$}}" else a for a in args]
    return timed([sys.executable, "-m", "zenml_kf.entrypoint", *argv])

entrypoint(-1); timed([sys.executable, "-c", floor])  # warm the page cache
ours, plain = [], []
for i in range(reps):
    ours.append(entrypoint(i))
    plain.append(timed([sys.executable, "-c", floor]))
print(json.dumps({"entrypoint": ours, "floor": plain}))
"""


# The entrypoint's own cost, measured on a step that imports only numpy: the digits importer
# pays about a second importing scikit-learn, whose run-to-run spread (tens of ms) is
# larger than the overhead itself. Same outputs, same shapes as the importer's.
LIGHT_PIPELINE = """\
import numpy as np

from zenml_kf import Output, pipeline, step


@step
def arrays() -> Output(images=np.ndarray, labels=np.ndarray):
    rng = np.random.default_rng(0)
    return rng.random((1797, 64)), rng.integers(0, 10, 1797)


@pipeline
def light_pipeline(arrays):
    arrays()


light = light_pipeline(arrays=arrays())
"""


def docker(*args: str, timeout: float = 600) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise BenchmarkError(f"docker {' '.join(args[:2])} failed: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def inspect(image: str) -> dict[str, object]:
    data: list[dict[str, object]] = json.loads(docker("image", "inspect", image))
    return data[0]


def layers(image: str) -> list[str]:
    rootfs = inspect(image)["RootFS"]
    assert isinstance(rootfs, dict)
    return [str(layer) for layer in rootfs["Layers"]]


def size_mb(image: str) -> float:
    return float(str(inspect(image)["Size"])) / 1e6


def build_input_bytes(image: str) -> tuple[float, list[str]]:
    """MB in layers whose instruction handled the build inputs, and each layer's line."""
    history = docker("history", "--no-trunc", "--format", "{{json .}}", image).splitlines()
    total, table = 0.0, []
    for line in history:
        entry = json.loads(line)
        created = str(entry["CreatedBy"])
        size = _bytes(str(entry["Size"]))
        table.append(f"{size / 1e6:8.1f} MB  {' '.join(created.split())[:90]}")
        if any(word in created for word in ("wheelhouse", "zenml-kf-build", "ca-bundle", "requirements.txt")):
            total += size
    return total / 1e6, table


def _bytes(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)\s*([kMG]?B)", text.strip())
    if not match:
        return 0.0
    factor = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[match.group(2)]
    return float(match.group(1)) * factor


def image_build(root: Path, args: list[str], env: dict[str, str]) -> tuple[float, str, str]:
    """(seconds, step tag, output) of one `zenml image build`."""
    result = run_process([ZENML, "image", "build", TARGET, *args], cwd=root, env=env, timeout=3600)
    tags = _TAG.findall(result.stdout)
    steps = [t for t in tags if t.startswith("zenml-kf-steps")]
    if not steps:
        raise BenchmarkError(f"no step image named in:\n{result.stdout}")
    return result.wall, steps[-1], result.stdout


def main(argv: list[str] | None = None) -> int:
    quick = bool(os.environ.get("BENCH_QUICK"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docker", action="store_true", help="run (needs a Docker engine; slow)")
    parser.add_argument("--reps", type=int, default=3 if quick else 7)
    parser.add_argument("--rebuilds", type=int, default=1 if quick else 3)
    args = parser.parse_args(argv)
    if not args.docker and not os.environ.get("BENCH_IMAGES"):
        log(
            "bench_images: the image figures need a Docker engine and minutes of builds; run `make bench-images`"
        )
        return 0

    setup = subprocess.run(
        ["bash", str(REPO / "scripts" / "setup_docker.sh")], capture_output=True, text=True, timeout=1800
    )
    if setup.returncode != 0:
        log(f"bench_images: scripts/setup_docker.sh failed:\n{setup.stderr[-2000:]}")
        return 1
    python_image = dict(line.split("=", 1) for line in setup.stdout.splitlines() if "=" in line)["BASE_IMAGE"]

    folder = Path(tempfile.mkdtemp(prefix="bench-images-"))
    made: list[str] = []
    try:
        return _measure(folder, python_image, args.reps, args.rebuilds, made)
    except BenchmarkError as exc:
        log(f"bench_images: {exc}")
        return 1
    finally:
        for tag in made[:-1]:  # intermediate rebuilds; the last image stays for inspection
            subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _measure(folder: Path, python_image: str, reps: int, rebuilds: int, made: list[str]) -> int:
    wheelhouse = folder / "wheelhouse"
    run_process(
        [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheelhouse),
         "-r", str(REPO / "images" / "requirements.txt"), "scikit-learn"],
        timeout=900,
    )  # fmt: skip
    root = folder / "project"
    shutil.copytree(REPO / "examples", root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "requirements.txt").write_text("scikit-learn\n")
    (root / "light_pipeline.py").write_text(LIGHT_PIPELINE)
    env = child_env({"XDG_CACHE_HOME": str(folder / "cache")})
    run_process(["git", "init", "-q"], cwd=root, env=env)
    run_process([ZENML, "init"], cwd=root, env=env)
    build_args = ["-r", "requirements.txt", "--python-image", python_image, "--wheelhouse", str(wheelhouse)]

    log("bench_images: building the base and digits step images (minutes on the vfs driver) ...")
    first, image, output = image_build(root, build_args, env)
    made.append(image)
    base = next((t for t in _TAG.findall(output) if t.startswith("zenml-kf-base")), None)
    base = base or _base_of(image)
    log(f"  first build {first:.0f} s: {image} on {base}")

    base_inputs, base_table = build_input_bytes(base)
    step_inputs, step_table = build_input_bytes(image)
    rows = [
        Row("base image size", "MB", size_mb(base), None, None, "was 364 MB (66 MB of it wheels)"),
        Row("build-input layers (base + step)", "MB", base_inputs + step_inputs, None, 0.0, "was 66 + 66 MB"),
        Row(
            "digits step image size", "MB", size_mb(image), size_mb(base), None, "was 629 MB; floor: the base"
        ),
    ]

    # One-line code changes: each a new tag, built from the layers the last one left.
    pipeline_file = root / "digits" / "pipeline.py"
    original = pipeline_file.read_text()
    times, changed_layers = [], []
    previous = image
    for i in range(rebuilds):
        pipeline_file.write_text(original + f"# one-line change {i}\n")
        seconds, tag, _ = image_build(root, build_args, env)
        made.append(tag)
        before, after = layers(previous), layers(tag)
        changed = [n for n in range(max(len(before), len(after))) if before[n : n + 1] != after[n : n + 1]]
        changed_layers.append(f"{[n + 1 for n in changed]} of {len(after)}")
        times.append(seconds)
        previous = tag
        log(f"  rebuild {i + 1}: {seconds:.1f} s, changed layers {changed_layers[-1]}")
    rows.append(
        Row(
            f"rebuild after a one-line change ({rebuilds}x)", "s", median(times), None, None,
            f"was 85 s; layers changed: {', '.join(sorted(set(changed_layers)))}", samples=times,
        )
    )  # fmt: skip

    # The unchanged project: the first call records the graph's requirements.
    image_build(root, build_args, env)
    unchanged = [image_build(root, build_args, env)[0] for _ in range(reps)]
    rows.append(
        Row(
            f"zenml image build, unchanged ({reps}x)", "s", median(unchanged), None, 1.0, "was 4 s", unchanged
        )
    )

    # The entrypoint inside the image, against importing the module and calling the function.
    for target, step, floor, label in (
        (TARGET, "importer", "import digits.pipeline as m; m.importer.fn()", "digits importer"),
        ("light_pipeline.py:light", "arrays", "import light_pipeline as m; m.arrays.fn()", "numpy-only step"),
    ):
        ours, plain = _entrypoint_in_image(root, env, previous, folder, target, step, floor, reps)
        overhead = [(a - b) * 1000 for a, b in zip(ours, plain, strict=True)]
        rows.append(
            Row(f"entrypoint, {label} ({reps}x)", "ms", median(ours) * 1000, median(plain) * 1000, None,
                "floor: import the module, call the function")
        )  # fmt: skip
        light = step == "arrays"
        rows.append(
            Row(f"entrypoint overhead, {label} (paired)", "ms", median(overhead), None, 30.0 if light else None,
                "was 60 ms" if light else "spread of the scikit-learn import dominates", overhead)
        )  # fmt: skip

    print()
    print(render_table(rows))
    print("\nbase image layers (newest first):")
    print("\n".join(base_table))
    print(f"\ndigits step image layers ({previous}, newest first):")
    print("\n".join(step_table[: len(step_table) - len(base_table)]))
    print(f"\n1-minute load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


def _entrypoint_in_image(
    root: Path, env: dict[str, str], image: str, folder: Path, target: str, step: str, floor: str, reps: int
) -> tuple[list[float], list[float]]:
    """Seconds of `python -m zenml_kf.entrypoint` running `step` and of `floor`, alternating."""
    yaml_path = folder / f"{step}.yaml"
    run_process([ZENML, "compile", target, "-o", str(yaml_path), "--image", image], cwd=root, env=env)
    out = docker(
        "run", "--rm", "--network", "none", image, "python", "-c", IN_IMAGE,
        json.dumps(_step_args(yaml_path, step)), str(reps), floor, timeout=1800,
    )  # fmt: skip
    figures = json.loads(out.strip().splitlines()[-1])
    return figures["entrypoint"], figures["floor"]


def _base_of(image: str) -> str:
    own = layers(image)
    for tag in docker("images", "--format", "{{.Repository}}:{{.Tag}}", "zenml-kf-base").split():
        theirs = layers(tag)
        if own[: len(theirs)] == theirs:
            return tag
    raise BenchmarkError(f"no zenml-kf-base image under {image}")


def _step_args(yaml_path: Path, step: str) -> list[str]:
    import yaml

    spec = next(iter(yaml.safe_load_all(yaml_path.read_text())))
    container = spec["deploymentSpec"]["executors"][f"exec-{step}"]["container"]
    return [str(a) for a in container["args"]]


if __name__ == "__main__":
    sys.exit(main())
