"""kube.ensure changes only what the operator made for the same sandbox (both backends).

An object with the wanted name but another owner annotation (or none) raises Conflict and is
left exactly as it was: the last line behind the handler's own checks, so no spec can make the
operator adopt, overwrite or later prune something it did not create.
"""

from __future__ import annotations

import pytest

from kubernetes.client.exceptions import ApiException

from sandlot.kube import REPLACE_ATTEMPTS, Conflict, ensure


def _configmap(namespace: str, owner: str | None, value: str) -> dict:
    meta = {"name": "openapi-pets", "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "sandlot"}}
    if owner is not None:
        meta["annotations"] = {"sandlot.dev/owner": owner}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": value}}


@pytest.mark.parametrize("foreign_owner", [None, "other-team/other-sandbox"])
def test_an_object_made_for_someone_else_is_never_changed(cluster, foreign_owner):
    cluster.kube.create(_configmap(cluster.ns, foreign_owner, "theirs"))
    with pytest.raises(Conflict, match=f"ConfigMap {cluster.ns}/openapi-pets exists and was not made for sandbox "
                                       f"{cluster.ns}/pr-1; it is never adopted"):
        ensure(cluster.kube, _configmap(cluster.ns, f"{cluster.ns}/pr-1", "ours"))
    assert cluster.kube.get("v1", "ConfigMap", "openapi-pets", cluster.ns)["data"] == {"k": "theirs"}


def test_an_object_made_for_the_same_sandbox_is_updated(cluster):
    assert ensure(cluster.kube, _configmap(cluster.ns, f"{cluster.ns}/pr-1", "v1")) == "created"
    assert ensure(cluster.kube, _configmap(cluster.ns, f"{cluster.ns}/pr-1", "v1")) == "unchanged"
    assert ensure(cluster.kube, _configmap(cluster.ns, f"{cluster.ns}/pr-1", "v2")) == "updated"
    assert cluster.kube.get("v1", "ConfigMap", "openapi-pets", cluster.ns)["data"] == {"k": "v2"}


class _WrittenBetween:
    """The operator's client, with another writer changing the object right after the operator
    reads it (as the deployment controller writes a Deployment's status)."""

    def __init__(self, kube, namespace: str, times: int = 1) -> None:
        self.kube = kube
        self.namespace = namespace
        self.times = times
        self.raced = 0

    def __getattr__(self, name: str):
        return getattr(self.kube, name)

    def get(self, *args, **kwargs):
        live = self.kube.get(*args, **kwargs)
        if live is not None and self.raced < self.times:
            self.raced += 1
            self.kube.patch("v1", "ConfigMap", "openapi-pets",
                            {"metadata": {"labels": {"touched-by": f"controller-{self.raced}"}}}, namespace=self.namespace)
        return live


@pytest.mark.parametrize("writes", [1, REPLACE_ATTEMPTS - 1])
def test_writes_between_the_read_and_the_replace_do_not_fail_the_update(cluster, writes):
    """One write, or a run of them (the deployment controller writes a new Deployment's status
    several times in a row), each between a read and the replace that follows it."""
    assert ensure(cluster.kube, _configmap(cluster.ns, f"{cluster.ns}/pr-1", "v1")) == "created"
    racing = _WrittenBetween(cluster.kube, cluster.ns, times=writes)
    assert ensure(racing, _configmap(cluster.ns, f"{cluster.ns}/pr-1", "v2")) == "updated"
    assert racing.raced == writes
    assert cluster.kube.get("v1", "ConfigMap", "openapi-pets", cluster.ns)["data"] == {"k": "v2"}


def test_a_writer_that_never_stops_gets_the_conflict_to_the_handler(cluster):
    """Bounded: after REPLACE_ATTEMPTS the 409 goes up (kopf retries the handler later), and
    the object keeps what the other writer stored."""
    assert ensure(cluster.kube, _configmap(cluster.ns, f"{cluster.ns}/pr-1", "v1")) == "created"
    racing = _WrittenBetween(cluster.kube, cluster.ns, times=10**6)
    with pytest.raises(ApiException) as conflict:
        ensure(racing, _configmap(cluster.ns, f"{cluster.ns}/pr-1", "v2"))
    assert conflict.value.status == 409
    assert racing.raced == REPLACE_ATTEMPTS
    live = cluster.kube.get("v1", "ConfigMap", "openapi-pets", cluster.ns)
    assert (live["data"], live["metadata"]["labels"]["touched-by"]) == ({"k": "v1"}, f"controller-{REPLACE_ATTEMPTS}")
