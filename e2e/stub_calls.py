"""The HTTP calls that prove a quickstart sandbox's pet-store stub works, shared by e2e and tests.

e2e/test_install.py makes them through a port-forward to the stub in a real cluster;
tests/chart/test_quickstart_stub.py makes them against `sandlot mock` started locally with the
arguments the operator gives the stub container, so the expectations are checked on every
`make test` even where no cluster exists.
"""

from __future__ import annotations

import httpx


def exercise_petstore_stub(base_url: str, headers: dict[str, str] | None = None) -> None:
    """List, create and read back a pet; fail with the response when the stub misbehaves."""
    with httpx.Client(base_url=base_url, headers=headers or {}, timeout=20) as http:
        listed = http.get("/pets")
        assert listed.status_code == 200, f"GET /pets: {listed.status_code} {listed.text}"
        assert isinstance(listed.json(), list)
        created = http.post("/pets", json={"name": "Rex", "tag": "dog"})
        assert created.status_code == 201, f"POST /pets: {created.status_code} {created.text}"
        pet_id = created.json()["id"]
        fetched = http.get(f"/pets/{pet_id}")
        assert fetched.status_code == 200, f"GET /pets/{pet_id}: {fetched.status_code} {fetched.text}"
        assert fetched.json() == {"id": pet_id, "name": "Rex", "tag": "dog"}
        assert pet_id in [p["id"] for p in http.get("/pets").json()], "the created pet is not listed"
