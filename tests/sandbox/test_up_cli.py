"""`sandlot up` command line: bad ports and log levels are argparse errors (no traceback),
and `sandlot trigger` finds a sandbox started on a non-default port through the
SANDLOT_URL that `up` writes to .sandlot/<name>/credentials.env."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sandlot.up import UpError, start_sandbox

from .conftest import EXAMPLE
from .servers import SANDLOT, free_port, start, stop
from .test_up import env_file


def sandlot(*args: str, cwd: Path | None = None, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([*SANDLOT, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, env=env)


@pytest.mark.parametrize("option, problem", [
    (["--port", "70000"], "argument --port: 70000 is not a port number"),
    (["--port", "-1"], "argument --port: -1 is not a port number"),
    (["--port", "http"], "argument --port: 'http' is not a port number"),
    (["--log-level", "loud"], "argument --log-level: invalid choice: 'loud'"),
])
def test_up_refuses_bad_options_without_a_traceback(tmp_path: Path, option: list[str],
                                                    problem: str) -> None:
    done = sandlot("up", str(EXAMPLE / "sandbox.yaml"), "--state-dir", str(tmp_path), *option)
    assert done.returncode == 2
    assert problem in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_up_refuses_ports_past_65535_for_later_downstreams(tmp_path: Path) -> None:
    for file in EXAMPLE.glob("*.yaml"):
        shutil.copy(file, tmp_path / file.name)
    manifest = tmp_path / "sandbox.yaml"
    doc = yaml.safe_load(manifest.read_text())
    second = {**doc["spec"]["downstreams"][0], "name": "refunds", "envVar": "REFUNDS_URL"}
    doc["spec"]["downstreams"].append(second)
    manifest.write_text(yaml.safe_dump(doc))
    with pytest.raises(UpError, match=r"--port 65535 leaves no room for 2 downstreams"):
        start_sandbox(manifest, port=65535, state_dir=tmp_path / "state")


def test_trigger_finds_a_sandbox_up_on_another_port(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDLOT_")}
    proc = start(["up", str(EXAMPLE / "sandbox.yaml"), "--port", str(port)],
                 f"http://127.0.0.1:{port}/__sandlot/health", cwd=tmp_path, env=env)
    try:
        creds = env_file(tmp_path / ".sandlot" / "checkout" / "credentials.env")
        assert creds["SANDLOT_URL"] == f"http://127.0.0.1:{port}"
        assert creds["SANDLOT_TENANT"] and creds["SANDLOT_KEY"].startswith("sk_sbx_")
        from_file = sandlot("trigger", "charge.succeeded", cwd=tmp_path, env=env)
        from_env = sandlot("trigger", "charge.succeeded", cwd=tmp_path / ".sandlot",
                           env={**env, "SANDLOT_URL": creds["SANDLOT_URL"],
                                "SANDLOT_KEY": creds["SANDLOT_KEY"]})
    finally:
        stop(proc)
    for done in (from_file, from_env):
        assert "cannot reach" not in done.stderr, done.stderr
        assert done.stdout.lstrip().startswith("{"), (done.stdout, done.stderr)
