"""The wake endpoint: `POST /wake/<namespace>/<name>` with the sandbox's own key wakes a sleeping sandbox.

Served by `sandlot operator --wake-port` (controller/runner.py starts it beside the metrics
endpoint; the chart exposes it as the Service `<release>-wake`). A sleeping sandbox has no pod
that could answer, so the operator does: it checks the caller's bearer token against the
sandbox's own credentials (the `apiKey` or `adminToken` in the Secret `<name>-credentials` next
to the sandbox) and then sets the same annotation `kubectl annotate sbx NAME sandlot.dev/wake=now`
sets. From there the wake goes through admission like any other: it may wait in the queue.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes.client.exceptions import ApiException

from sandlot.kube import Kube
from sandlot.reconcile.admission import WAKE_ANNOTATION
from sandlot.reconcile.desired import credentials_copy_name
from sandlot.reconcile.lifetime import format_time

API_VERSION = "sandlot.dev/v1alpha1"
_PATH = re.compile(r"^/wake/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)/?$")
UNAUTHORIZED = ("send the sandbox's apiKey (or adminToken) from its Secret <name>-credentials as "
                "`Authorization: Bearer <key>`")

log = logging.getLogger("sandlot.operator")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status and JSON body."""

    status: int
    body: dict[str, Any]


def target(path: str) -> tuple[str, str] | None:
    """Return (namespace, name) of a `/wake/<namespace>/<name>` path, or None."""
    match = _PATH.match(path.split("?", 1)[0])
    return (match.group(1), match.group(3)) if match else None


def bearer(header: str | None) -> str | None:
    """Return the token of an `Authorization: Bearer <token>` header."""
    if not header or not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


def allowed(token: str | None, credentials: dict[str, str]) -> bool:
    """Return True when `token` is the sandbox's apiKey or adminToken (compared in constant time)."""
    if not token:
        return False
    return any(value and secrets.compare_digest(token.encode(), value.encode())
               for key, value in credentials.items() if key in ("apiKey", "adminToken"))


def wake(kube: Kube, method: str, path: str, authorization: str | None, now: datetime | None = None) -> Answer:
    """Answer one request to the wake endpoint (the only place that calls the API)."""
    where = target(path)
    if where is None:
        return Answer(404, {"error": "not found; POST /wake/<namespace>/<name>"})
    if method != "POST":
        return Answer(405, {"error": "use POST"})
    namespace, name = where
    secret = kube.get("v1", "Secret", credentials_copy_name(name), namespace)
    values = {k: base64.b64decode(v).decode() for k, v in ((secret or {}).get("data") or {}).items()}
    sandbox = kube.get(API_VERSION, "SandboxEnvironment", name, namespace) if secret else None
    if sandbox is None or not allowed(bearer(authorization), values):
        return Answer(401, {"error": UNAUTHORIZED})
    status = sandbox.get("status") or {}
    key = f"{namespace}/{name}"
    if not status.get("sleepingSince"):
        return Answer(200, {"sandbox": key, "phase": status.get("phase"), "wake": "not asleep"})
    stamp = format_time(now or datetime.now(UTC))
    kube.patch(API_VERSION, "SandboxEnvironment", name, {"metadata": {"annotations": {WAKE_ANNOTATION: stamp}}},
               namespace=namespace)
    return Answer(202, {"sandbox": key, "phase": status.get("phase"), "wake": "requested",
                        "next": f"kubectl wait --for=condition=Ready sbx/{name} -n {namespace}"})


class WakeServer:
    """The wake endpoint over HTTP, in a daemon thread (stdlib server: a few requests a day)."""

    def __init__(self, kube: Kube, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - served in the pod
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                try:
                    answer = wake(owner.kube, self.command, self.path, self.headers.get("Authorization"))
                except ApiException as exc:
                    answer = Answer(503, {"error": f"the Kubernetes API answered {exc.status}; try again"})
                data = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                log.info("wake endpoint: " + format % args)

        self.kube = kube
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="sandlot-wake", daemon=True)

    def start(self) -> WakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
