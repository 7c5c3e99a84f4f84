"""The real API behind the drift proxy: where it is, and forwarding one request to it.

Called by the proxy stage (drift/stage.py) for every request, and by the command line when it
parses `--proxy UPSTREAM` (`Upstream.parse`). The client is the standard library's
`http.client`: one connection per request with a timeout, no redirects followed (a 3xx goes back
to the client as the real API sent it), the raw status, headers and bytes. The request's path
and query are appended to UPSTREAM's own path; hop-by-hop headers and `Host` are not forwarded,
`--upstream-header`s replace the client's header of the same name, and the body is asked for
uncompressed (a compressed one is decoded, so it can be checked).
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
import zlib
from dataclasses import dataclass, field

from sandlot.mock.messages import MockRequest

#: Headers that describe one connection, not the message (RFC 9110 7.6.1), and those the proxy sets.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding"})
#: The largest response body read from the upstream (as the edge's request limit).
MAX_BODY = 32 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0


class UpstreamError(ValueError):
    """An UPSTREAM or --upstream-header that cannot be used: the message says how to fix it."""


class UpstreamUnavailable(Exception):
    """The upstream did not answer: `status` is what the proxy answers instead (502 or 504)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UpstreamResponse:
    """What the real API answered: status, headers (hop-by-hop removed) and the decoded body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Upstream:
    """A real (test or staging) API: scheme, host, port, base path and the headers added to each request."""

    url: str
    scheme: str
    host: str
    port: int
    base_path: str
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    query: str = ""
    _context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, url: str, headers: list[str] | tuple[str, ...] = (), timeout: float = DEFAULT_TIMEOUT) -> Upstream:
        """Read `--proxy URL` and its `--upstream-header 'Name: value'`s (raises UpstreamError)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamError(f"--proxy {url!r} is not an http(s) URL; give the real API's base URL, e.g. "
                                "--proxy https://api.staging.example.com/v1")
        if parts.username or parts.password:
            raise UpstreamError(f"--proxy {parts.scheme}://…@{parts.hostname}: put credentials in a header, not in "
                                "the URL: --upstream-header 'Authorization: Bearer <test key>'")
        if parts.fragment:
            raise UpstreamError(f"--proxy {url!r} has a #fragment, which HTTP never sends; remove it")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise UpstreamError(f"--proxy {url!r} has an invalid port; use 1-65535") from None
        if timeout <= 0:
            raise UpstreamError(f"--upstream-timeout must be more than 0 s, not {timeout:g}")
        pairs = []
        for header in headers:
            name, sep, value = header.partition(":")
            name = name.strip()
            if not sep or not name or any(c in name for c in " \t\r\n") or any(c in value for c in "\r\n"):
                raise UpstreamError(f"--upstream-header {header!r} is not 'Name: value', e.g. "
                                    "--upstream-header 'Authorization: Bearer sk_test_...'")
            if name.lower() in HOP_BY_HOP:
                raise UpstreamError(f"--upstream-header {name}: the proxy sets this header itself; remove it")
            pairs.append((name, value.strip()))
        context = ssl.create_default_context() if parts.scheme == "https" else None
        return cls(url, parts.scheme, parts.hostname, port, parts.path.rstrip("/"), tuple(pairs), timeout,
                   parts.query, context)

    @property
    def origin(self) -> str:
        """Return scheme://host:port (what messages name)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def target(self, req: MockRequest) -> str:
        """Return the request target sent upstream: UPSTREAM's path + the request's path and query."""
        query = "&".join(q for q in (self.query, req.query) if q)
        return self.base_path + req.path + (f"?{query}" if query else "")

    def request_headers(self, req: MockRequest) -> list[tuple[str, str]]:
        """Return the headers sent upstream: the client's (no hop-by-hop) with --upstream-headers replacing theirs."""
        own = {name.lower() for name, _ in self.headers}
        return [*((k, v) for k, v in req.headers.items() if k not in HOP_BY_HOP and k not in own), *self.headers]

    def forward(self, req: MockRequest) -> UpstreamResponse:
        """Send one request upstream and return its answer (raises UpstreamUnavailable)."""
        if self.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self._context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.putrequest(req.method, self.target(req), skip_accept_encoding=True)
            conn.putheader("Accept-Encoding", "identity")
            for name, value in self.request_headers(req):
                conn.putheader(name, value)
            if req.body or req.method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(req.body)))
            conn.endheaders(req.body or None)
            response = conn.getresponse()
            body = response.read(MAX_BODY + 1) if req.method != "HEAD" else b""
            if len(body) > MAX_BODY:
                raise UpstreamUnavailable(502, f"the upstream {self.origin} sent a body over {MAX_BODY} bytes "
                                               f"for {req.method} {req.path}; the proxy does not pass it on")
            headers = response.getheaders()
        except TimeoutError:
            raise UpstreamUnavailable(504, f"the upstream {self.origin} did not answer {req.method} {req.path} "
                                           f"within {self.timeout:g} s; pass a longer --upstream-timeout if it "
                                           "is just slow") from None
        except (OSError, http.client.HTTPException) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
            raise UpstreamUnavailable(502, f"the upstream {self.origin} did not answer {req.method} {req.path}: "
                                           f"{reason}; check that it runs and that --proxy points at it") from None
        finally:
            conn.close()
        return _received(response.status, headers, body, req.method == "HEAD")


def _received(status: int, headers: list[tuple[str, str]], body: bytes, head: bool) -> UpstreamResponse:
    """Drop hop-by-hop headers and decode a gzip/deflate body (the client gets it decoded)."""
    encoding = next((v.strip().lower() for k, v in headers if k.lower() == "content-encoding"), "")
    if body and encoding in ("gzip", "x-gzip", "deflate"):
        try:
            body = zlib.decompress(body, 47 if "gzip" in encoding else zlib.MAX_WBITS)
        except zlib.error:
            try:
                body = zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send
            except zlib.error:
                raise UpstreamUnavailable(502, f"the upstream sent a {encoding} body that does not decode") from None
        headers = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
    kept = [(k.lower(), v) for k, v in headers
            if k.lower() not in HOP_BY_HOP or (head and k.lower() == "content-length")]
    return UpstreamResponse(status, kept, body)

