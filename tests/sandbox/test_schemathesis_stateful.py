"""Schemathesis (PyPI) against `sandlot mock --stateful` on the payments example.

Positive data with every check, including the two the stateless mock has to skip:
`use_after_free` (after a DELETE the object must be gone: 404) and `ignored_auth` (an invalid
key must be refused: the stateful mode has a key database). Negative data with every check
except `status_code_conformance`, as for the stateless mock: a spec that documents no
400/422 for an operation leaves no documented status to refuse invalid input with; the refusal
itself is still checked by `negative_data_rejection`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ADMIN_TOKEN
from .servers import start_stateful_mock, stop

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.mark.parametrize("mode,excluded", [("positive", []), ("negative", ["status_code_conformance"])])
def test_stateful_mock_conforms(payments_spec_path: Path, tmp_path: Path, mode: str,
                                excluded: list[str]) -> None:
    if not Path(SCHEMATHESIS).exists():
        pytest.skip("schemathesis is not installed in this venv (pip install -e '.[test]')")
    proc, root = start_stateful_mock(payments_spec_path, tmp_path / "st.db", None, ADMIN_TOKEN)
    key = proc.stdout.readline().split(": ")[-1].strip()
    try:
        cmd = [SCHEMATHESIS, "run", root + "/__sandlot/openapi.json", "--url", root + "/v1",
               "--checks", "all", "--mode", mode, "--max-examples", "15",
               "--generation-deterministic", "--no-color", "--header", f"Authorization: Bearer {key}"]
        if excluded:
            cmd += ["--exclude-checks", ",".join(excluded)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    finally:
        code, _, log = stop(proc)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) > 100, output[-2000:]
    assert code == 0 and "Traceback" not in log, log[-4000:]
