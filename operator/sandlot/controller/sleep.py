"""The API and stub calls around a sandbox's sleep: activity readings, state kept in Secrets, wake requests.

Called by the handlers (controller/handlers.py), which decide when (reconcile/idle.py says
whether a sandbox is idle). While a sandbox sleeps, its app and stubs are scaled to zero and
everything else stays: namespace, Services, ConfigMaps, credentials, and each stateful stub's
whole store, taken over HTTP just before (`GET /__sandlot/snapshot`) and kept in the Secret
`sandlot-state-<downstream>` of the sandbox namespace. On wake the stubs start empty, and the
operator puts each store back (`PUT /__sandlot/snapshot`) before the sandbox is Ready again.
"""

from __future__ import annotations

import base64
from typing import Any

from sandlot.controller.stubs import StubClient, StubError
from sandlot.kube import Kube
from sandlot.reconcile import naming
from sandlot.reconcile.admission import WAKE_ANNOTATION
from sandlot.reconcile.desired import STATE_KEY, state_secret, state_secret_name
from sandlot.reconcile.idle import Reading

API_VERSION = "sandlot.dev/v1alpha1"
#: A Secret holds at most 1 MiB; base64 in its data makes 4 bytes of 3.
MAX_SNAPSHOT_BYTES = 700 * 1024


class StateTooLarge(Exception):
    """A stub's store is too large to keep in a Secret; the sandbox stays awake."""


def readings(stubs: StubClient, urls: dict[str, str], downstreams: list[str]) -> list[Reading]:
    """Ask every stub for its activity; a stub that cannot be asked gives a reading with its error."""
    found = []
    for name in downstreams:
        url = urls.get(name)
        if not url:
            found.append(Reading(name, error="no endpoint in status yet"))
            continue
        try:
            found.append(Reading.of(name, stubs.activity(url)))
        except StubError as exc:
            found.append(Reading(name, error=str(exc)))
    return found


def admin_token(kube: Kube, namespace: str) -> str:
    """Return the sandbox's admin token, which the stubs' snapshot endpoint asks for."""
    secret = kube.get("v1", "Secret", naming.CREDENTIALS_SECRET, namespace)
    if secret is None:
        raise StubError(f"Secret {namespace}/{naming.CREDENTIALS_SECRET} is missing")
    return base64.b64decode(secret["data"]["adminToken"]).decode()


def keep_state(kube: Kube, stubs: StubClient, *, cr_namespace: str, cr_name: str, tenant: str,
               urls: dict[str, str], downstreams: list[str]) -> None:
    """Take each stateful stub's store and keep it in its Secret (created, or replaced in place)."""
    namespace = naming.sandbox_namespace(cr_namespace, cr_name)
    token = admin_token(kube, namespace) if downstreams else ""
    for name in downstreams:
        data = stubs.snapshot(urls[name], token)
        if len(data) > MAX_SNAPSHOT_BYTES:
            raise StateTooLarge(f"stub {name}'s state is {len(data)} bytes compressed, more than a Secret holds "
                                f"({MAX_SNAPSHOT_BYTES}); the sandbox stays awake (reset it to shrink the state)")
        secret = state_secret(cr_namespace=cr_namespace, cr_name=cr_name, tenant=tenant, downstream=name, data=data)
        live = kube.get("v1", "Secret", secret["metadata"]["name"], namespace)
        if live is None:
            kube.create(secret)
        else:
            secret["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            kube.replace(secret)


def restore_state(kube: Kube, stubs: StubClient, *, namespace: str, urls: dict[str, str],
                  downstreams: list[str]) -> tuple[dict[str, str], list[str]]:
    """Put each kept store back into its (fresh) stub.

    Return ({downstream: problem} for those to retry, [downstreams whose kept store is gone]):
    a store whose Secret was deleted cannot come back, and waiting would not help.
    """
    problems: dict[str, str] = {}
    lost: list[str] = []
    try:
        token = admin_token(kube, namespace) if downstreams else ""
    except StubError as exc:
        return {name: str(exc) for name in downstreams}, lost
    for name in downstreams:
        secret = kube.get("v1", "Secret", state_secret_name(name), namespace)
        data = ((secret or {}).get("data") or {}).get(STATE_KEY)
        if data is None:
            lost.append(name)
            continue
        try:
            stubs.restore(urls.get(name, ""), token, base64.b64decode(data))
        except StubError as exc:
            problems[name] = str(exc)
    return problems, lost


def wake_requested(body: Any) -> bool:
    """Return True when the sandbox carries the wake annotation."""
    return WAKE_ANNOTATION in (body["metadata"].get("annotations") or {})


def clear_wake_request(kube: Kube, cr_namespace: str, name: str) -> None:
    """Remove the wake annotation, so that the next `kubectl annotate ... wake=now` is a new request."""
    kube.patch(API_VERSION, "SandboxEnvironment", name, {"metadata": {"annotations": {WAKE_ANNOTATION: None}}},
               namespace=cr_namespace)
