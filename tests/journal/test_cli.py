"""`sandlot requests` as a user runs it, against stubs on 127.0.0.1; and the inspector URL that
`sandlot mock` and `sandlot up` print."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from sandlot.cli import main
from tests.journal.conftest import ADMIN, PAYMENTS
from tests.ports import free_port
from tests.sandbox.servers import start, stop, wait_until_up

KEY = "sk_sbx_" + "c" * 43
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "payments"


def test_requests_prints_a_table_json_one_entry_and_clears(serve, capsys) -> None:
    stub = serve(stateful=True)
    tenant, key = stub.new_key("cli")
    api = stub.client(key)
    api.post("/v1/customers", json={"email": "cli@example.com"})
    api.post("/v1/charges", json={"amount": 5, "currency": "usd", "customer": "cus_seed_ada"})
    base = ["requests", "--url", stub.url, "--key", key]

    assert main(base) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "TIME", "TENANT", "METHOD", "PATH", "STATUS", "MS", "OPERATION", "SCENARIO",
                                "ERRORS"]
    assert [(c[2], c[3], c[4], c[5], c[7], c[9]) for c in (line.split() for line in lines[1:])] == [
        (tenant, "POST", "/v1/charges", "400", "createCharge", "1"),
        (tenant, "POST", "/v1/customers", "201", "createCustomer", "0")]

    assert main([*base, "--json", "--status", "4xx"]) == 0
    (refused,) = json.loads(capsys.readouterr().out)["requests"]
    assert refused["explanation"]["errors"][0]["pointer"] == "/amount"

    assert main([*base, "--id", str(refused["id"])]) == 0
    shown = capsys.readouterr().out
    assert "Why: the request body does not match the operation's schema" in shown
    assert "  body/amount: 50 is" not in shown and "body/amount: 5 is less than the minimum of 50" in shown
    assert "authorization: Bearer [redacted]" in shown and key not in shown

    assert main(["requests", "--url", stub.url, "--admin-token", ADMIN, "--tenant", tenant, "--operation",
                 "createCustomer", "--json"]) == 0
    assert [e["operation"] for e in json.loads(capsys.readouterr().out)["requests"]] == ["createCustomer"]

    assert main([*base, "--clear"]) == 0
    assert capsys.readouterr().out == "deleted 2 requests\n"
    assert main(["requests", "--url", stub.url, "--key", "sk_sbx_" + "n" * 43]) == 1
    assert "401" in capsys.readouterr().err


def test_requests_says_when_no_stub_answers(capsys) -> None:
    assert main(["requests", "--url", f"http://127.0.0.1:{free_port()}", "--key", KEY]) == 2
    assert "is the sandbox running" in capsys.readouterr().err


def test_mock_prints_the_inspector_url_and_journals_in_memory(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandlot.cli", "mock", str(PAYMENTS), "--port", str(port),
                             "--no-watch", "--log-level", "warning"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"Inspector: http://127.0.0.1:{port}/__sandlot/ui"
        wait_until_up(f"http://127.0.0.1:{port}/__sandlot/health", proc)  # printed before it listens
        httpx.get(f"http://127.0.0.1:{port}/v1/customers", headers={"authorization": f"Bearer {KEY}"}, timeout=10)
        done = subprocess.run([sys.executable, "-m", "sandlot.cli", "requests", "--url", f"http://127.0.0.1:{port}",
                               "--key", KEY, "--json"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert [e["operation"] for e in json.loads(done.stdout)["requests"]] == ["listCustomers"]
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the stateless journal lives in memory


def test_up_prints_each_stub_inspector_and_journals_in_the_state_dir(tmp_path: Path) -> None:
    port = free_port()
    args = ["up", str(EXAMPLE / "sandbox.yaml"), "--port", str(port), "--state-dir", str(tmp_path / "state")]
    proc = start(args, f"http://127.0.0.1:{port}/__sandlot/health", cwd=tmp_path)
    try:
        creds = dict(line.split("=", 1) for line in (tmp_path / "state" / "credentials.env").read_text().splitlines())
        httpx.get(f"http://127.0.0.1:{port}/v1/customers", headers={"authorization": f"Bearer {creds['SANDLOT_KEY']}"},
                  timeout=10)
        done = subprocess.run([sys.executable, "-m", "sandlot.cli", "requests", "--json"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "SANDLOT_URL": creds["SANDLOT_URL"],
                                   "SANDLOT_KEY": creds["SANDLOT_KEY"]})
        assert done.returncode == 0, done.stderr
        assert [e["path"] for e in json.loads(done.stdout)["requests"]] == ["/v1/customers"]
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    assert f"http://127.0.0.1:{port}/__sandlot/ui" in out and "inspector" in out
