"""Run every benchmark: bench_core.py first, then each other benchmarks/bench_*.py.

Each script runs as its own process with this Python, from the repository root, its
output passing straight through. A script that fails (non-zero exit, or killed) does
not stop the others; the summary at the end names it and the exit status is 1.

    python benchmarks/run_all.py           # everything, default repetitions
    python benchmarks/run_all.py --quick   # sets BENCH_QUICK=1 for every script
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIRST = "bench_core.py"


def scripts() -> list[Path]:
    found = sorted(p for p in HERE.glob("bench_*.py") if p.is_file())
    return sorted(found, key=lambda p: (p.name != FIRST, p.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run all zenml-kf benchmarks, each in its own process.")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (BENCH_QUICK=1)")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.quick:
        env["BENCH_QUICK"] = "1"

    results: list[tuple[str, int, float]] = []
    started = time.perf_counter()
    for script in scripts():
        print(f"\n######## {script.name} ########", flush=True)
        t0 = time.perf_counter()
        try:
            rc = subprocess.call([sys.executable, str(script)], cwd=HERE.parent, env=env)
        except KeyboardInterrupt:
            print(f"\nrun_all: interrupted during {script.name}", file=sys.stderr)
            return 130
        except OSError as exc:
            print(f"run_all: cannot start {script.name}: {exc}", file=sys.stderr)
            rc = 127
        results.append((script.name, rc, time.perf_counter() - t0))

    print("\n######## summary ########")
    for name, rc, elapsed in results:
        status = (
            "ok" if rc == 0 else (f"FAILED (killed by signal {-rc})" if rc < 0 else f"FAILED (exit {rc})")
        )
        print(f"  {name:<24} {status:<28} {elapsed:6.1f} s")
    failed = [name for name, rc, _ in results if rc != 0]
    print(
        f"  total {time.perf_counter() - started:.1f} s; "
        + (f"{len(failed)} of {len(results)} failed: {', '.join(failed)}" if failed else "all passed")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
