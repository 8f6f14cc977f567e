"""Sources of the benchmark pipelines and of their plain-Python floors.

Every pipeline file runs itself with `p.run()` under `python FILE` (the way users of
Metaflow, Prefect, ZenML and kfp.local start theirs) and also exposes `p` for
`zenml run FILE:p`. The first step takes its seed from BENCH_SEED so a new seed
makes every step miss the cache, and the same seed makes them all hit it.

Each floor does the same work with the same functions called directly, in a process
of its own, so floor and pipeline both pay interpreter start-up.
"""

from __future__ import annotations

ARRAY_BYTES = 100 * 10**6  # "100 MB float64 array"
ARRAY_LEN = ARRAY_BYTES // 8
FANOUT_WIDTH = 8
FANOUT_SLEEP = 1.0


def linear_pipeline(n: int) -> str:
    """n no-op steps in a line, each passing an int to the next."""
    lines = [
        "import os",
        "from zenml_kf import BaseStepConfig, pipeline, step",
        "",
        "",
        "class Seed(BaseStepConfig):",
        "    seed: int = 0",
        "",
        "",
        "@step",
        "def s0(config: Seed) -> int:",
        "    return config.seed",
        "",
    ]
    for i in range(1, n):
        lines += ["", "@step", f"def s{i}(x: int) -> int:", "    return x + 1", ""]
    args = ", ".join(f"s{i}" for i in range(n))
    lines += ["", f"@pipeline(name='linear{n}')", f"def linear({args}):", "    x = s0()"]
    lines += [f"    x = s{i}(x)" for i in range(1, n)]
    instances = ", ".join(
        ["s0=s0(config=Seed(seed=int(os.environ.get('BENCH_SEED', '0'))))"]
        + [f"s{i}=s{i}()" for i in range(1, n)]
    )
    lines += ["", "", f"p = linear({instances})", "", "if __name__ == '__main__':", "    p.run()", ""]
    return "\n".join(lines)


def linear_floor(n: int) -> str:
    lines = ["import os", "", "", "def s0(seed):", "    return seed", ""]
    for i in range(1, n):
        lines += ["", f"def s{i}(x):", "    return x + 1", ""]
    lines += ["", "x = s0(int(os.environ.get('BENCH_SEED', '0')))"]
    lines += [f"x = s{i}(x)" for i in range(1, n)]
    lines.append("")
    return "\n".join(lines)


def fanout_pipeline() -> str:
    workers = [f"w{i}" for i in range(FANOUT_WIDTH)]
    lines = [
        "import os",
        "import time",
        "from zenml_kf import BaseStepConfig, pipeline, step",
        "",
        "",
        "class Seed(BaseStepConfig):",
        "    seed: int = 0",
        "",
        "",
        "@step",
        "def start(config: Seed) -> int:",
        "    return config.seed",
        "",
    ]
    for w in workers:
        lines += [
            "",
            "@step",
            f"def {w}(x: int) -> int:",
            f"    time.sleep({FANOUT_SLEEP})",
            "    return x + 1",
            "",
        ]
    join_args = ", ".join(f"a{i}: int" for i in range(FANOUT_WIDTH))
    join_sum = " + ".join(f"a{i}" for i in range(FANOUT_WIDTH))
    lines += ["", "@step", f"def join({join_args}) -> int:", f"    return {join_sum}", ""]
    lines += [
        "",
        "@pipeline(name='fanout')",
        f"def fanout(start, {', '.join(workers)}, join):",
        "    x = start()",
        f"    join({', '.join(f'{w}(x)' for w in workers)})",
        "",
        "",
        "p = fanout(start=start(config=Seed(seed=int(os.environ.get('BENCH_SEED', '0')))), "
        + ", ".join(f"{w}={w}()" for w in workers)
        + ", join=join())",
        "",
        "if __name__ == '__main__':",
        "    p.run()",
        "",
    ]
    return "\n".join(lines)


def fanout_floor() -> str:
    """The least a parallel fan-out can cost in Python: the 8 sleeps on a thread pool."""
    return f"""import os
import time
from concurrent.futures import ThreadPoolExecutor


def start(seed):
    return seed


def work(x):
    time.sleep({FANOUT_SLEEP})
    return x + 1


def join(*xs):
    return sum(xs)


x = start(int(os.environ.get("BENCH_SEED", "0")))
with ThreadPoolExecutor({FANOUT_WIDTH}) as pool:
    ys = list(pool.map(work, [x] * {FANOUT_WIDTH}))
join(*ys)
"""


def array_pipeline() -> str:
    return f"""import os

import numpy as np
from zenml_kf import BaseStepConfig, pipeline, step


class Seed(BaseStepConfig):
    seed: int = 0


@step
def make(config: Seed) -> np.ndarray:
    return np.random.default_rng(config.seed).random({ARRAY_LEN})


@step
def total(x: np.ndarray) -> float:
    return float(x.sum())


@pipeline(name="bigarray")
def bigarray(make, total):
    total(make())


p = bigarray(make=make(config=Seed(seed=int(os.environ.get("BENCH_SEED", "0")))), total=total())

if __name__ == "__main__":
    p.run()
"""


def array_floor() -> str:
    """Generate, np.save, drop, np.load, sum: what the pipeline does, minus the SDK."""
    return f"""import os
import sys

import numpy as np


def make(seed):
    return np.random.default_rng(seed).random({ARRAY_LEN})


def total(x):
    return float(x.sum())


path = sys.argv[1]
x = make(int(os.environ.get("BENCH_SEED", "0")))
np.save(path, x)
del x
total(np.load(path))
"""


# Modules that `import zenml_kf` and `zenml --help` must never load (issue 2).
FORBIDDEN = ("kfp", "ml_metadata", "boto3", "google.cloud", "docker", "pandas")
# A local run needs ml_metadata; it still has no use for these.
FORBIDDEN_IN_LOCAL_RUN = ("kfp", "boto3", "google.cloud", "docker", "pandas")

_REPORT_MODULES = """
import json, os, sys
def _report(names):
    found = sorted(m for m in sys.modules if any(m == n or m.startswith(n + ".") for n in names))
    with open(os.environ["BENCH_MODULES_OUT"], "w") as f:
        json.dump({"forbidden": found, "count": len(sys.modules)}, f)
"""


def modules_after_import(names: tuple[str, ...] = FORBIDDEN) -> str:
    return _REPORT_MODULES + f"import zenml_kf\n_report({names!r})\n"


def modules_after_public_api(names: tuple[str, ...] = FORBIDDEN) -> str:
    """What a pipeline file's own import line pulls in."""
    return _REPORT_MODULES + (
        f"from zenml_kf import BaseStepConfig, Output, Repository, pipeline, step\n_report({names!r})\n"
    )


def modules_after_help(names: tuple[str, ...] = FORBIDDEN) -> str:
    """Runs the console script's entry point exactly as `zenml --help` does."""
    return _REPORT_MODULES + (
        "import io, contextlib\n"
        "sys.argv = ['zenml', '--help']\n"
        "from zenml_kf.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"_report({names!r})\n"
    )


def modules_after_run(pipeline_file: str, names: tuple[str, ...] = FORBIDDEN_IN_LOCAL_RUN) -> str:
    return _REPORT_MODULES + (
        "import runpy\n"
        f"sys.argv = [{pipeline_file!r}]\n"
        f"runpy.run_path({pipeline_file!r}, run_name='__main__')\n"
        f"_report({names!r})\n"
    )
