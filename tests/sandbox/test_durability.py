"""Nothing lost on a restart (issue 17), with real `sandlot mock --stateful` processes on 127.0.0.1.

- `kill -9` with 100 webhook deliveries pending (one on the wire): after a restart every event
  reaches a real receiver at least once, and only the delivery that was on the wire (and so
  claimed in the state file) may arrive twice, as docs/scenarios.md promises;
- idempotency keys, the virtual clock and the rate-limit buckets survive `kill -9`;
- a state file written before schema versions (version 1) opens and is migrated; a newer one,
  a damaged one and a file that is not a database are refused with a clear error, untouched.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from sandlot.state.keys import hash_key
from sandlot.state.schema import SCHEMA_VERSION, sandlot_version
from sandlot.state.sqlite_store import SQLiteStore
from tests.ports import free_port
from tests.sandbox.servers import SANDLOT, start, stop

SHOP = Path(__file__).resolve().parents[1] / "scenarios" / "fixtures" / "shop.yaml"
V1_SCHEMA = Path(__file__).resolve().parent / "fixtures" / "schema_v1.sql"
ADMIN = "adm_durability"
KEY = "sk_sbx_" + "d" * 64
AUTH = {"authorization": f"Bearer {KEY}"}


class HoldingReceiver:
    """A webhook receiver on 127.0.0.1 recording every request on arrival. Answers 200, except
    500 to every fifth of the first `fast` requests, and holds request `fast + 1` open (the
    process under test is killed while it waits) until `release()`."""

    def __init__(self, fast: int) -> None:
        self.fast = fast
        self.received: list[tuple[str, str, str]] = []  # (event id, delivery id, status sent)
        self.holding = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handle(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer._lock:
                    number = len(outer.received) + 1
                    status = 500 if number <= outer.fast and number % 5 == 0 else 200
                    outer.received.append((self.headers["Sandlot-Event-Id"], self.headers["Sandlot-Delivery-Id"],
                                           str(status)))
                if number == outer.fast + 1:
                    outer.holding.set()
                    outer._release.wait(20)
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender was killed while this request was held

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> Counter[str]:
        """Return how many times each delivery id was answered 200."""
        with self._lock:
            return Counter(delivery for _, delivery, status in self.received if status == "200")

    def events_delivered(self) -> set[str]:
        with self._lock:
            return {event for event, _, status in self.received if status == "200"}


def _serve(db: Path, port: int, config: Path | None = None) -> subprocess.Popen:
    args = ["mock", str(SHOP), "--stateful", "--db", str(db), "--port", str(port), "--no-watch",
            "--admin-token", ADMIN, "--key", KEY, "--log-level", "warning"]
    if config is not None:
        args += ["--config", str(config)]
    return start(args, f"http://127.0.0.1:{port}/__sandlot/health")


def _kill_9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=15)
    assert proc.returncode == -signal.SIGKILL


def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_kill_9_with_100_deliveries_pending_loses_none(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"webhooks": {"retry": {"attempts": 3, "backoff": "1h", "maxBackoff": "1h"},
                                               "timeout": "30s"}}))
    db, port = tmp_path / "state.db", free_port()
    receiver = HoldingReceiver(fast=30)
    proc = _serve(db, port, config)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as client:
            assert client.post("/__sandlot/webhooks/endpoints", json={"url": receiver.url}).status_code == 201
            triggered = client.post("/__sandlot/webhooks/trigger", json={"events": ["charge.succeeded"] * 100})
            assert triggered.status_code == 202, triggered.text
        events = set(triggered.json()["events"])
        assert len(events) == 100
        assert receiver.holding.wait(30), "the 31st delivery never reached the receiver"
        _kill_9(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # What the state file holds after the kill: every undelivered event queued, and the claims
    # the dead process held (the attempt on the wire among them).
    with sqlite3.connect(db) as raw:
        rows = raw.execute("SELECT delivery_id, state, claimed_by FROM webhook_deliveries").fetchall()
    assert len(rows) == 100
    claimed = {delivery for delivery, _, owner in rows if owner is not None}
    held = receiver.received[-1][1]
    assert held in claimed
    assert sum(state == "delivered" for _, state, _ in rows) == 24  # 30 fast answers, 6 of them 500
    receiver.release()
    proc = _serve(db, port, config)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as client:
            # The six refused deliveries retry an hour (of the tenant's clock) later.
            _until(lambda: len(receiver.events_delivered()) == 94, 60, "the pending deliveries after the restart")
            assert client.post("/__sandlot/clock/advance", json={"by": "2h"}).status_code == 200
            _until(lambda: receiver.events_delivered() >= events, 60, "every event delivered after the restart")
            _until(lambda: all(d["state"] == "delivered" for d in client.get(
                "/__sandlot/webhooks/deliveries").json()["deliveries"]), 30, "the log shows every delivery done")
            log = client.get("/__sandlot/webhooks/deliveries").json()["deliveries"]
    finally:
        stop(proc)
        receiver.close()
    assert {d["event_id"] for d in log} == events and len(log) == 100
    twice = {delivery for delivery, count in receiver.delivered().items() if count > 1}
    # Only an attempt the killed process had claimed is made again; nothing is sent three times.
    assert twice <= claimed and held in twice
    assert max(receiver.delivered().values()) == 2
    retried = [d for d in log if any(a["status"] == 500 for a in d["attempts"])]
    assert len(retried) == 6 and all(d["attempts"][-1]["status"] == 200 for d in retried)


def test_idempotency_keys_the_virtual_clock_and_rate_limits_survive_kill_9(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"rateLimit": {"requests": 4, "per": "1h", "burst": 4}}))
    db, port = tmp_path / "state.db", free_port()
    charge = {"amount": 1200, "currency": "usd"}
    headers = {**AUTH, "idempotency-key": "order-42"}
    proc = _serve(db, port, config)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            first = client.post("/v1/charges", json=charge, headers=headers)
            assert first.status_code == 201, first.text
            assert client.post("/__sandlot/clock/advance", json={"by": "3d"}, headers=AUTH).status_code == 200
            assert client.get("/v1/charges", headers=AUTH).headers["x-ratelimit-remaining"] == "2"
        _kill_9(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    proc = _serve(db, port, config)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            replay = client.post("/v1/charges", json=charge, headers=headers)
            clock = client.get("/__sandlot/clock", headers=AUTH).json()
            other = client.post("/v1/charges", json={**charge, "amount": 51}, headers=headers)
            refused = client.get("/v1/charges", headers=AUTH)
    finally:
        stop(proc)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert clock["offset_seconds"] == 3 * 86400
    # The bucket held 4: the first charge, the list, the replay; the reused key took the last one.
    assert other.status_code == 400 and other.headers["x-ratelimit-remaining"] == "0"
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


def test_every_create_answered_before_kill_9_is_in_the_file(tmp_path: Path) -> None:
    """Creates from several connections at once share commits (state/sqlite_store.py write
    groups): each is answered only once its commit is done, so every answered create survives a
    `kill -9` that lands while others are still being written."""
    db, port = tmp_path / "state.db", free_port()
    answered: list[str] = []
    refused: list[str] = []  # an answer other than 201 (seen by the main thread: asserts in threads are lost)
    lock = threading.Lock()
    enough = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as http:
            for number in range(200):  # bounded; the kill ends it sooner
                try:
                    created = http.post("/v1/charges", json={"amount": 100 + number, "currency": "usd"})
                except httpx.HTTPError:
                    return
                with lock:
                    if created.status_code != 201:
                        refused.append(f"{created.status_code} {created.text}")
                        enough.set()
                        return
                    answered.append(created.json()["id"])
                    if len(answered) >= 300:
                        enough.set()

    proc = _serve(db, port)
    clients = [threading.Thread(target=client) for _ in range(6)]
    try:
        for thread in clients:
            thread.start()
        assert enough.wait(60), f"only {len(answered)} creates answered in 60 s"
        _kill_9(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for thread in clients:
            thread.join(30)
    with lock:
        acknowledged = list(answered)
        assert not refused, refused[:3]
    with sqlite3.connect(db) as raw:
        stored = {row[0] for row in raw.execute("SELECT object_id FROM objects WHERE collection = 'charges'")}
    assert len(acknowledged) >= 300 and not set(acknowledged) - stored
    proc = _serve(db, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as http:
            sample = acknowledged[-20:]  # the last answered, the nearest to the kill
            assert all(http.get(f"/v1/charges/{charge}").status_code == 200 for charge in sample)
    finally:
        stop(proc)


def _v1_file(path: Path) -> None:
    """Write a state file as Sandlot wrote it before schema versions: one tenant, its key, a charge,
    an idempotency record and a clock offset."""
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA.read_text())
        db.execute("INSERT INTO tenants VALUES ('ten_old', 'old', 1.0)")
        db.execute("INSERT INTO keys VALUES ('key_old', ?, 'ten_old', 'sk_sbx_dddd…', 1.0, NULL)", (hash_key(KEY),))
        db.execute("INSERT INTO objects (tenant_id, collection, object_id, data, origin, created_at, updated_at)"
                   " VALUES ('ten_old', 'charges', 'ch_old', ?, 'api', 1.0, 1.0)",
                   (json.dumps({"id": "ch_old", "object": "charge", "amount": 700, "currency": "usd",
                                "status": "succeeded", "created": 1}),))
        db.execute("INSERT INTO tenant_state VALUES ('ten_old', 'sandlot.clock.offset', '7200.0')")
        db.execute("INSERT INTO meta VALUES ('seed_set_at', '1.0')")


def test_a_state_file_of_the_older_schema_opens_and_is_migrated(tmp_path: Path) -> None:
    db, port = tmp_path / "old.db", free_port()
    _v1_file(db)
    proc = _serve(db, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as client:
            charge = client.get("/v1/charges/ch_old")
            clock = client.get("/__sandlot/clock").json()
            hooks = client.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded"})
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert charge.status_code == 200 and charge.json()["amount"] == 700
    assert clock["offset_seconds"] == 7200
    assert hooks.status_code == 202  # the tables version 2 added are there
    with sqlite3.connect(db) as raw:
        meta = dict(raw.execute("SELECT key, value FROM meta"))
    assert meta["schema_version"] == str(SCHEMA_VERSION) and meta["written_by"] == sandlot_version()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(db: Path) -> str:
    """Run the stateful mock and `sandlot keys list` on `db`; both must refuse it (exit 2) without
    touching it. Return the mock's message."""
    before = _digest(db)
    mock = subprocess.run([*SANDLOT, "mock", str(SHOP), "--stateful", "--db", str(db), "--port", str(free_port()),
                           "--no-watch", "--admin-token", ADMIN], capture_output=True, text=True, timeout=60)
    keys = subprocess.run([*SANDLOT, "keys", "list", "--db", str(db)], capture_output=True, text=True, timeout=60)
    assert mock.returncode == 2, mock.stderr
    assert keys.returncode == 2 and keys.stderr.strip() == mock.stderr.strip().splitlines()[-1]
    assert _digest(db) == before
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    return mock.stderr.strip().splitlines()[-1]


