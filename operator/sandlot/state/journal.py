"""The request journal's store: every recorded request in one SQLite table, its filters, its
retention, and the views made from it (the API's JSON, HAR 1.2, spec example and fixture
snippets).

Written by the journal stage (state/journal_stage.py), which hands it ready rows in batches;
read by the admin router (`GET|DELETE /__sandlot/requests...`, http/admin.py) and so by
`sandlot requests` and the inspector page. A stateful stub keeps the journal in its state file
(`--db`, beside the objects); a stateless mock keeps it in memory unless `--journal FILE` names
a file; `sandlot up` keeps each stub's in its state directory. Retention is per tenant: the
newest `size` entries, none older than `max_age` seconds. See docs/inspector.md.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sandlot.util.durations import DurationError, parse_duration
from sandlot.util.sqlite import immediate

if TYPE_CHECKING:
    from sandlot.state.sqlite_store import SQLiteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
    query TEXT NOT NULL, operation TEXT, route TEXT, status INTEGER NOT NULL, scenario TEXT,
    errors INTEGER NOT NULL, request_headers TEXT NOT NULL, request_body TEXT NOT NULL,
    request_size INTEGER NOT NULL, response_headers TEXT NOT NULL, response_body TEXT NOT NULL,
    response_size INTEGER NOT NULL, extra TEXT, at REAL NOT NULL, duration_ms REAL NOT NULL);
CREATE INDEX IF NOT EXISTS journal_by_tenant ON journal (tenant, id);
DROP TABLE IF EXISTS request_log;
"""
#: The journal's columns in table order (a row the stage writes is a tuple in this order, no id):
#: what describes the exchange first, then when it happened and how long it took.
COLUMNS = ("tenant", "method", "path", "query", "operation", "route", "status", "scenario", "errors",
           "request_headers", "request_body", "request_size", "response_headers", "response_body",
           "response_size", "extra", "at", "duration_ms")
_INSERT = f"INSERT INTO journal ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"

#: Defaults: entries kept per tenant, their longest age, body bytes kept.
DEFAULT_SIZE = 1000
DEFAULT_MAX_AGE = 7 * 86400.0
DEFAULT_BODY_BYTES = 4096
#: The most entries one read returns.
MAX_LIMIT = 1000
#: Age retention runs at most this often (seconds).
_AGE_CHECK_EVERY = 10.0

Row = tuple[Any, ...]


@dataclass(frozen=True)
class JournalSettings:
    """How much the journal keeps: per tenant `size` entries younger than `max_age` seconds,
    `body_bytes` of each body."""

    size: int = DEFAULT_SIZE
    max_age: float = DEFAULT_MAX_AGE
    body_bytes: int = DEFAULT_BODY_BYTES


@dataclass(frozen=True)
class JournalQuery:
    """A filter over the journal (every field optional); see `parse_filters` for the wire form."""

    tenant: str | None = None
    operation: str | None = None
    method: str | None = None
    path: str | None = None  # a prefix
    statuses: tuple[tuple[int, int], ...] = ()  # inclusive ranges, any of them
    scenario: str | None = None
    errors: bool | None = None
    since: float | None = None
    after: int | None = None  # ids above this one (the live tail)
    text: str | None = None  # in bodies, path and query
    limit: int = 50


def _status_ranges(text: str) -> tuple[tuple[int, int], ...]:
    ranges = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        if len(part) == 3 and part[0].isdigit() and part[1:] == "xx":
            ranges.append((int(part[0]) * 100, int(part[0]) * 100 + 99))
        elif "-" in part:
            low, _, high = part.partition("-")
            ranges.append((int(low), int(high)))
        else:
            ranges.append((int(part), int(part)))
    return tuple(ranges)


