"""Quill (specs/quill.yaml): an API whose spec documents the user its sign-up and log-in answer
but not the token it also sends (as RealWorld's published spec does), whose author profiles
carry a per-caller `following` flag, and whose date-times have no example: the sandbox issues
the token in the user object anyway, accepts it back as `Token <jwt>`, shows the author as the
caller's profile, and stamps times in milliseconds as JavaScript's toISOString does."""

from __future__ import annotations

import re

import httpx

from tests.flows.conftest import SPECS, explain, valid

SPEC = SPECS / "quill.yaml"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_quill_flow(stateful) -> None:  # type: ignore[no-untyped-def]
    root, _ = stateful(SPEC)
    api = httpx.Client(base_url=root + "/api", timeout=10)

    made = api.post("/users", json={"user": {"username": "ada", "email": "ada@example.com", "password": "pw1"}})
    assert made.status_code == 201, made.text
    user = valid(SPEC, made)["user"]
    assert (user["username"], user["email"]) == ("ada", "ada@example.com")
    assert isinstance(user["token"], str) and user["token"].count(".") == 2  # undocumented, as the API sends it
    logged = api.post("/users/login", json={"user": {"email": "ada@example.com", "password": "pw1"}})
    assert logged.status_code == 200 and logged.json()["user"]["token"]
    as_ada = {"authorization": f"Token {logged.json()['user']['token']}"}
    assert api.post("/users/login", json={"user": {"email": "ada@example.com", "password": "nope"}}).status_code == 401
    assert api.get("/user").status_code == 401
    assert api.get("/user", headers={"authorization": "Token forged.token.value"}).status_code == 401
    me = api.get("/user", headers=as_ada)
    assert me.status_code == 200 and valid(SPEC, me)["user"]["username"] == "ada"

    created = api.post("/posts", headers=as_ada, json={"post": {"title": "Hello World", "body": "First"}})
    assert created.status_code == 201, created.text
    post = valid(SPEC, created)["post"]
    assert (post["slug"], post["title"], post["body"]) == ("hello-world", "Hello World", "First")
    assert post["author"] == {"username": "ada", "bio": user["bio"], "image": user["image"], "following": False}
    assert ISO_MS.match(post["createdAt"]) and post["createdAt"] == post["updatedAt"], post["createdAt"]
    listed = valid(SPEC, api.get("/posts"))
    assert listed["postsCount"] == 1 and listed["posts"][0]["author"]["username"] == "ada"
    assert valid(SPEC, api.get("/posts/hello-world"))["post"]["createdAt"] == post["createdAt"]

    printed = explain(SPEC)
    assert "posts: key slug (made from title), envelope post, owner author, timestamps createdAt, updatedAt" in printed
    assert "identity: users (log in with email, username; token in the user object's `token`)" in printed


