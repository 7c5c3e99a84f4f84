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