def parse_since(text: str, now: float) -> float:
    """Read `since`: Unix seconds, an ISO 8601 UTC time, or a duration meaning that long ago (`10m`)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    if "T" in text or text.count("-") >= 2:
        try:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"since: {text!r} is not an ISO 8601 time (2026-12-01T10:00:00Z)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    try:
        return now - parse_duration(text, "since")
    except DurationError as exc:
        raise ValueError(f"{exc}; or give Unix seconds or an ISO 8601 time") from None


def parse_filters(args: Mapping[str, Any], now: float) -> JournalQuery:
    """Read the API's filters (raises ValueError naming the bad one): `operation`, `method`, `path`
    (prefix), `status` (`404`, `4xx`, `500-599`, comma-separated), `scenario`, `errors`
    (true/false: has validation errors), `since`, `after` (an id), `q` (text in bodies, path and
    query), `limit` (1-1000, default 50)."""
    def text(name: str) -> str | None:
        value = args.get(name)
        return str(value) if value not in (None, "") else None

    try:
        statuses = _status_ranges(text("status") or "")
    except ValueError:
        raise ValueError(f"status: {args.get('status')!r}; write 404, 4xx, 500-599 or a comma-separated list") from None
    errors = text("errors")
    if errors is not None and errors.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"errors: {errors!r}; write true or false")
    try:
        limit = int(args.get("limit", 50))
        after = int(args["after"]) if text("after") else None
    except (TypeError, ValueError):
        raise ValueError("limit and after are whole numbers") from None
    since = text("since")
    return JournalQuery(
        operation=text("operation"), method=(text("method") or "").upper() or None, path=text("path"),
        statuses=statuses, scenario=text("scenario"),
        errors=None if errors is None else errors.lower() in ("true", "1", "yes"),
        since=parse_since(since, now) if since else None, after=after, text=text("q"),
        limit=max(1, min(limit, MAX_LIMIT)))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(query: JournalQuery) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if query.tenant is not None:
        where.append("tenant = ?")
        params.append(query.tenant)
    if query.operation:
        where.append("operation = ?")
        params.append(query.operation)
    if query.method:
        where.append("method = ?")
        params.append(query.method)
    if query.path:
        where.append("path LIKE ? ESCAPE '\\'")
        params.append(_like(query.path) + "%")
    if query.statuses:
        where.append("(" + " OR ".join("status BETWEEN ? AND ?" for _ in query.statuses) + ")")
        params += [bound for pair in query.statuses for bound in pair]
    if query.scenario:
        where.append("scenario = ?")
        params.append(query.scenario)
    if query.errors is not None:
        where.append("errors > 0" if query.errors else "errors = 0")
    if query.since is not None:
        where.append("at >= ?")
        params.append(query.since)
    if query.after is not None:
        where.append("id > ?")
        params.append(query.after)
    if query.text:
        pattern = "%" + _like(query.text) + "%"
        where.append("(request_body LIKE ? ESCAPE '\\' OR response_body LIKE ? ESCAPE '\\'"
                     " OR path LIKE ? ESCAPE '\\' OR query LIKE ? ESCAPE '\\')")
        params += [pattern] * 4
    return (" WHERE " + " AND ".join(where)) if where else "", params


def iso(at: float) -> str:
    """Return Unix seconds as ISO 8601 UTC with milliseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


