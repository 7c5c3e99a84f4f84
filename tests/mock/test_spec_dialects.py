"""Specs as real APIs write them, over real HTTP on 127.0.0.1 (issue 16's mock-core half):
ECMA-262 patterns (`\\p{L}`), response codes YAML made integers, one path shape whose parameters
each operation names differently, and `--lenient` for what server frameworks coerce."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from sandlot.openapi import patterns
from tests.mock.conftest import FIXTURES

PEOPLE = FIXTURES / "people.yaml"  # response codes written `201:`, `400:` (YAML integers)


def _sandlot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandlot.cli", "mock", *args], capture_output=True, text=True,
                          timeout=120)


def test_unicode_property_patterns_validate_and_generate_without_a_500(serve, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    server = serve(PEOPLE)
    made = client.post(server.url + "/people", json={"name": "Zoë Ångström-Ådahl", "age": 41})
    assert made.status_code == 201, made.text
    for i in range(1, 8):  # generated values match the ECMA patterns they are generated for
        person = client.get(f"{server.url}/people/{i}").json()
        assert patterns.search(r"^[\p{L}]+(?:[ '-][\p{L}]+)*$", person["name"]), person
        assert patterns.search(r"^\p{Lu}{2}-\p{N}{4}$", person["code"]), person
    refused = client.post(server.url + "/people", json={"name": "R2D2", "age": 41})
    # The spec documents 400 for a bad body (and no 422), with integer keys: its 400 is the answer.
    assert refused.status_code == 400, refused.text
    assert refused.json()["message"]
    assert "does not match" in refused.headers["x-sandlot-errors"]


def test_parameters_are_named_by_the_template_of_the_operation_that_matched(serve, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    # GitHub: DELETE /orgs/{org}/attestations/{attestation_id}, GET /orgs/{org}/attestations/{subject_digest}
    server = serve(PEOPLE)
    got = client.get(server.url + "/orgs/acme/attestations/sha256:abc")
    assert got.status_code == 200, got.text
    assert client.delete(server.url + "/orgs/acme/attestations/12").status_code == 204
    refused = client.delete(server.url + "/orgs/acme/attestations/sha256:abc")  # attestation_id is an integer
    assert refused.status_code == 400 and "/attestation_id" in refused.text


def test_strict_by_default_and_lenient_on_request(serve, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "Ada", "age": "36", "member": "true", "tags": "admin"}
    strict = serve(PEOPLE)
    refused = client.post(strict.url + "/people", json=body)
    assert refused.status_code == 400 and "sandlot-warning" not in refused.headers
    lenient = serve(PEOPLE, lenient=True)
    taken = client.post(lenient.url + "/people", json=body)
    assert taken.status_code == 201, taken.text
    assert taken.headers.get_list("sandlot-warning") == [
        'lenient: body /age: "36" taken as 36', 'lenient: body /member: "true" taken as true',
        'lenient: body /tags: "admin" taken as ["admin"]']
    listed = client.get(lenient.url + "/people", params={"active": "1", "ids": "7"})
    assert listed.status_code == 200
    assert listed.headers.get_list("sandlot-warning") == ["lenient: query parameter active: '1' taken as true"]
    # What no framework coerces is still refused.
    assert client.post(lenient.url + "/people", json={"name": "Ada", "age": "thirty"}).status_code == 400


def test_a_pattern_that_cannot_compile_is_reported_with_file_and_pointer(tmp_path: Path, serve,  # type: ignore[no-untyped-def]
                                                                         client: httpx.Client) -> None:
    spec = tmp_path / "broken-pattern.yaml"
    spec.write_text(PEOPLE.read_text().replace("^\\\\p{Lu}{2}-\\\\p{N}{4}$", "^[A-Z{2}-(\\\\d{4}$"))
    checked = _sandlot("--check", str(spec))
    assert checked.returncode == 2
    assert "broken-pattern.yaml: at /components/schemas/Person/allOf/1/properties/code/pattern:" in checked.stderr
    assert "is not an ECMA-262 regular expression" in checked.stderr
    server = serve(spec)  # serving starts (the log names it) and never answers 500 for it
    for i in range(1, 4):
        assert client.get(f"{server.url}/people/{i}").status_code == 200
