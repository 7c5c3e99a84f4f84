"""Held requests (`timeout`, `slow`, `Sandlot-Latency`) never keep a stopping server alive:
a real `sandlot mock` process, a request held by a scenario, then SIGINT. Also the cap on
how long a request may be held."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx
import pytest

from tests.sandbox.servers import free_port, start, start_stateful_mock
from tests.scenarios.conftest import SHOP

#: Generous bound for a stop (the hold itself is 100 s, far beyond it).
STOP_WITHIN = 10.0
AUTH = {"authorization": "Bearer sk_sbx_alice"}


def _start_mock() -> tuple[subprocess.Popen, str]:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    proc = start(["mock", str(SHOP), "--port", str(port), "--no-watch", "--log-level", "warning"],
                 f"{root}/__sandlot/health")
    return proc, root


def _exits_after_sigint(proc: subprocess.Popen) -> bool:
    """Send SIGINT; tell whether the process exited within STOP_WITHIN (kill it otherwise)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=STOP_WITHIN)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return False


def _wait_for_hold(proc: subprocess.Popen, root: str) -> None:
    """Give the held request time to reach the server (a plain request after it answers)."""
    time.sleep(0.5)
    assert httpx.get(f"{root}/v1/charges/ch_1", headers=AUTH, timeout=10).status_code == 200
    assert proc.poll() is None


@pytest.mark.parametrize("header", [("Sandlot-Scenario", "timeout; delay=100s"),
                                    ("Sandlot-Latency", "100s")])
def test_sigint_stops_the_server_while_a_request_is_held(header: tuple[str, str]) -> None:
    proc, root = _start_mock()
    outcome: list[BaseException | int] = []

    def held() -> None:
        try:
            outcome.append(httpx.get(f"{root}/v1/charges/ch_1", headers={**AUTH, header[0]: header[1]},
                                     timeout=60).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    client = threading.Thread(target=held, daemon=True)
    client.start()
    try:
        _wait_for_hold(proc, root)
    finally:
        stopped = _exits_after_sigint(proc)
    assert stopped, f"sandlot mock still ran {STOP_WITHIN} s after SIGINT with a held request"
    client.join(10)
    # The held client is let go without an answer (the connection closes), not left hanging.
    assert outcome and isinstance(outcome[0], httpx.HTTPError), outcome


def test_a_client_that_gave_up_no_longer_holds_the_server() -> None:
    proc, root = _start_mock()
    try:
        with pytest.raises(httpx.ReadTimeout):  # as `curl -m 1` does
            httpx.get(f"{root}/v1/charges/ch_1", headers={**AUTH, "Sandlot-Scenario": "timeout; delay=100s"},
                      timeout=1)
        _wait_for_hold(proc, root)
    finally:
        stopped = _exits_after_sigint(proc)
    assert stopped, f"sandlot mock still ran {STOP_WITHIN} s after SIGINT (a client that left held it)"


def test_sigterm_stops_the_stateful_stub_while_a_request_is_held(tmp_path) -> None:
    proc, root = start_stateful_mock(SHOP, tmp_path / "state.db", None, "adm_held")
    client = threading.Thread(target=lambda: _ignore_errors(
        lambda: httpx.get(f"{root}/v1/charges", headers={"Sandlot-Latency": "100s"}, timeout=60)),
        daemon=True)
    client.start()
    time.sleep(0.5)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"sandlot mock --stateful still ran {STOP_WITHIN} s after SIGTERM") from None
    assert proc.returncode == 0, err  # a graceful stop: the store was closed


def _ignore_errors(call) -> None:
    try:
        call()
    except httpx.HTTPError:
        pass
