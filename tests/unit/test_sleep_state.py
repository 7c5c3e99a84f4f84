"""The operator's side of keeping a stub's state over a sleep, against an in-memory API and stub."""

from __future__ import annotations

import base64

import pytest

from sandlot.controller import sleep
from sandlot.controller.stubs import StubError
from sandlot.reconcile.naming import sandbox_namespace

NS = sandbox_namespace("team", "pr-1")


class FakeKube:
    """Objects by (kind, name, namespace), with a resourceVersion that moves on every write."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str | None], dict] = {}
        self.calls: list[str] = []
        token = base64.b64encode(b"adm").decode()
        self.objects[("Secret", "sandlot-credentials", NS)] = {"metadata": {"resourceVersion": "1"},
                                                              "data": {"adminToken": token}}

    def get(self, api_version, kind, name, namespace=None):
        return self.objects.get((kind, name, namespace))

    def create(self, obj):
        self.calls.append(f"create {obj['metadata']['name']}")
        self.objects[(obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"])] = {
            **obj, "metadata": {**obj["metadata"], "resourceVersion": "1"}}

    def replace(self, obj):
        self.calls.append(f"replace {obj['metadata']['name']} at {obj['metadata']['resourceVersion']}")
        self.objects[(obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"])] = obj


class FakeStubs:
    def __init__(self, stores: dict[str, bytes]) -> None:
        self.stores = stores
        self.restored: dict[str, bytes] = {}

    def activity(self, url):
        if url not in self.stores:
            raise StubError("connection refused")
        return {"startedAt": "2026-12-01T10:00:00Z", "lastRequestAt": None}

    def snapshot(self, url, token):
        assert token == "adm"
        return self.stores[url]

    def restore(self, url, token, data):
        if url not in self.stores:
            raise StubError("connection refused")
        self.restored[url] = data


def test_state_is_kept_in_a_secret_created_once_then_replaced_in_place():
    kube, stubs = FakeKube(), FakeStubs({"u-pets": b"one"})
    args = {"cr_namespace": "team", "cr_name": "pr-1", "tenant": "t", "urls": {"pets": "u-pets"}, "downstreams": ["pets"]}
    sleep.keep_state(kube, stubs, **args)
    stubs.stores["u-pets"] = b"two"
    sleep.keep_state(kube, stubs, **args)
    assert kube.calls == ["create sandlot-state-pets", "replace sandlot-state-pets at 1"]
    secret = kube.get("v1", "Secret", "sandlot-state-pets", NS)
    assert base64.b64decode(secret["data"]["state.sqlite3.gz"]) == b"two"
    assert secret["metadata"]["labels"]["sandlot.dev/downstream"] == "pets"


def test_a_store_too_large_for_a_secret_keeps_the_sandbox_awake():
    stubs = FakeStubs({"u": b"x" * (sleep.MAX_SNAPSHOT_BYTES + 1)})
    with pytest.raises(sleep.StateTooLarge, match="more than a Secret holds"):
        sleep.keep_state(FakeKube(), stubs, cr_namespace="team", cr_name="pr-1", tenant="t", urls={"pets": "u"},
                         downstreams=["pets"])


def test_restore_retries_an_unreachable_stub_and_gives_up_on_a_deleted_store():
    kube, stubs = FakeKube(), FakeStubs({"u-pets": b"kept"})
    sleep.keep_state(kube, stubs, cr_namespace="team", cr_name="pr-1", tenant="t", urls={"pets": "u-pets"},
                     downstreams=["pets"])
    problems, lost = sleep.restore_state(kube, FakeStubs({}), namespace=NS,
                                         urls={"pets": "u-pets", "cards": "u-cards"}, downstreams=["pets", "cards"])
    assert problems == {"pets": "connection refused"} and lost == ["cards"]
    problems, lost = sleep.restore_state(kube, stubs, namespace=NS, urls={"pets": "u-pets"}, downstreams=["pets"])
    assert (problems, lost, stubs.restored) == ({}, [], {"u-pets": b"kept"})


def test_readings_name_the_stub_that_could_not_be_asked():
    found = sleep.readings(FakeStubs({"u-pets": b""}), {"pets": "u-pets", "cards": "u-cards"}, ["pets", "cards", "x"])
    assert [(r.downstream, r.error) for r in found] == [
        ("pets", None), ("cards", "connection refused"), ("x", "no endpoint in status yet")]
