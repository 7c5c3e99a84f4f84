"""The one guarded fetch: read an http(s) URL that someone the reader does not fully trust named.

Every URL a tenant writes into a SandboxEnvironment is read through `fetch()` and nothing else
(today the operator's spec sources, controller/sources.py; the data plane's source reader can
use the same function). It takes a URL and a `FetchPolicy` and returns the body as bytes, or
raises a `FetchError` that says what went wrong and how to fix it. `fetch_if_changed()` is the
same read with HTTP validators (ETag, Last-Modified), for following a document over time. Standard library only: no
kopf, no Kubernetes client, no settings; the caller builds the policy.

What it guarantees on every hop (the URL itself and each redirect):
- only http and https; no user name or password in the URL; no `.`/`..` path segments or
  backslashes (encoded or not), which a server could resolve outside an allowed prefix;
- when the policy lists URL prefixes, the URL is under one of them (same scheme, host and port,
  and the path starts with the prefix's path);
- the host name is resolved once and every address it resolves to is checked: loopback,
  link-local (cloud instance metadata), private, shared (carrier-grade NAT), reserved,
  multicast and unspecified addresses, IPv4 addresses embedded in IPv6 ones, and the networks
  the caller blocks (the cluster's pod and service networks) are refused, unless a network the
  policy opens holds the address;
- the connection goes to the address that was checked, never to a second resolution of the
  name, so DNS rebinding cannot swap in another address; TLS still sends the host name (SNI)
  and verifies the certificate for it, so pinning the address weakens nothing;
- no proxy from the environment (a proxy would resolve the name itself, unchecked);
- at most `max_redirects` redirects, `max_bytes` of body, `timeout` seconds in all.

A refusal raises `Refused` before anything is sent to the refused address.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Resolves (host, port) to the addresses a connection may go to.
Resolver = Callable[[str, int], Sequence[str]]

REDIRECTS = (301, 302, 303, 307, 308)
DEFAULT_PORTS = {"http": 80, "https": 443}
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(Exception):
    """A URL could not be read; `message` names the URL, the problem and the fix."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url
        self.message = message


class Refused(FetchError):
    """The policy does not allow the URL (or a redirect): nothing was sent to it.

    `rule` says what refused it; `remedy` says how it could be allowed.
    """

    def __init__(self, url: str, rule: str, remedy: str) -> None:
        super().__init__(url, f"{url}: {rule}; {remedy}" if remedy else f"{url}: {rule}")
        self.rule = rule
        self.remedy = remedy


class Unreachable(FetchError):
    """The URL is allowed but could not be read (name, connection, TLS, HTTP status, timeout)."""


class TooLarge(FetchError):
    """The body is larger than the caller accepts."""


@dataclass(frozen=True)
class NamedNetwork:
    """A network refused even when public, with the name a refusal shows (`the cluster's service network`)."""

    network: IPNetwork
    name: str


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be contacted: public ones only, minus `blocked`, plus `opened`.

    `opened` wins over everything else (the platform opened exactly that range); `open_with`
    is the remedy a refusal shows (which setting or flag would open a range).
    """

    blocked: tuple[NamedNetwork, ...] = ()
    opened: tuple[IPNetwork, ...] = ()
    open_with: str = ""

    def refusal(self, address: str | IPAddress) -> str | None:
        """Return why `address` may not be contacted (`127.0.0.1 is a loopback address`), or None."""
        ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
        if any(ip.version == net.version and ip in net for net in self.opened):
            return None
        for named in self.blocked:
            if ip.version == named.network.version and ip in named.network:
                return f"{ip} is in {named.name} ({named.network})"
        kind = non_public(ip)
        return f"{ip} is {kind}" if kind else None


def non_public(ip: IPAddress) -> str | None:
    """Return what kind of non-public address `ip` is (`a loopback address`), or None when public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = non_public(embedded)
            if inner:
                return f"an IPv6 address embedding {embedded}, {inner}"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud instance metadata is served)"
    if ip.is_unspecified:
        return "the unspecified address (this host)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class FetchPolicy:
    """What `fetch` may read: addresses, and (when `url_prefixes` is not None) URL prefixes.

    `prefixes_remedy` is shown when a URL is under none of the prefixes (who can add one).
    """

    addresses: AddressPolicy = field(default_factory=AddressPolicy)
    url_prefixes: tuple[str, ...] | None = None
    prefixes_remedy: str = ""


