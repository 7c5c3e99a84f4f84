"""`sandlot up` following its provider's spec (docs/drift.md): an edit to the ConfigMap beside the
manifest is served at once, the stateful data stays, and the changes are reported by `sandlot
diff`'s engine with the breaking ones first. In-process on exact reports, then as a user runs it:
a real process on 127.0.0.1, the file edited on disk, the printed summary and the HTTP answers."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandlot.diff.changes import Change
from sandlot.diff.formats import Report, render_summary
from sandlot.up import LocalSandbox, SpecFollower, start_sandbox
from tests.sandbox.conftest import EXAMPLE
from tests.sandbox.servers import SANDLOT, free_port, stop, wait_until_up

CHARGE_STATUS = "status: {type: string, enum: [succeeded, pending, failed], readOnly: true, example: succeeded}\n" \
                "            refunded:"
WIDER_STATUS = CHARGE_STATUS.replace("failed]", "failed, disputed]")


def breaking_edit(text: str) -> str:
    """Return the example's spec with a charge status added (responses widen) and GET /refunds/{id} removed."""
    assert CHARGE_STATUS in text
    text = text.replace(CHARGE_STATUS, WIDER_STATUS)
    return text[:text.index("      /refunds/{refund_id}:")] + text[text.index("    components:"):]


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    folder = tmp_path / "sandbox"
    folder.mkdir()
    for file in EXAMPLE.glob("*.yaml"):
        shutil.copy(file, folder / file.name)
    return folder / "sandbox.yaml"


@pytest.fixture
def sandbox(manifest: Path, tmp_path: Path) -> Iterator[LocalSandbox]:
    running = start_sandbox(manifest, port=0, state_dir=tmp_path / "state")
    yield running
    running.close()


def test_a_breaking_edit_is_served_and_reported_errors_first(sandbox: LocalSandbox, manifest: Path,
                                                             tmp_path: Path) -> None:
    reported: list[str] = []
    follower = SpecFollower(sandbox, reported.append)
    assert follower.check() == []  # nothing changed yet
    spec_file = manifest.parent / "payments-openapi.yaml"
    spec_file.write_text(breaking_edit(spec_file.read_text()))
    specs = tmp_path / "state" / "specs"
    assert follower.check() == reported == [
        "payments: the spec changed and is served now (stateful data kept): 4 changes: 4 errors, 0 warnings, 0 info "
        "(breaking)\n"
        "  ERROR    response-property-enum-value-added  GET /charges: response property 'data/items/status' of 200 "
        "may now be \"disputed\"; clients handling only the documented values break. Declare open-ended lists as "
        "such (x-extensible-enum) from the start\n"
        "  ERROR    response-property-enum-value-added  POST /charges: response property 'status' of 201 may now be "
        "\"disputed\"; clients handling only the documented values break. Declare open-ended lists as such "
        "(x-extensible-enum) from the start\n"
        "  ERROR    response-property-enum-value-added  GET /charges/{charge_id}: response property 'status' of 200 "
        "may now be \"disputed\"; clients handling only the documented values break. Declare open-ended lists as "
        "such (x-extensible-enum) from the start\n"
        "  ERROR    api-path-removed-without-deprecation  GET /refunds/{refund_id}: the path /refunds/{refund_id} "
        "was removed without deprecation; clients calling it get 404. Deprecate it (with x-sunset) in a release "
        "before removing it"]
    stub = sandbox.stubs[0]
    assert stub.app.holder.reloads == 1
    assert stub.app.holder.engine.operation("GET", "/refunds/{refund_id}") is None
    assert (specs / "payments.previous.yaml").read_text() != (specs / "payments.yaml").read_text()
    assert follower.check() == []  # the same text again: nothing to report


