"""Run one raw API sequence against the emulator and against kube-apiserver, and compare what was seen.

Used by tests/kubeemu/test_against_apiserver.py. A scenario is a function of a `Backend`
(raw HTTP to one API server, in a namespace of its own) and a `Transcript`: it makes requests
and records, under a label, what the operator or kopf depends on in each answer, normalized by
`norm` (uids, timestamps and resourceVersion values differ between servers; whether they are
there does not). `compare` runs the scenario on both backends and fails with every label whose
observation differs, the emulator's value next to the real server's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

#: A ceiling for waiting on a controller (namespace, garbage collector), not an assertion about speed.
EVENTUALLY_SECONDS = 60.0
#: Server-filled metadata whose values differ between servers; `norm` keeps only whether they are set.
VOLATILE_METADATA = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp")
SET = "<set>"
MISSING = "<missing>"


@dataclass
class Answer:
    """An HTTP answer: the status code and the decoded JSON body (or the text)."""

    code: int
    body: Any

    @property
    def status(self) -> dict[str, Any]:
        """Return the parts of a v1 Status body clients read: code, reason, message, details."""
        body = self.body if isinstance(self.body, dict) else {}
        return {"code": self.code, "kind": body.get("kind"), "reason": body.get("reason"),
                "message": body.get("message"), "details": norm(body.get("details"))}


class Backend:
    """Raw HTTP access to one API server; `ns` is the namespace the scenario works in."""

    def __init__(self, name: str, http: httpx.Client, ns: str) -> None:
        self.name = name
        self.http = http
        self.ns = ns
        #: A kubeconfig for clients that are not raw HTTP (the operator's own Kube).
        self.kubeconfig: Path | None = None

    @property
    def real(self) -> bool:
        return self.name == "kube-apiserver"

    def call(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
             **params: str) -> Answer:
        """Send one request; `{ns}` in the path is the scenario's namespace."""
        content = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        resp = self.http.request(method, path.format(ns=self.ns), content=content, params=params,
                                 headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            decoded = resp.json()
        except ValueError:
            decoded = resp.text
        return Answer(resp.status_code, decoded)

    def get(self, path: str, **params: str) -> Answer:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any, **params: str) -> Answer:
        return self.call("POST", path, body, **params)

    def put(self, path: str, body: Any) -> Answer:
        return self.call("PUT", path, body)

    def merge(self, path: str, patch: Any) -> Answer:
        return self.call("PATCH", path, patch, content_type="application/merge-patch+json")

    def json_patch(self, path: str, ops: list[dict[str, Any]]) -> Answer:
        return self.call("PATCH", path, ops, content_type="application/json-patch+json")

    def strategic(self, path: str, patch: Any) -> Answer:
        return self.call("PATCH", path, patch, content_type="application/strategic-merge-patch+json")

    def delete(self, path: str, options: dict[str, Any] | None = None, **params: str) -> Answer:
        return self.call("DELETE", path, options, **params)

    def watch(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Return every event a watch sends until it ends (`timeoutSeconds`, 1 unless given)."""
        query = {"watch": "true", "timeoutSeconds": "1", **params}
        with self.http.stream("GET", path.format(ns=self.ns), params=query) as resp:
            assert resp.status_code == 200, (resp.status_code, resp.read())
            return [json.loads(line) for line in resp.iter_lines() if line.strip()]

    def watches(self, requests: dict[str, tuple[str, dict[str, str]]]) -> dict[str, list[dict[str, Any]]]:
        """Run several watches at once (each until its timeout); return their events by label."""
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            running = {label: pool.submit(self.watch, path, **params) for label, (path, params) in requests.items()}
            return {label: future.result() for label, future in running.items()}

    def eventually(self, check: Callable[[], Any], what: str) -> Any:
        """Poll `check` until it returns something truthy (controllers act after the request on a real server)."""
        deadline = time.monotonic() + EVENTUALLY_SECONDS
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: gave up waiting for {what}; last: {result!r}")
            time.sleep(0.2)

    def gone(self, path: str) -> bool:
        return self.get(path).code == 404


class Transcript:
    """What a scenario saw, by label, in the order it was seen."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    def __call__(self, label: str, value: Any) -> Any:
        if label in self.seen:
            raise AssertionError(f"label {label!r} recorded twice")
        self.seen[label] = value
        return value


def norm(value: Any) -> Any:
    """Return `value` with volatile server-filled metadata replaced by SET and managedFields dropped."""
    if isinstance(value, list):
        return [norm(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: norm(v) for k, v in value.items() if k != "managedFields"}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in VOLATILE_METADATA:
            if key in meta:
                meta[key] = SET
    if "uid" in out and isinstance(out["uid"], str) and "metadata" not in out:
        out["uid"] = SET  # Status details, involvedObject, ownerReferences
    return out


def digits_out(text: Any) -> Any:
    """Return a message with numbers (resource versions, addresses) replaced by N."""
    return re.sub(r"\d+", "N", text) if isinstance(text, str) else text


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def volatile_out(status: dict[str, Any]) -> dict[str, Any]:
    """Return a Status view with the uids and numbers in its message replaced (they differ by server)."""
    return {**status, "message": digits_out(_UUID.sub("UID", status.get("message") or ""))}


def meta_keys(obj: Any) -> list[str]:
    """Return the sorted metadata keys of an object, managedFields left out (the emulator keeps none)."""
    meta = (obj or {}).get("metadata") if isinstance(obj, dict) else None
    return sorted(k for k in (meta or {}) if k != "managedFields")


def names(answer: Answer) -> list[str]:
    """Return the names of a list answer's items, in the order served."""
    return [o["metadata"]["name"] for o in (answer.body or {}).get("items") or []]


def event_view(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """Return (type, name) of watch events, bookmarks left out (when they come is up to the server)."""
    return [(e["type"], e["object"].get("metadata", {}).get("name")) for e in events if e["type"] != "BOOKMARK"]


def differences(emulator: dict[str, Any], real: dict[str, Any]) -> Iterator[str]:
    """Yield one readable line per label whose observations differ."""
    for label in [*real, *(k for k in emulator if k not in real)]:
        ours, theirs = emulator.get(label, MISSING), real.get(label, MISSING)
        if ours != theirs:
            yield (f"{label}:\n    emulator:       {json.dumps(ours, sort_keys=True, default=str)[:1500]}\n"
                   f"    kube-apiserver: {json.dumps(theirs, sort_keys=True, default=str)[:1500]}")
