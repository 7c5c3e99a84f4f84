"""How a new version of a downstream's spec is noticed: the ConfigMap watch, url and S3 polls, an acceptance.

Every test runs the operator with SANDLOT_RESYNC_SECONDS at an hour, so the periodic full
re-convergence (2 s elsewhere in the tests) cannot be what follows the spec: only the
ConfigMap watch, the poll of a url/s3 source (SANDLOT_SPEC_POLL_SECONDS=1) or the acceptance
annotation can. On both backends; the `[kube-apiserver]` ids run on the real control plane
(kube-apiserver 1.36.3, the chart's ServiceAccount, so its ClusterRole must allow the watch).

URL polling reads a real HTTP server on 127.0.0.1 that answers conditional GETs (ETag, 304),
opened for the test with SANDLOT_SOURCES_ALLOWED_CIDRS (the guarded fetch refuses loopback
otherwise); S3 polling reads moto's server behind a proxy that records each request's
If-None-Match and answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from prometheus_client import REGISTRY

from tests.netservers import LoopbackServer, RecordingProxy, moto_server
from tests.operator.conftest import operators, PETSTORE
from tests.operator.harness import Cluster, OperatorRunner, wait_for
from tests.operator.test_spec_follow import BREAKING, COMPATIBLE, D0, D1, D2, bring_up, condition, edit_source, \
    served, status

QUIET = {"SANDLOT_RESYNC_SECONDS": "3600", "SANDLOT_SPEC_POLL_SECONDS": "1"}


@pytest.fixture
def start_operator(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., OperatorRunner]]:
    """Return start(**settings): an in-process operator with no periodic resync and these env settings."""
    with operators(monkeypatch, QUIET) as start:
        yield start


@pytest.fixture
def configmap_watches(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Record the namespace of every ConfigMap watch the operator opens (on the emulator, which serves them)."""
    opened: list[str | None] = []
    if cluster.emulator is None:
        return opened
    from tests.kubeemu import app as emulator_app

    original = emulator_app.ApiHandler._serve

    async def recording(handler, request, rtype, version, namespace, name, subresource):
        if rtype.plural == "configmaps" and handler._verb(request, name) == "watch":
            opened.append(namespace)
        return await original(handler, request, rtype, version, namespace, name, subresource)

    monkeypatch.setattr(emulator_app.ApiHandler, "_serve", recording)
    return opened


def polls(result: str) -> float:
    return REGISTRY.get_sample_value("sandlot_spec_polls_total", {"result": result}) or 0.0


def pets(openapi: dict[str, Any], **extra: Any) -> list[dict[str, Any]]:
    return [{"name": "pets", "envVar": "PETS_API_URL", "openapi": openapi, **extra}]


def test_a_configmap_source_is_watched_in_its_namespace_only(cluster, start_operator, configmap_watches):
    start_operator()
    ns = bring_up(cluster, "watched")
    generation = cluster.sandbox(cluster.ns, "watched")["metadata"]["generation"]
    edit_source(cluster, COMPATIBLE)
    wait_for(lambda: served(cluster, ns) == COMPATIBLE, what="the new version served, through the watch",
             details=lambda: status(cluster, "watched"))
    wait_for(lambda: status(cluster, "watched")["specs"]["pets"]["digest"] == D1, what="status.specs")
    assert cluster.sandbox(cluster.ns, "watched")["metadata"]["generation"] == generation  # no spec change drove it
    # A ConfigMap nobody reads changes nothing; the source changed again is followed again.
    cluster.configmap(cluster.ns, "unrelated", {"x": "1"})
    edit_source(cluster, PETSTORE)
    wait_for(lambda: served(cluster, ns) == PETSTORE, what="followed back")
    if cluster.emulator is not None:
        assert configmap_watches and set(configmap_watches) == {cluster.ns}  # never a cluster-wide watch


def test_an_acceptance_annotation_serves_the_held_version_without_a_resync(cluster, start_operator):
    start_operator()
    ns = bring_up(cluster, "held", downstreams=pets({"configMap": {"name": "pets-openapi", "key": "openapi.yaml"}},
                                                    syncPolicy="BlockBreaking"))
    edit_source(cluster, BREAKING)
    wait_for(lambda: condition(cluster, "held", "SpecSynced")[1] == "BreakingChangeHeld", what="held",
             details=lambda: status(cluster, "held"))
    assert served(cluster, ns) == PETSTORE
    cluster.patch_sandbox(cluster.ns, "held", {"metadata": {"annotations": {"sandlot.dev/accept-spec-pets": D2}}})
    wait_for(lambda: served(cluster, ns) == BREAKING, what="the accepted version served",
             details=lambda: status(cluster, "held"))
    wait_for(lambda: condition(cluster, "held", "SpecDrift")[:2] == ("False", "NoBreakingChange"), what="no drift")


