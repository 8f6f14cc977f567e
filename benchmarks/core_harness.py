"""Measurement helpers for the benchmarks: whole-process timing, peak memory, medians, tables.

Standard library only. A "whole process" is timed from just before `fork/exec` to the
moment its exit status is collected; its peak memory is the `ru_maxrss` the kernel
reports for that one child (`os.wait4`), so figures never mix children.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Variables that would make a child behave differently from a user's plain shell.
# PYTHONDONTWRITEBYTECODE (set on some CI images) would make every run compile the SDK's
# modules from source again; a pip install ships them byte-compiled.
_SCRUBBED_ENV = (
    "ZENML_KF_STACK",
    "ZENML_KF_LOGGING_VERBOSITY",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONTRACEMALLOC",
    "PYTHONDONTWRITEBYTECODE",
)


class BenchmarkError(RuntimeError):
    """A measured process failed, so its figure would be meaningless."""


@dataclass
class ProcResult:
    argv: list[str]
    wall: float  # seconds
    cpu: float  # user + system seconds of the child (and the children it waited for)
    maxrss_mb: float  # peak resident set of the child, in MB (10**6 bytes)
    returncode: int
    stdout: str
    stderr: str


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.setdefault("GIT_AUTHOR_NAME", "bench")
    env.setdefault("GIT_AUTHOR_EMAIL", "bench@example.invalid")
    env.setdefault("GIT_COMMITTER_NAME", "bench")
    env.setdefault("GIT_COMMITTER_EMAIL", "bench@example.invalid")
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def run_process(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    check: bool = True,
) -> ProcResult:
    """Run one process to completion; return its wall time and its own peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it is reaped
        out.seek(0)
        err.seek(0)
        result = ProcResult(
            argv=list(argv),
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            maxrss_mb=usage.ru_maxrss * 1024 / 1e6,  # Linux reports KiB
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
    if check and result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise BenchmarkError(f"{' '.join(result.argv)} exited {result.returncode} (cwd {cwd}):\n{tail}")
    return result


def interleaved(
    runs: Mapping[str, Callable[[], ProcResult]], reps: int, warmup: int = 1
) -> dict[str, list[ProcResult]]:
    """Run each named measurement `reps` times, alternating between them (A B A B ...)
    so a burst of noise on the machine hits all of them alike. Warm-up rounds (page
    cache, .pyc files) are run and discarded."""
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    results: dict[str, list[ProcResult]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, fn in runs.items():
            results[name].append(fn())
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    digits = 0 if max(values) >= 50 else 3
    return f"{min(values):.{digits}f}..{max(values):.{digits}f}"


@dataclass
class Row:
    name: str
    unit: str  # "s", "ms", "MB"
    median: float | None
    floor: float | None
    target: float | None
    context: str = ""
    samples: list[float] = field(default_factory=list)
    floor_samples: list[float] = field(default_factory=list)
    note: str = ""
    error: str | None = None
    cpu: float | None = None  # median CPU time of the measured process, same unit
    cpu_floor: float | None = None
    load: float | None = None  # 1-minute load average when the row was measured

    @property
    def ratio(self) -> float | None:
        if self.median is None or not self.floor:
            return None
        return self.median / self.floor

    @property
    def status(self) -> str:
        if self.error is not None:
            return "ERROR"
        if self.median is None or self.target is None:
            return "-"
        return "ok" if self.median <= self.target else "MISS"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        if value < 0.01:
            return f"{value * 1e6:.0f} ns"
        return f"{value:.3f} ms" if value < 1 else f"{value:.1f} ms"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:g} {unit}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio >= 1000:
        return f"x{ratio:.1e}"
    return f"x{ratio:.1f}"


def render_table(rows: Sequence[Row]) -> str:
    header = ("benchmark", "median", "floor", "ratio", "cpu", "target", "status", "load", "best peer / was")
    body = [
        (
            r.name,
            fmt(r.median, r.unit),
            fmt(r.floor, r.unit),
            fmt_ratio(r.ratio),
            fmt(r.cpu, r.unit),
            fmt(r.target, r.unit) if r.target is not None else "-",
            r.status,
            f"{r.load:.2f}" if r.load is not None else "-",
            r.context,
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in (header, *body)) for i in range(len(header))]
    right = {1, 2, 3, 4, 5, 7}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            (str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i])) for i, c in enumerate(cells)
        ).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(b) for b in body)])


def log(message: str) -> None:
    print(message, flush=True)
