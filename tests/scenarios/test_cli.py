"""`sandlot magic SPEC` and `sandlot trigger EVENT` as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sandlot.cli import main
from tests.scenarios.conftest import SHOP
from tests.scenarios.servers import Receiver


def test_magic_prints_the_table() -> None:
    result = subprocess.run([sys.executable, "-m", "sandlot.cli", "magic", str(SHOP)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "| operation | when | status | answer | meaning |"
    assert lines[2].startswith("| createCharge | `body.card.number` = `4000000000000002` | 402 |")
    assert len(lines) == 4


def test_magic_names_a_broken_spec(tmp_path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\nx-sandlot-magic: {a: 1}\n")
    result = subprocess.run([sys.executable, "-m", "sandlot.cli", "magic", str(spec)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "x-sandlot-magic: must be a list" in result.stderr


def test_trigger_sends_through_the_running_stub(serve_stateless, capsys) -> None:
    running = serve_stateless()
    with Receiver() as receiver, running.client("sk_sbx_cli") as client:
        endpoint = client.post("/__sandlot/webhooks/endpoints", json={"url": receiver.url}).json()
        receiver.secrets.append(endpoint["secret"])
        code = main(["trigger", "charge.refunded", "--url", running.url, "--key", "sk_sbx_cli",
                     "--body", '{"data": {"object": {"amount": 777}}}', "--fault", "duplicate"])
        got = receiver.wait_for(2)
    assert code == 0
    assert '"charge.refunded"' in capsys.readouterr().out
    assert [g.json()["data"]["object"]["amount"] for g in got] == [777, 777]
    assert all(g.verified for g in got)


def test_trigger_reports_an_unknown_event(serve_stateless, capsys) -> None:
    running = serve_stateless()
    code = main(["trigger", "nope.nope", "--url", running.url, "--key", "sk_sbx_cli"])
    assert code == 1 and "Unknown event 'nope.nope'" in capsys.readouterr().out


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandlot.cli", *args], capture_output=True, text=True,
                          timeout=60)


def test_trigger_names_a_body_file_it_cannot_read(tmp_path) -> None:
    missing = tmp_path / "nonexistent.json"
    result = _run("trigger", "charge.succeeded", "--url", "http://127.0.0.1:9", "--body", f"@{missing}")
    assert result.returncode == 2, result.stderr
    assert f"--body @{missing}: cannot read {missing}: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_trigger_names_an_object_that_is_not_json(tmp_path) -> None:
    (tmp_path / "obj.json").write_text("{nope")
    result = _run("trigger", "charge.succeeded", "--url", "http://127.0.0.1:9", "--object",
                  f"@{tmp_path / 'obj.json'}")
    assert result.returncode == 2 and "--object is not JSON" in result.stderr


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read"), ("magic: [", "not YAML"), ("- a\n- b\n", "must be a mapping"),
])
def test_magic_names_a_config_it_cannot_use(tmp_path, content: str | None, message: str) -> None:
    config = tmp_path / "sandlot.yaml"
    if content is not None:
        config.write_text(content)
    result = _run("magic", str(SHOP), "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert f"--config {config}: {message}" in result.stderr and "Traceback" not in result.stderr
