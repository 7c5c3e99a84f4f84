"""Fixtures are refused at start, naming the fixtures file and the object's pointer, when a
relation names a parent that is not seeded (even with no section for the parent) or an
object does not match its collection's schema."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandlot.state.fixtures import FixtureError, parse_fixtures

from .conftest import ADMIN_TOKEN
from .servers import SANDLOT, free_port

GHOST = "charges:\n  - {id: ch_1, amount: 100, currency: usd, customer: cus_ghost}\n"
WRONG_TYPE = "customers:\n  - {id: c1, email: 12}\n"


def test_a_relation_to_an_unseeded_collection_is_refused(make_handler) -> None:
    with pytest.raises(FixtureError, match=r"^seed\.yaml: at /charges/0/customer: 'cus_ghost'"):
        make_handler(fixtures=parse_fixtures(GHOST, "seed.yaml"))


def test_an_object_invalid_against_its_schema_is_refused(make_handler) -> None:
    with pytest.raises(FixtureError, match=r"^seed\.yaml: at /customers/0/email: 12 is not"):
        make_handler(fixtures=parse_fixtures(WRONG_TYPE, "seed.yaml"))


@pytest.mark.parametrize("text, pointer", [(GHOST, "/charges/0/customer"),
                                           (WRONG_TYPE, "/customers/0/email")])
def test_mock_stateful_names_the_fixtures_file(payments_spec_path: Path, tmp_path: Path,
                                               text: str, pointer: str) -> None:
    fixtures = tmp_path / "bad-seed.yaml"
    fixtures.write_text(text)
    done = subprocess.run([*SANDLOT, "mock", str(payments_spec_path), "--stateful", "--db",
                           str(tmp_path / "s.db"), "--fixtures", str(fixtures), "--port", str(free_port()),
                           "--admin-token", ADMIN_TOKEN, "--no-watch"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {fixtures}: at {pointer}:"), done.stderr
    assert "Traceback" not in done.stderr
