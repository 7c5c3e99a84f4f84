"""The drift record: every finding of a proxy run, aggregated, in one SQLite file.

Written by the proxy stage (drift/stage.py) after each forwarded request and read by
`GET /__sandlot/drift` (http/admin.py) and `sandlot drift report` (cli/drift.py). A finding is
counted once per request under its group: the operation, the rule, the response status, the
location and the JSON pointer with array indexes as `*`. A group keeps its count, when it was
first and last seen, and the first occurrence as its sample (already redacted). Requests are
counted per operation too, so a report can say how much traffic matched the spec. The file
survives restarts (runs add up) and is safe to read while a proxy writes it (WAL).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandlot.mock.conformance import RULES, WARNING, Finding
from sandlot.util.sqlite import immediate

_SCHEMA = """
CREATE TABLE IF NOT EXISTS findings (
    operation TEXT NOT NULL, rule TEXT NOT NULL, status INTEGER NOT NULL, location TEXT NOT NULL,
    pointer TEXT NOT NULL, count INTEGER NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
    sample TEXT NOT NULL,
    PRIMARY KEY (operation, rule, status, location, pointer));
CREATE TABLE IF NOT EXISTS operations (
    operation TEXT PRIMARY KEY, requests INTEGER NOT NULL, drifted INTEGER NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class DriftStoreError(Exception):
    """A drift record that cannot be opened or read: the message names the file and the fix."""


@dataclass(frozen=True)
class Group:
    """One aggregated finding: where, which rule, how often, when, and its first sample."""

    operation: str
    rule: str
    status: int | None
    location: str
    pointer: str
    count: int
    first_seen: float
    last_seen: float
    sample: dict[str, Any] = field(default_factory=dict)

    @property
    def level(self) -> str:
        """Return the rule's level (a rule this version does not know counts as a warning)."""
        rule = RULES.get(self.rule)
        return rule.level if rule else WARNING


@dataclass(frozen=True)
class OperationCount:
    """How many requests reached one operation, and how many of them drifted."""

    operation: str
    requests: int
    drifted: int


@dataclass(frozen=True)
class DriftRecord:
    """Everything a report shows: the upstream and spec of the last run, every group, every operation."""

    upstream: str | None
    spec: str | None
    groups: list[Group]
    operations: list[OperationCount]


class DriftStore:
    """The SQLite file of a drift record (thread-safe: the proxy forwards on worker threads)."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise DriftStoreError(f"no drift record at {self.path}; run `sandlot mock SPEC --proxy UPSTREAM` "
                                  "first, or pass --db with the file it wrote (its --drift-db)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise DriftStoreError(f"cannot open the drift record {self.path}: {exc}; pass another --drift-db "
                                  "(or --db)") from None
        self._lock = threading.Lock()

    def describe(self, upstream: str, spec: str) -> None:
        """Remember which upstream and spec the record is about (the last run's)."""
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                 [("upstream", upstream), ("spec", spec)])

    def add(self, operation: str, findings: Iterable[Finding], samples: Iterable[dict[str, Any]], now: float) -> None:
        """Count one request to `operation` and each of its findings (once per group), in one transaction."""
        rows: dict[tuple[str, str, int, str, str], dict[str, Any]] = {}
        for finding, sample in zip(findings, samples, strict=True):
            rows.setdefault((operation, finding.rule, finding.status or 0, finding.location, finding.pointer), sample)
        with self._lock, immediate(self._db) as db:
            db.execute(
                "INSERT INTO operations VALUES (?, 1, ?, ?, ?) ON CONFLICT(operation) DO UPDATE SET "
                "requests = requests + 1, drifted = drifted + excluded.drifted, last_seen = excluded.last_seen",
                (operation, int(bool(rows)), now, now))
            db.executemany(
                "INSERT INTO findings VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?) "
                "ON CONFLICT(operation, rule, status, location, pointer) DO UPDATE SET "
                "count = count + 1, last_seen = excluded.last_seen",
                [(*key, now, now, json.dumps(sample, ensure_ascii=False, default=str))
                 for key, sample in rows.items()])

    def read(self) -> DriftRecord:
        """Return the whole record (groups in a stable order: errors first, then by operation)."""
        try:
            with self._lock:
                meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
                found = self._db.execute(
                    "SELECT operation, rule, status, location, pointer, count, first_seen, last_seen, sample "
                    "FROM findings").fetchall()
                ops = self._db.execute("SELECT operation, requests, drifted FROM operations "
                                       "ORDER BY operation").fetchall()
        except sqlite3.Error as exc:
            raise DriftStoreError(f"cannot read the drift record {self.path}: {exc}") from None
        groups = [Group(op, rule, status or None, location, pointer, count, first, last, json.loads(sample))
                  for op, rule, status, location, pointer, count, first, last, sample in found]
        order = list(RULES)
        groups.sort(key=lambda g: (g.level != "error", g.operation, order.index(g.rule) if g.rule in order
                                   else len(order), g.status or 0, g.location, g.pointer))
        return DriftRecord(meta.get("upstream"), meta.get("spec"), groups,
                           [OperationCount(*row) for row in ops])

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
