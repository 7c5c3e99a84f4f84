"""`sandlot diff` as CI runs it: inputs of every kind the loader reads, exit codes, bad input."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from sandlot.cli import main

from ..ports import free_port

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MULTI = Path(__file__).resolve().parents[1] / "mock" / "fixtures" / "multi"


def _run(capsys, *argv):
    code = main(["diff", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("fail_on, code", [(None, 0), ("error", 1), ("warning", 1), ("info", 1)])
def test_fail_on_sets_the_exit_code(capsys, fail_on, code):
    argv = [str(FIXTURES / "old.yaml"), str(FIXTURES / "new.yaml")] + (["--fail-on", fail_on] if fail_on else [])
    assert _run(capsys, *argv)[0] == code


def test_only_infos_pass_fail_on_warning(capsys, tmp_path):
    new = yaml.safe_load((FIXTURES / "old.yaml").read_text())
    new["paths"]["/pets/{id}"]["get"]["parameters"].append({"name": "x", "in": "query", "schema": {"type": "string"}})
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(new))
    code, out, _ = _run(capsys, str(FIXTURES / "old.yaml"), str(tmp_path / "new.yaml"), "--fail-on", "warning")
    assert code == 0 and "new-optional-request-parameter" in out


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.yaml", "missing.yaml does not exist: give an OpenAPI document"),
    (lambda d: d, "is a directory: give an OpenAPI document"),
    (lambda d: (d / "v2.yaml", (d / "v2.yaml").write_text("swagger: '2.0'\n"))[0], "Swagger 2.0 is not supported"),
    (lambda d: (d / "bad.yaml", (d / "bad.yaml").write_text("openapi: 3.0.3\npaths: [\n"))[0],
     "bad.yaml line 3 column 1: invalid YAML"),
    (lambda d: (d / "nope.yaml", (d / "nope.yaml").write_text("openapi: 3.0.3\npaths:\n  /a:\n    get:\n"
                                                                "      responses: {'200': {$ref: '#/x'}}\n"))[0],
     "$ref '#/x' does not resolve"),
])
def test_bad_input_exits_2_naming_the_file_and_the_fix(capsys, tmp_path, make, message):
    bad = make(tmp_path)
    code, out, err = _run(capsys, str(bad), str(FIXTURES / "new.yaml"))
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and message in err and str(bad.name) in err
    assert "Traceback" not in err


def test_an_unknown_format_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["diff", "a.yaml", "b.yaml", "--format", "html"])
    assert exc.value.code == 2 and "invalid choice: 'html'" in capsys.readouterr().err


def test_a_multi_file_spec_is_compared_and_placed_in_the_file_that_changed(capsys, tmp_path, monkeypatch):
    copy = tmp_path / "multi"
    shutil.copytree(MULTI, copy)
    pet = copy / "schemas" / "pet.yaml"
    pet.write_text(pet.read_text().replace("name: {type: string,", "name: {type: string, maxLength: 3,"))
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(capsys, str(MULTI / "root.yaml"), "multi/root.yaml", "--format", "githubactions")
    assert code == 0
    line = next(n for n, text in enumerate(pet.read_text().splitlines(), 1) if "maxLength: 3" in text)
    assert out.splitlines()[0] == (
        f"::error file=multi/schemas/pet.yaml,line={line},title=request-property-max-length-decreased::"
        "POST /pets: request property 'name' maxLength is now 3 (was none)")


def test_configmap_manifests_are_read_like_sandlot_mock_reads_them(capsys, tmp_path):
    def manifest(spec: Path) -> Path:
        target = tmp_path / f"{spec.stem}-configmap.yaml"
        target.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": spec.stem},
                                          "data": {"openapi.yaml": spec.read_text()}}))
        return target

    code, out, _ = _run(capsys, str(manifest(FIXTURES / "old.yaml")), str(manifest(FIXTURES / "new.yaml")),
                        "--format", "json", "--fail-on", "error")
    assert code == 1 and '"api-removed-without-deprecation"' in out
    assert '"file": "' in out and '"line"' not in out  # lines inside a ConfigMap key are not the manifest's


def test_specs_are_fetched_from_urls(capsys):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(FIXTURES))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        code, out, _ = _run(capsys, f"{base}/old.yaml", f"{base}/new.yaml", "--format", "githubactions")
    finally:
        server.shutdown()
    assert code == 0
    assert "::error title=api-removed-without-deprecation::DELETE /pets/{id}" in out  # no file= for a URL


def test_the_console_script_runs_it():
    proc = subprocess.run([sys.executable, "-m", "sandlot.cli", "diff", str(FIXTURES / "old.yaml"),
                           str(FIXTURES / "old.yaml"), "--fail-on", "info"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("No changes between")
