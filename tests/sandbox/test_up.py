"""`sandlot up` as a user runs it: a real process on 127.0.0.1 serving the example manifest,
answering with the printed key, keeping state across restarts, stopping cleanly on SIGINT
(exit 0, ports freed); and fixtures read from S3 (moto's server) for a two-stub sandbox."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from sandlot.util.sources import SourceError, read_s3, s3_client
from tests.netservers import moto_server
from tests.ports import free_ports_in_a_row

from .conftest import EXAMPLE, configmap_value
from .servers import SANDLOT, free_port, port_is_free, start, stop

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}


def env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_up_serves_the_example_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    args = ["up", str(EXAMPLE / "sandbox.yaml"), "--port", str(port), "--state-dir", str(tmp_path)]
    proc = start(args, f"http://127.0.0.1:{port}/__sandlot/health")
    try:
        creds = env_file(tmp_path / "credentials.env")
        app_env = env_file(tmp_path / "app.env")
        assert app_env == {"PAYMENTS_MODE": "sandbox",
                           "PAYMENTS_API_URL": f"http://127.0.0.1:{port}/v1",
                           "SANDLOT_SANDBOX": "true", "SANDLOT_TEST_API_KEY": creds["SANDLOT_KEY"]}
        api = httpx.Client(base_url=app_env["PAYMENTS_API_URL"],
                           headers={"authorization": f"Bearer {creds['SANDLOT_KEY']}"})
        assert [c["id"] for c in api.get("/customers").json()["data"]] == ["cus_seed_ada", "cus_seed_grace"]
        cus = api.post("/customers", json={"email": "up@example.com"}).json()
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    assert "PAYMENTS_API_URL=http://127.0.0.1" in out and creds["SANDLOT_KEY"] in out
    assert "Sandbox stopped." in out
    assert port_is_free(port)

    proc = start(args, f"http://127.0.0.1:{port}/__sandlot/health")
    try:
        assert env_file(tmp_path / "credentials.env")["SANDLOT_KEY"] == creds["SANDLOT_KEY"]
        assert api.get(f"/customers/{cus['id']}").status_code == 200
    finally:
        assert stop(proc)[0] == 0
    assert port_is_free(port)


def test_up_refuses_a_bad_manifest_with_a_clear_error(tmp_path: Path) -> None:
    manifest = tmp_path / "sandbox.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "sandlot.dev/v1alpha1", "kind": "SandboxEnvironment",
        "metadata": {"name": "broken"},
        "spec": {"app": {"image": "x:1"}, "downstreams": [{
            "name": "payments", "envVar": "PAYMENTS_API_URL",
            "openapi": {"configMap": {"name": "missing-spec", "key": "openapi.yaml"}}}]}}))
    done = subprocess.run([*SANDLOT, "up", str(manifest), "--port", "0", "--state-dir",
                           str(tmp_path / "state")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no ConfigMap named 'missing-spec'" in done.stderr


@pytest.fixture
def moto():
    with moto_server(AWS_ENV) as url:
        yield url


@pytest.fixture
def spec_url(tmp_path: Path):
    """Serve the payments spec over http on 127.0.0.1 (a downstream's `openapi.url`)."""
    import functools
    import http.server
    import threading

    served = tmp_path / "www"
    served.mkdir()
    (served / "payments.yaml").write_text(configmap_value(EXAMPLE / "payments-openapi.yaml",
                                                          "openapi.yaml"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/payments.yaml"
    server.shutdown()
    server.server_close()


def test_s3_fixtures_url_spec_and_two_downstreams(tmp_path: Path, moto: str, spec_url: str,
                                                  monkeypatch) -> None:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    client = s3_client("us-east-1", moto)
    client.create_bucket(Bucket="seeds")
    fixtures = "customers:\n  - {id: cus_s3_only, email: s3@example.com}\n"
    client.put_object(Bucket="seeds", Key="payments/fixtures.yaml", Body=fixtures.encode())
    assert read_s3(client, "seeds", "payments/fixtures.yaml") == fixtures
    with pytest.raises(SourceError, match="s3://seeds/missing"):
        read_s3(client, "seeds", "missing")

    shutil.copy(EXAMPLE / "payments-openapi.yaml", tmp_path / "payments-openapi.yaml")
    manifest = tmp_path / "sandbox.yaml"
    s3_ref = {"bucket": "seeds", "key": "payments/fixtures.yaml", "region": "us-east-1",
              "endpointUrl": moto}
    spec_ref = {"configMap": {"name": "payments-openapi", "key": "openapi.yaml"}}
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "sandlot.dev/v1alpha1", "kind": "SandboxEnvironment",
        "metadata": {"name": "two"},
        "spec": {"app": {"image": "x:1"},
                 "downstreams": [
                     {"name": "payments", "envVar": "PAYMENTS_API_URL", "openapi": spec_ref},
                     {"name": "billing", "envVar": "BILLING_API_URL", "openapi": {"url": spec_url},
                      "stateful": False}],
                 "seed": {"fixtures": {"s3": s3_ref}}}}))
    port = free_ports_in_a_row(2)  # two downstreams: port and port + 1
    proc = start(["up", str(manifest), "--port", str(port), "--state-dir", str(tmp_path / "state")],
                 f"http://127.0.0.1:{port}/__sandlot/health", env=AWS_ENV)
    try:
        app_env = env_file(tmp_path / "state" / "app.env")
        key = env_file(tmp_path / "state" / "credentials.env")["SANDLOT_KEY"]
        auth = {"authorization": f"Bearer {key}"}
        stateful = httpx.get(app_env["PAYMENTS_API_URL"] + "/customers", headers=auth).json()
        assert [c["id"] for c in stateful["data"]] == ["cus_s3_only"]
        billing = app_env["BILLING_API_URL"]
        assert billing != app_env["PAYMENTS_API_URL"]
        stateless = httpx.get(billing + "/customers/whatever", headers=auth)
        assert stateless.status_code == 200  # a pure mock invents the object
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert port_is_free(port) and port_is_free(port + 1)


def test_up_names_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run([*SANDLOT, "up", str(EXAMPLE / "sandbox.yaml"), "--port", str(port),
                               "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
