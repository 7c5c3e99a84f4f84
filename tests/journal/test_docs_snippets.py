"""The assertion examples in docs/inspector.md run as written: the pytest one under pytest and the
Jest one under Jest, against a stateful payments stub on 127.0.0.1, each beside a small app under
test. Each also runs beside an app with a bug the example is meant to catch, and must fail there:
an example that cannot fail would document nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "docs" / "inspector.md").read_text()
#: Jest is installed here once (npm), as the graphql-http audit and the bench peers are.
JEST_CACHE = REPO / ".cache" / "npm-jest"
JEST = "jest@29.7.0"


def snippet(heading: str, language: str) -> str:
    """Return the first ```language block after `heading` in docs/inspector.md."""
    found = re.search(re.escape(heading) + r"\n.*?```" + language + r"\n(.*?)```", PAGE, re.DOTALL)
    assert found, f"docs/inspector.md has no ```{language} block under {heading!r}"
    return found.group(1)


#: The app under test for the pytest example: checkout charges once, with an idempotency key, and
#: retries a 429 after Retry-After, at most three tries. BUG=twice charges twice.
PYTEST_APP = '''
import os
import time
import uuid

import httpx
import pytest


class App:
    def __init__(self) -> None:
        self.http = httpx.Client(base_url=os.environ["SANDLOT_URL"] + "/v1",
                                 headers={"authorization": "Bearer " + os.environ["SANDLOT_KEY"]})

    def checkout(self, customer: str, amount: int) -> None:
        answer = self.charge(customer, amount, str(uuid.uuid4()))
        if os.environ.get("BUG") == "twice" and answer.status_code == 201:
            self.charge(customer, amount, str(uuid.uuid4()))  # a "retry" under a new idempotency key

    def charge(self, customer: str, amount: int, key: str) -> httpx.Response:
        for _ in range(3):
            answer = self.http.post("/charges", json={"amount": amount, "currency": "usd", "customer": customer},
                                    headers={"idempotency-key": key})
            if answer.status_code != 429:
                break
            time.sleep(float(answer.headers.get("retry-after", "1")))
        return answer


@pytest.fixture
def app() -> App:
    return App()
'''

#: The app under test for the Jest example (a setup file defines the global `app`). BUG=email
#: signs up with a misspelt field, which the spec refuses.
JEST_APP = '''
const ROOT = process.env.SANDLOT_URL + "/v1";
const headers = { authorization: `Bearer ${process.env.SANDLOT_KEY}`, "content-type": "application/json" };
const post = (path, body) => fetch(ROOT + path, { method: "POST", headers, body: JSON.stringify(body) });

globalThis.app = {
  async signUp({ email }) {
    await post("/customers", { email });
  },
  async runCheckoutFlow() {
    const field = process.env.BUG === "email" ? "e_mail" : "email";
    const customer = await (await post("/customers", { [field]: "grace@example.com" })).json();
    await post("/charges", { amount: 1500, currency: "eur", customer: customer.id ?? "cus_seed_ada" });
  },
};
'''


@pytest.fixture
def stub_env(serve: Any) -> dict[str, str]:
    """Serve the stateful payments example; return the environment the examples read."""
    stub = serve(stateful=True)
    _, key = stub.new_key("docs")
    return {**os.environ, "SANDLOT_URL": stub.url, "SANDLOT_KEY": key}


def run_pytest_example(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "--rootdir", str(folder), str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_pytest_example_passes_beside_a_correct_app_and_catches_a_double_charge(tmp_path: Path,
                                                                                     stub_env: dict[str, str]) -> None:
    (tmp_path / "conftest.py").write_text(PYTEST_APP)
    (tmp_path / "test_sandbox.py").write_text(snippet("### Asserting from pytest", "python"))
    done = run_pytest_example(tmp_path, stub_env)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr
    buggy = run_pytest_example(tmp_path, {**stub_env, "BUG": "twice"})
    assert buggy.returncode == 1, buggy.stdout + buggy.stderr
    assert "1 failed, 1 passed" in buggy.stdout and "assert 2 == 1" in buggy.stdout, buggy.stdout


def jest() -> Path:
    """Return the folder where Jest is installed (installed with npm on first use)."""
    if (JEST_CACHE / "node_modules" / "jest" / "package.json").is_file():
        return JEST_CACHE
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node/npm are not installed, so the Jest example in docs/inspector.md cannot run; "
                    "install Node.js 18+ with npm")
    JEST_CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--prefix", str(JEST_CACHE), "--no-audit", "--no-fund", JEST],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"`npm install {JEST}` failed; is the npm registry reachable? {done.stderr[-500:]}"
    return JEST_CACHE


def run_jest_example(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = jest() / "node_modules" / ".bin" / "jest"
    return subprocess.run([str(binary), "--rootDir", str(folder), "--ci", "--colors=false"],
                          cwd=folder, env={**env, "NODE_PATH": str(jest() / "node_modules")},
                          capture_output=True, text=True, timeout=180, check=False)


def test_the_jest_example_passes_beside_a_correct_app_and_catches_a_refused_request(tmp_path: Path,
                                                                                    stub_env: dict[str, str]) -> None:
    (tmp_path / "app.js").write_text(JEST_APP)
    (tmp_path / "sandbox.test.js").write_text(snippet("### Asserting from Jest", "js"))
    (tmp_path / "package.json").write_text(json.dumps({"name": "docs-example", "private": True, "jest": {
        "testEnvironment": "node", "setupFiles": ["<rootDir>/app.js"]}}))
    done = run_jest_example(tmp_path, stub_env)
    assert done.returncode == 0 and "Tests:       2 passed, 2 total" in done.stderr, done.stdout + done.stderr
    buggy = run_jest_example(tmp_path, {**stub_env, "BUG": "email"})
    assert buggy.returncode == 1, buggy.stdout + buggy.stderr
    assert "Tests:       1 failed, 1 passed, 2 total" in buggy.stderr, buggy.stderr
    assert "e_mail" in buggy.stderr  # the failure shows the explanation naming the field the spec refused