def _parsed(text: str, headers: Mapping[str, str], truncated: bool) -> Any:
    if truncated or not text or "json" not in headers.get("content-type", "json"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def entry_view(row: Sequence[Any]) -> dict[str, Any]:
    """Return one stored row (id first, then COLUMNS) as the API shows it."""
    (entry_id, tenant, method, path, query, operation, route, status, scenario, errors, request_headers,
     request_body, request_size, response_headers, response_body, response_size, extra, at, duration_ms) = row
    extra = json.loads(extra) if extra else {}
    req_headers = json.loads(request_headers)
    resp_headers = json.loads(response_headers)
    req_cut = bool(extra.get("request_truncated"))
    resp_cut = bool(extra.get("response_truncated"))
    view: dict[str, Any] = {
        "id": entry_id, "at": at, "time": iso(at), "tenant": tenant, "method": method, "path": path,
        "query": query, "url": path + (f"?{query}" if query else ""), "operation": operation,
        "status": status, "duration_ms": duration_ms, "scenario": scenario, "validation_errors": errors,
        "request": {"headers": req_headers, "body": request_body, "size": request_size, "truncated": req_cut,
                    "binary": bool(extra.get("request_binary")), "json": _parsed(request_body, req_headers, req_cut)},
        "response": {"headers": resp_headers, "body": response_body, "size": response_size,
                     "truncated": resp_cut, "binary": bool(extra.get("response_binary")),
                     "json": _parsed(response_body, resp_headers, resp_cut)},
        "explanation": extra.get("explanation"),
        "route": route,
        "edge": extra.get("edge"),
        "replay_of": extra.get("replay_of"),
    }
    return view


class JournalStore:
    """The journal table in one SQLite database (a file, or `:memory:`); safe across threads.

    `beside` is the state store of the same file: the journal then writes through its
    connection, under its lock. Its commits are then this connection's own, which move neither
    the store's data_version nor its writes: the store keeps its reads and answers across a
    flush (with a connection of its own, every flush dropped them all, every 64 requests)."""

    def __init__(self, path: str | Path, settings: JournalSettings | None = None, *,
                 beside: SQLiteStore | None = None) -> None:
        self.path = str(path)
        self.settings = settings or JournalSettings()
        if beside is not None and beside.path != self.path:
            raise ValueError(f"the journal at {self.path} is not beside the state file {beside.path}")
        self._beside = beside
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = beside.lock if beside is not None else threading.RLock()
        self._own = self._connect() if beside is None else None
        with self._lock:
            self._db.executescript(SCHEMA)
        self._age_checked = 0.0

    @property
    def _db(self) -> sqlite3.Connection:
        if self._beside is not None:
            return self._beside.connection
        assert self._own is not None
        return self._own

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        return db

    def reopen(self) -> None:
        """Open a new connection to the same file: a forked worker process must not use its
        parent's (the parent closes its own before forking). A `:memory:` journal starts empty.
        Beside a state store, the store's own reopen gives the journal its new connection."""
        if self._beside is not None:
            return
        with self._lock:
            self._own = self._connect()
            if self.path == ":memory:":
                self._own.executescript(SCHEMA)

    def append(self, rows: Sequence[Row], now: float) -> int | None:
        """Write rows (COLUMNS order) in one transaction, keep each tenant's newest `size` and drop
        entries older than `max_age`; return the last id written."""
        if not rows:
            return None
        keep = self.settings.size
        with self._writing() as db:
            db.executemany(_INSERT, rows)
            last = db.execute("SELECT MAX(id) FROM journal").fetchone()[0]
            for tenant in {row[0] for row in rows}:
                db.execute("DELETE FROM journal WHERE tenant = ? AND id <= (SELECT id FROM journal"
                           " WHERE tenant = ? ORDER BY id DESC LIMIT 1 OFFSET ?)", (tenant, tenant, keep))
            if now - self._age_checked >= _AGE_CHECK_EVERY:
                self._age_checked = now
                db.execute("DELETE FROM journal WHERE at < ?", (now - self.settings.max_age,))
        return int(last)

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, rolled back on any error: beside a state store, the store's own
        (a flush inside a request then joins the request's write group: state/sqlite_store.py)."""
        if self._beside is not None:
            with self._beside.transaction() as db:
                yield db
            return
        with self._lock, immediate(self._db) as db:
            yield db

    def find(self, query: JournalQuery, oldest_first: bool = False) -> list[dict[str, Any]]:
        """Return the entries matching `query`, newest first (oldest first for the live tail)."""
        where, params = _where(query)
        order = "ASC" if oldest_first else "DESC"
        with self._lock:
            rows = self._db.execute(f"SELECT id, {', '.join(COLUMNS)} FROM journal{where} ORDER BY id {order}"
                                    " LIMIT ?", [*params, query.limit]).fetchall()
        return [entry_view(row) for row in rows]

    def get(self, entry_id: int, tenant: str | None = None) -> dict[str, Any] | None:
        """Return one entry (only when it is `tenant`'s, if given), or None."""
        sql = f"SELECT id, {', '.join(COLUMNS)} FROM journal WHERE id = ?"
        params: list[Any] = [entry_id]
        if tenant is not None:
            sql += " AND tenant = ?"
            params.append(tenant)
        with self._lock:
            row = self._db.execute(sql, params).fetchone()
        return entry_view(row) if row else None

    def delete(self, tenant: str | None = None) -> int:
        """Delete the tenant's entries (everyone's for None); return how many went."""
        with self._lock:
            if tenant is None:
                return self._db.execute("DELETE FROM journal").rowcount
            return self._db.execute("DELETE FROM journal WHERE tenant = ?", (tenant,)).rowcount

    def last_id(self) -> int:
        """Return the highest id written so far (0 when empty)."""
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0])

    def close(self) -> None:
        """Close the database (beside a state store, the store closes the connection)."""
        if self._own is not None:
            with self._lock:
                self._own.close()


