"""Loopback HTTP(S) servers for the tests of guarded fetches: they count what reaches them.

A `LoopbackServer` binds one loopback address (127.0.0.1, or 127.0.0.2 to stand for a host the
policy opens), serves fixed routes (a body, a redirect, a slow body) and records every request it
receives with its Host header and, over TLS, the name the client asked for (SNI). Tests assert on
`hits` to prove a refused address was never contacted. `tls_pair` issues a CA and a serving
certificate for given host names. `RecordingProxy` sits in front of moto's S3/STS server
(`moto_server`) and records which access key signed each request.
"""

from __future__ import annotations

import email.utils
import http.client
import http.server
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.controlplane.cluster import issue_certificate


@dataclass(frozen=True)
class Hit:
    """One request a server received (with the validators of a conditional GET, if any)."""

    path: str
    host: str
    sni: str | None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    status: int = 0


def not_modified(request_headers: Any, route_headers: dict[str, str]) -> bool:
    """Return True when a conditional GET's validators match what a route serves (RFC 9110 13.1.1-13.1.3).

    If-None-Match wins over If-Modified-Since; dates compare as dates, as real servers do.
    """
    etag, since = request_headers.get("If-None-Match"), request_headers.get("If-Modified-Since")
    if etag is not None:
        return route_headers.get("ETag") is not None and route_headers["ETag"] in [t.strip() for t in etag.split(",")]
    modified = route_headers.get("Last-Modified")
    if since is None or modified is None:
        return False
    try:
        return email.utils.parsedate_to_datetime(modified) <= email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


Route = tuple[int, dict[str, str], bytes] | Callable[[], tuple[int, dict[str, str], bytes]]


class LoopbackServer:
    """A threaded HTTP server on `address` serving `routes` (path -> (status, headers, body)); 404 elsewhere."""

    def __init__(self, address: str = "127.0.0.1", routes: dict[str, Route] | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.hits: list[Hit] = []
        self._sni: dict[int, str | None] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                sni = getattr(self.connection, "sandlot_sni", None)
                route = server.routes.get(self.path)
                status, headers, body = (route() if callable(route) else route) if route else (404, {}, b"no")
                if status == 200 and not_modified(self.headers, headers):
                    status, body = 304, b""
                server.hits.append(Hit(self.path, self.headers.get("Host", ""), sni, self.headers.get("If-None-Match"),
                                       self.headers.get("If-Modified-Since"), status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (a timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))

            def remember_sni(sock: ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
                sock.sandlot_sni = name  # type: ignore[attr-defined]

            ctx.sni_callback = remember_sni
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.address, self.port = address, self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str = "/", host: str | None = None) -> str:
        """Return the URL of `path` on this server, optionally under another host name."""
        return f"{self.scheme}://{host or self.address}:{self.port}{path}"

    def paths(self) -> list[str]:
        """Return the paths requested so far, in order."""
        return [h.path for h in self.hits]


def body(text: str, content_type: str = "application/yaml") -> Route:
    """Return a route that serves `text`."""
    return (200, {"Content-Type": content_type}, text.encode())


def redirect(location: str, status: int = 302) -> Route:
    """Return a route that redirects to `location`."""
    return (status, {"Location": location}, b"")


def slow(seconds: float) -> Route:
    """Return a route that answers only after `seconds`."""
    def answer() -> tuple[int, dict[str, str], bytes]:
        time.sleep(seconds)
        return (200, {}, b"late")
    return answer


def tls_pair(directory: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """Write a CA and a serving certificate for `names`; return (ca.pem, cert.pem, key.pem)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netguard-test-ca")])
    ca = issue_certificate(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]), key.public_key(),
                             ca_name, ca_key, sans=[x509.DNSName(n) for n in names])
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass(frozen=True)
class Forwarded:
    """One request a RecordingProxy passed on: method, path and the access key id that signed it."""

    method: str
    path: str
    access_key: str | None
    if_none_match: str | None = None
    status: int = 0


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


class RecordingProxy:
    """A reverse proxy on 127.0.0.1 in front of `target` (moto's server) that records who asked for what.

    S3 and STS requests are signed with AWS Signature V4, whose Authorization header names the
    access key id: `forwarded` shows which credentials read which object.
    """

    def __init__(self, target: str) -> None:
        self.forwarded: list[Forwarded] = []
        target_parts = urllib.parse.urlsplit(target)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else None
                found = _CREDENTIAL.search(self.headers.get("Authorization", ""))
                conn = http.client.HTTPConnection(target_parts.hostname, target_parts.port, timeout=30)
                try:
                    conn.request(self.command, self.path, body=payload, headers=dict(self.headers.items()))
                    resp = conn.getresponse()
                    data = resp.read()
                    proxy.forwarded.append(Forwarded(self.command, self.path, found.group(1) if found else None,
                                                     self.headers.get("If-None-Match"), resp.status))
                    self.send_response(resp.status)
                    for name, value in resp.getheaders():
                        if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward  # noqa: N815 (http.server's naming)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def keys_used_for(self, path_prefix: str) -> set[str | None]:
        """Return the access key ids of the requests whose path starts with `path_prefix`."""
        return {f.access_key for f in self.forwarded if f.path.startswith(path_prefix)}


@contextmanager
def moto_server(env: dict[str, str] | None = None) -> Iterator[str]:
    """Run moto's S3/STS server on 127.0.0.1 and yield its URL (skips when moto[server] is missing)."""
    import pytest

    from tests.ports import free_port
    from tests.sandbox.servers import stop, wait_until_up

    binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(binary).exists():
        pytest.fail("moto_server is not installed (pip install 'moto[server]', a test extra)")
    port = free_port()
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url, proc)
    try:
        yield url
    finally:
        stop(proc)
