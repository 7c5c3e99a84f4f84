"""Every output format on one spec pair, exact (golden files), plus what each format promises."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from sandlot.diff.formats import FORMATS
from sandlot.diff.run import run_diff

HERE = Path(__file__).resolve().parent
FIXTURES, GOLDEN = HERE / "fixtures", HERE / "golden"


@pytest.fixture
def pets(monkeypatch):
    """Run from the fixtures folder, so files are named as a workflow names them (old.yaml)."""
    monkeypatch.chdir(FIXTURES)
    return lambda fmt, fail_on="warning": run_diff("old.yaml", "new.yaml", fmt=fmt, fail_on=fail_on)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_matches_its_golden_file(pets, fmt):
    output, code = pets(fmt)
    golden = GOLDEN / f"pets.{fmt}.out"
    if os.environ.get("SANDLOT_UPDATE_GOLDEN"):
        golden.write_text(output)
    assert output == golden.read_text(), f"{fmt} output changed; review and run with SANDLOT_UPDATE_GOLDEN=1"
    assert code == 1


def test_json_has_the_fields_ci_scripts_read(pets):
    data = json.loads(pets("json")[0])
    assert data["summary"] == {"error": 2, "warning": 1, "info": 1}
    first = data["changes"][0]
    assert {"id", "level", "operation", "path", "location", "message", "text"} <= first.keys()
    assert first["level"] in ("error", "warning", "info")
    assert (first["operation"], first["path"], first["operationId"]) == ("GET", "/pets/{petId}", "getPet")
    assert first["revisionSource"] == {"file": "new.yaml", "line": 24}
    assert yaml.safe_load(pets("yaml")[0]) == data  # YAML is the same record


def test_junit_fails_the_changes_at_fail_on_and_above(pets):
    for fail_on, failures in (("error", 2), ("warning", 3), ("info", 4)):
        root = ET.fromstring(pets("junit", fail_on)[0])
        assert int(root.get("failures")) == failures
        assert len(root.findall(".//testcase/failure")) == failures
        assert len(root.findall(".//testcase")) == 4


def test_github_annotations_escape_what_would_end_the_command(monkeypatch, tmp_path):
    from sandlot.diff.changes import Change, Location
    from sandlot.diff.formats import Report, render

    change = Change("request-parameter-removed", "warning", "50% done,\nnext: line", "GET", "/a", "",
                    None, Location("/paths", "specs/a,b:c.yaml", 7))
    out = render(Report("o", "n", [change]), "githubactions")
    assert out.splitlines()[0] == ("::warning file=specs/a%2Cb%3Ac.yaml,line=7,title=request-parameter-removed::"
                                   "GET /a: 50%25 done,%0Anext: line")


def test_no_changes_reads_as_such(monkeypatch):
    monkeypatch.chdir(FIXTURES)
    assert run_diff("old.yaml", "old.yaml") == ("No changes between old.yaml and old.yaml.\n", 0)
    root = ET.fromstring(run_diff("old.yaml", "old.yaml", fmt="junit")[0])
    assert root.get("failures") == "0" and root.find(".//testcase").get("name") == "no changes"
    assert json.loads(run_diff("old.yaml", "old.yaml", fmt="json")[0])["changes"] == []
