"""A spec with no Sandlot extensions: the stateless mock answers exactly as without the
simulation layer until a request asks for a scenario, and state set through the admin API
switches the full path on."""

from __future__ import annotations

from pathlib import Path

from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest

PLAIN = """
openapi: 3.0.3
info: {title: plain, version: '1'}
paths:
  /items/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses:
        '200':
          description: ok
          content: {application/json: {schema: {type: object, required: [id], properties: {id: {type: integer}}}}}
"""


def test_plain_spec_answers_like_the_engine(serve_stateless, tmp_path: Path) -> None:
    spec = tmp_path / "plain.yaml"
    spec.write_text(PLAIN)
    engine = Engine.from_source(str(spec))
    expected = engine.handle(MockRequest("GET", "/items/7", headers={"accept": "application/json"}))
    running = serve_stateless(spec)
    with running.client(None) as client:
        plain = client.get("/items/7", headers={"accept": "application/json"})
        failing = client.get("/items/7", headers={"Sandlot-Scenario": "server_error"})
        assert client.put("/__sandlot/scenario", json={"scenario": "unavailable"}).status_code == 200
        sticky = client.get("/items/7")
        assert client.post("/__sandlot/reset").status_code == 200
        after_reset = client.get("/items/7")
    assert (plain.status_code, plain.content) == (expected.status, expected.body)
    assert "x-ratelimit-limit" not in plain.headers
    assert failing.status_code == 500
    assert sticky.status_code == 503
    assert after_reset.status_code == 200


def test_a_reload_with_a_broken_extension_keeps_the_last_good_settings(tmp_path: Path) -> None:
    from sandlot.http.compose import build_app

    spec = tmp_path / "plain.yaml"
    spec.write_text(PLAIN + "x-sandlot-scenarios: {gone: {status: 410}}\n")
    app = build_app(str(spec))
    request = MockRequest("GET", "/items/7", headers={"sandlot-scenario": "gone"})
    assert app.pipeline.handle(request).status == 410
    spec.write_text(PLAIN + "x-sandlot-scenarios: {gone: {body: {}}}\n")  # no status: invalid
    assert app.holder.reload()  # the OpenAPI part is valid, so the engine is swapped
    assert app.pipeline.handle(request).status == 410
