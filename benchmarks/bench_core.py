"""Core SDK benchmarks (issues 2 and 12): CLI start-up, imports, local pipeline runs,
caching, fan-out and a 100 MB numpy artifact.

Every figure is the median over several repetitions of a whole fresh process, timed
against the plain-Python floor of the same work measured in the same run (the same
functions called directly; the array saved and loaded with numpy), alternating
pipeline and floor runs so noise on the machine hits both alike.

    python benchmarks/bench_core.py            # default: 7 repetitions of the slow ones
    python benchmarks/bench_core.py --reps 9   # steadier figures
    python benchmarks/bench_core.py --quick    # 3 repetitions, a smoke test (or BENCH_QUICK=1)
    python benchmarks/bench_core.py --explain  # also show where the time goes

Exit status: 1 if a measured process failed or `import zenml_kf` / `zenml --help` load a
forbidden module; with --strict also when a figure misses its target; else 0.
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import json
import os
import platform
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import core_pipelines as src
from core_harness import (
    BenchmarkError,
    ProcResult,
    Row,
    child_env,
    interleaved,
    log,
    median,
    render_table,
    run_process,
    spread,
)

import zenml_kf

PY = sys.executable
SDK_ROOT = Path(__file__).resolve().parent.parent

# Targets of issue 12 "Runs at the floor" (issue 2's for the rows it does not list), and
# the best peer's median each issue quotes.
TARGET_HELP = 0.2
TARGET_API_IMPORT = 0.15
TARGET_FIRST_RUN = 1.0
TARGET_LINEAR = 0.30
TARGET_PER_STEP_MS = 5.0
TARGET_CACHED = 0.25
TARGET_FANOUT = 1.20
TARGET_ARRAY_WALL = 0.70
TARGET_ARRAY_MB = 160.0
CTX_HELP = "Metaflow 0.36 s, kfp 0.59 s, ZenML 1.88 s"
CTX_API_IMPORT = "Metaflow 0.36 s"
CTX_FIRST_RUN = "Prefect+server 2.9 s, Metaflow 3.8 s, ZenML 6.8 s"
CTX_LINEAR = "Metaflow 6.1 s"
CTX_CACHED = "Metaflow resume 0.69 s"
CTX_FANOUT = "Metaflow 5.0 s"
CTX_ARRAY_WALL = "Metaflow 10.2 s"
CTX_ARRAY_MB = "Metaflow 446 MB"
API_IMPORT = "from zenml_kf import step, pipeline, BaseStepConfig"
# The rows of issue 12's table, in its order: the summary counts these.
ISSUE_ROWS = (
    "10-step linear, uncached",
    "10-step linear, fully cached",
    "marginal cost per step (10 vs 50)",
    "fan-out 1->8x1s->1",
    "100 MB array step->step, wall",
    "100 MB array step->step, peak RSS",
    API_IMPORT,
)
SMALL, LARGE = 10, 50  # linear pipeline sizes for the per-step marginal cost


def zenml_executable() -> str:
    beside = Path(PY).parent / "zenml"
    if beside.exists():
        return str(beside)
    found = shutil.which("zenml")
    if found is None:
        raise SystemExit(
            "bench_core: no `zenml` console script next to this Python or on PATH; "
            "install the package first (pip install -e .)"
        )
    return found


ZENML = zenml_executable()


class Bench:
    def __init__(self, workdir: Path, reps: int) -> None:
        self.workdir = workdir
        self.reps = reps
        self.fast_reps = 2 * reps + 1  # cheap processes: more repetitions, same budget
        self.env = child_env()
        self.seeds = itertools.count(1000)
        self._repos = itertools.count()
        self.failed = False
        self.import_lines: list[str] = []

    # -- set-up -------------------------------------------------------------------
    def make_repo(self, name: str, files: dict[str, str]) -> Path:
        """A fresh git repository holding `files`, committed, with `zenml init` done."""
        root = self.workdir / f"{name}-{next(self._repos)}"
        root.mkdir()
        for rel, text in files.items():
            (root / rel).write_text(text)
        git = ["git", "-C", str(root)]
        run_process([*git, "init", "-q"], env=self.env)
        run_process([*git, "add", "-A"], env=self.env)
        run_process([*git, "commit", "-q", "-m", "benchmark pipelines"], env=self.env)
        run_process([ZENML, "init"], cwd=root, env=self.env)
        run_process([*git, "add", "-A"], env=self.env)
        run_process([*git, "commit", "-q", "-m", "zenml init"], env=self.env)
        return root

    def run(self, argv: list[str], cwd: Path, seed: int | None = None, **extra: str) -> ProcResult:
        env = dict(self.env)
        if seed is not None:
            env["BENCH_SEED"] = str(seed)
        env.update(extra)
        return run_process(argv, cwd=cwd, env=env)

    def fresh_seed(self) -> int:
        return next(self.seeds)

    # -- benchmarks ---------------------------------------------------------------
    def startup(self) -> list[Row]:
        log(f"* zenml --help, import zenml_kf and the public API ({self.fast_reps} repetitions each)")
        cwd = self.workdir
        res = interleaved(
            {
                "help": lambda: self.run([ZENML, "--help"], cwd),
                "import": lambda: self.run([PY, "-c", "import zenml_kf"], cwd),
                "api": lambda: self.run([PY, "-c", API_IMPORT], cwd),
                "floor": lambda: self.run([PY, "-c", "pass"], cwd),
            },
            self.fast_reps,
        )
        floor = res["floor"]
        return [
            row("zenml --help (whole process)", "s", res["help"], floor, TARGET_HELP, CTX_HELP),
            row("python -c 'import zenml_kf'", "s", res["import"], floor, None, ""),
            row(
                API_IMPORT,
                "s",
                res["api"],
                floor,
                TARGET_API_IMPORT,
                CTX_API_IMPORT,
                note="floor: python -c pass",
            ),
        ]

    def forbidden_imports(self, pipeline_repo: Path, pipeline_file: str) -> None:
        """Which heavy modules each entry point loads (sys.modules in a fresh process)."""
        log("* modules loaded by import zenml_kf, zenml --help, the public API and a local run")
        checks = [
            ("import zenml_kf", src.modules_after_import(), True, self.workdir),
            ("zenml --help", src.modules_after_help(), True, self.workdir),
            ("from zenml_kf import step, ...", src.modules_after_public_api(), False, self.workdir),
            ("a local pipeline run", src.modules_after_run(pipeline_file), False, pipeline_repo),
        ]
        for label, code, required, cwd in checks:
            names = src.FORBIDDEN if label != "a local pipeline run" else src.FORBIDDEN_IN_LOCAL_RUN
            out = self.workdir / "modules.json"
            self.run([PY, "-c", code], cwd, seed=self.fresh_seed(), BENCH_MODULES_OUT=str(out))
            report = json.loads(out.read_text())
            found = report["forbidden"]
            tops = sorted(
                {m.split(".")[0] if not m.startswith("google.cloud") else "google.cloud" for m in found}
            )
            if found:
                verdict = ("FAIL" if required else "note") + f": loads {', '.join(tops)}"
                if required:
                    self.failed = True
            else:
                verdict = "ok: loads none"
            kind = "must not load" if required else "does not need"
            self.import_lines.append(
                f"  {label:<32} {verdict:<40} ({report['count']} modules; {kind} {', '.join(names)})"
            )

    def setup(self) -> list[Row]:
        """The repository most benchmarks run in (cold runs get repositories of their own)."""
        log("* creating benchmark repositories")
        self.files = {
            "p10.py": src.linear_pipeline(SMALL),
            "p50.py": src.linear_pipeline(LARGE),
            "floor10.py": src.linear_floor(SMALL),
            "floor50.py": src.linear_floor(LARGE),
            "fanout.py": src.fanout_pipeline(),
            "floor_fanout.py": src.fanout_floor(),
            "bigarray.py": src.array_pipeline(),
            "floor_bigarray.py": src.array_floor(),
        }
        self.repo = self.make_repo("main", self.files)
        return []

    def imports(self) -> list[Row]:
        self.forbidden_imports(self.repo, str(self.repo / f"p{SMALL}.py"))
        return []

    def linear(self) -> list[Row]:
        repo, files = self.repo, self.files
        log(f"* {SMALL}-step linear pipeline, first run in a new repository ({self.reps} repetitions)")
        first, first_floor = [], []
        self.run([PY, "floor10.py"], repo)  # warm the page cache for the floor
        for _ in range(self.reps + 1):
            fresh = self.make_repo("first", {"p10.py": files["p10.py"], "floor10.py": files["floor10.py"]})
            first.append(self.run([PY, "p10.py"], fresh, seed=0))
            first_floor.append(self.run([PY, "floor10.py"], fresh, seed=0))
            shutil.rmtree(fresh)
        first, first_floor = first[1:], first_floor[1:]  # the first round warms up

        log(
            f"* {SMALL}- and {LARGE}-step linear pipelines, uncached, in a used repository "
            f"({self.reps} repetitions)"
        )
        res = interleaved(
            {
                "p10": lambda: self.run([PY, "p10.py"], repo, seed=self.fresh_seed()),
                "floor10": lambda: self.run([PY, "floor10.py"], repo, seed=self.fresh_seed()),
                "p50": lambda: self.run([PY, "p50.py"], repo, seed=self.fresh_seed()),
                "floor50": lambda: self.run([PY, "floor50.py"], repo, seed=self.fresh_seed()),
                "cli10": lambda: self.run([ZENML, "run", "p10.py:p"], repo, seed=self.fresh_seed()),
            },
            self.reps,
        )
        notes = cache_notes(res["p10"], SMALL, expect_cached=False) + cache_notes(res["p50"], LARGE, False)

        log(f"* {SMALL}-step linear pipeline, fully cached ({self.fast_reps} repetitions)")
        self.run([PY, "p10.py"], repo, seed=1)  # fills the cache for seed 1
        cached = interleaved(
            {
                "p10": lambda: self.run([PY, "p10.py"], repo, seed=1),
                "floor10": lambda: self.run([PY, "floor10.py"], repo, seed=1),
            },
            self.fast_reps,
        )
        cached_notes = cache_notes(cached["p10"], SMALL, expect_cached=True)

        # Median of the paired differences (the runs alternate), so slow drifts in load cancel.
        extra = (LARGE - SMALL) / 1000
        per_step = [
            (big.wall - small.wall) / extra for big, small in zip(res["p50"], res["p10"], strict=True)
        ]
        per_step_cpu = [
            (big.cpu - small.cpu) / extra for big, small in zip(res["p50"], res["p10"], strict=True)
        ]
        per_step_floor = plain_call_cost_ms(SMALL, LARGE)
        rows = [
            row(
                f"{SMALL}-step linear, first run in new repo",
                "s",
                first,
                first_floor,
                TARGET_FIRST_RUN,
                CTX_FIRST_RUN,
                note="; ".join(cache_notes(first, SMALL, expect_cached=False)),
            ),
            row(
                f"{SMALL}-step linear, uncached",
                "s",
                res["p10"],
                res["floor10"],
                TARGET_LINEAR,
                CTX_LINEAR,
                note="; ".join(notes),
            ),
            row("  same via `zenml run p10.py:p`", "s", res["cli10"], res["floor10"], None, ""),
            row(f"{LARGE}-step linear, uncached", "s", res["p50"], res["floor50"], None, ""),
            Row(
                f"marginal cost per step ({SMALL} vs {LARGE})",
                "ms",
                median(per_step),
                per_step_floor,
                TARGET_PER_STEP_MS,
                "",
                samples=per_step,
                cpu=median(per_step_cpu),
                note="paired differences of the runs above; floor: one plain function call",
            ),
            row(
                f"{SMALL}-step linear, fully cached",
                "s",
                cached["p10"],
                cached["floor10"],
                TARGET_CACHED,
                CTX_CACHED,
                note="; ".join(cached_notes),
            ),
        ]
        return rows

    def fanout(self) -> list[Row]:
        log(
            f"* fan-out 1 -> {src.FANOUT_WIDTH} x sleep({src.FANOUT_SLEEP:g} s) -> 1 ({self.reps} repetitions)"
        )
        repo = self.repo
        res = interleaved(
            {
                "sdk": lambda: self.run([PY, "fanout.py"], repo, seed=self.fresh_seed()),
                "floor": lambda: self.run([PY, "floor_fanout.py"], repo, seed=0),
            },
            self.reps,
        )
        return [
            row(
                f"fan-out 1->{src.FANOUT_WIDTH}x1s->1",
                "s",
                res["sdk"],
                res["floor"],
                TARGET_FANOUT,
                CTX_FANOUT,
                note="floor: the 8 sleeps on a thread pool",
            )
        ]

    def array(self) -> list[Row]:
        log(f"* 100 MB float64 array from one step to the next ({self.reps} repetitions)")
        repo = self.repo
        npy = str(self.workdir / "floor_array.npy")
        res = interleaved(
            {
                "sdk": lambda: self.run([PY, "bigarray.py"], repo, seed=self.fresh_seed()),
                "floor": lambda: self.run([PY, "floor_bigarray.py", npy], repo, seed=self.fresh_seed()),
            },
            self.reps,
        )
        return [
            row(
                "100 MB array step->step, wall",
                "s",
                res["sdk"],
                res["floor"],
                TARGET_ARRAY_WALL,
                CTX_ARRAY_WALL,
                note="floor: generate, np.save, np.load, sum",
            ),
            row(
                "100 MB array step->step, peak RSS",
                "MB",
                res["sdk"],
                res["floor"],
                TARGET_ARRAY_MB,
                CTX_ARRAY_MB,
                note="ru_maxrss of the whole child process",
            ),
        ]

    # -- --explain ----------------------------------------------------------------
    def explain(self) -> None:
        log("\n== Where the time goes (--explain) ==")
        cwd = self.workdir
        for label, argv, where in [
            (
                "zenml --help",
                [
                    PY,
                    "-X",
                    "importtime",
                    "-c",
                    "import sys; sys.argv=['zenml','--help']; from zenml_kf.cli.main import main; main()",
                ],
                cwd,
            ),
            (f"python p{SMALL}.py (uncached)", [PY, "-X", "importtime", "p10.py"], self.repo),
        ]:
            result = run_process(
                argv, cwd=where, env={**self.env, "BENCH_SEED": str(self.fresh_seed())}, check=False
            )
            log(f"\n-- import time of {label} (self / cumulative, ms; top packages then top modules) --")
            log(summarize_importtime(result.stderr))
        prof = self.workdir / "p10.prof"
        self.run([PY, "-m", "cProfile", "-o", str(prof), "p10.py"], self.repo, seed=self.fresh_seed())
        log(f"\n-- cProfile of python p{SMALL}.py (uncached), top by cumulative time --")
        log(profile_summary(prof, 30))
        self.run([PY, "-m", "cProfile", "-o", str(prof), "p10.py"], self.repo, seed=1)
        log(f"\n-- cProfile of python p{SMALL}.py (fully cached), top by cumulative time --")
        log(profile_summary(prof, 20))
        self.run([PY, "-m", "cProfile", "-o", str(prof), f"p{LARGE}.py"], self.repo, seed=self.fresh_seed())
        log(f"\n-- cProfile of python p{LARGE}.py (uncached), top by own time: the per-step costs --")
        log(profile_summary(prof, 20, sort="tottime"))


# -- helpers ------------------------------------------------------------------------
def walls(results: list[ProcResult]) -> list[float]:
    return [r.wall for r in results]


def rss(results: list[ProcResult]) -> list[float]:
    return [r.maxrss_mb for r in results]


def row(
    name: str,
    unit: str,
    results: list[ProcResult],
    floor: list[ProcResult],
    target: float | None,
    ctx: str,
    note: str = "",
) -> Row:
    """A wall-time row (s), or a peak-memory row (MB); wall rows also carry CPU time."""
    if unit == "MB":
        return Row(
            name, unit, median(rss(results)), median(rss(floor)), target, ctx, rss(results), rss(floor), note
        )
    return Row(
        name,
        unit,
        median(walls(results)),
        median(walls(floor)),
        target,
        ctx,
        walls(results),
        walls(floor),
        note,
        cpu=median(cpus(results)),
        cpu_floor=median(cpus(floor)),
    )


def cpus(results: list[ProcResult]) -> list[float]:
    return [r.cpu for r in results]


_CACHED_LINE = re.compile(r"^\s*\S+\s+(\S+)\s+cached\s*$")


def cache_notes(results: list[ProcResult], steps: int, expect_cached: bool) -> list[str]:
    """Checks from the run log that the runs measured what their row says."""
    notes = []
    for r in results:
        hits = sum(1 for line in r.stderr.splitlines() if _CACHED_LINE.match(line))
        if expect_cached and hits != steps:
            notes.append(f"WARNING: expected {steps} cached steps, the log shows {hits}")
        if not expect_cached and hits:
            notes.append(f"WARNING: expected no cached steps, the log shows {hits}")
    return sorted(set(notes))


def plain_call_cost_ms(small: int, large: int) -> float:
    """The floor of the marginal cost: one more plain function call in the chain."""
    ns: dict[str, Any] = {}
    code = "def s0(seed):\n    return seed\n"
    code += "".join(f"def s{i}(x):\n    return x + 1\n" for i in range(1, large))
    for n in (small, large):
        code += f"def chain{n}():\n    x = s0(0)\n" + "".join(f"    x = s{i}(x)\n" for i in range(1, n))
        code += "    return x\n"
    exec(code, ns)
    per_call = {n: min(timeit.repeat(ns[f"chain{n}"], number=2000, repeat=5)) / 2000 for n in (small, large)}
    return max(per_call[large] - per_call[small], 0.0) / (large - small) * 1000


def summarize_importtime(stderr: str, top: int = 12) -> str:
    """`-X importtime` output as: self time per top-level package, then the imports made at
    the outermost level (each with everything it pulled in), heaviest first."""
    entries = []  # (self_us, cumulative_us, depth, name)
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            entries.append((int(m.group(1)), int(m.group(2)), (len(m.group(3)) - 1) // 2, m.group(4)))
    if not entries:
        return "  (no -X importtime output)"
    by_pkg: dict[str, int] = {}
    for self_us, _, _, name in entries:
        key = name.split(".")[0]
        by_pkg[key] = by_pkg.get(key, 0) + self_us
    total = sum(by_pkg.values())
    lines = [f"  {total / 1000:.0f} ms of imports over {len(entries)} modules; self time by package:"]
    lines += [
        f"  {us / 1000:8.1f} ms  {key}" for key, us in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:top]
    ]
    lines.append("  outermost imports, with all they pulled in (cumulative):")
    roots = sorted((e for e in entries if e[2] == 0), key=lambda e: -e[1])[:top]
    lines += [f"  {cum / 1000:8.1f} ms  {name}" for _, cum, _, name in roots]
    return "\n".join(lines)


def profile_summary(path: Path, top: int, sort: str = "cumulative") -> str:
    """cProfile stats: by cumulative time, the SDK's own functions and ML Metadata calls; by
    own time (`tottime`), every function, so sqlite, locks and imports show too."""
    import io

    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf)
    if sort == "cumulative":
        stats.sort_stats(sort).print_stats(r"zenml_kf/|ml_metadata/|metadata_store_extension", top)
    else:
        stats.sort_stats(sort).print_stats(top)
    text = buf.getvalue()
    start = text.find("   ncalls")
    text = text[start:].rstrip() if start >= 0 else text
    return re.sub(r"/\S*/(zenml_kf|ml_metadata)/", r"\1/", text)


def machine_summary() -> str:
    try:
        commit = (
            subprocess.run(
                ["git", "-C", str(SDK_ROOT), "describe", "--always", "--dirty"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or "unknown"
        )
    except OSError:
        commit = "unknown"
    try:
        import numpy

        np_version = numpy.__version__
    except ImportError:
        np_version = "missing"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"python {platform.python_version()} on {platform.machine()} {platform.system()}, "
        f"{os.cpu_count()} CPUs, load {load}; numpy {np_version}; zenml-kf at {commit}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reps",
        type=int,
        default=int(os.environ.get("BENCH_REPS", "7")),
        help="repetitions of each slow measurement (cheap ones get 2n+1); default 7",
    )
    parser.add_argument("--quick", action="store_true", help="3 repetitions: a smoke test, not figures")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its target")
    parser.add_argument("--explain", action="store_true", help="also profile imports and a pipeline run")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    reps = 3 if quick else max(1, args.reps)

    log(f"== zenml-kf core benchmarks (issues 2 and 12) ==\n{machine_summary()}")
    # As `pip install` does: measured processes load bytecode, not source.
    compileall.compile_dir(str(Path(zenml_kf.__file__).parent), quiet=1)
    log(
        f"medians of {reps} whole-process runs ({2 * reps + 1} for the cheap ones), floor measured alternately\n"
    )
    rows: list[Row] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="zenml-kf-bench-") as tmp:
        bench = Bench(Path(tmp), reps)
        for name, fn in [
            ("set-up", bench.setup),
            ("start-up", bench.startup),
            ("imported modules", bench.imports),
            ("linear pipelines", bench.linear),
            ("fan-out", bench.fanout),
            ("100 MB array", bench.array),
        ]:
            loads.append(os.getloadavg()[0])
            try:
                measured = fn()
                for measured_row in measured:  # the load while the row was measured
                    measured_row.load = os.getloadavg()[0]
                rows.extend(measured)
            except (BenchmarkError, OSError, ValueError, KeyError) as exc:
                bench.failed = True
                log(f"  ERROR in {name}: {exc}")
                rows.append(Row(name, "s", None, None, None, error=str(exc).splitlines()[0]))
                if name == "set-up":
                    break
        loads.append(os.getloadavg()[0])
        if args.explain and not bench.failed:
            bench.explain()

    log("\nSamples (min..max over repetitions; unit as in the table):")
    for r in rows:
        if r.samples:
            floor = f"floor {spread(r.floor_samples)}" if r.floor_samples else ""
            log(
                f"  {r.name.strip():<42} {spread(r.samples):>16}   {floor:<20}"
                + (f"   {r.note}" if r.note else "")
            )
        elif r.error:
            log(f"  {r.name:<42} ERROR: {r.error}")
    log("\nModules loaded (fresh process, sys.modules):")
    log("\n".join(bench.import_lines) or "  (not checked)")
    log("\n" + render_table(rows))
    cpus_n = os.cpu_count() or 1
    log(
        "\nmedian = wall time (or peak RSS) of the whole process; floor = the same work in plain Python in "
        "its own\nprocess (functions called directly; the array saved and loaded with numpy), run alternately; "
        "ratio =\nmedian / floor; cpu = median user+system CPU time of the process, steadier than wall time on a "
        f"busy machine;\nload = 1-minute load average when the row was measured, on {cpus_n} CPUs."
    )
    issue = [r for name in ISSUE_ROWS for r in rows if r.name.strip() == name]
    met = [r for r in issue if r.status == "ok"]
    log(
        f"issue 12 targets met: {len(met)} of {len(ISSUE_ROWS)}"
        + "".join(f"\n  {r.name.strip()}: {r.status}" for r in issue if r.status != "ok")
    )
    log(
        f"1-minute load average during the run: {min(loads):.2f}..{max(loads):.2f} on {cpus_n} CPUs"
        + (
            "  -- the machine was busy: trust the ratios and CPU times more than the wall times"
            if max(loads) > 0.75 * cpus_n
            else ""
        )
    )
    missed = [r.name.strip() for r in rows if r.status == "MISS"]
    if missed:
        log(f"missed targets: {', '.join(missed)}")
    if bench.failed:
        log("bench_core: FAILED (a process failed or a forbidden module was imported)")
        return 1
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
