"""`sandlot mock --stateful --workers 2`: two worker processes share one state file safely.

Real processes on 127.0.0.1: many clients create objects in the same collection at once (integer
ids, the case where two processes could hand out the same id), and every create is kept, with
distinct ids; both workers answer and both write the request journal to the one file (any
worker's `GET /__sandlot/requests` sees them all); SIGINT stops them all with exit 0.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.ports import free_port
from tests.sandbox.servers import SANDLOT, start, stop

ADMIN = "adm_workers"
KEY = "sk_sbx_" + "e" * 64

SPEC = """
openapi: 3.0.3
info: {title: Counter, version: "1"}
servers: [{url: /v1}]
paths:
  /items:
    get:
      operationId: listItems
      responses:
        "200":
          description: items
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Item"}}
    post:
      operationId: createItem
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [name], properties: {name: {type: string}}}
      responses:
        "201":
          description: created
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Item"}
  /items/{itemId}:
    get:
      operationId: getItem
      parameters: [{name: itemId, in: path, required: true, schema: {type: integer}}]
      responses:
        "200":
          description: one
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Item"}
        "404": {description: none}
components:
  schemas:
    Item:
      type: object
      required: [id, name]
      properties:
        id: {type: integer, readOnly: true}
        name: {type: string}
"""


def _two_workers(tmp_path: Path, db: Path) -> tuple[subprocess.Popen[str], str]:
    """Start `sandlot mock --stateful --workers 2` on the counter spec; return (process, root URL)."""
    spec = tmp_path / "items.yaml"
    spec.write_text(SPEC)
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    proc = start(["mock", str(spec), "--stateful", "--workers", "2", "--db", str(db), "--port", str(port),
                  "--no-watch", "--admin-token", ADMIN, "--key", KEY, "--log-level", "warning"],
                 f"{root}/__sandlot/health")
    return proc, root


def test_two_workers_creating_in_one_collection_lose_no_update(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    proc, root = _two_workers(tmp_path, db)
    try:
        pids = set()
        for _ in range(200):  # a new connection each time: the kernel hands them to either worker
            pids.add(httpx.get(f"{root}/__sandlot/health", timeout=10).json()["pid"])
            if len(pids) == 2:
                break

        def create(client_number: int) -> list[int]:
            made = []
            with httpx.Client(base_url=root, headers={"authorization": f"Bearer {KEY}"}, timeout=30) as client:
                for i in range(40):
                    response = client.post("/v1/items", json={"name": f"c{client_number}-{i}"})
                    assert response.status_code == 201, response.text
                    made.append(response.json()["id"])
            return made

        with ThreadPoolExecutor(8) as pool:
            ids = [i for made in pool.map(create, range(8)) for i in made]
        listed = httpx.get(f"{root}/v1/items", headers={"authorization": f"Bearer {KEY}"}, timeout=30)
        one = httpx.get(f"{root}/v1/items/{max(ids)}", headers={"authorization": f"Bearer {KEY}"}, timeout=30)
        journaled: set[int] = set()
        for _ in range(20):  # each worker writes its rows within a quarter of a second
            found = httpx.get(f"{root}/__sandlot/requests", params={"operation": "createItem", "limit": 1000},
                              headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)
            assert found.status_code == 200, found.text
            journaled = {entry["id"] for entry in found.json()["requests"]}
            if len(journaled) == 320:
                break
            time.sleep(0.25)
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert len(pids) == 2 and proc.pid not in pids
    assert len(ids) == 320 and sorted(ids) == list(range(1, 321))
    assert listed.status_code == 200 and one.status_code == 200
    with sqlite3.connect(db) as raw:
        stored = [int(row[0]) for row in raw.execute(
            "SELECT object_id FROM objects WHERE collection = 'items'")]
    assert sorted(stored) == sorted(ids)
    assert len(journaled) == 320  # every create, whichever worker answered it, read back through one worker
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT COUNT(*) FROM journal WHERE operation = 'createItem'").fetchone()[0] == 320


def test_workers_need_the_stateful_mode(tmp_path: Path) -> None:
    spec = tmp_path / "items.yaml"
    spec.write_text(SPEC)
    done = subprocess.run([*SANDLOT, "mock", str(spec), "--workers", "2", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --workers needs --stateful")


def test_a_key_revoked_through_one_worker_is_refused_by_every_worker_at_once(tmp_path: Path) -> None:
    """Each worker keeps the key's tenant between requests (state/sqlite_store.py); a revoke
    committed by one worker reaches the other's very next request."""
    from sandlot.state.keys import key_from_secret

    db = tmp_path / "state.db"
    proc, root = _two_workers(tmp_path, db)
    auth = {"authorization": f"Bearer {KEY}"}
    try:
        made = httpx.post(f"{root}/v1/items", json={"name": "one"}, headers=auth, timeout=10)
        assert made.status_code == 201, made.text
        item = f"{root}/v1/items/{made.json()['id']}"
        pids = set()
        for _ in range(200):  # a new connection each time: the kernel hands them to either worker
            assert httpx.get(item, headers=auth, timeout=10).status_code == 200  # both keep the key now
            pids.add(httpx.get(f"{root}/__sandlot/health", timeout=10).json()["pid"])
            if len(pids) == 2:
                break
        for _ in range(10):
            assert httpx.get(item, headers=auth, timeout=10).status_code == 200
        revoked = httpx.delete(f"{root}/__sandlot/keys/{key_from_secret(KEY).key_id}",
                               headers={"authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert revoked.status_code == 200, revoked.text
        after = [httpx.get(item, headers=auth, timeout=10).status_code for _ in range(20)]
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert len(pids) == 2
    assert after == [401] * 20
