"""The drift flow as a user runs it (docs/drift.md, "A proxy run that finds drift"): real
`sandlot` processes on 127.0.0.1 in front of a real server that breaks the spec, stopped with
SIGINT; `sandlot drift report` in every format; `--record DIR` and serving DIR/openapi.json
offline; and the start-up refusals (a live credential, a bad upstream, clashing options)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from sandlot.cli import main
from sandlot.cli.drift import DEFAULT_DRIFT_DB, DRIFT_FORMATS, DRIFT_LEVELS
from sandlot.drift import report
from tests.sandbox.servers import free_port, start, stop

from .conftest import AUTH, PETS
from .upstream import PetsApi


def test_the_command_line_names_the_drift_packages_choices() -> None:
    assert DRIFT_FORMATS == report.FORMATS and DRIFT_LEVELS == report.LEVELS
    assert DEFAULT_DRIFT_DB == ".sandlot/drift.db"


def test_a_proxy_run_that_finds_drift(api: PetsApi, tmp_path: Path, capsys) -> None:
    port = free_port()
    proc = start(["mock", str(PETS), "--proxy", api.url, "--port", str(port), "--no-watch",
                  "--upstream-header", "X-Staging: yes", "--record", "recorded"],
                 f"http://127.0.0.1:{port}/__sandlot/health", cwd=tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as client:
            assert client.get("/pets/7").json()["name"] == "Zip"
            assert client.get("/pets/1").json()["name"] == "Rex"
            assert client.get("/pets/6").status_code == 200
            assert client.get("/pets").status_code == 200
            assert client.get("/pets/2").status_code == 500
            assert client.post("/pets", json={"name": "Tom"}).status_code == 201
            live = client.get("/pets", headers={"authorization": "Bearer sk_live_51H8abcdef"})
            assert live.status_code == 403
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    assert f"Proxying to {api.url}: drift is added to .sandlot/drift.db, responses recorded in recorded" in err
    assert "drift: GET /pets/2 -> 500: response-status-undocumented (status)" in err
    assert all(r["headers"]["x-staging"] == "yes" for r in api.requests)
    assert len(api.requests) == 6  # the live-looking request never left

    db = str(tmp_path / ".sandlot" / "drift.db")
    assert main(["drift", "report", "--db", db]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Drift against {api.url} ({PETS}): 7 findings (6 errors, 1 warning), seen 7 times; "
                           "2 of 6 requests drifted\n\nerror    response-property-missing  GET /pets  "
                           "200 body /data/*/status\n")
    assert main(["drift", "report", "--db", db, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"] == {
        "findings": 7, "error": 6, "warning": 1, "occurrences": 7, "requests": 6, "drifted": 2}
    assert main(["drift", "report", "--db", db, "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("## Drift against") and "| error | `response-status-undocumented` |" in markdown
    assert main(["drift", "report", "--db", db, "--fail-on", "error"]) == 1

    # The recorded responses: redacted files, and the spec with the conforming ones as examples.
    folder = tmp_path / "recorded" / "responses"
    assert sorted(p.parent.name for p in folder.glob("*/*.json")) == \
        ["createPet", "getPet", "getPet", "getPet", "getPet", "listPets"]
    recorded = [json.loads(p.read_text()) for p in (folder / "getPet").glob("*.json")]
    by_name = {(r["body"] or {}).get("name") if isinstance(r["body"], dict) else r["status"]: r for r in recorded}
    assert ("set-cookie", "REDACTED") in [tuple(h) for h in by_name["Rex"]["headers"]]
    assert ("x-request-id", "req_1") in [tuple(h) for h in by_name["Rex"]["headers"]]
    assert by_name["Sec"]["body"]["tags"] == ["REDACTED"]
    assert by_name[500]["drift"] == ["response-status-undocumented"]
    listed = json.loads(next((folder / "listPets").glob("*.json")).read_text())
    assert listed["drift"] == ["response-format-mismatch", "response-header-missing", "response-property-missing",
                               "response-property-undocumented", "response-type-mismatch",
                               "response-value-undocumented"]
    spec = json.loads((tmp_path / "recorded" / "openapi.json").read_text())
    examples = spec["paths"]["/pets/{petId}"]["get"]["responses"]["200"]["content"]["application/json"]["examples"]
    assert [(name, e["value"]["name"]) for name, e in examples.items()] == \
        [("recorded-1", "Zip"), ("recorded-2", "Rex"), ("recorded-3", "Sec"), ("documented", "Rex")]
    assert "examples" not in spec["paths"]["/pets"]["get"]["responses"]["200"]["content"]["application/json"]

    # Offline: the recorded examples answer, no upstream needed.
    api.__exit__(None, None, None)
    port = free_port()
    offline = start(["mock", "recorded/openapi.json", "--port", str(port), "--no-watch"],
                    f"http://127.0.0.1:{port}/__sandlot/health", cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/pets/123", headers=AUTH).json() == {"id": 7, "name": "Zip", "status": "sold"}
        assert httpx.get(f"{base}/pets/123", headers={**AUTH, "prefer": "example=recorded-3"}).json() == \
            {"id": 6, "name": "Sec", "status": "sold", "tags": ["REDACTED"]}
        assert httpx.post(f"{base}/pets", headers=AUTH, json={"name": "Ann"}).json() == \
            {"id": 10, "name": "Tom", "status": "available"}
    finally:
        assert stop(offline)[0] == 0


def test_a_drift_report_without_a_record_says_where_to_get_one(tmp_path: Path, capsys) -> None:
    assert main(["drift", "report", "--db", str(tmp_path / "none.db")]) == 2
    assert capsys.readouterr().err == (
        f"error: no drift record at {tmp_path / 'none.db'}; run `sandlot mock SPEC --proxy UPSTREAM` first, or "
        "pass --db with the file it wrote (its --drift-db)\n")


@pytest.mark.parametrize("options, message", [
    (["--proxy", "http://127.0.0.1:9", "--upstream-header", "Authorization: Bearer sk_live_abc"],
     "error: --upstream-header Authorization looks like a live (production) credential (it matches sk_live_*); "
     "`sandlot mock --proxy` measures drift against test and staging APIs, so it refuses to send it. Use a test "
     "credential, or pass --allow-live-upstream if this upstream is meant to get live keys "
     "(docs/drift.md#live-credentials)\n"),
    (["--proxy", "localhost:8080"],
     "error: --proxy 'localhost:8080' is not an http(s) URL; give the real API's base URL, e.g. "
     "--proxy https://api.staging.example.com/v1\n"),
    (["--proxy", "http://127.0.0.1:9", "--stateful", "--scenario", "slow"],
     "error: --proxy answers with the real API's responses, so --stateful, --scenario cannot be used with it; "
     "drop them, or run `sandlot mock` without --proxy\n"),
    (["--proxy", "http://127.0.0.1:9", "--upstream-timeout", "soon"],
     "error: --upstream-timeout: 'soon' is not a duration"),
])
def test_the_proxy_refuses_to_start_and_says_why(tmp_path: Path, options: list[str], message: str, capsys) -> None:
    assert main(["mock", str(PETS), "--drift-db", str(tmp_path / "drift.db"), *options]) == 2
    assert capsys.readouterr().err.startswith(message)
