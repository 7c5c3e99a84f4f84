"""Install Sandlot as users and the image do, and run every command for real.

The wheel is built from what the image's build context holds (.dockerignore: pyproject.toml,
README.md, operator/), installed WITHOUT extras into a fresh virtual environment with the
pins the image uses (images/sandlot/constraints.txt), and then each command runs from that
environment: `sandlot mock` answering over HTTP on 127.0.0.1 (through the image's own smoke
script), `sandlot mock --stateful` (its journal and inspector files too), `sandlot up`, `sandlot operator --help`, `sandlot crds`
and `sandlot magic`. A runtime import of a test-only package fails here, not in a cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.ports import free_port
from tests.sandbox.servers import stop, wait_until_up

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "images" / "sandlot" / "constraints.txt"
SMOKE = REPO / "images" / "sandlot" / "smoke.sh"
EXAMPLE = REPO / "examples" / "payments"
KEY = "sk_sbx_" + "5a" * 32


def _run(args: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600,
                          check=False, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel, install it without extras into a fresh venv; return the venv's bin/."""
    work = tmp_path_factory.mktemp("wheel")
    context = work / "context"
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, context / name)
    shutil.copytree(REPO / "operator", context / "operator",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", work / "dist", context])
    wheels = sorted((work / "dist").glob("sandlot-*.whl"))
    assert len(wheels) == 1, wheels
    _run([sys.executable, "-m", "venv", work / "venv"])
    bin_dir = work / "venv" / "bin"
    _run([bin_dir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
          "--constraint", CONSTRAINTS, wheels[0]])
    return bin_dir


def _env(bin_dir: Path) -> dict[str, str]:
    """Return an environment in which `sandlot` and `python` are the fresh venv's only."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def _get(url: str, key: str | None = None) -> tuple[int, object]:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1 only
        return response.status, json.load(response)


def _serve(bin_dir: Path, args: list[str], health: str, cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([str(bin_dir / "sandlot"), *args], cwd=cwd, env=_env(bin_dir), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until_up(health, proc)
    return proc


def test_the_installed_package_is_the_wheel_and_its_dependencies_are_consistent(venv: Path,
                                                                               tmp_path: Path) -> None:
    where = _run([venv / "python", "-c", "import sandlot; print(sandlot.__file__)"], cwd=tmp_path,
                 env=_env(venv)).stdout.strip()
    assert where.startswith(str(venv.parent)), where
    _run([venv / "python", "-m", "pip", "check"], env=_env(venv))
    # The generator's word pools are package data, and Faker (a test dependency) is not installed.
    pools = _run([venv / "python", "-c", "from sandlot.mock import formats; print(len(formats.pool('first_name')))"],
                 cwd=tmp_path, env=_env(venv)).stdout.strip()
    assert pools == "200"
    assert subprocess.run([venv / "python", "-c", "import faker"], capture_output=True, env=_env(venv),
                          check=False).returncode != 0


def test_the_image_smoke_script_serves_a_request(venv: Path, tmp_path: Path) -> None:
    done = _run(["sh", SMOKE], cwd=tmp_path, env={**_env(venv), "SMOKE_PORT": str(free_port())})
    assert "sandlot mock answered GET /ping" in done.stdout


def test_mock_stateful_answers_from_its_fixtures(venv: Path, tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(venv, ["mock", str(EXAMPLE / "payments-openapi.yaml"), "--stateful", "--db",
                         str(tmp_path / "state.db"), "--fixtures", str(EXAMPLE / "payments-fixtures.yaml"),
                         "--key", KEY, "--admin-token", "adm", "--port", str(port), "--no-watch",
                         "--log-level", "warning"], f"http://127.0.0.1:{port}/__sandlot/health", tmp_path)
    try:
        status, body = _get(f"http://127.0.0.1:{port}/v1/customers", KEY)
        _, journal = _get(f"http://127.0.0.1:{port}/__sandlot/requests", KEY)
        # The inspector page's files are package data in the wheel.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__sandlot/ui/inspector.js", timeout=10) as page:  # noqa: S310
            script = page.read().decode()
    finally:
        code, _, err = stop(proc)
    assert status == 200 and [c["id"] for c in body["data"]] == ["cus_seed_ada", "cus_seed_grace"]
    assert [e["operation"] for e in journal["requests"]] == ["listCustomers"]
    assert "function startTail" in script
    assert code == 0, err


def test_up_answers_with_the_key_it_prints(venv: Path, tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "state"
    proc = _serve(venv, ["up", str(EXAMPLE / "sandbox.yaml"), "--port", str(port), "--state-dir", str(state)],
                  f"http://127.0.0.1:{port}/__sandlot/health", tmp_path)
    try:
        creds = dict(line.split("=", 1) for line in (state / "credentials.env").read_text().splitlines())
        status, body = _get(f"http://127.0.0.1:{port}/v1/customers", creds["SANDLOT_KEY"])
    finally:
        code, out, err = stop(proc)
    assert status == 200 and body["data"]
    assert code == 0 and creds["SANDLOT_KEY"] in out, err


def test_operator_crds_and_magic_run(venv: Path, tmp_path: Path) -> None:
    env = _env(venv)
    assert "--namespace" in _run([venv / "sandlot", "operator", "--help"], env=env, cwd=tmp_path).stdout
    written = _run([venv / "sandlot", "crds", "--out", tmp_path / "crds", "--chart-dir", ""], env=env,
                   cwd=tmp_path).stdout.split()
    assert written and all(Path(p).read_text() == (REPO / "crds" / Path(p).name).read_text() for p in written)
    table = _run([venv / "sandlot", "magic", EXAMPLE / "payments-openapi.yaml"], env=env, cwd=tmp_path).stdout
    assert table.startswith("|")


def test_graphql_mock_serves_queries_and_the_explorer_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.graphql"
    schema.write_text("type Query { user(login: String!): User }\ntype User { login: String! email: String }\n")
    port = free_port()
    proc = _serve(venv, ["mock", str(schema), "--port", str(port), "--no-watch"],
                  f"http://127.0.0.1:{port}/__sandlot/health", tmp_path)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", method="POST",
                                         data=b'{"query": "{ user(login: \\"ada\\") { login email } }"}',
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1 only
            assert json.load(response)["data"]["user"]["login"] == "ada"
        page = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", headers={"accept": "text/html"})
        with urllib.request.urlopen(page, timeout=10) as response:  # noqa: S310 - 127.0.0.1 only
            assert "Sandlot GraphQL explorer" in response.read().decode()
    finally:
        stop(proc)
