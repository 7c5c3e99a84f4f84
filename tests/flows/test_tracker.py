"""Trackly (specs/tracker.yaml): keyed envelopes (`{"project": {...}}` in and out, lists as
`{"projects": [...], "projectsCount": n}`), its own tokens as `Authorization: Token <jwt>`,
projects addressed by a slug made from their name, issues numbered per project, stars and
watchers toggled per user with true counters, owners, and deleting a project deleting its issues."""

from __future__ import annotations

import httpx

from tests.flows.conftest import SPECS, explain

SPEC = SPECS / "tracker.yaml"


def _signup(api: httpx.Client, username: str) -> tuple[dict, dict]:
    made = api.post("/users", json={"user": {"username": username, "email": f"{username}@example.com",
                                              "password": "correct horse"}})
    assert made.status_code == 201, made.text
    user = made.json()["user"]
    return user, {"authorization": f"Token {user['token']}"}


def test_tracker_flow(stateful) -> None:  # type: ignore[no-untyped-def]
    root, other_key = stateful(SPEC)
    api = httpx.Client(base_url=root + "/api", timeout=10)

    # Identity issued by the API: sign up, log in, the current user.
    alice, as_alice = _signup(api, "alice")
    assert alice["username"] == "alice" and alice["email"] == "alice@example.com"
    assert alice["bio"] is None and alice["image"] is None and "password" not in alice
    bob, as_bob = _signup(api, "bob")
    taken = api.post("/users", json={"user": {"username": "alice", "email": "x@example.com", "password": "12345678"}})
    assert taken.status_code == 422 and taken.json() == {"errors": {"body": ["username has already been taken"]}}
    wrong = api.post("/users/login", json={"user": {"email": "alice@example.com", "password": "wrong horse"}})
    assert wrong.status_code == 401 and wrong.json() == {"errors": {"body": ["email or password is invalid"]}}
    logged = api.post("/users/login", json={"user": {"email": "alice@example.com", "password": "correct horse"}})
    assert logged.status_code == 200 and logged.json()["user"]["username"] == "alice"
    as_alice = {"authorization": f"Token {logged.json()['user']['token']}"}  # a new token works too
    me = api.get("/user", headers=as_alice)
    assert me.status_code == 200 and me.json()["user"]["username"] == "alice"
    anonymous = api.get("/user")
    assert anonymous.status_code == 401 and anonymous.json() == {"errors": {"body": [
        "security scheme 'Token' needs the header 'Authorization'"]}}
    assert api.get("/user", headers={"authorization": "Token not-a-token"}).status_code == 401
    updated = api.put("/user", headers=as_alice, json={"user": {"bio": "Maintainer"}})
    assert updated.status_code == 200 and updated.json()["user"]["bio"] == "Maintainer"

    # A project: what was sent is stored and echoed; the slug comes from the name; alice owns it.
    created = api.post("/projects", headers=as_alice,
                       json={"project": {"name": "Sandlot Core", "description": "The core"}})
    assert created.status_code == 201, created.text
    project = created.json()["project"]
    assert (project["slug"], project["name"], project["description"]) == ("sandlot-core", "Sandlot Core", "The core")
    assert project["owner"] == {"username": "alice", "bio": "Maintainer", "image": None}
    assert (project["starred"], project["starsCount"]) == (False, 0)
    assert project["createdAt"] == project["updatedAt"]
    second = api.post("/projects", headers=as_bob, json={"project": {"name": "Sandlot Core"}}).json()["project"]
    assert second["slug"] == "sandlot-core-2" and second["owner"]["username"] == "bob"
    assert api.get("/projects/sandlot-core", headers=as_bob).json()["project"]["name"] == "Sandlot Core"
    assert api.get("/projects/nope", headers=as_bob).status_code == 404

    # Stars: per user, idempotent, the counter true for everyone.
    starred = api.post("/projects/sandlot-core/star", headers=as_bob)
    assert starred.status_code == 200 and starred.json()["project"]["starred"] is True
    again = api.post("/projects/sandlot-core/star", headers=as_bob).json()["project"]
    assert (again["starred"], again["starsCount"]) == (True, 1)
    seen_by_alice = api.get("/projects/sandlot-core", headers=as_alice).json()["project"]
    assert (seen_by_alice["starred"], seen_by_alice["starsCount"]) == (False, 1)
    api.post("/projects/sandlot-core/star", headers=as_alice)
    assert api.get("/projects/sandlot-core", headers=as_alice).json()["project"]["starsCount"] == 2
    unstarred = api.delete("/projects/sandlot-core/star", headers=as_bob).json()["project"]
    assert (unstarred["starred"], unstarred["starsCount"]) == (False, 1)

    # Lists: newest first, counts, filters by a related user.
    listed = api.get("/projects", headers=as_alice).json()
    assert [p["slug"] for p in listed["projects"]] == ["sandlot-core-2", "sandlot-core"]
    assert listed["projectsCount"] == 2
    mine = api.get("/projects", headers=as_alice, params={"owner": "alice"}).json()
    assert [p["slug"] for p in mine["projects"]] == ["sandlot-core"] and mine["projectsCount"] == 1

    # A filter on a per-user flag: by the user it names (RealWorld's `?favorited=jake`), or, given a
    # boolean, the caller's own; a user nobody has matches nothing.
    def starred_by(value: str) -> list[str]:
        found = api.get("/projects", headers=as_bob, params={"starred": value})
        assert found.status_code == 200, found.text
        return [p["slug"] for p in found.json()["projects"]]

    assert (starred_by("alice"), starred_by("bob"), starred_by("nobody")) == (["sandlot-core"], [], [])
    api.post("/projects/sandlot-core-2/star", headers=as_bob)
    assert (starred_by("bob"), starred_by("alice")) == (["sandlot-core-2"], ["sandlot-core"])
    assert (starred_by("true"), starred_by("false")) == (["sandlot-core-2"], ["sandlot-core"])
    api.delete("/projects/sandlot-core-2/star", headers=as_bob)
    assert starred_by("bob") == []

    # Labels and issues, numbered per project; filters by label, assignee and state.
    label = api.post("/projects/sandlot-core/labels", headers=as_alice, json={"label": {"name": "bug", "color": "d73a4a"}})
    assert label.status_code == 201 and label.json() == {"label": {"name": "bug", "color": "d73a4a"}}
    assert api.get("/projects/sandlot-core/labels", headers=as_alice).json() == {"labels": [{"name": "bug", "color": "d73a4a"}]}
    first = api.post("/projects/sandlot-core/issues", headers=as_bob, json={"issue": {
        "title": "Crash on start", "body": "It crashes", "labels": ["bug"], "assignee": "alice"}})
    assert first.status_code == 201, first.text
    issue = first.json()["issue"]
    assert (issue["number"], issue["state"], issue["labels"], issue["assignee"]) == (1, "open", ["bug"], "alice")
    assert issue["author"]["username"] == "bob" and (issue["watching"], issue["watchersCount"]) == (False, 0)
    two = api.post("/projects/sandlot-core/issues", headers=as_alice, json={"issue": {"title": "Docs"}}).json()["issue"]
    assert two["number"] == 2 and two["labels"] == [] and two["assignee"] is None
    other = api.post("/projects/sandlot-core-2/issues", headers=as_bob, json={"issue": {"title": "Elsewhere"}})
    assert other.json()["issue"]["number"] == 1  # each project counts from 1
    issues = api.get("/projects/sandlot-core/issues", headers=as_alice).json()
    assert [i["number"] for i in issues["issues"]] == [2, 1] and issues["issuesCount"] == 2
    bugs = api.get("/projects/sandlot-core/issues", headers=as_alice, params={"label": "bug"}).json()
    assert [i["number"] for i in bugs["issues"]] == [1] and bugs["issuesCount"] == 1
    assigned = api.get("/projects/sandlot-core/issues", headers=as_alice, params={"assignee": "alice"}).json()
    assert [i["number"] for i in assigned["issues"]] == [1]
    closed = api.patch("/projects/sandlot-core/issues/1", headers=as_alice, json={"issue": {"state": "closed"}})
    assert closed.status_code == 200 and closed.json()["issue"]["state"] == "closed"
    assert closed.json()["issue"]["title"] == "Crash on start"
    open_now = api.get("/projects/sandlot-core/issues", headers=as_alice, params={"state": "open"}).json()
    assert [i["number"] for i in open_now["issues"]] == [2] and open_now["issuesCount"] == 1
    paged = api.get("/projects/sandlot-core/issues", headers=as_alice, params={"limit": 1, "offset": 1}).json()
    assert [i["number"] for i in paged["issues"]] == [1] and paged["issuesCount"] == 2
    assert api.get("/projects/sandlot-core/issues/9", headers=as_alice).status_code == 404

    # Watching an issue: a toggle with its own counter.
    watched = api.put("/projects/sandlot-core/issues/1/watch", headers=as_alice).json()["issue"]
    assert (watched["watching"], watched["watchersCount"]) == (True, 1)
    assert api.get("/projects/sandlot-core/issues/1", headers=as_bob).json()["issue"]["watching"] is False
    assert api.delete("/projects/sandlot-core/issues/1/watch", headers=as_alice).json()["issue"]["watchersCount"] == 0

    # Renaming a project changes its slug, as the API documents.
    renamed = api.put("/projects/sandlot-core", headers=as_alice, json={"project": {"name": "Sandlot Engine"}})
    assert renamed.status_code == 200 and renamed.json()["project"]["slug"] == "sandlot-engine"
    assert renamed.json()["project"]["updatedAt"] >= renamed.json()["project"]["createdAt"]
    assert api.get("/projects/sandlot-core", headers=as_alice).status_code == 404
    assert api.get("/projects/sandlot-engine/issues/1", headers=as_alice).json()["issue"]["title"] == "Crash on start"

    # Only the owner deletes; deleting a project deletes its issues.
    assert api.delete("/projects/sandlot-engine", headers=as_bob).status_code == 403
    assert api.delete("/projects/sandlot-engine", headers=as_alice).status_code == 204
    assert api.get("/projects/sandlot-engine/issues/1", headers=as_alice).status_code == 404
    assert api.get("/projects", headers=as_alice).json()["projectsCount"] == 1

    # Another tenant (its sandbox key in Sandlot-Key) sees none of it, and alice's token is not valid there.
    elsewhere = {"sandlot-key": other_key}
    assert api.get("/projects", headers={**elsewhere, **as_alice}).status_code == 401
    carol, as_carol = _signup(httpx.Client(base_url=root + "/api", headers=elsewhere, timeout=10), "carol")
    theirs = api.get("/projects", headers={**elsewhere, **as_carol}).json()
    assert theirs == {"projects": [], "projectsCount": 0}
    # Without a key, a token works in the tenant that issued it, and only there.
    assert api.get("/user", headers=as_carol).json()["user"]["username"] == "carol"
    assert api.get("/projects", headers=as_carol).json()["projectsCount"] == 0


def test_tracker_explain() -> None:
    text = explain(SPEC)
    assert "identity: users (log in with email, username; token in the user object's `token`)" in text
    assert "POST /projects/{slug}/star toggle on projects.star (flag starred, counter starsCount)" in text
    assert "projects: key slug (made from name), envelope project, owner owner" in text
    assert "issues: key number (numbered per parent), envelope issue, owner author, in projects" in text
    assert "GET /projects/{slug}/issues list issues, newest first, filters state, label->labels, assignee" in text