def test_a_state_file_of_a_newer_schema_is_refused_naming_both_versions(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    SQLiteStore(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        raw.execute("UPDATE meta SET value = '9.9.9' WHERE key = 'written_by'")
    raw.close()
    message = _refused(db)
    assert message == (
        f"error: {db} has state schema version 99 (written by Sandlot 9.9.9); this Sandlot ({sandlot_version()}) "
        f"reads schema versions 1 to {SCHEMA_VERSION}: upgrade Sandlot, or pass another --db to start afresh. "
        "The file was left untouched.")


def test_a_damaged_state_file_is_refused_and_never_overwritten(tmp_path: Path) -> None:
    db = tmp_path / "damaged.db"
    store = SQLiteStore(db)
    store.create_tenant("ten_a", "a", 1.0)
    for i in range(400):
        store.insert_object("ten_a", "charges", f"ch_{i}", {"id": f"ch_{i}", "note": "x" * 200}, 1.0)
    store.close()
    size = db.stat().st_size
    with db.open("r+b") as handle:  # lose the second half, as a full disk or a bad copy would
        handle.truncate(size // 2)
    message = _refused(db)
    assert message.startswith(f"error: {db} is damaged (") and "left untouched" in message


def test_a_file_that_is_not_a_database_is_refused_and_never_overwritten(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("these are my notes, not a sandbox\n" * 50)
    message = _refused(db)
    assert message == (f"error: {db} is not a Sandlot state file (not a SQLite database: it starts with "
                       "b'these are my not'); it was left untouched: move it away or pass another --db")
