"""The drift proxy over real HTTP on 127.0.0.1: a client calls the proxy, the proxy calls a real
server (tests/drift/upstream.py) that breaks the spec in known ways; the client gets the real
answers, and the drift record holds exactly what broke, counted."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandlot.drift.guard import LiveUpstreamError
from sandlot.drift.stage import ProxySettings
from sandlot.drift.upstream import Upstream
from sandlot.http.compose import build_app
from tests.mock.conftest import LiveServer
from tests.ports import free_port

from .conftest import AUTH, PETS
from .upstream import LIST, PET, PetsApi


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[object]:
    """Start proxies: `proxy(upstream_url, headers=(), ...)` -> LiveServer (stopped after the test)."""
    running: list[LiveServer] = []

    def start(url: str, *, headers: tuple[str, ...] = (), timeout: float = 10.0, allow_live: bool = False,
              db: Path | None = None, admin_token: str | None = None, record: Path | None = None) -> LiveServer:
        settings = ProxySettings(Upstream.parse(url, list(headers), timeout), db or tmp_path / "drift.db",
                                 record, allow_live)
        server = LiveServer(build_app(str(PETS), proxy=settings, admin_token=admin_token)).__enter__()
        running.append(server)
        return server

    yield start
    for server in running:
        server.__exit__(None, None, None)
        server.app.pipeline.close()


def drift(server: LiveServer, **params: str) -> httpx.Response:
    return httpx.get(f"{server.url}/__sandlot/drift", params=params, timeout=10)


def test_the_client_gets_the_real_answers_and_the_drift_is_counted(api: PetsApi, proxy) -> None:
    server = proxy(api.url)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
        listed = [client.get("/pets") for _ in range(3)]
        one = client.get("/pets/1")
        broken = client.get("/pets/2")
        html = client.get("/pets/3")
        bad_json = client.get("/pets/4")
        zipped = client.get("/pets/7")
        missing = client.get("/pets/9")
        deleted = client.delete("/pets/1")
        created = client.post("/pets", json={"name": "Tom"})
        undocumented = client.get("/admin/stats")
        refused_by_spec = client.get("/pets", params={"limit": "0"})
    # The real answers, as the real API sent them.
    assert [(r.status_code, r.json()) for r in listed] == [(200, LIST)] * 3
    assert (one.status_code, one.json(), one.headers["set-cookie"]) == (200, PET, "session=s3cr3t; HttpOnly")
    assert (broken.status_code, broken.headers["content-type"], broken.text) == \
        (500, "text/html", "<h1>Internal Server Error</h1>")
    assert (html.status_code, html.text) == (200, "<p>Rex</p>")
    assert (bad_json.status_code, bad_json.content) == (200, b'{"id": 4,')
    assert (zipped.status_code, zipped.json(), zipped.headers.get("content-encoding")) == \
        (200, {"id": 7, "name": "Zip", "status": "sold"}, None)
    assert (missing.status_code, missing.json()) == (404, {"message": "gone"})
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (created.status_code, created.json()) == (201, {"id": 10, "name": "Tom", "status": "available"})
    assert (undocumented.status_code, undocumented.json()) == (200, {"ok": True})
    assert refused_by_spec.status_code == 200  # the real API accepts what the spec refuses: drift, not a refusal

    report = drift(server).json()
    assert report["upstream"] == api.url and report["spec"] == str(PETS)
    assert [(f["operation"], f["rule"], f["level"], f["status"], f["location"], f["pointer"], f["count"])
            for f in report["findings"]] == [
        ("GET /pets", "response-property-missing", "error", 200, "body", "/data/*/status", 4),
        ("GET /pets", "response-type-mismatch", "error", 200, "body", "/data/*/id", 4),
        ("GET /pets", "response-value-undocumented", "error", 200, "body", "/data/*/status", 4),
        ("GET /pets", "response-format-mismatch", "error", 200, "body", "/data/*/born", 4),
        ("GET /pets", "response-header-missing", "error", 200, "header", "/x-request-id", 4),
        ("GET /pets/{petId}", "response-status-undocumented", "error", 500, "status", "", 1),
        ("GET /pets/{petId}", "response-content-type-undocumented", "error", 200, "content-type", "", 1),
        ("GET /pets/{petId}", "response-body-malformed", "error", 200, "body", "", 1),
        ("GET /pets/{petId}", "response-property-missing", "error", 404, "body", "/error", 1),
        ("GET /admin/stats", "request-operation-undocumented", "warning", None, "operation", "", 1),
        ("GET /pets", "request-parameter-invalid", "warning", None, "query", "/limit", 1),
        ("GET /pets", "response-property-undocumented", "warning", 200, "body", "/data/*/owner_email", 4),
        ("GET /pets/{petId}", "response-property-undocumented", "warning", 404, "body", "/message", 1),
    ]
    assert report["summary"] == {"findings": 13, "error": 9, "warning": 4, "occurrences": 31, "requests": 13,
                                 "drifted": 9}
    assert report["operations"] == [
        {"operation": "DELETE /pets/{petId}", "requests": 1, "drifted": 0},
        {"operation": "GET /admin/stats", "requests": 1, "drifted": 1},
        {"operation": "GET /pets", "requests": 4, "drifted": 4},
        {"operation": "GET /pets/{petId}", "requests": 6, "drifted": 4},
        {"operation": "POST /pets", "requests": 1, "drifted": 0},
    ]
    sample = next(f for f in report["findings"] if f["rule"] == "response-type-mismatch")
    assert sample["sample"] == {"message": "'7' is not of type 'integer'", "request": "GET /pets", "status": 200,
                                "at": "/data/1/id", "value": "7"}
    assert sample["firstSeen"] <= sample["lastSeen"] and sample["firstSeen"].endswith("Z")


def test_what_reaches_the_upstream(api: PetsApi, proxy) -> None:
    server = proxy(api.url + "/base/", headers=("X-Staging-Key: stg_123", "User-Agent: sandlot-drift-test"))
    response = httpx.get(f"{server.url}/pets", params={"limit": "2"},
                         headers={**AUTH, "user-agent": "the-client", "accept-encoding": "gzip", "x-trace": "t1"})
    assert response.status_code == 404  # the upstream has no /base: the proxy appended the path to it
    seen = api.requests[-1]
    assert (seen["method"], seen["path"]) == ("GET", "/base/pets?limit=2")
    headers = seen["headers"]
    assert headers["authorization"] == AUTH["authorization"] and headers["x-trace"] == "t1"
    assert headers["x-staging-key"] == "stg_123" and headers["user-agent"] == "sandlot-drift-test"
    assert headers["host"] == api.url.removeprefix("http://") and headers["accept-encoding"] == "identity"


def test_a_live_looking_credential_is_never_forwarded(api: PetsApi, proxy) -> None:
    server = proxy(api.url)
    refused = [httpx.get(f"{server.url}/pets", headers={"authorization": "Bearer sk_live_51H8abcdef"}),
               httpx.get(f"{server.url}/pets", params={"api_key": "rk_live_abc"}, headers=AUTH),
               httpx.get(f"{server.url}/pets", headers={**AUTH, "cookie": "theme=dark; key=pk_live_abc"})]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert api.requests == []
    problem = refused[0].json()
    assert problem["type"] == "https://sandlot.dev/problems/live-upstream-credential"
    assert problem["detail"] == (
        f"This is a Sandlot drift proxy: the authorization header looks like a live (production) credential "
        f"(it matches sk_live_*), so the request was not forwarded to {api.url}. Use a test credential against "
        f"a test or staging upstream, or restart with --allow-live-upstream if this upstream is meant to get "
        f"live keys (docs/drift.md#live-credentials).")
    assert "the query parameter 'api_key'" in refused[1].json()["detail"]
    assert "the cookie header" in refused[2].json()["detail"] and "pk_live_*" in refused[2].json()["detail"]
    assert drift(server).json()["summary"]["requests"] == 0


def test_live_credentials_go_upstream_only_when_allowed(api: PetsApi, proxy) -> None:
    server = proxy(api.url, allow_live=True)
    response = httpx.get(f"{server.url}/pets/1", headers={"authorization": "Bearer sk_live_51H8abcdef"})
    assert response.status_code == 200
    assert api.requests[-1]["headers"]["authorization"] == "Bearer sk_live_51H8abcdef"


def test_a_live_upstream_header_stops_the_proxy_before_it_starts(api: PetsApi, tmp_path: Path) -> None:
    settings = ProxySettings(Upstream.parse(api.url, ["Authorization: Bearer sk_live_51H8abcdef"]),
                             tmp_path / "drift.db")
    with pytest.raises(LiveUpstreamError) as raised:
        build_app(str(PETS), proxy=settings)
    assert str(raised.value) == (
        "--upstream-header Authorization looks like a live (production) credential (it matches sk_live_*); "
        "`sandlot mock --proxy` measures drift against test and staging APIs, so it refuses to send it. Use a "
        "test credential, or pass --allow-live-upstream if this upstream is meant to get live keys "
        "(docs/drift.md#live-credentials)")
    settings = ProxySettings(Upstream.parse(api.url + "/?key=FLWSECK-abc"), tmp_path / "drift.db")
    with pytest.raises(LiveUpstreamError, match=r"^--proxy's query parameter 'key' looks like a live"):
        build_app(str(PETS), proxy=settings)
    allowed = ProxySettings(Upstream.parse(api.url, ["Authorization: Bearer sk_live_51H8abcdef"]),
                            tmp_path / "drift.db", allow_live_upstream=True)
    build_app(str(PETS), proxy=allowed).pipeline.close()


def test_an_upstream_that_does_not_answer_is_a_502_or_504(api: PetsApi, proxy) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    down = httpx.get(f"{proxy(nobody).url}/pets", headers=AUTH, timeout=10)
    assert (down.status_code, down.json()["detail"]) == (
        502, f"the upstream {nobody} did not answer GET /pets: Connection refused; check that it runs and that "
             "--proxy points at it")
    late = httpx.get(f"{proxy(api.url, timeout=0.5).url}/slow", headers=AUTH, timeout=10)
    assert (late.status_code, late.json()["detail"]) == (
        504, f"the upstream {api.url} did not answer GET /slow within 0.5 s; pass a longer --upstream-timeout if "
             "it is just slow")


def test_a_slow_upstream_does_not_hold_up_other_requests(api: PetsApi, proxy) -> None:
    server = proxy(api.url)
    answers: list[httpx.Response] = []
    waiting = threading.Thread(target=lambda: answers.append(httpx.get(f"{server.url}/slow", headers=AUTH,
                                                                      timeout=30)))
    waiting.start()
    deadline = time.monotonic() + 10
    while not any(r["path"] == "/slow" for r in api.requests):
        assert time.monotonic() < deadline, "the slow request never reached the upstream"
        time.sleep(0.02)
    # The slow request is held by the upstream now; the proxy still answers others.
    assert httpx.get(f"{server.url}/pets/1", headers=AUTH, timeout=10).status_code == 200
    assert httpx.get(f"{server.url}/__sandlot/health", timeout=10).json()["proxy"] == api.url
    api.release.set()
    waiting.join(timeout=30)
    assert [a.status_code for a in answers] == [200]


def test_the_drift_report_needs_the_admin_token_when_there_is_one(api: PetsApi, proxy) -> None:
    server = proxy(api.url, admin_token="adm_drift")
    httpx.get(f"{server.url}/pets/2", headers=AUTH)
    assert drift(server).status_code == 401
    token = {"authorization": "Bearer adm_drift"}
    text = httpx.get(f"{server.url}/__sandlot/drift", params={"format": "text"}, headers=token)
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text.startswith(f"Drift against {api.url} ({PETS}): 1 finding (1 error, 0 warnings), seen 1 times;"
                                " 1 of 1 requests drifted\n")
    markdown = httpx.get(f"{server.url}/__sandlot/drift", params={"format": "markdown"}, headers=token)
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8" and "| error |" in markdown.text
    bad = httpx.get(f"{server.url}/__sandlot/drift", params={"format": "html"}, headers=token)
    assert (bad.status_code, bad.json()["detail"]) == (400, "format must be one of text, json, markdown, not 'html'.")
    assert httpx.delete(f"{server.url}/__sandlot/drift", headers=token).status_code == 405


def test_the_record_adds_up_across_runs(api: PetsApi, proxy, tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    first = proxy(api.url, db=db)
    httpx.get(f"{first.url}/pets/2", headers=AUTH)
    first.__exit__(None, None, None)
    first.app.pipeline.close()
    second = proxy(api.url, db=db)
    httpx.get(f"{second.url}/pets/2", headers=AUTH)
    found = drift(second).json()["findings"]
    assert [(f["rule"], f["count"]) for f in found] == [("response-status-undocumented", 2)]


def test_a_gzip_body_is_checked_and_passed_on_decoded(api: PetsApi, proxy) -> None:
    server = proxy(api.url)
    response = httpx.get(f"{server.url}/pets/7", headers={**AUTH, "accept-encoding": "gzip"})
    assert response.json() == {"id": 7, "name": "Zip", "status": "sold"}
    assert drift(server).json()["findings"] == []
    assert gzip.decompress(api.answer("GET", "/pets/7", b"")[2]) == json.dumps(response.json()).encode()
