"""The quickstart's pet-store stub answers what e2e expects, run locally as the operator runs it.

`sandlot mock` is started on 127.0.0.1 with the stub container's arguments (stateful, SQLite
state file) on the OpenAPI document from docs/examples/quickstart-sandbox.yaml, and the
same calls e2e makes through a port-forward (e2e/stub_calls.py) are made over real HTTP.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from cluster_tools import REPO

from e2e.stub_calls import exercise_petstore_stub
from tests.ports import free_port

QUICKSTART = REPO / "docs" / "examples" / "quickstart-sandbox.yaml"


@pytest.fixture
def petstore_stub(tmp_path: Path):
    configmap = next(yaml.safe_load_all(QUICKSTART.read_text()))
    spec = tmp_path / "openapi.yaml"
    spec.write_text(configmap["data"]["openapi.yaml"])
    port = free_port()
    sandlot = Path(sys.executable).parent / "sandlot"
    proc = subprocess.Popen(
        [str(sandlot), "mock", str(spec), "--host", "127.0.0.1", "--port", str(port),
         "--stateful", "--db", str(tmp_path / "state.sqlite3"), "--no-watch", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # bounded: at most ~20 s for the stub to listen
            if proc.poll() is not None:
                pytest.fail(f"sandlot mock exited ({proc.returncode}): {proc.stdout.read()}")
            try:
                httpx.get(base_url + "/pets", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("sandlot mock never started listening")
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_quickstart_stub_lists_creates_and_reads_back(petstore_stub):
    exercise_petstore_stub(petstore_stub)
