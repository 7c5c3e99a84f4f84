"""Command lines for the two servers under test: Sandlot's mock and Stoplight Prism.

Called by the runner. Sandlot's optional flags are read from `sandlot mock --help` so the harness
keeps working while the CLI grows (`--no-watch`, `--log-level`, `--stateful` are used when present).
Both servers get the quietest logging they offer: Prism's `-v error` doubles its throughput, and
Sandlot gets the same courtesy.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

from bench.config import LOOPBACK, PRISM_BIN, REPO_ROOT

SANDLOT = "sandlot"
PRISM = "prism"


@functools.cache
def sandlot_mock_help() -> str:
    """Return the text of `sandlot mock --help` ('' when the command is missing or broken)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sandlot.cli", "mock", "--help"], cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=60, check=False,
        )
    except (subprocess.SubprocessError, OSError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def sandlot_supports(flag: str) -> bool:
    """Tell whether `sandlot mock` accepts a flag."""
    return flag in sandlot_mock_help().split()


def sandlot_argv(spec: Path, port: int, extra: tuple[str, ...] = ()) -> list[str]:
    """Build the command that serves a spec with Sandlot's mock on 127.0.0.1:port."""
    argv = [sys.executable, "-m", "sandlot.cli", "mock", str(spec), "--host", LOOPBACK, "--port", str(port)]
    if sandlot_supports("--no-watch"):
        argv.append("--no-watch")  # Prism does not watch either
    if sandlot_supports("--log-level"):
        argv += ["--log-level", "warning"]
    return [*argv, *extra]


def prism_argv(spec: Path, port: int, flags: tuple[str, ...] = ()) -> list[str]:
    """Build the command that serves a spec with Prism on 127.0.0.1:port."""
    return [str(PRISM_BIN), "mock", "-h", LOOPBACK, "-p", str(port), "-v", "error", *flags, str(spec)]