# -- views made from entries ---------------------------------------------------------------

def _har_headers(headers: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in headers.items()]


def _har_query(query: str) -> list[dict[str, str]]:
    import urllib.parse

    return [{"name": k, "value": v} for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)]


def to_har(entries: Sequence[Mapping[str, Any]], base_url: str, version: str) -> dict[str, Any]:
    """Return entries as a HAR 1.2 log (oldest first), URLs on `base_url`; secrets stay redacted."""
    har_entries = []
    for e in sorted(entries, key=lambda e: e["id"]):
        req, resp = e["request"], e["response"]
        request: dict[str, Any] = {
            "method": e["method"], "url": base_url + e["url"], "httpVersion": "HTTP/1.1",
            "cookies": [], "headers": _har_headers(req["headers"]), "queryString": _har_query(e["query"]),
            "headersSize": -1, "bodySize": req["size"]}
        if req["body"]:
            request["postData"] = {"mimeType": req["headers"].get("content-type", ""), "text": req["body"]}
        har_entries.append({
            "startedDateTime": e["time"], "time": e["duration_ms"], "request": request,
            "response": {"status": e["status"], "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                         "headers": _har_headers(resp["headers"]),
                         "content": {"size": resp["size"], "mimeType": resp["headers"].get("content-type", ""),
                                     "text": resp["body"]},
                         "redirectURL": "", "headersSize": -1, "bodySize": resp["size"]},
            "cache": {}, "timings": {"send": 0, "wait": e["duration_ms"], "receive": 0},
            "comment": f"sandlot journal #{e['id']}, tenant {e['tenant']}, operation {e['operation']}",
        })
    return {"log": {"version": "1.2", "creator": {"name": "sandlot", "version": version}, "entries": har_entries}}


def example_snippet(entry: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """Return the entry's response as a named OpenAPI example: where it goes in the spec, and the
    YAML to paste there (raises ValueError when the entry has no documented route or no JSON body)."""
    route = entry.get("route")
    body = entry["response"]["json"]
    if not route or body is None:
        raise ValueError("only a complete JSON response to a documented operation can become an example")
    media = entry["response"]["headers"].get("content-type", "application/json").split(";")[0].strip()
    name = name or f"{(entry['operation'] or 'response').replace(' ', '_')}_{entry['id']}"
    method, _, template = str(route).partition(" ")
    snippet = {"paths": {template: {method.lower(): {"responses": {str(entry["status"]): {"content": {
        media: {"examples": {name: {"summary": f"recorded by sandlot (journal #{entry['id']})",
                                    "value": body}}}}}}}}}}
    pointer = "/paths/" + template.replace("~", "~0").replace("/", "~1") + f"/{method.lower()}/responses/" \
        f"{entry['status']}/content/" + media.replace("~", "~0").replace("/", "~1") + f"/examples/{name}"
    return {"pointer": pointer, "yaml": yaml.safe_dump(snippet, sort_keys=False, allow_unicode=True)}


def fixture_snippet(entry: Mapping[str, Any], collection: str, wrapper: str | None = None) -> dict[str, Any]:
    """Return the object in the entry's response as fixtures YAML for `collection` (raises
    ValueError when the response holds no object)."""
    body = entry["response"]["json"]
    if wrapper and isinstance(body, dict):
        body = body.get(wrapper)
    if not isinstance(body, dict):
        raise ValueError("the response holds no single object to keep as a fixture")
    return {"collection": collection,
            "yaml": yaml.safe_dump({collection: [body]}, sort_keys=False, allow_unicode=True)}