def test_a_broken_edit_keeps_the_last_good_spec_and_says_why(sandbox: LocalSandbox, manifest: Path,
                                                            tmp_path: Path) -> None:
    follower = SpecFollower(sandbox, lambda _text: None)
    spec_file = manifest.parent / "payments-openapi.yaml"
    good = spec_file.read_text()
    spec_file.write_text(good.replace("    paths:\n", "    paths: [broken\n", 1))
    [report] = follower.check()
    assert report == (f"payments: the changed spec cannot be served, still serving the last good one: "
                      f"{tmp_path / 'state' / 'specs' / 'payments.yaml'} line 62 column 13: invalid YAML: did not "
                      "find expected ',' or ']' (while parsing a flow sequence started at line 61 column 8)")
    assert follower.check() == []  # reported once
    assert sandbox.stubs[0].app.holder.engine.operation("GET", "/refunds/{refund_id}") is not None
    manifest.write_text(manifest.read_text().replace("kind: SandboxEnvironment", "kind: SandboxEnvironment\n: ["))
    [unreadable] = follower.check()
    assert unreadable.startswith(f"cannot read the changed manifest, still serving the last good specs: {manifest}: "
                                 "not valid YAML")
    shutil.copy(EXAMPLE / "sandbox.yaml", manifest)
    spec_file.write_text(good.replace("A small payments API", "A small payments API, described better"))
    assert follower.check() == ["payments: the spec changed and is served now (stateful data kept): no change to "
                                "the API (descriptions, examples or layout only)"]


def test_the_summary_highlights_errors_and_cuts_the_rest() -> None:
    changes = [Change("api-removed-without-deprecation", "error", "removed", "DELETE", "/a"),
               Change("endpoint-added", "info", "added", "GET", "/b"),
               Change("endpoint-added", "info", "added", "GET", "/c"),
               Change("graphql-field-removed", "error", "gone", path="Query.x")]
    report = Report("old.yaml", "new.yaml", [changes[0], changes[3], changes[1], changes[2]])
    assert render_summary(report, color=True, most=3) == (
        "4 changes: 2 errors, 0 warnings, 2 info (breaking)\n"
        "\x1b[1;31m  ERROR    api-removed-without-deprecation  DELETE /a: removed\x1b[0m\n"
        "\x1b[1;31m  ERROR    graphql-field-removed  Query.x: gone\x1b[0m\n"
        "  info     endpoint-added  GET /b: added\n"
        "  ... and 1 more: sandlot diff old.yaml new.yaml\n")
    assert render_summary(Report("a", "b", changes[:1]), most=0) == (
        "1 change: 1 error, 0 warnings, 0 info (breaking)\n"
        "  ERROR    api-removed-without-deprecation  DELETE /a: removed\n")
    assert render_summary(Report("a", "b", [])) == "no change to the API (descriptions, examples or layout only)\n"


def _lines(proc: subprocess.Popen) -> queue.Queue:
    """Return a queue fed with the process's stdout lines by a reader thread."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue, text: str, timeout: float = 60.0) -> list[str]:
    """Return the lines read until one contains `text` (fail after `timeout` seconds)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=0.5))
        except queue.Empty:
            continue
        if text in seen[-1]:
            return seen
    raise AssertionError(f"{text!r} was not printed within {timeout} s; printed:\n{''.join(seen)}")


def test_sandlot_up_follows_its_providers_spec(manifest: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDLOT_")}
    proc = subprocess.Popen([*SANDLOT, "up", str(manifest), "--port", str(port), "--state-dir", str(tmp_path / "st")],
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/__sandlot/health", proc)
        lines = _lines(proc)
        _wait_for(lines, "Following the specs in")
        key = next(line.split("=", 1)[1] for line in (tmp_path / "st" / "credentials.env").read_text().splitlines()
                   if line.startswith("SANDLOT_KEY="))
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", headers={"authorization": f"Bearer {key}"},
                           timeout=10)
        customer = api.post("/customers", json={"email": "follow@example.com"}).json()
        before = api.get("/refunds/re_missing")
        spec_file = manifest.parent / "payments-openapi.yaml"
        spec_file.write_text(breaking_edit(spec_file.read_text()))
        printed = "".join(_wait_for(lines, "api-path-removed-without-deprecation"))
        assert "payments: the spec changed and is served now (stateful data kept): 4 changes: 4 errors" in printed
        assert "  ERROR    response-property-enum-value-added  GET /charges:" in printed
        assert "\x1b[" not in printed  # no colour codes when stdout is not a terminal
        assert api.get(f"/customers/{customer['id']}").json() == customer  # the stateful data stayed
        after = api.get("/refunds/re_missing")
        assert before.headers["content-type"] == "application/json"  # the spec's 404: no such refund
        assert (after.status_code, after.json()["detail"]) == (404, "no documented path matches /v1/refunds/re_missing")
        assert httpx.get(f"http://127.0.0.1:{port}/__sandlot/health").json()["reloads"] == 1
    finally:
        code, _out, err = stop(proc)
    assert code == 0, err
