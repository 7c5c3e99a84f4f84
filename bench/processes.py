"""Starts and stops server process groups and measures the peak memory of their process tree.

Called by the runner for every server it starts. Each server runs in its own session (process
group), so stopping it kills the whole tree - Prism's node children included - even after errors
or Ctrl-C; `stop_all` is the last-resort sweep the runner calls in `finally` and at exit.
Memory is read from /proc (Linux): the peak is the larger of the highest sampled sum of VmRSS
over the tree and the sum of every live process's VmHWM when the server is stopped.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

SAMPLE_INTERVAL_S = 0.2
STOP_GRACE_S = 5.0

_LIVE: set[ServerProcess] = set()


def _parent_map() -> dict[int, int]:
    """Return pid -> parent pid for every process visible in /proc."""
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may contain spaces or parentheses; fields after it do not.
        fields = stat[stat.rfind(")") + 2:].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def tree_pids(root: int) -> list[int]:
    """Return root and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parent_map().items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def is_running(pid: int) -> bool:
    """Tell whether a process exists and is not a zombie (orphans are reaped by PID 1, not us)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _status_kib(pid: int, field: str) -> int:
    """Return a `kB` field of /proc/PID/status, 0 when the process or field is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_memory_kib(root: int, field: str) -> int:
    """Sum a /proc status memory field (VmRSS, VmHWM) over a process tree."""
    return sum(_status_kib(pid, field) for pid in tree_pids(root))


class ServerProcess:
    """A server started in its own process group, with a thread sampling its tree's memory."""

    def __init__(self, argv: list[str], log_path: Path, cwd: Path, env: dict[str, str] | None = None):
        self.argv = argv
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        _LIVE.add(self)
        self._peak_kib = 0
        self._stopping = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stopping.wait(SAMPLE_INTERVAL_S):
            if self.proc.poll() is not None:
                return
            self._peak_kib = max(self._peak_kib, tree_memory_kib(self.proc.pid, "VmRSS"))

    @property
    def alive(self) -> bool:
        """Tell whether the server's main process is still running."""
        return self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) the server's tree has used so far."""
        total = 0
        for pid in tree_pids(self.proc.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15, in ticks)
        return total / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float | None:
        """Return the tree's peak resident memory so far in MiB (None when nothing was read)."""
        if self.alive:
            self._peak_kib = max(self._peak_kib, tree_memory_kib(self.proc.pid, "VmHWM"))
        return self._peak_kib / 1024 if self._peak_kib else None

    def log_tail(self, lines: int = 1) -> str:
        """Return the last lines the server wrote, for error messages."""
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after a grace period."""
        self._stopping.set()
        if self.alive:
            self.peak_rss_mib()  # last VmHWM reading while the tree still exists
        pids = tree_pids(self.proc.pid) if self.alive else []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=STOP_GRACE_S)
                break
            except subprocess.TimeoutExpired:
                continue
        # Descendants that left the group (rare) still belong to us: end them by pid, and wait
        # until they are gone so the next server never shares the machine with this one.
        for pid in pids[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + STOP_GRACE_S
        while any(is_running(pid) for pid in pids[1:]) and time.monotonic() < deadline:
            time.sleep(0.02)
        self._log.close()
        _LIVE.discard(self)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def stop_all() -> None:
    """Stop every server this process started and has not stopped yet."""
    for server in list(_LIVE):
        server.stop()


def _terminate_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def install_cleanup() -> None:
    """Make SIGTERM unwind like Ctrl-C and sweep live servers at interpreter exit."""
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    atexit.register(stop_all)
