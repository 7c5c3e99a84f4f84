"""End-to-end flows of three APIs nobody tuned Sandlot for (issue 16), each driven only through
its documented operations over real HTTP on 127.0.0.1 against a real `sandlot mock --stateful`
process started with no configuration: the spec, a state file, and nothing else."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest, MockResponse
from tests.sandbox.servers import start_stateful_mock, stop

SPECS = Path(__file__).resolve().parent / "specs"
ADMIN = "adm_flows"


class Api:
    """An HTTP client for one API under its base path, with the token the API issued."""

    def __init__(self, root: str, base: str, key: str) -> None:
        self.root = root
        self.http = httpx.Client(base_url=root + base, timeout=10)
        self.key = key

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def stateful(tmp_path: Path) -> Iterator:
    """Start `sandlot mock SPEC --stateful` (no config, no fixtures); return (root URL, sandbox key)."""
    running = []

    def start(spec: Path) -> tuple[str, str]:
        proc, root = start_stateful_mock(spec, tmp_path / f"{spec.stem}.db", None, ADMIN)
        running.append(proc)
        key = httpx.post(root + "/__sandlot/keys", headers={"authorization": f"Bearer {ADMIN}"},
                         json={"name": "second tenant"}, timeout=10).json()["key"]
        return root, key

    yield start
    for proc in running:
        code, out, err = stop(proc)
        assert "Traceback" not in err, err


def explain(spec: Path) -> str:
    """Return `sandlot mock --stateful --explain SPEC` as printed."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "sandlot.cli", "mock", str(spec), "--stateful", "--explain"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return re.sub(r" {2,}", " ", done.stdout)  # columns padded for people: one space for the asserts


@functools.cache
def engine_of(spec: Path) -> Engine:
    """Return the spec compiled (once per test session), to check answers against it."""
    return Engine.from_source(str(spec))


def valid(spec: Path, response: httpx.Response) -> dict:
    """Return the response's JSON after checking it against the schema the spec documents for
    its operation and status (the request's method and path, without the server's origin)."""
    engine = engine_of(spec)
    match = engine.match(MockRequest(response.request.method, response.request.url.path, "", {}, b""))
    assert not isinstance(match, MockResponse), response.request.url.path
    schema = engine.response_schema(match.operation, response.status_code)
    assert schema is not None, f"{response.status_code} is not documented for {response.request.url.path}"
    body = response.json()
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:100]}"
              for e in engine.index.validator(schema, "response").iter_errors(body)]
    assert not errors, f"{response.request.method} {response.request.url.path} -> {response.status_code}: {errors[:5]}"
    return body
