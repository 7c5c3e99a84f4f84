"""docs/drift.md says what the code does: its rule table is the code's, and its GitHub Actions
workflow is a valid workflow whose steps, run on a repository with a base branch and a pull
request, summarise the changes, annotate them and fail on a breaking one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sandlot.diff.rules import markdown_table

REPO = Path(__file__).resolve().parents[2]
DRIFT = REPO / "docs" / "drift.md"
WORKFLOW = REPO / "docs" / "examples" / "ci" / "github-actions" / "api-diff.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_the_rule_table_is_the_codes():
    text = DRIFT.read_text()
    table = text.split("<!-- rules:start -->\n", 1)[1].split("\n<!-- rules:end -->", 1)[0] + "\n"
    assert table == markdown_table(), "docs/drift.md's rule table is stale: paste `python -m sandlot.diff.rules`"


def test_the_page_shows_the_workflow_file_as_it_is():
    assert "```yaml\n" + WORKFLOW.read_text().rstrip() + "\n```" in DRIFT.read_text()
    assert "[drift.md](drift.md)" in (REPO / "docs" / "README.md").read_text()
    assert "docs/drift.md" in (REPO / "README.md").read_text()


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_workflow_is_a_valid_github_actions_workflow():
    flow = _workflow()
    # PyYAML reads the key `on:` as True (YAML 1.1); GitHub reads it as "on".
    triggers = flow.get("on", flow.get(True))
    assert set(flow) >= {"name", "jobs"} and triggers == {"pull_request": {"paths": ["openapi/**"]}}
    [job] = flow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest" and job["steps"]
    for step in job["steps"]:
        assert ("uses" in step) != ("run" in step), step  # a step either uses an action or runs a command
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", step["uses"]), step
        assert set(step) <= {"name", "uses", "with", "run", "env", "if", "id"}, step
    assert job["steps"][0]["with"]["fetch-depth"] == 0  # the base branch must be there to diff against


IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com"}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60,
                   env={**os.environ, **IDENTITY})


@pytest.fixture
def pull_request(tmp_path):
    """A clone whose `main` has old.yaml as the spec and whose checked-out branch has new.yaml."""
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    work = tmp_path / "seed"
    (work / "openapi").mkdir(parents=True)
    _git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "openapi" / "openapi.yaml").write_text((FIXTURES / "old.yaml").read_text())
    _git(work, "add", ".")
    _git(work, "commit", "-q", "-m", "base")
    _git(tmp_path, "clone", "-q", "--bare", str(work), str(origin))
    _git(tmp_path, "clone", "-q", str(origin), str(clone))
    _git(clone, "checkout", "-q", "-b", "pr")
    (clone / "openapi" / "openapi.yaml").write_text((FIXTURES / "new.yaml").read_text())
    _git(clone, "commit", "-q", "-am", "change the API")
    return clone


def test_the_workflow_steps_gate_a_pull_request(pull_request, tmp_path):
    flow = _workflow()
    env = {**os.environ, **flow["env"], "GITHUB_BASE_REF": "main", "RUNNER_TEMP": str(tmp_path / "runner"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # `sandlot` as pip installs it
    (tmp_path / "runner").mkdir()
    results = []
    for step in next(iter(flow["jobs"].values()))["steps"]:
        if "run" not in step or step["run"].startswith("pip install"):
            continue  # actions/checkout, setup-python and the install are GitHub's and pip's part
        # GitHub runs each `run` with `bash --noprofile --norc -eo pipefail {0}`.
        results.append(subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                      cwd=pull_request, env=env, capture_output=True, text=True, timeout=120))
    worktree, summary, gate = results
    assert worktree.returncode == 0, worktree.stderr
    assert summary.returncode == 0
    assert (tmp_path / "summary.md").read_text().startswith("## API changes: 4 changes: 2 errors, 1 warning, 1 info")
    assert gate.returncode == 1  # the pull request breaks clients
    annotations = gate.stdout.splitlines()
    assert annotations[0].startswith("::error file=openapi/openapi.yaml,line=24,title=response-property-enum-value-added::")
    assert annotations[1].startswith("::error file=openapi/openapi.yaml,line=4,title=api-removed-without-deprecation::")