def test_a_url_source_is_polled_with_its_etag(cluster, start_operator):
    start_operator(SANDLOT_SOURCES_ALLOWED_CIDRS="127.0.0.1/32")
    v1 = (200, {"ETag": '"v1"', "Content-Type": "application/yaml"}, PETSTORE.encode())
    with LoopbackServer("127.0.0.1", {"/pets/openapi.yaml": v1}) as specs:
        not_modified = polls("not_modified")
        ns = bring_up(cluster, "polled", downstreams=pets({"url": specs.url("/pets/openapi.yaml")}))
        entry = status(cluster, "polled")["specs"]["pets"]
        assert (entry["source"], entry["digest"], entry["etag"]) == (specs.url("/pets/openapi.yaml"), D0, '"v1"')
        wait_for(lambda: [h.status for h in specs.hits].count(304) >= 2, what="polls answered 304",
                 details=lambda: specs.hits)
        assert polls("not_modified") >= not_modified + 2
        settled = len(specs.hits)  # the passes that brought the sandbox up are done; only polls from here
        specs.routes["/pets/openapi.yaml"] = (200, {"ETag": '"v2"'}, COMPATIBLE.encode())
        wait_for(lambda: served(cluster, ns) == COMPATIBLE, what="the new version served, through a poll",
                 details=lambda: status(cluster, "polled"))
        wait_for(lambda: status(cluster, "polled")["specs"]["pets"].get("etag") == '"v2"', what="the new ETag kept")
        wait_for(lambda: specs.hits[-1].if_none_match == '"v2"' and specs.hits[-1].status == 304,
                 what="polls with the new ETag")
    # The first read had no validators; once the sandbox was up every read sent the ETag it was
    # given, so an unchanged document cost a 304 and no body. (Passes that ran while the operator's
    # copy of the sandbox did not show status.specs yet, as when it is created, read without them.)
    assert specs.hits[0].if_none_match is None
    assert all(h.if_none_match in ('"v1"', '"v2"') for h in specs.hits[settled:])
    changed = [h.if_none_match for h in specs.hits[settled:] if h.status == 200]
    # The poll that found v2, then the pass that served it (a poll racing the status write, on a busy
    # machine, may add one more of each).
    assert changed[:2] == ['"v1"', '"v1"'] and set(changed) == {'"v1"'}


def test_an_s3_source_is_polled_with_its_etag(cluster, start_operator):
    with moto_server() as moto, RecordingProxy(moto) as proxy:
        admin = boto3.client("s3", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="AKIAADMIN",
                             aws_secret_access_key="admin")
        admin.create_bucket(Bucket="specs")
        admin.put_object(Bucket="specs", Key="pets/openapi.yaml", Body=PETSTORE.encode())
        cluster.kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3", "namespace": cluster.ns},
                             "stringData": {"AWS_ACCESS_KEY_ID": "AKIATEAM", "AWS_SECRET_ACCESS_KEY": "s"}})
        start_operator(SANDLOT_SOURCES_ALLOWED_S3_ENDPOINTS=proxy.url, AWS_EC2_METADATA_DISABLED="true")
        ref = {"bucket": "specs", "key": "pets/openapi.yaml", "endpointUrl": proxy.url, "secretRef": {"name": "s3"}}
        ns = bring_up(cluster, "s3", downstreams=pets({"s3": ref}))
        etag = status(cluster, "s3")["specs"]["pets"]["etag"]

        def reads() -> list[Any]:
            return [f for f in proxy.forwarded if f.method == "GET" and f.path.startswith("/specs/pets")]

        wait_for(lambda: [f.status for f in reads()].count(304) >= 2, what="polls answered 304",
                 details=lambda: proxy.forwarded)
        settled = len(reads())  # the passes that brought the sandbox up are done; only polls from here
        admin.put_object(Bucket="specs", Key="pets/openapi.yaml", Body=COMPATIBLE.encode())
        wait_for(lambda: served(cluster, ns) == COMPATIBLE, what="the new version served, through a poll",
                 details=lambda: status(cluster, "s3"))
        # status.specs is written after the stub's ConfigMap, in the same pass
        wait_for(lambda: status(cluster, "s3")["specs"]["pets"]["etag"] != etag, what="the new ETag kept")
        assert status(cluster, "s3")["specs"]["pets"]["digest"] == D1
        assert reads()[0].if_none_match is None and all(f.if_none_match for f in reads()[settled:])



@pytest.mark.parametrize("cluster", ["emulator"], indirect=True)
def test_a_configmap_watch_too_old_for_the_server_lists_again_and_still_follows(cluster, start_operator, monkeypatch):
    """A watch whose resourceVersion the server no longer has ends with an ERROR event, 410 Gone:
    the operator lists again at once, wakes every sandbox reading one (a change may have been missed
    meanwhile), and watches from the new list's version.

    On the emulator only, with its history moved past the version the first watch is handed: a real
    kube-apiserver answers 410 for a ConfigMap only once its watch cache's window has wrapped (it
    serves any older version from the cache's initial state until then, and etcd compaction does
    not move that window), which takes minutes of writes. The 410 answer itself (an ERROR event
    with a Status of code 410) is compared with kube-apiserver's in
    tests/kubeemu/test_against_apiserver.py (the "expired" watch of a custom resource)."""
    from sandlot.kube import ApiException, Kube

    store = cluster.emulator.store
    lists: list[str | None] = []
    ended: list[int] = []
    real_list_at, real_watch = Kube.list_at, Kube.watch

    def list_at(self, api_version, kind, namespace=None):  # type: ignore[no-untyped-def]
        items, version = real_list_at(self, api_version, kind, namespace)
        if kind == "ConfigMap" and namespace == cluster.ns:
            lists.append(namespace)
            if len(lists) == 1:
                store._history_floor = int(version)  # what compaction does: history before this is gone
                return items, "1"
        return items, version

    def watch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            yield from real_watch(self, *args, **kwargs)
        except ApiException as exc:
            ended.append(exc.status)
            raise

    monkeypatch.setattr(Kube, "list_at", list_at)
    monkeypatch.setattr(Kube, "watch", watch)
    start_operator()
    ns = bring_up(cluster, "relisted")
    wait_for(lambda: len(lists) >= 2, what="a second list after the expired watch", details=lambda: (lists, ended))
    assert ended == [410]
    edit_source(cluster, COMPATIBLE)
    wait_for(lambda: served(cluster, ns) == COMPATIBLE, what="the new version served, through the new watch",
             details=lambda: (status(cluster, "relisted"), lists, ended))
    assert len(lists) == 2 and ended == [410]  # one re-list, and the new watch holds
