"""Waits for a server's first answer and finds the URL prefix it routes a documented path under.

Called by the runner for start-up timing (process start to first answer) and before every load
test. An answer counts when it is an HTTP status below 500 other than 404: a server that is up but
has not loaded the spec yet cannot pass. Sandlot routes under the servers' base path and Prism
does not, so each probe tries both candidate URLs.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass

from bench.config import LOOPBACK
from bench.processes import ServerProcess

POLL_INTERVAL_S = 0.05
REQUEST_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Answer:
    """A response to one probe request."""

    path: str
    status: int
    body: bytes


def get(port: int, path: str, headers: dict[str, str] | None = None) -> Answer | None:
    """Send one GET to 127.0.0.1:port; return the answer, or None when nothing answered."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return Answer(path, response.status, response.read())
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def candidate_paths(base: str, path: str) -> list[str]:
    """Return the URLs a documented path may be served at: under the base path, then bare."""
    return list(dict.fromkeys([base + path, path]))


def is_routed(answer: Answer | None) -> bool:
    """Tell whether an answer shows that the server knows the documented path."""
    return answer is not None and answer.status != 404 and answer.status < 500


def wait_for_answer(
    server: ServerProcess, port: int, paths: list[str], timeout_s: float,
    headers: dict[str, str] | None = None,
) -> tuple[float | None, Answer | None, str]:
    """Poll until one of the paths answers; return (seconds since start, answer, problem)."""
    deadline = server.started_at + timeout_s
    last: Answer | None = None
    while time.monotonic() < deadline:
        for path in paths:
            answer = get(port, path, headers)
            if is_routed(answer):
                return time.monotonic() - server.started_at, answer, ""
            last = answer or last
        if not server.alive:
            return None, last, f"exited with code {server.proc.returncode}: {server.log_tail()}"
        time.sleep(POLL_INTERVAL_S)
    seen = f"; last answer {last.status} on {last.path}" if last else "; nothing answered"
    return None, last, f"did not start within {timeout_s:.0f} s{seen}"


def find_ok_path(port: int, paths: list[str], headers: dict[str, str] | None = None) -> tuple[Answer | None, str]:
    """Return the first answer with status 200 (or None and what each path answered)."""
    seen = []
    for path in paths:
        answer = get(port, path, headers)
        if answer is not None and answer.status == 200:
            return answer, ""
        seen.append(f"{path} -> {answer.status if answer else 'no answer'}")
    return None, "no candidate answered 200: " + ", ".join(seen)