#: For what a user runs on their own machine (`sandlot mock URL`, `sandlot up`): every address is
#: open, since the tool reaches only what its user can; the rest of `fetch` (size, time,
#: redirect limits, one connection per checked address) still applies.
USER_REACH = FetchPolicy(addresses=AddressPolicy(
    opened=(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))))


def system_resolve(host: str, port: int) -> list[str]:
    """Return the addresses `host` resolves to (IPv4 and IPv6, each once, in resolver order)."""
    seen: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in seen:
            seen.append(address)
    return seen


def _port(parts: urllib.parse.SplitResult) -> int:
    port = parts.port  # raises ValueError for a port out of range
    return port if port is not None else DEFAULT_PORTS[parts.scheme.lower()]


def url_problem(url: str) -> str | None:
    """Return why `url` is not a URL `fetch` reads at all (scheme, user info, dot segments), or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            return "only http and https URLs are read"
        if not parts.hostname:
            return "the URL has no host"
        _port(parts)
    except ValueError as exc:
        return f"the URL is malformed ({exc})"
    if "@" in parts.netloc:
        return "a user name or password in the URL is not allowed"
    if not parts.hostname.isascii():
        return "the host name must be ASCII (use its punycode form, xn--...)"
    path = urllib.parse.unquote(parts.path)
    if "\\" in path or any(segment in (".", "..") for segment in path.split("/")):
        return "`.`, `..` and `\\` in the path are not allowed"
    return None


def under_prefix(url: str, prefix: str) -> bool:
    """Return True when `url` has the scheme, host and port of `prefix` and its path starts with the prefix's."""
    try:
        u, p = urllib.parse.urlsplit(url), urllib.parse.urlsplit(prefix)
        if (u.scheme.lower(), (u.hostname or "").lower(), _port(u)) != (
                p.scheme.lower(), (p.hostname or "").lower(), _port(p)):
            return False
    except (ValueError, KeyError):
        return False
    return (u.path or "/").startswith(p.path or "/")


def check_url(url: str, policy: FetchPolicy) -> None:
    """Raise Refused unless `url` is readable and under the policy's prefixes (no network is used)."""
    problem = url_problem(url)
    if problem:
        raise Refused(url, problem, "")
    if policy.url_prefixes is not None and not any(under_prefix(url, p) for p in policy.url_prefixes):
        listed = ", ".join(policy.url_prefixes) or "none"
        raise Refused(url, f"the URL is under none of the allowed prefixes ({listed})", policy.prefixes_remedy)


def _checked_addresses(url: str, host: str, port: int, policy: FetchPolicy, resolve: Resolver) -> list[str]:
    """Resolve `host` once; return its addresses when every one is allowed, else raise Refused."""
    try:
        addresses = list(resolve(host, port))
    except (OSError, UnicodeError) as exc:
        raise Unreachable(url, f"{url}: cannot resolve {host} ({exc}); check the host name") from None
    if not addresses:
        raise Unreachable(url, f"{url}: {host} resolves to no address; check the host name")
    for address in addresses:
        why = policy.addresses.refusal(address)
        if why:
            if address != host.strip("[]"):
                why = f"{host} resolves to {why.replace(' is ', ', which is ', 1)}"
            raise Refused(url, why, policy.addresses.open_with)
    return addresses


def _connect(url: str, host: str, port: int, addresses: list[str], secure: bool, deadline: float,
             context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    """Open a connection to the first checked address that answers (TLS verified for `host`)."""
    last: Exception | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            sock = socket.create_connection((address, port), timeout=remaining)
        except OSError as exc:
            last = exc
            continue
        if secure:
            ctx = context or ssl.create_default_context()
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=remaining, context=ctx)
            try:
                conn.sock = ctx.wrap_socket(sock, server_hostname=host)
            except ssl.SSLError as exc:
                sock.close()
                raise Unreachable(url, f"{url}: TLS with {host} failed ({exc}); the server must present a "
                                       f"certificate valid for {host}") from None
            except OSError as exc:
                sock.close()
                last = exc
                continue
        else:
            conn = http.client.HTTPConnection(host, port, timeout=remaining)
            conn.sock = sock
        return conn
    raise Unreachable(url, f"{url}: cannot connect to {host}:{port} ({last or 'timed out'}); check the URL "
                           "is reachable from the operator")


