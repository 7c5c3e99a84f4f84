"""`sandlot diff` on published releases of GitHub's API description (npm `@octokit/openapi`).

22.0.0 -> 23.0.0 is a major release: endpoints removed (some deprecated long before, some not),
three moved from /organizations/{org} to /orgs/{org}, many added. 23.0.0 -> 23.0.2 removed one
optional request body. The removals and additions are checked against a plain comparison of the
two documents' (method, path) sets, so the test does not just repeat what the tool said.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sandlot.diff.inputs import load_input
from sandlot.diff.run import compare

from .published import Unavailable, github_spec

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def versions():
    """Load the three releases once (about 0.3 s each); skip when npm cannot fetch them."""
    try:
        return {v: load_input(str(github_spec(v))) for v in ("22.0.0", "23.0.0", "23.0.2")}
    except Unavailable as exc:
        pytest.skip(f"GitHub's published spec is not available: {exc}")


def _operations(spec) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, item in spec.document["paths"].items() for m in item if m in METHODS}


def test_a_release_compared_with_itself_has_no_changes(versions):
    assert compare(versions["23.0.0"], versions["23.0.0"]) == []


def test_a_major_release_reports_the_known_removals_moves_and_additions(versions):
    old, new = versions["22.0.0"], versions["23.0.0"]
    changes = compare(old, new)
    by_rule: dict[str, set[tuple[str, str]]] = {}
    for change in changes:
        by_rule.setdefault(change.id, set()).add((change.method, change.path))

    moved = {("GET", "/organizations/{org}/dependabot/repository-access"),
             ("PATCH", "/organizations/{org}/dependabot/repository-access"),
             ("PUT", "/organizations/{org}/dependabot/repository-access/default-level")}
    assert by_rule["api-path-changed"] == moved
    removed = _operations(old.spec) - _operations(new.spec) - moved
    reported = by_rule["api-path-removed-with-deprecation"] | by_rule["api-path-removed-without-deprecation"] \
        | by_rule.get("api-removed-with-deprecation", set()) | by_rule.get("api-removed-without-deprecation", set())
    assert reported == removed and len(removed) == 37
    # Tag protection was deprecated in 2024 and is gone: a warning. Copilot metrics went without notice.
    assert ("GET", "/repos/{owner}/{repo}/tags/protection") in by_rule["api-path-removed-with-deprecation"]
    assert ("GET", "/orgs/{org}/copilot/metrics") in by_rule["api-path-removed-without-deprecation"]
    moved_to = {("GET", "/orgs/{org}/dependabot/repository-access"), ("PATCH", "/orgs/{org}/dependabot/repository-access"),
                ("PUT", "/orgs/{org}/dependabot/repository-access/default-level")}
    assert by_rule["endpoint-added"] == _operations(new.spec) - _operations(old.spec) - moved_to

    found = {(c.id, c.level, c.method, c.path, c.message) for c in changes}
    assert ("request-body-added-optional", "info", "GET", "/repos/{owner}/{repo}/contents/{path}",
            "added an optional request body") in found
    assert ("response-property-enum-value-added", "error", "GET", "/app/installations/{installation_id}",
            "response property 'permissions/organization_copilot_seat_management' of 200 may now be \"read\"; "
            "clients handling only the documented values break. Declare open-ended lists as such "
            "(x-extensible-enum) from the start") in found
    # A field the spec tightened: "selected_repository_ids" must now be sent.
    assert ("request-property-became-required", "error", "DELETE", "/orgs/{org}/code-security/configurations/detach",
            "the request property 'selected_repository_ids' became required; requests without it are refused") in found
    for change in changes:  # every change is placed at a line of each file it concerns
        places = [loc for loc in (change.old, change.new) if loc is not None]
        assert places and all(loc.file and loc.line for loc in places), change


def test_a_patch_release_reports_its_one_change_at_its_line(versions):
    old, new = versions["23.0.0"], versions["23.0.2"]
    [change] = compare(old, new)
    assert (change.id, change.level, change.operation) == (
        "request-body-removed", "warning", "GET /repos/{owner}/{repo}/contents/{path}")
    old_lines = Path(old.spec.source).read_text().splitlines()
    new_lines = Path(new.spec.source).read_text().splitlines()
    assert old_lines[change.old.line - 1].strip() == '"requestBody": {'
    assert new_lines[change.new.line - 1].strip() == '"get": {'


def test_without_npm_the_fetch_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(Unavailable, match="npm is not installed.*install Node.js/npm"):
        github_spec("0.0.0-none", cache=tmp_path)