def test_quill_profiles_follows_and_the_feed(stateful) -> None:  # type: ignore[no-untyped-def]
    """A profile is a view of a user (`/profiles/{username}`: no path lists or creates
    profiles), following is a per-caller toggle on that user, and the feed lists the posts of
    the users the caller follows; every author profile shows whether the caller follows them."""
    root, _ = stateful(SPEC)
    api = httpx.Client(base_url=root + "/api", timeout=10)

    def sign_up(name: str) -> dict[str, str]:
        made = api.post("/users", json={"user": {"username": name, "email": f"{name}@example.com", "password": "pw"}})
        assert made.status_code == 201, made.text
        return {"authorization": f"Token {made.json()['user']['token']}"}

    as_ada, as_bob, as_cy = sign_up("ada"), sign_up("bob"), sign_up("cy")
    for who, title in ((as_bob, "Bob One"), (as_cy, "Cy One"), (as_bob, "Bob Two")):
        assert api.post("/posts", headers=who, json={"post": {"title": title, "body": "b"}}).status_code == 201

    profile = api.get("/profiles/bob", headers=as_ada)
    assert valid(SPEC, profile)["profile"]["username"] == "bob" and profile.json()["profile"]["following"] is False
    assert api.get("/profiles/nobody").status_code == 404
    assert api.post("/profiles/nobody/follow", headers=as_ada).status_code == 404
    empty = valid(SPEC, api.get("/posts/feed", headers=as_ada))
    assert (empty["posts"], empty["postsCount"]) == ([], 0)

    followed = api.post("/profiles/bob/follow", headers=as_ada)
    assert valid(SPEC, followed)["profile"] == {"username": "bob", "bio": profile.json()["profile"]["bio"],
                                                "image": profile.json()["profile"]["image"], "following": True}
    assert api.post("/profiles/bob/follow", headers=as_ada).json()["profile"]["following"] is True  # idempotent
    assert api.get("/profiles/bob", headers=as_ada).json()["profile"]["following"] is True
    assert api.get("/profiles/bob", headers=as_cy).json()["profile"]["following"] is False  # per caller
    assert api.get("/profiles/bob").json()["profile"]["following"] is False  # nobody logged in

    feed = valid(SPEC, api.get("/posts/feed", headers=as_ada))
    assert [p["title"] for p in feed["posts"]] == ["Bob One", "Bob Two"] and feed["postsCount"] == 2
    assert all(p["author"]["following"] is True for p in feed["posts"])
    assert valid(SPEC, api.get("/posts/feed", headers=as_ada, params={"limit": 1, "offset": 1}))["posts"][0][
        "title"] == "Bob Two"
    assert valid(SPEC, api.get("/posts/feed", headers=as_cy))["postsCount"] == 0  # cy follows nobody
    # Every author profile is the author as the caller sees it now.
    seen = {p["title"]: p["author"]["following"] for p in api.get("/posts", headers=as_ada).json()["posts"]}
    assert seen == {"Bob One": True, "Cy One": False, "Bob Two": True}
    assert api.get("/posts/bob-one", headers=as_cy).json()["post"]["author"]["following"] is False

    # A rename changes nothing of who wrote what: the feed and the author follow the user.
    renamed = api.put("/user", headers=as_bob, json={"user": {"username": "robert", "bio": "Now Robert"}})
    assert renamed.status_code == 200 and renamed.json()["user"]["username"] == "robert"
    feed = valid(SPEC, api.get("/posts/feed", headers=as_ada))
    assert [p["author"] for p in feed["posts"]] == [{"username": "robert", "bio": "Now Robert",
                                                      "image": profile.json()["profile"]["image"],
                                                      "following": True}] * 2
    assert api.get("/profiles/bob").status_code == 404
    assert api.get("/profiles/robert", headers=as_ada).json()["profile"]["following"] is True
    assert api.put("/user", headers=as_bob, json={"user": {"username": "bob"}}).status_code == 200

    unfollowed = api.delete("/profiles/bob/follow", headers=as_ada)
    assert valid(SPEC, unfollowed)["profile"]["following"] is False
    assert api.get("/posts/feed", headers=as_ada).json()["postsCount"] == 0
    assert api.get("/posts/bob-one", headers=as_ada).json()["post"]["author"]["following"] is False
    assert api.get("/posts/feed").status_code == 401  # the feed needs a user's token

    printed = explain(SPEC)
    assert "GET /tags the distinct values of posts.tagList in tags" in printed
    assert "GET /posts list posts, filters tag->tagList, items in posts, total in postsCount" in printed
    assert "GET /profiles/{username} read a view of users (the user named by username)" in printed
    assert ("POST /profiles/{username}/follow toggle on users.follow (flag following, the user named by username)"
            in printed)
    assert "DELETE /profiles/{username}/follow toggle off users.follow" in printed
    assert "GET /posts/feed list posts by the authors the caller toggled users.follow on (a feed)" in printed


def test_quill_tags_are_the_tags_posts_use(stateful) -> None:  # type: ignore[no-untyped-def]
    """`GET /tags` answers the distinct tags of the stored posts' `tagList` (in order of first
    use, none before any post), and `?tag=` filters the posts on that array."""
    root, _ = stateful(SPEC)
    api = httpx.Client(base_url=root + "/api", timeout=10)
    made = api.post("/users", json={"user": {"username": "ada", "email": "ada@example.com", "password": "pw"}})
    as_ada = {"authorization": f"Token {made.json()['user']['token']}"}
    assert valid(SPEC, api.get("/tags")) == {"tags": []}
    for title, tags in (("Dragons", ["dragons", "training"]), ("Plain", []), ("Eggs", ["eggs", "dragons"])):
        made = api.post("/posts", headers=as_ada, json={"post": {"title": title, "body": "b", "tagList": tags}})
        assert made.status_code == 201 and made.json()["post"]["tagList"] == tags
    assert valid(SPEC, api.get("/tags")) == {"tags": ["dragons", "training", "eggs"]}
    tagged = valid(SPEC, api.get("/posts", params={"tag": "dragons"}))
    assert [p["title"] for p in tagged["posts"]] == ["Dragons", "Eggs"] and tagged["postsCount"] == 2
    assert valid(SPEC, api.get("/posts", params={"tag": "none"}))["postsCount"] == 0
