"""The copyable files under docs/examples/ do what docs/per-pr.md says they do.

The quickstart sandbox is accepted by the models and its OpenAPI document by the mock; the
GitHub Actions steps are real bash, run here against fake kubectl/gh programs that answer
like a cluster would (Ready, or failing with a reason); the Argo CD chart renders a
SandboxEnvironment the models accept, named after the pull request, with onExpiry: Retain.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml
from chart_render import parse_manifests, run_helm
from cluster_tools import REPO

from sandlot.api.v1alpha1 import SandboxEnvironment

EXAMPLES = REPO / "docs" / "examples"
WORKFLOW = EXAMPLES / "ci" / "github-actions" / "pr-sandbox.yaml"
APPLICATIONSET = EXAMPLES / "ci" / "argocd" / "applicationset.yaml"
SANDBOX_CHART = EXAMPLES / "ci" / "argocd" / "sandbox-chart"

#: Stand-ins for the ${{ ... }} expressions GitHub substitutes before bash runs.
EXPRESSIONS = {
    "github.event.pull_request.number": "42",
    "github.event.pull_request.head.sha": "0123abcd",
    "github.repository": "acme/payments",
}

FAKE_CLI = '''#!{python}
"""Answer kubectl/gh calls like a cluster with one sandbox would; log every call."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0]), *args]) + "\\n")
if os.path.basename(sys.argv[0]) == "gh":
    sys.exit(0)
if args[0] == "apply":
    open(os.environ["FAKE_APPLIED"], "w").write(sys.stdin.read())
    sys.exit(0)
if args[0] == "wait":
    sys.exit(int(os.environ.get("FAKE_WAIT_RC", "0")))
output = next((a for a in args if a.startswith("jsonpath=")), "")
answers = json.loads(os.environ["FAKE_ANSWERS"])
for fragment, answer in answers.items():
    if fragment in output:
        sys.stdout.write(answer)
        sys.exit(0)
