"""The mock over real HTTP on 127.0.0.1: uvicorn + the raw ASGI app, reload, the CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sandlot.http.reload import EngineHolder
from sandlot.mock.messages import MockResponse

from .conftest import FIXTURES, free_port, shared_spec

DEADLINE_S = 20


def _wait_for(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    """Poll until predicate() is true; fail naming `what` after a generous deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_petstore_over_http(serve, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    server = serve(shared_spec("oai/petstore-expanded.yaml"))
    res = client.get(server.url + "/pets", params={"limit": 2})
    assert res.status_code == 200 and res.headers["content-type"] == "application/json"
    assert isinstance(res.json(), list) and all({"id", "name"} <= set(p) for p in res.json())
    assert client.get(server.url + "/v2/pets/7").json() == client.get(server.url + "/pets/7").json()
    wrong = client.put(server.url + "/pets/7")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, DELETE"
    assert client.get(server.url + "/nope").status_code == 404
    invalid = client.post(server.url + "/pets", json={"name": 5})
    # petstore documents only `default` (Error: code + message) for errors: that shape is sent
    assert invalid.status_code == 422 and set(invalid.json()) == {"code", "message"}
    assert '"pointer":"/name"' in invalid.headers["x-sandlot-errors"]
    created = client.post(server.url + "/pets", json={"name": "Rex"})
    assert created.status_code == 200 and {"id", "name"} <= set(created.json())
    assert client.delete(server.url + "/pets/1").status_code == 204
    health = client.get(server.url + "/__sandlot/health").json()
    assert health["status"] == "ok" and health["operations"] == 4
    bundled = client.get(server.url + "/__sandlot/openapi.json").json()
    assert set(bundled["paths"]) == {"/pets", "/pets/{id}"}


def test_head_sends_the_get_headers_with_its_content_length(serve, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    server = serve(FIXTURES / "shop.yaml")
    got = client.get(server.url + "/items/1")
    head = client.head(server.url + "/items/1")
    assert got.status_code == head.status_code == 200 and len(got.content) > 0
    assert head.content == b"" and head.headers["content-length"] == str(len(got.content))
    assert head.headers["content-type"] == got.headers["content-type"]
    assert client.get(server.url + "/items/1").content == got.content  # the connection is still usable


def test_the_app_runs_its_explicit_list_of_stages(serve, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    """A stage sees the request context, may pass it on, and the engine answers last, routing once."""
    from sandlot.http.app import HttpApp
    from sandlot.http.pipeline import Pipeline
    from sandlot.mock.context import Next, RequestContext
    from sandlot.mock.engine import Engine, Match

    from .conftest import LiveServer

    seen: list[object] = []

    def wrap(ctx: RequestContext, call_next: Next) -> MockResponse:
        seen.append(ctx.match)  # routes the request; the engine reuses the match
        res = call_next(ctx)
        return MockResponse(res.status, [*res.headers, ("x-wrapped", "yes")], res.body)

    holder = EngineHolder(Engine.from_source(str(FIXTURES / "shop.yaml")), str(FIXTURES / "shop.yaml"))
    app = HttpApp(Pipeline(holder, [wrap], identify=lambda ctx: None))
    with LiveServer(app) as server:
        res = client.get(server.url + "/items/special")
        assert res.status_code == 200 and res.headers["x-wrapped"] == "yes" and res.text == "special"
    assert len(seen) == 1 and isinstance(seen[0], Match)


def test_reload_serves_new_operations_and_survives_broken_edits(tmp_path: Path, serve,  # type: ignore[no-untyped-def]
                                                                 client: httpx.Client) -> None:
    spec_dir = tmp_path / "multi"
    shutil.copytree(FIXTURES / "multi", spec_dir)
    server = serve(spec_dir / "root.yaml", watch=True)
    assert client.get(server.url + "/owners").status_code == 404
    # an edit in a referenced file (not the root) is picked up too
    pets = spec_dir / "paths" / "pets.yaml"
    pets.write_text(pets.read_text().replace("operationId: listPets", "operationId: listAllPets"))
    _wait_for(lambda: server.app.holder.reloads >= 1, "the reload after editing a referenced file")
    root = spec_dir / "root.yaml"
    root.write_text(root.read_text().replace("components:", """  /owners:
    get:
      responses:
        "200":
          description: owners
          content:
            application/json:
              schema: {type: array, items: {$ref: "schemas/owner.yaml"}, maxItems: 2}
components:""", 1))
    _wait_for(lambda: client.get(server.url + "/owners").status_code == 200, "the new operation to be served")
    root.write_text("openapi: 3.0.0\npaths: {broken: [")
    _wait_for(lambda: client.get(server.url + "/__sandlot/health").json()["last_reload_error"], "the failed reload")
    error = client.get(server.url + "/__sandlot/health").json()["last_reload_error"]
    assert "root.yaml" in error and "invalid YAML" in error
    assert client.get(server.url + "/owners").status_code == 200  # the last good spec keeps serving


def _sandlot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandlot.cli", "mock", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_check_reports_operations_or_the_error() -> None:
    ok = _sandlot("--check", str(FIXTURES / "multi" / "root.yaml"))
    assert (ok.returncode, ok.stdout.strip()) == (0, "OK: 3 operations")
    bad = _sandlot("--check", str(FIXTURES / "dangling.yaml"))
    assert bad.returncode == 2
    assert "dangling.yaml" in bad.stderr and "/paths/~1a/get" in bad.stderr and "/Missing" in bad.stderr
    swagger = _sandlot(str(FIXTURES / "swagger2.yaml"))
    assert swagger.returncode == 2 and "Swagger 2.0 is not supported" in swagger.stderr


def test_cli_check_takes_a_configmap_manifest_as_serving_does() -> None:
    manifest = Path(__file__).resolve().parents[2] / "examples" / "payments" / "payments-openapi.yaml"
    done = _sandlot("--check", str(manifest))
    assert done.returncode == 0 and done.stdout.startswith("OK: "), done.stderr


def test_cli_check_runs_the_openapi_meta_schema(tmp_path: Path) -> None:
    spec = tmp_path / "no_responses.yaml"
    spec.write_text("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get: {summary: x}\n")
    res = _sandlot("--check", str(spec))
    assert res.returncode == 2 and "/paths/~1a/get" in res.stderr and "responses" in res.stderr


def test_cli_serves_and_logs_operations_and_url(client: httpx.Client) -> None:
    port = free_port()
    spec = shared_spec("oai/petstore.yaml")
    proc = subprocess.Popen([sys.executable, "-m", "sandlot.cli", "mock", str(spec), "--port", str(port),
                             "--no-watch", "--seed", "3"], stderr=subprocess.PIPE, text=True)
    try:
        def up() -> bool:
            try:
                return client.get(f"http://127.0.0.1:{port}/pets").status_code == 200
            except httpx.TransportError:
                return False
        _wait_for(up, "sandlot mock to answer")
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert f"Serving 3 operations from {spec} at http://127.0.0.1:{port}" in stderr


def test_reload_after_an_atomic_rename_save(tmp_path: Path, serve, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    """Editors often save by writing a new file and renaming it over the old one."""
    spec = tmp_path / "api.yaml"
    shutil.copy(FIXTURES / "multi" / "root.yaml", spec)
    (tmp_path / "paths").mkdir()
    (tmp_path / "schemas").mkdir()
    for sub in ("paths/pets.yaml", "schemas/pet.yaml", "schemas/owner.yaml"):
        shutil.copy(FIXTURES / "multi" / sub, tmp_path / sub)
    (tmp_path / "schemas" / "owner.yaml").write_text(
        (FIXTURES / "multi" / "schemas" / "owner.yaml").read_text().replace("../root.yaml", "../api.yaml"))
    server = serve(spec, watch=True)
    assert client.get(server.url + "/health").status_code == 404
    new = tmp_path / "api.yaml.tmp"
    new.write_text(spec.read_text().replace("components:", """  /health:
    get:
      responses:
        "204": {description: fine}
components:""", 1))
    new.replace(spec)
    _wait_for(lambda: client.get(server.url + "/health").status_code == 204, "the renamed-over spec to be served")
    # a second rename-save: a watch left on the first replaced inode would miss this one
    new.write_text(spec.read_text().replace('"204": {description: fine}', '"202": {description: later}'))
    new.replace(spec)
    _wait_for(lambda: client.get(server.url + "/health").status_code == 202, "the second renamed-over spec")


def test_header_values_cannot_split_the_response(tmp_path: Path, serve, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "h.yaml"
    spec.write_text("""
openapi: 3.0.3
info: {title: h, version: "1"}
paths:
  /h:
    get:
      responses:
        "200":
          description: ok
          headers:
            X-Note: {schema: {type: string}, example: "line one\\r\\nSet-Cookie: evil=1"}
""")
    res = client.get(serve(spec).url + "/h")
    assert res.status_code == 200
    assert res.headers["x-note"] == "line one  Set-Cookie: evil=1" and "set-cookie" not in res.headers


def test_cors_preflight_and_headers_for_browser_clients(serve, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    server = serve(FIXTURES / "shop.yaml")
    pre = client.options(server.url + "/items", headers={
        "origin": "http://localhost:3000", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert pre.headers["access-control-allow-methods"] == "POST"
    assert pre.headers["access-control-allow-headers"] == "authorization, content-type"
    res = client.get(server.url + "/items/special", headers={"origin": "http://localhost:3000"})
    assert res.status_code == 200 and res.headers["access-control-allow-origin"] == "http://localhost:3000"
    plain = client.get(server.url + "/items/special")
    assert "access-control-allow-origin" not in plain.headers
    # without a preflight header an undocumented OPTIONS is still a 405
    assert client.options(server.url + "/items").status_code == 405


def test_cli_port_in_use_is_a_clear_error_with_exit_2() -> None:
    import re
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = _sandlot(str(FIXTURES / "shop.yaml"), "--port", str(port), "--no-watch")
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    found = re.search(rf"port {port} on 127\.0\.0\.1 is in use; pass --port (\d+) or stop the other server",
                      res.stderr)
    assert found and int(found.group(1)) != port, res.stderr


def test_cli_serves_a_configmap_manifest_from_its_openapi_key(client: httpx.Client, tmp_path: Path) -> None:
    port = free_port()
    manifest = Path(__file__).resolve().parents[2] / "examples" / "payments" / "payments-openapi.yaml"
    # Its own temporary directory, to see that the mock leaves nothing behind in it.
    proc = subprocess.Popen([sys.executable, "-m", "sandlot.cli", "mock", str(manifest), "--port", str(port),
                             "--no-watch"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        def up() -> bool:
            try:
                return client.get(f"http://127.0.0.1:{port}/v1/customers",
                                  headers={"Authorization": "Bearer sk_sbx_test"}).status_code == 200
            except httpx.TransportError:
                return False
        _wait_for(up, "sandlot mock to serve the ConfigMap's spec")
    finally:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: the mock stops and cleans up
        _, stderr = proc.communicate(timeout=20)
    assert "is a ConfigMap: serving its key openapi.yaml" in stderr
    assert list(tmp_path.iterdir()) == [], "sandlot mock left files in the temporary directory"
