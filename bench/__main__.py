"""Entry point of `python -m bench` (what `make bench` runs): set up, measure, print, write.

`--quick` shortens every duration and measures petstore only: a check that the harness works,
not a benchmark. The full run writes bench/results/latest.md; a quick run writes quick.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.config import FULL, QUICK, REPO_ROOT, RESULTS_DIR
from bench.processes import install_cleanup, stop_all
from bench.report import render
from bench.runner import Runner
from bench.tools import prepare

SECTIONS = ("throughput", "stateful", "journal", "startup", "conformance")


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _commit() -> str:
    """Return the checked-out commit (with `+changes` when the tree is dirty), or 'unknown'."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short durations and petstore only (checks the harness; figures are not meaningful)")
    parser.add_argument("--skip", action="append", default=[], choices=SECTIONS,
                        help="leave a section out (repeatable)")
    parser.add_argument("--python-load", action="store_true",
                        help="use the Python load generator even when wrk is installed")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target FAILs")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and return the exit code."""
    args = build_parser().parse_args(argv)
    budget = QUICK if args.quick else FULL
    install_cleanup()
    started = time.monotonic()
    commit = _commit()
    try:
        toolbox = prepare(_log, python_load=args.python_load)
        results = Runner(budget, toolbox, _log).run(set(SECTIONS) - set(args.skip))
    except KeyboardInterrupt:
        _log("interrupted: servers stopped, no results written")
        return 130
    finally:
        stop_all()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results.notes.append(f"commit {commit}; run took {time.monotonic() - started:.0f} s, finished {stamp}"
                         + (" (--quick: figures are not meaningful)" if budget.quick else ""))
    print(render(results, markdown=False))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / ("quick.md" if budget.quick else "latest.md")
    out.write_text(f"## Sandlot vs Prism benchmark, {stamp}\n\n" + render(results, markdown=True))
    _log(f"wrote {out}")
    from bench.targets import all_verdicts

    return 1 if args.strict and any(v.verdict == "FAIL" for v in all_verdicts(results)) else 0


if __name__ == "__main__":
    sys.exit(main())