sys.stdout.write("fake " + " ".join(args) + "\\n")
'''


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _step(job: str, name_start: str) -> dict:
    steps = _workflow()["jobs"][job]["steps"]
    found = [s for s in steps if s.get("name", "").startswith(name_start)]
    assert len(found) == 1, f"no single step {name_start!r} in job {job}"
    return found[0]


def _expand(script: str) -> str:
    def replace(match: re.Match) -> str:
        expression = match.group(1).strip()
        return EXPRESSIONS.get(expression, "secret-value")
    return re.sub(r"\$\{\{(.*?)\}\}", replace, script)


def _run_step(job: str, name_start: str, tmp_path: Path, answers: dict[str, str] | None = None,
              wait_rc: int = 0) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run one workflow step's bash with fake kubectl/gh first on PATH; return it and the calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("kubectl", "gh"):
        program = bin_dir / tool
        program.write_text(FAKE_CLI.format(python=sys.executable))
        program.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    workflow_env = {k: _expand(str(v)) for k, v in _workflow()["env"].items()}
    step = _step(job, name_start)
    env = {**os.environ, **workflow_env, **{k: _expand(str(v)) for k, v in step.get("env", {}).items()},
           "PATH": f"{bin_dir}:{os.environ['PATH']}", "GITHUB_REPOSITORY": "acme/payments",
           "FAKE_LOG": str(log), "FAKE_APPLIED": str(tmp_path / "applied.yaml"),
           "FAKE_ANSWERS": json.dumps(answers or {}), "FAKE_WAIT_RC": str(wait_rc)}
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", _expand(step["run"])], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, calls


def test_quickstart_sandbox_is_accepted_by_models_kubernetes_and_the_mock(tmp_path):
    from sandlot.mock.check import check_spec

    configmap, sandbox = yaml.safe_load_all((EXAMPLES / "quickstart-sandbox.yaml").read_text())
    kubernetes_validate.validate(configmap, "1.33.0", strict=True)
    model = SandboxEnvironment.model_validate(sandbox)
    ref = model.spec.downstreams[0].openapi.configMap
    assert (ref.name, ref.key) == (configmap["metadata"]["name"], "openapi.yaml")
    spec_file = tmp_path / "openapi.yaml"
    spec_file.write_text(configmap["data"]["openapi.yaml"])
    assert check_spec(str(spec_file)) == 3


def test_every_workflow_step_is_valid_bash():
    for job in _workflow()["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                done = subprocess.run(["bash", "-n", "-c", _expand(step["run"])], capture_output=True,
                                      text=True, timeout=30, check=False)
                assert done.returncode == 0, f"{step['name']}: {done.stderr}"


def test_workflow_runs_on_pr_events_and_tears_down_on_close():
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["pull_request"]["types"] == ["opened", "synchronize", "reopened", "closed"]
    assert workflow["jobs"]["sandbox"]["if"] == "github.event.action != 'closed'"
    assert workflow["jobs"]["teardown"]["if"] == "github.event.action == 'closed'"


def test_apply_step_creates_a_sandbox_named_after_the_pr_with_its_image(tmp_path):
    done, calls = _run_step("sandbox", "Apply the SandboxEnvironment", tmp_path)
    assert done.returncode == 0, done.stderr
    assert calls == [["kubectl", "apply", "-n", "payments-sandboxes", "-f", "-"]]
    manifest = yaml.safe_load((tmp_path / "applied.yaml").read_text())
    model = SandboxEnvironment.model_validate(manifest)
    assert manifest["metadata"]["name"] == "pr-42"
    assert model.spec.app.image == "ghcr.io/acme/payments:sha-0123abcd"


def test_wait_step_fails_with_the_ready_condition_reason_and_message(tmp_path):
    answers = {'.reason}': "ImagePullFailed",
               '.message}': "spec.app.image: image 'ghcr.io/acme/payments:sha-0123abcd' cannot be pulled "
                             "(ImagePullBackOff); push the image or fix the reference"}
    done, calls = _run_step("sandbox", "Wait until Ready", tmp_path, answers=answers, wait_rc=1)
    assert done.returncode == 1
    assert ("::error title=Sandbox pr-42 is not Ready (ImagePullFailed)::spec.app.image: image "
            "'ghcr.io/acme/payments:sha-0123abcd' cannot be pulled (ImagePullBackOff); push the image "
            "or fix the reference") in done.stdout
    assert calls[0] == ["kubectl", "wait", "-n", "payments-sandboxes", "--for=condition=Ready", "sbx/pr-42",
                        "--timeout=10m"]


def test_wait_step_passes_when_ready(tmp_path):
    done, calls = _run_step("sandbox", "Wait until Ready", tmp_path, wait_rc=0)
    assert done.returncode == 0 and "::error" not in done.stdout
    assert len(calls) == 1


def test_post_step_comments_the_endpoints_from_status(tmp_path):
    endpoints = {"app": "http://app.sbx-x.svc.cluster.local:8080",
                 "stripe": "http://stub-stripe.sbx-x.svc.cluster.local:4010"}
    answers = {"{.status.endpoints}": json.dumps(endpoints), "{.status.credentialsSecret}": "pr-42-credentials",
               "{.status.expiresAt}": "2026-11-29T10:00:00Z"}
    done, calls = _run_step("sandbox", "Post the endpoints", tmp_path, answers=answers)
    assert done.returncode == 0, done.stderr
    gh = [c for c in calls if c[0] == "gh"]
    assert gh and gh[0][:4] == ["gh", "pr", "comment", "42"]
    body = gh[0][gh[0].index("--body") + 1]
    assert "| app | `http://app.sbx-x.svc.cluster.local:8080` |" in body
    assert "| stripe | `http://stub-stripe.sbx-x.svc.cluster.local:4010` |" in body
    assert "Secret `pr-42-credentials`" in body and "2026-11-29T10:00:00Z" in body


def test_post_step_fails_when_a_ready_sandbox_reports_no_endpoints(tmp_path):
    done, _ = _run_step("sandbox", "Post the endpoints", tmp_path, answers={"{.status.endpoints}": "{}"})
    assert done.returncode != 0


def test_teardown_deletes_the_pr_sandbox_and_waits(tmp_path):
    done, calls = _run_step("teardown", "Delete the SandboxEnvironment", tmp_path)
    assert done.returncode == 0, done.stderr
    assert calls == [["kubectl", "delete", "sbx", "pr-42", "-n", "payments-sandboxes", "--ignore-not-found",
                      "--wait=true", "--timeout=5m"]]


def test_applicationset_feeds_the_sandbox_chart_per_pull_request():
    appset = yaml.safe_load(APPLICATIONSET.read_text())
    generator = appset["spec"]["generators"][0]["pullRequest"]
    assert generator["github"]["labels"] == ["sandbox"]
    template = appset["spec"]["template"]
    assert "resources-finalizer.argocd.argoproj.io" in template["metadata"]["finalizers"]
    source = template["spec"]["source"]
    assert source["targetRevision"] == "{{.head_sha}}"
    chart_values = yaml.safe_load((SANDBOX_CHART / "values.yaml").read_text())
    assert {p["name"] for p in source["helm"]["parameters"]} <= chart_values.keys()


def test_sandbox_chart_renders_a_retained_sandbox_named_after_the_pr(helm):
    done = run_helm(helm, ["template", "pr", str(SANDBOX_CHART), "--set-string", "pullRequest=42",
                           "--set", "image=ghcr.io/acme/payments:sha-0123abcd"])
    assert done.returncode == 0, done.stderr
    (manifest,) = parse_manifests(done.stdout)
    model = SandboxEnvironment.model_validate(manifest)
    assert manifest["metadata"]["name"] == "pr-42"
    assert model.spec.onExpiry == "Retain"
    assert model.spec.app.image == "ghcr.io/acme/payments:sha-0123abcd"


def test_sandbox_chart_refuses_to_render_without_a_pr_number(helm):
    done = run_helm(helm, ["template", "pr", str(SANDBOX_CHART), "--set", "image=x:1"])
    assert done.returncode != 0
    assert "pullRequest is required" in done.stderr


def test_notes_and_docs_name_the_same_quickstart_file():
    notes = (REPO / "charts" / "sandlot" / "templates" / "NOTES.txt").read_text()
    assert "docs/examples/quickstart-sandbox.yaml" in notes
    assert (EXAMPLES / "quickstart-sandbox.yaml").is_file()
