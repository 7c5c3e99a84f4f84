"""The stateless mock's in-memory journal keeps exchanges as answered and describes them only when
someone reads: nothing pushed out of a tenant's newest `size` is ever described, what is read is
exactly the newest, in order, and an exchange with a body over the cap is described (capped) at
once, so what waits in memory stays small."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandlot.http.compose import build_app, spec_source
from sandlot.mock.messages import MockRequest
from sandlot.state.config import SandboxConfig
from sandlot.state.journal import JournalQuery, JournalSettings
from sandlot.state.journal_stage import JournalStage
from tests.journal.conftest import PAYMENTS

KEY = "Bearer sk_sbx_not_a_real_key_but_looks_like_one"


@pytest.fixture
def described(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the path of every exchange the journal describes."""
    paths: list[str] = []
    describe = JournalStage._describe

    def counting(self: JournalStage, ctx, response):  # type: ignore[no-untyped-def]
        paths.append(ctx.request.path)
        return describe(self, ctx, response)

    monkeypatch.setattr(JournalStage, "_describe", counting)
    return paths


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[object]:
    app = build_app(spec_source(str(PAYMENTS), tmp_path / "spec"), config=SandboxConfig(journal=JournalSettings(size=20, body_bytes=300)))
    try:
        yield app.pipeline
    finally:
        app.pipeline.close()


def get(pipeline, path: str, body: bytes = b"", method: str = "GET") -> None:  # type: ignore[no-untyped-def]
    headers = {"authorization": KEY, **({"content-type": "application/json"} if body else {})}
    pipeline.handle(MockRequest(method, path, "", headers, body))


def test_only_the_newest_are_described_and_only_when_read(pipeline, described: list[str]) -> None:  # type: ignore[no-untyped-def]
    for n in range(150):
        get(pipeline, f"/v1/customers/cus_{n}")
    assert described == []  # answered, held, not described
    stage = pipeline.journal
    stage.flush()  # what a read does first
    assert described == [f"/v1/customers/cus_{n}" for n in range(130, 150)]
    entries = stage.store.find(JournalQuery(limit=100))
    assert [e["path"] for e in entries] == [f"/v1/customers/cus_{n}" for n in reversed(range(130, 150))]
    assert entries[0]["request"]["headers"]["authorization"] == "Bearer [redacted]"
    assert entries[0]["operation"] == "getCustomer"
    stage.flush()
    assert len(described) == 20  # described once


def test_an_exchange_with_a_body_over_the_cap_is_described_at_once(pipeline, described: list[str]) -> None:  # type: ignore[no-untyped-def]
    big = b'{"email": "ada@example.com", "name": "' + b"x" * 150 + b'", "metadata": {"note": "' + b"y" * 200 + b'"}}'
    get(pipeline, "/v1/customers", big, method="POST")
    get(pipeline, "/v1/customers/cus_small")
    assert described == ["/v1/customers"]  # the large one at once, the small one held
    pipeline.journal.flush()
    assert described == ["/v1/customers", "/v1/customers/cus_small"]
    first, second = reversed(pipeline.journal.store.find(JournalQuery(limit=10)))
    assert (first["path"], first["request"]["truncated"]) == ("/v1/customers", True)
    assert second["path"] == "/v1/customers/cus_small"


OPEN_SPEC = """\
openapi: 3.0.3
info: {title: open, version: "1"}
paths:
  /things/{id}:
    get:
      operationId: getThing
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200":
          description: a thing
          content:
            application/json:
              schema: {type: object, properties: {id: {type: string}}, required: [id]}
"""