def _read_body(url: str, resp: http.client.HTTPResponse, max_bytes: int, deadline: float,
               conn: http.client.HTTPConnection) -> bytes:
    """Read at most `max_bytes` of the body before the deadline; raise TooLarge beyond it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unreachable(url, f"{url}: timed out while reading the body")
        if conn.sock is not None:
            conn.sock.settimeout(remaining)
        chunk = resp.read(min(65536, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(url, f"{url}: the body is larger than {max_bytes} bytes")


@dataclass(frozen=True)
class Fetched:
    """What a conditional fetch found: the body (None: not modified since the validators sent) and the
    validators to send next time (the response's ETag and Last-Modified, or the ones sent)."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None


def fetch(url: str, policy: FetchPolicy, *, timeout: float = 20.0, max_bytes: int = 1 << 20,
          max_redirects: int = 5, resolve: Resolver = system_resolve, ssl_context: ssl.SSLContext | None = None,
          user_agent: str = "sandlot") -> bytes:
    """Return the body served at `url`, checking the URL and its address on every hop (see the module docstring).

    Raises Refused (nothing was sent to the refused URL), Unreachable or TooLarge.
    """
    found = fetch_if_changed(url, policy, timeout=timeout, max_bytes=max_bytes, max_redirects=max_redirects,
                             resolve=resolve, ssl_context=ssl_context, user_agent=user_agent)
    assert found.body is not None  # without validators a 304 is not an answer (Unreachable)
    return found.body


def fetch_if_changed(url: str, policy: FetchPolicy, *, etag: str | None = None, last_modified: str | None = None,
                     timeout: float = 20.0, max_bytes: int = 1 << 20, max_redirects: int = 5,
                     resolve: Resolver = system_resolve, ssl_context: ssl.SSLContext | None = None,
                     user_agent: str = "sandlot") -> Fetched:
    """Return what `url` serves unless it is unchanged since `etag` / `last_modified` (HTTP's
    If-None-Match / If-Modified-Since; a 304 gives `body` None), with the same checks as `fetch`.

    Following a document this way costs the server a 304 and no body while nothing changed.
    """
    conditions = {"If-None-Match": etag, "If-Modified-Since": last_modified}
    conditional = {name: value for name, value in conditions.items() if value}
    deadline = time.monotonic() + timeout
    current, chain = url, [url]
    for _ in range(max_redirects + 1):
        try:
            check_url(current, policy)
        except Refused as exc:
            if current == url:
                raise
            raise Refused(url, f"it redirects to {current}, where {exc.rule}", exc.remedy) from None
        parts = urllib.parse.urlsplit(current)
        host, port = parts.hostname or "", _port(parts)
        try:
            addresses = _checked_addresses(current, host, port, policy, resolve)
        except Refused as exc:
            if current == url:
                raise
            raise Refused(url, f"it redirects to {current}, where {exc.rule}", exc.remedy) from None
        conn = _connect(current, host, port, addresses, parts.scheme.lower() == "https", deadline, ssl_context)
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            try:
                conn.request("GET", target, headers={"User-Agent": user_agent, "Accept": "*/*",
                                                     "Accept-Encoding": "identity", **conditional})
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise Unreachable(url, f"{current}: the request failed ({exc}); check the URL is reachable "
                                       "from the operator") from None
            if resp.status in REDIRECTS and resp.getheader("Location"):
                current = urllib.parse.urljoin(current, resp.getheader("Location", "")).split("#", 1)[0]
                chain.append(current)
                continue
            validators = (resp.getheader("ETag") or etag, resp.getheader("Last-Modified") or last_modified)
            if resp.status == 304 and conditional:
                return Fetched(None, *validators)
            if not 200 <= resp.status < 300:
                raise Unreachable(url, f"{current}: the server answered {resp.status} {resp.reason}; check the URL")
            try:
                body = _read_body(url, resp, max_bytes, deadline, conn)
            except (OSError, http.client.HTTPException) as exc:
                raise Unreachable(url, f"{current}: reading the body failed ({exc})") from None
            return Fetched(body, resp.getheader("ETag"), resp.getheader("Last-Modified"))
        finally:
            conn.close()
    raise Unreachable(url, f"{url}: more than {max_redirects} redirects ({' -> '.join(chain)}); point at the "
                           "document itself")
