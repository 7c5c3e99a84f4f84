"""Shared by the drift tests: the spec the proxy serves, a test credential, and the real API
behind it (tests/drift/upstream.py), started for one test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .upstream import PetsApi

PETS = Path(__file__).parent / "fixtures" / "pets.yaml"
AUTH = {"authorization": "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc"}


@pytest.fixture
def api() -> Iterator[PetsApi]:
    with PetsApi() as server:
        yield server
