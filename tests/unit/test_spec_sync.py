"""reconcile/sync.py: which version of a downstream's spec its stub serves next, on exact output.

Three versions of one spec: V1 (served), V2 (adds an optional query parameter: compatible) and
V3 (removes GET /pets/{id}: breaking), plus versions that cannot be served. Each policy meets
each kind of change; the status entry, the Event and the conditions are compared whole.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sandlot.api.v1alpha1 import SpecBreak, SpecSync
from sandlot.reconcile.desired import Document
from sandlot.reconcile.sync import (
    Event,
    Read,
    accept_annotation,
    accept_command,
    acceptance_pending,
    conditions,
    configmap_references,
    follow,
    serves,
    source_id,
    specs_patch,
    start,
)
from tests.diff.helpers import PETS_TEXT

V1 = PETS_TEXT
V2 = V1.replace("    get:\n      responses:", "    get:\n      parameters: [{name: limit, in: query, schema: {type: integer}}]\n"
                "      responses:", 1)
V3 = V1.split("  /pets/{id}:")[0]
ONE, TWO, THREE = (Document("openapi.yaml", text) for text in (V1, V2, V3))
D1, D2, D3 = ONE.digest(), TWO.digest(), THREE.digest()
CR = ("team", "pr-1")
SOURCE = "configMap pets-openapi key openapi.yaml"
BREAK_SUMMARY = ("1 change: 1 error, 0 warnings, 0 info (breaking)\n"
                 "  ERROR    api-path-removed-without-deprecation  GET /pets/{id}: the path /pets/{id} was removed "
                 "without deprecation; clients calling it get 404. Deprecate it (with x-sunset) in a release before "
                 "removing it")
COMPAT_SUMMARY = ("1 change: 0 errors, 0 warnings, 1 info\n"
                  "  info     new-optional-request-parameter  GET /pets: added the optional query parameter 'limit'")


def accept(digest: str) -> str:
    return f"kubectl -n team annotate sandboxenvironment pr-1 sandlot.dev/accept-spec-pets={digest} --overwrite"


def synced(digest: str = D1, **extra) -> SpecSync:
    return SpecSync(**{"source": SOURCE, "digest": digest, "syncedAt": "T0", "sourceDigest": digest,
                       "state": "Synced", **extra})


def step(policy: str, previous: SpecSync, served: Document, latest: Document | None, accepted: str | None = None,
         **read) -> object:
    return follow(downstream="pets", policy=policy, previous=previous, served=served, read=Read(latest, **read),
                  accepted=accepted, now="T1", cr=CR)


def test_three_versions_digest_apart():
    assert len({D1, D2, D3}) == 3 and all(len(d) == 16 for d in (D1, D2, D3))


@pytest.mark.parametrize(("policy", "breaking", "accepted", "served"), [
    ("Auto", False, False, True), ("Auto", True, False, True),
    ("BlockBreaking", False, False, True), ("BlockBreaking", True, False, False), ("BlockBreaking", True, True, True),
    ("Manual", False, False, False), ("Manual", True, False, False), ("Manual", False, True, True),
    ("Manual", True, True, True),
])
def test_what_each_policy_serves(policy, breaking, accepted, served):
    assert serves(policy, breaking=breaking, accepted=accepted) is served


def test_the_first_version_is_served_as_it_is():
    verdict = start(SOURCE, ONE, "T0", etag='"e1"')
    assert verdict.serve == ONE and verdict.event is None and verdict.outcome is None
    assert verdict.state == synced(etag='"e1"')


def test_a_source_holding_the_served_version_changes_nothing():
    verdict = step("Auto", synced(), ONE, ONE)
    assert (verdict.serve, verdict.state, verdict.event, verdict.outcome) == (ONE, synced(), None, None)


def test_auto_serves_a_compatible_version_and_says_what_changed():
    verdict = step("Auto", synced(), ONE, TWO, etag='"e2"')
    assert verdict.serve == TWO
    assert verdict.state == SpecSync(source=SOURCE, digest=D2, syncedAt="T1", sourceDigest=D2, state="Synced",
                                     etag='"e2"')
    assert verdict.event == Event("SpecSynced", f"pets: serving {D2} (was {D1})\n{COMPAT_SUMMARY}")
    assert (verdict.outcome, verdict.breaking) == ("served", False)


def test_auto_serves_a_breaking_version_and_reports_it_until_accepted():
    verdict = step("Auto", synced(), ONE, THREE)
    brk = SpecBreak(digest=D3, previous=D1, errors=1, summary=BREAK_SUMMARY)
    assert verdict.serve == THREE
    assert verdict.state == SpecSync(source=SOURCE, digest=D3, syncedAt="T1", sourceDigest=D3, state="Synced",
                                     breaking=brk)
    assert verdict.event == Event("BreakingChange", f"pets: serving {D3}, which breaks {D1} (syncPolicy Auto); to "
                                                    f"accept it: {accept(D3)}\n{BREAK_SUMMARY}", warning=True)
    assert (verdict.outcome, verdict.breaking) == ("served", True)
    # Nothing new: still reported. Accepted: cleared, once.
    assert step("Auto", verdict.state, THREE, THREE).state == verdict.state
    accepted = step("Auto", verdict.state, THREE, THREE, accepted=D3)
    assert accepted.state == verdict.state.model_copy(update={"breaking": None})
    assert accepted.event == Event("BreakingChangeAccepted", f"pets: the breaking change to {D3} was accepted")


def test_auto_keeps_an_unaccepted_break_across_a_compatible_version():
    broken = synced(D3, breaking=SpecBreak(digest=D3, previous=D1, errors=1, summary=BREAK_SUMMARY))
    later = Document("openapi.yaml", V3.replace("version: '1'", "version: '4'"))  # only the info changed
    verdict = step("Auto", broken, THREE, later)
    assert verdict.serve == later and verdict.state.breaking == broken.breaking
    assert verdict.event == Event("SpecSynced", f"pets: serving {later.digest()} (was {D3})\n"
                                                "no change to the API (descriptions, examples or layout only)")
    # Accepting the version served now also accepts the break it carries.
    assert step("Auto", verdict.state, later, later, accepted=later.digest()).state.breaking is None


def test_block_breaking_holds_a_breaking_version_until_it_is_accepted():
    held = step("BlockBreaking", synced(), ONE, THREE)
    message = f"pets: {D3} breaks the served {D1} and is held (syncPolicy BlockBreaking); to serve it: {accept(D3)}"
    assert held.serve == ONE
    assert held.state == SpecSync(source=SOURCE, digest=D1, syncedAt="T0", sourceDigest=D3, state="Held",
                                  message=message, breaking=SpecBreak(digest=D3, previous=D1, errors=1,
                                                                      summary=BREAK_SUMMARY, held=True))
    assert held.event == Event("BreakingChange", f"{message}\n{BREAK_SUMMARY}", warning=True)
    assert (held.outcome, held.breaking) == ("held", True)
    again = step("BlockBreaking", held.state, ONE, THREE)  # read again: no second Event, nothing counted
    assert (again.serve, again.state, again.event, again.outcome) == (ONE, held.state, None, None)
    accepted = step("BlockBreaking", held.state, ONE, THREE, accepted=D3)
    assert accepted.serve == THREE
    assert accepted.state == SpecSync(source=SOURCE, digest=D3, syncedAt="T1", sourceDigest=D3, state="Synced")
    assert accepted.event == Event("SpecSynced", f"pets: serving {D3} (was {D1}) (accepted)\n{BREAK_SUMMARY}")
    assert accepted.outcome == "served"


def test_block_breaking_serves_a_compatible_version_and_drops_a_held_one_the_source_left():
    held = step("BlockBreaking", synced(), ONE, THREE).state
    verdict = step("BlockBreaking", held, ONE, TWO)
    assert verdict.serve == TWO and verdict.state.breaking is None and verdict.state.state == "Synced"
    reverted = step("BlockBreaking", held, ONE, ONE)
    assert reverted.state == synced()
    assert reverted.event == Event("SpecSynced", f"pets: the source holds the served version {D1} again")


def test_manual_serves_nothing_new_until_accepted():
    waiting = step("Manual", synced(), ONE, TWO)
    message = (f"pets: {D2} waits for acceptance (syncPolicy Manual), still serving {D1}; to serve it: "
               f"{accept(D2)}")
    assert waiting.serve == ONE
    assert waiting.state == SpecSync(source=SOURCE, digest=D1, syncedAt="T0", sourceDigest=D2, state="Held",
                                     message=message)
    assert waiting.event == Event("AwaitingAcceptance", f"{message}\n{COMPAT_SUMMARY}")
    assert step("Manual", waiting.state, ONE, TWO, accepted=D1).serve == ONE  # an old digest accepts nothing new
    assert step("Manual", waiting.state, ONE, TWO, accepted=D2).serve == TWO


def test_a_version_that_cannot_be_served_never_replaces_a_good_one():
    broken = Document("openapi.yaml", "openapi: 2.0\npaths: {}\n")
    verdict = step("Auto", synced(), ONE, broken)
    message = (f"pets: version {broken.digest()} cannot be served: openapi.yaml: at /openapi: `openapi` must be a "
               f"3.0.x or 3.1.x version string, found 2.0; still serving {D1}")
    assert verdict.serve == ONE
    assert verdict.state == SpecSync(source=SOURCE, digest=D1, syncedAt="T0", sourceDigest=broken.digest(),
                                     state="Invalid", message=message)
    assert verdict.event == Event("SpecInvalid", message, warning=True)
    assert verdict.outcome == "invalid"
    assert step("Auto", verdict.state, ONE, broken).event is None  # reported once


def test_a_version_referring_outside_itself_is_not_served():
    split = Document("openapi.yaml", V1.replace("'200': {description: ok}", "'200': {$ref: 'responses.yaml#/ok'}", 1))
    verdict = step("Auto", synced(), ONE, split)
    assert verdict.serve == ONE and verdict.state.state == "Invalid"
    assert verdict.state.message == (
        f"pets: version {split.digest()} cannot be served: openapi.yaml: at /paths/~1pets/get/responses/200/$ref: "
        "$ref to responses.yaml: this document may refer to nothing outside itself (another file or a URL); bundle "
        "it into one document first (e.g. `npx @redocly/cli bundle`); the stub reads only this document in the "
        f"cluster, and the operator fetches nothing a spec refers to; still serving {D1}")


def test_a_served_version_that_does_not_load_is_replaced_by_one_that_does():
    broken = Document("openapi.yaml", "openapi: 3.0.3\npaths: [\n")
    verdict = step("BlockBreaking", synced(broken.digest()), broken, ONE)
    assert verdict.serve == ONE and verdict.state.breaking is None


def test_an_unreadable_source_keeps_the_served_version():
    verdict = step("Auto", synced(), ONE, None, problem="spec.downstreams[0].openapi.url: the server answered 503")
    message = f"pets: spec.downstreams[0].openapi.url: the server answered 503; still serving {D1}"
    assert verdict.serve == ONE
    assert verdict.state == SpecSync(source=SOURCE, digest=D1, syncedAt="T0", sourceDigest=D1, state="Unreadable",
                                     message=message)
    assert verdict.event == Event("SpecSourceUnreadable", message, warning=True)
    assert step("Auto", verdict.state, ONE, None, problem="again").event is None
    back = step("Auto", verdict.state, ONE, ONE)
    assert back.state == synced()
    assert back.event == Event("SpecSynced", f"pets: the source holds the served version {D1} again")


def test_conditions_sum_up_every_downstream():
    assert conditions({"pets": synced(), "cards": synced(D2)}, CR) == [
        ("SpecSynced", True, "Synced", f"cards serves {D2} since T0; pets serves {D1} since T0"),
        ("SpecDrift", False, "NoBreakingChange", "no downstream's spec has a breaking change that was not accepted"),
    ]
    held = step("BlockBreaking", synced(), ONE, THREE).state
    waiting = step("Manual", synced(D2), TWO, ONE).state.model_copy(update={"message": "cards: waits"})
    assert conditions({"pets": held, "cards": waiting}, CR) == [
        ("SpecSynced", False, "BreakingChangeHeld", f"cards: waits; {held.message}"),
        ("SpecDrift", True, "BreakingChange", f"pets: {D3} breaks {D1} (held, to serve it: {accept(D3)})\n"
                                              f"{BREAK_SUMMARY}"),
    ]
    assert conditions({"cards": waiting}, CR)[0][2] == "AwaitingAcceptance"
    served = step("Auto", synced(), ONE, THREE).state
    assert conditions({"pets": served}, CR)[1] == (
        "SpecDrift", True, "BreakingChange", f"pets: {D3} breaks {D1} (served, to accept it: {accept(D3)})\n"
                                             f"{BREAK_SUMMARY}")
    invalid = synced(state="Invalid", message="pets: bad")
    unreadable = synced(state="Unreadable", message="cards: down")
    assert conditions({"pets": invalid, "cards": unreadable}, CR)[0] == (
        "SpecSynced", False, "SpecInvalid", "cards: down; pets: bad")
    assert conditions({"cards": unreadable}, CR)[0][2] == "SourceUnreadable"
    assert conditions({}, CR)[0] == ("SpecSynced", True, "Synced", "no downstreams")


def test_names_of_sources_and_the_acceptance():
    cm = SimpleNamespace(configMap=SimpleNamespace(name="pets-openapi", key="openapi.yaml"), url=None, s3=None)
    url = SimpleNamespace(configMap=None, url="https://specs.example/pets.yaml", s3=None)
    s3 = SimpleNamespace(configMap=None, url=None, s3=SimpleNamespace(bucket="b", key="k/v1.yaml", endpointUrl=None))
    s3e = SimpleNamespace(configMap=None, url=None, s3=SimpleNamespace(bucket="b", key="k", endpointUrl="http://e:1"))
    assert [source_id(s) for s in (cm, url, s3, s3e)] == [
        "configMap pets-openapi key openapi.yaml", "https://specs.example/pets.yaml", "s3://b/k/v1.yaml",
        "s3://b/k at http://e:1"]
    assert accept_annotation("pets") == "sandlot.dev/accept-spec-pets"
    assert accept_command("team", "pr-1", "pets", "abc") == (
        "kubectl -n team annotate sandboxenvironment pr-1 sandlot.dev/accept-spec-pets=abc --overwrite")


def test_a_long_summary_is_cut_errors_too():
    many = "openapi: 3.0.3\ninfo: {title: Many, version: '1'}\npaths:\n" + "".join(
        f"  /p{i}: {{get: {{responses: {{'200': {{description: ok}}}}}}}}\n" for i in range(12))
    old, new = Document("openapi.yaml", many), Document("openapi.yaml", many.split("  /p0:")[0] + "  {}\n")
    verdict = step("Auto", synced(old.digest()), old, new)
    lines = verdict.state.breaking.summary.split("\n")
    assert lines[0] == "12 changes: 12 errors, 0 warnings, 0 info (breaking)"
    assert len(lines) == 8 and lines[-1] == "  ... and 6 more"
    assert all(line.startswith("  ERROR    api-path-removed-without-deprecation  GET /p") for line in lines[1:-1])


def test_the_status_patch_deletes_what_is_gone():
    current = {"pets": {"digest": "a", "etag": '"1"', "breaking": {"digest": "b"}}, "cards": {"digest": "c"}}
    wanted = {"pets": {"digest": "b"}}
    assert specs_patch(current, wanted) == {"cards": None, "pets": {"digest": "b", "etag": None, "breaking": None}}


def test_the_configmaps_a_sandbox_reads_its_specs_from():
    spec = {"downstreams": [
        {"name": "pets", "openapi": {"configMap": {"name": "pets-openapi", "key": "openapi.yaml"}}},
        {"name": "cards", "openapi": {"url": "https://specs.example/cards.yaml"}},
        {"name": "more-pets", "openapi": {"configMap": {"name": "pets-openapi", "key": "v2.yaml"}}},
        {"name": "odd", "openapi": {"configMap": {"key": "no-name"}}}, "not a downstream"]}
    assert configmap_references("team", "pr-1", spec) == {("team", "pets-openapi"): "team/pr-1"}
    assert configmap_references("team", "pr-1", {}) == {}
    for malformed in ({"downstreams": 3}, {"downstreams": {"name": "x"}}, {"downstreams": "abc"},
                      {"downstreams": [{"openapi": "x"}, {"openapi": {"configMap": "y"}}]}):
        assert configmap_references("team", "pr-1", malformed) == {}


def test_an_acceptance_is_pending_only_for_what_a_pass_would_act_on():
    held = step("BlockBreaking", synced(), ONE, THREE).state.to_wire()
    served_break = step("Auto", synced(), ONE, THREE).state.to_wire()
    annotation = accept_annotation("pets")
    assert acceptance_pending({"pets": held}, {annotation: D3}) is True
    assert acceptance_pending({"pets": held}, {annotation: D1}) is False
    assert acceptance_pending({"pets": held}, {}) is False
    assert acceptance_pending({"pets": served_break}, {annotation: D3}) is True
    assert acceptance_pending({"pets": synced().to_wire()}, {annotation: D1}) is False  # already done
