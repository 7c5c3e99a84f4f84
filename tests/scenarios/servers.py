"""Real servers on 127.0.0.1 for the scenario tests: the simulated mock in a uvicorn thread,
and an independent webhook receiver (http.server) that verifies signatures with its own code."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from sandlot.http.serve import make_server


class UvicornThread:
    """Serve an ASGI app on an ephemeral 127.0.0.1 port in a background thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = make_server(app, lifespan="off", log_level="critical", access_log=False)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start within 10 s"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@dataclass
class Received:
    """One request the receiver got, and whether its signature checked out."""

    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> Any:
        return json.loads(self.body)


def verify_signature(header: str, secret: str, body: bytes) -> bool:
    """Check `t=...,v1=...` the way an integrator would: HMAC-SHA256 over "<t>.<body>"."""
    fields = {}
    for part in header.split(","):
        name, _, value = part.partition("=")
        fields[name.strip()] = value.strip()
    if "t" not in fields or "v1" not in fields:
        return False
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 300


@dataclass
class Receiver:
    """A webhook receiver: records every request; answers 500 to the first `fail_first`, 400
    to a bad signature, else 200."""

    secrets: list[str] = field(default_factory=list)
    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Receiver:
        outer = self

        class Handle(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                signature = self.headers.get("Sandlot-Signature", "")
                verified = any(verify_signature(signature, s, body) for s in outer.secrets)
                with outer.lock:
                    outer.received.append(Received({k.lower(): v for k, v in self.headers.items()},
                                                   body, verified))
                    count = len(outer.received)
                status = 500 if count <= outer.fail_first else (200 if verified else 400)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until `count` requests arrived (bounded); return them in arrival order."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} webhook requests within {timeout} s, got {len(self.received)}")


def wait_deliveries(client: httpx.Client, headers: dict[str, str], predicate: Any,
                    timeout: float = 10.0) -> list[dict[str, Any]]:
    """Poll GET /__sandlot/webhooks/deliveries until `predicate(deliveries)` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        deliveries = client.get("/__sandlot/webhooks/deliveries", headers=headers).json()["deliveries"]
        if predicate(deliveries) or time.monotonic() > deadline:
            return deliveries
        time.sleep(0.02)
