"""Measure `sandlot diff` on GitHub's 13 MB spec: against itself, and across a major release.

Run by `make bench` (`.venv/bin/python -m tests.diff.measure_diff [--runs 3]`). Not a test (no
timed assertions); the figures go in docs/performance.md. Each figure is the best of N runs of
the whole command in a fresh process (interpreter start, imports, loading both files, comparing,
rendering), plus an in-process split of loading and comparing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from sandlot.diff.inputs import load_input
from sandlot.diff.run import compare

from .published import github_spec


def _command_seconds(old: str, new: str, runs: int) -> float:
    """Return the best wall time of `sandlot diff OLD NEW --format json` in a new process."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sandlot.cli", "diff", old, new, "--format", "json"],
                       check=True, stdout=subprocess.DEVNULL, timeout=600)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    """Print the figures; return 0."""
    parser = argparse.ArgumentParser(prog="python -m tests.diff.measure_diff", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the best is reported")
    runs = parser.parse_args(argv).runs
    old, new = str(github_spec("22.0.0")), str(github_spec("23.0.0"))

    started = time.perf_counter()
    left, right = load_input(new), load_input(new)
    loaded = time.perf_counter()
    assert compare(left, right) == []
    compared = time.perf_counter()
    print(f"sandlot diff, GitHub api.github.com.json (@octokit/openapi 23.0.0, 13 MB) against itself: "
          f"{_command_seconds(new, new, runs):.2f} s for the command (best of {runs}); in-process "
          f"{loaded - started:.2f} s loading both, {compared - loaded:.2f} s comparing, 0 changes")
    changes = compare(load_input(old), right)
    print(f"sandlot diff, @octokit/openapi 22.0.0 -> 23.0.0: {_command_seconds(old, new, runs):.2f} s for the "
          f"command (best of {runs}); {len(changes)} changes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