def test_a_repeat_answered_from_the_cache_is_described_once(tmp_path: Path, described: list[str]) -> None:
    spec = tmp_path / "open.yaml"
    spec.write_text(OPEN_SPEC)
    app = build_app(spec_source(str(spec), tmp_path / "spec"), config=SandboxConfig(journal=JournalSettings(size=20)))
    try:
        for _ in range(50):
            get(app.pipeline, "/things/same")
        # The first answer was routed (held undescribed); the first repeat, answered from the
        # engine's cache, is described at once and remembered; the other 48 reuse that description.
        assert described == ["/things/same"]
        app.pipeline.journal.flush()
        assert described == ["/things/same"]  # the routed first one left the newest 20 undescribed
        entries = app.pipeline.journal.store.find(JournalQuery(limit=100))
        assert len(entries) == 20
        assert {(e["path"], e["status"], e["operation"]) for e in entries} == {("/things/same", 200, "getThing")}
        assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    finally:
        app.pipeline.close()


def test_repeats_keep_their_own_time_and_order_among_other_exchanges(tmp_path: Path) -> None:
    """A cached repeat waits as (its row, at, seconds) and is joined when read: every one is listed
    with its own time and duration, in arrival order among the routed exchanges around it."""
    spec = tmp_path / "open.yaml"
    spec.write_text(OPEN_SPEC)
    app = build_app(spec_source(str(spec), tmp_path / "spec"), config=SandboxConfig(journal=JournalSettings(size=50)))
    sent = [path for n in range(10) for path in ("/things/same", f"/things/{n}")]
    try:
        for path in sent:
            get(app.pipeline, path)
        app.pipeline.journal.flush()
        entries = app.pipeline.journal.store.find(JournalQuery(limit=100))
    finally:
        app.pipeline.close()
    assert [e["path"] for e in reversed(entries)] == sent  # newest first
    times = [e["at"] for e in reversed(entries)]
    assert times == sorted(times) and all(e["duration_ms"] is not None and e["duration_ms"] >= 0 for e in entries)
    repeats = [e for e in entries if e["path"] == "/things/same"]
    assert len(repeats) == 10 and {e["operation"] for e in repeats} == {"getThing"}


def test_a_stateful_repeat_is_described_once_and_a_changed_answer_anew(tmp_path: Path, described: list[str]) -> None:
    """The state file's journal: a read answered again alike (the stateful mode's kept answer,
    a new but equal response each time) reuses its description; when the stored object changes,
    the same request's new answer is described anew."""
    from sandlot.state.fixtures import parse_fixtures
    from sandlot.util.sources import read_file_or_configmap
    from tests.journal.conftest import PAYMENT_FIXTURES

    fixtures = parse_fixtures(read_file_or_configmap(str(PAYMENT_FIXTURES))[0], str(PAYMENT_FIXTURES))
    app = build_app(spec_source(str(PAYMENTS), tmp_path / "spec"), db=tmp_path / "s.db", fixtures=fixtures,
                    admin_token="adm_test")
    try:
        pipeline = app.pipeline
        _, key = pipeline.state.issue_key(name="t")
        headers = {"authorization": f"Bearer {key.secret}"}

        def read() -> bytes:
            return pipeline.handle(MockRequest("GET", "/v1/customers/cus_seed_ada", "", headers, b"")).body

        before = [read() for _ in range(5)]
        answer = pipeline.handle(MockRequest("PATCH", "/v1/customers/cus_seed_ada", "",
                                             {**headers, "content-type": "application/json"}, b'{"name": "Ada B."}'))
        assert answer.status == 200, answer.body
        after = [read() for _ in range(3)]
        assert len(set(before)) == 1 and len(set(after)) == 1 and before[0] != after[0]
        pipeline.journal.flush()
        assert described == ["/v1/customers/cus_seed_ada", "/v1/customers/cus_seed_ada", "/v1/customers/cus_seed_ada"]
        entries = list(reversed(pipeline.journal.store.find(JournalQuery(limit=100))))
        reads = [e for e in entries if e["method"] == "GET"]
        assert [e["response"]["body"] for e in reads] == [before[0].decode()] * 5 + [after[0].decode()] * 3
        assert {e["tenant"] for e in entries} == {reads[0]["tenant"]} and reads[0]["tenant"] != "unknown"
    finally:
        app.pipeline.close()
