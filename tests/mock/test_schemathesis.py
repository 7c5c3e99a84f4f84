"""Schemathesis (PyPI) against the live mock: every response conforms, no server errors.

Each spec runs twice against one `sandlot mock` process on 127.0.0.1, reading the spec
the mock serves at /__sandlot/openapi.json (the bundled, single-document form):

* positive data, `--checks all`, so conforming requests must be accepted and every
  response must match its documented status, content type, headers and schema;
* negative data, `--checks all`, so schema-violating requests must be refused.

Checks excluded, each because it tests a real backend rather than a mock:

* use_after_free: expects 404 after DELETE; a stateless mock keeps no objects to delete
  (`sandlot mock --stateful` does).
* ignored_auth: expects invalid credentials to be refused; the stateless mock checks that
  credentials are present and well-formed, it has no account database to check them against.
* status_code_conformance, negative run only: a spec that documents no 400/422 leaves no
  documented status to refuse invalid input with; the refusal is still checked by
  negative_data_rejection.
* negative_data_rejection, negative run on the large specs only: schemathesis there
  generates "invalid" values that serialise to valid requests (an array ["active"] in a
  query string goes out as `Status=active`; its own report shows no invalid component),
  which no server can refuse. The small specs keep the check.

The large specs also skip schemathesis's stateful phase: on Twilio it reports its own
positive test cases as "schema-violating" (a null array item sent as the string `None`).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import free_port, shared_spec

ALWAYS_EXCLUDED = ["use_after_free", "ignored_auth"]
NEGATIVE_EXCLUDED = [*ALWAYS_EXCLUDED, "status_code_conformance"]
LARGE_NEGATIVE_EXCLUDED = [*NEGATIVE_EXCLUDED, "negative_data_rejection"]
GENERATION_ERRORS = {"Schema Error", "Failed Health Check"}
LARGE_PHASES = ["--phases", "examples,coverage,fuzzing",
                # schemathesis cannot generate negative values for some of DigitalOcean's
                # patterns and stops with a health check; that is about generation, not answers
                "--suppress-health-check", "filter_too_much"]
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


class MockProcess:
    """`sandlot mock SPEC` in a subprocess on an ephemeral port."""

    def __init__(self, spec: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sandlot.cli", "mock", str(spec), "--port", str(self.port), "--no-watch",
             "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/__sandlot/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"sandlot mock did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
            time.sleep(0.1)

    def stop(self) -> str:
        """Stop the process; return what it logged (server errors show up here)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        _, stderr = self.proc.communicate(timeout=30)
        return stderr or ""


def run_schemathesis(mock: MockProcess, mode: str, max_examples: int, extra: list[str],
                     negative_excluded: list[str]) -> tuple[int, str]:
    """Run schemathesis in one generation mode; return (exit code, output)."""
    excluded = negative_excluded if mode == "negative" else ALWAYS_EXCLUDED
    cmd = [SCHEMATHESIS, "run", mock.url + "/__sandlot/openapi.json", "--url", mock.url,
           "--checks", "all", "--exclude-checks", ",".join(excluded), "--mode", mode,
           "--max-examples", str(max_examples), "--generation-deterministic", "--no-color", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    return done.returncode, done.stdout + done.stderr


def assert_conforms(spec: Path, max_examples: int, extra: list[str] | None = None,
                    negative_excluded: list[str] = NEGATIVE_EXCLUDED, generation_errors_allowed: bool = False) -> None:
    """Run both modes against a fresh mock; fail on any failed check, server error or crash.

    With `generation_errors_allowed`, operations schemathesis cannot generate data for
    ("Schema Error", "Failed Health Check": about its generator, no request is sent) do not
    fail the test; failed checks still do.
    """
    mock = MockProcess(spec)
    try:
        results = {mode: run_schemathesis(mock, mode, max_examples, extra or [], negative_excluded)
                   for mode in ("positive", "negative")}
    finally:
        log = mock.stop()
    for mode, (code, output) in results.items():
        summary = re.search(r"(\d+) generated, .*", output)
        assert summary and int(summary.group(1)) > 0, f"schemathesis generated nothing:\n{output[-2000:]}"
        if code != 0 and generation_errors_allowed:
            assert "Failures:" not in output, f"{mode} run on {spec.name}: non-conforming answers:\n{output[-6000:]}"
            kinds = set(re.findall(r"🚫 ([A-Za-z ]+): \d+", output.split("Errors:", 1)[-1]))
            assert kinds <= GENERATION_ERRORS, f"{mode} run on {spec.name} errored:\n{output[-6000:]}"
            continue
        assert code == 0, f"schemathesis {mode} run on {spec.name} failed:\n{output[-6000:]}"
    assert "Traceback" not in log, log[-4000:]


SMALL_SPECS = ["petstore.yaml", "petstore-expanded.yaml", "api-with-examples.yaml", "callback-example.yaml",
               "link-example.yaml", "uspto.yaml"]


@pytest.mark.parametrize("name", SMALL_SPECS)
def test_small_specs_conform(name: str) -> None:
    assert_conforms(shared_spec(f"oai/{name}"), max_examples=15)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["twilio_api_v2010.json", "twilio_messaging_v1.json"])
def test_twilio_conforms(name: str) -> None:
    assert_conforms(shared_spec(f"twilio/{name}"), max_examples=5, extra=["--auth", "AC00:token", *LARGE_PHASES],
                    negative_excluded=LARGE_NEGATIVE_EXCLUDED)


@pytest.mark.slow
def test_digitalocean_conforms() -> None:
    spec = shared_spec("digitalocean/specification/DigitalOcean-public.v2.yaml")
    assert_conforms(spec, max_examples=3, extra=["--header", "Authorization: Bearer sandbox-token", *LARGE_PHASES],
                    negative_excluded=LARGE_NEGATIVE_EXCLUDED, generation_errors_allowed=True)


@pytest.fixture(autouse=True)
def _need_schemathesis() -> Iterator[None]:
    if not Path(SCHEMATHESIS).exists():
        pytest.skip("schemathesis is not installed in this venv (pip install -e '.[test]')")
    yield
