"""Start real `sandlot` processes on 127.0.0.1 for the HTTP tests and the throughput
measurement, wait until they answer, and stop them by pid with SIGINT (as Ctrl-C would)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.ports import free_port

SANDLOT = [sys.executable, "-m", "sandlot.cli"]


def port_is_free(port: int) -> bool:
    """Tell whether nothing listens on 127.0.0.1:port any more."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Poll `url` until it answers; fail with the process output if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"server exited with {proc.returncode}:\n{out}\n{err}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    stop(proc)
    raise AssertionError(f"server did not answer {url} within {timeout} s")


def start(args: list[str], health_url: str, cwd: Path | None = None,
          env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `sandlot ARGS` and return the process once `health_url` answers."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen([*SANDLOT, *args], cwd=cwd, env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until_up(health_url, proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 15.0,
         sig: signal.Signals = signal.SIGINT) -> tuple[int, str, str]:
    """Send `sig` (SIGINT, as Ctrl-C would) to the process by pid; return (exit code, stdout,
    stderr)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


def start_stateful_mock(spec: Path, db: Path, fixtures: Path | None, admin_token: str,
                        port: int | None = None, extra: list[str] | None = None
                        ) -> tuple[subprocess.Popen, str]:
    """Start `sandlot mock SPEC --stateful` and return (process, root URL)."""
    port = port or free_port()
    args = ["mock", str(spec), "--stateful", "--db", str(db), "--port", str(port), "--no-watch",
            "--admin-token", admin_token, "--log-level", "warning", *(extra or [])]
    if fixtures is not None:
        args += ["--fixtures", str(fixtures)]
    root = f"http://127.0.0.1:{port}"
    return start(args, f"{root}/__sandlot/health"), root
