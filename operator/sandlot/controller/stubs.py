"""The operator's calls to a sandbox's stubs: their last activity, and their state around a sleep.

Called by the handlers (controller/handlers.py) for tenants with `idleAfter`. A stub is reached
at its in-cluster URL (status.endpoints); in a cluster, the sandbox's NetworkPolicy
`allow-sandlot-operator` lets the operator's pods reach the stub port. The transport is
pluggable: `build_registry(settings, stubs=...)` takes any `StubClient`, and `HttpStubClient`
takes a `resolve` function that maps an in-cluster URL to another one first (the tests point
it at real `sandlot mock` processes on 127.0.0.1, because the test control plane's pods are
faked by kwok and serve nothing).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

ACTIVITY = "/__sandlot/activity"
SNAPSHOT = "/__sandlot/snapshot"


class StubError(Exception):
    """A stub could not be asked (unreachable, timed out, or an unexpected answer)."""


class StubClient(Protocol):
    """What the operator asks a stub."""

    def activity(self, url: str) -> dict[str, Any]:
        """Return the stub's `GET /__sandlot/activity` answer."""
        ...

    def snapshot(self, url: str, admin_token: str) -> bytes:
        """Return the stub's whole state (`GET /__sandlot/snapshot`)."""
        ...

    def restore(self, url: str, admin_token: str, data: bytes) -> None:
        """Replace the stub's whole state (`PUT /__sandlot/snapshot`)."""
        ...


def _same(url: str) -> str:
    return url


@dataclass
class HttpStubClient:
    """Call stubs over HTTP at their URLs (after `resolve`)."""

    timeout: float = 10.0
    resolve: Callable[[str], str] = field(default=_same)

    def _call(self, method: str, url: str, path: str, *, token: str | None = None, data: bytes | None = None) -> bytes:
        target = self.resolve(url).rstrip("/") + path
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(target, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) URLs only
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            raise StubError(f"{method} {url}{path} answered {exc.code}: {exc.read()[:200]!r}") from exc
        except (OSError, ValueError) as exc:
            raise StubError(f"{method} {url}{path} failed: {exc}") from exc

    def activity(self, url: str) -> dict[str, Any]:
        try:
            report: dict[str, Any] = json.loads(self._call("GET", url, ACTIVITY))
            return report
        except ValueError as exc:
            raise StubError(f"GET {url}{ACTIVITY} did not answer JSON: {exc}") from exc

    def snapshot(self, url: str, admin_token: str) -> bytes:
        return self._call("GET", url, SNAPSHOT, token=admin_token)

    def restore(self, url: str, admin_token: str, data: bytes) -> None:
        self._call("PUT", url, SNAPSHOT, token=admin_token, data=data)
