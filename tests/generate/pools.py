"""Draw the pools of realistic values the generator ships (operator/sandlot/mock/pools.json).

`python -m tests.generate.pools` writes the file; tests/generate/test_pools.py fails when it
differs from what Faker draws here, so a change of the kinds below, of the seed or of Faker's
word lists (images/sandlot/constraints.txt pins Faker) is a visible regeneration, not drift.
Faker is a test dependency only: a stub reads the file and never imports Faker (mock/formats.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

#: The file mock/formats.py reads (it is package data: pyproject.toml).
TARGET = Path(__file__).resolve().parents[2] / "operator" / "sandlot" / "mock" / "pools.json"
#: Values per kind.
POOL_SIZE = 200
#: The seed of every kind's pool is this plus the sum of its name's code points.
SEED = 20261126

#: What each pooled kind asks Faker for.
SOURCES: dict[str, Callable[[Any], str]] = {
    "first_name": lambda f: f.first_name(),
    "last_name": lambda f: f.last_name(),
    "name": lambda f: f.name(),
    "user_name": lambda f: f.user_name(),
    "city": lambda f: f.city(),
    "country": lambda f: f.country(),
    "country_code": lambda f: f.country_code(),
    "state": lambda f: f.state(),
    "postcode": lambda f: f.postcode(),
    "street_address": lambda f: f.street_address(),
    "company": lambda f: f.company(),
    "job": lambda f: f.job(),
    "title": lambda f: f.catch_phrase(),
    "sentence": lambda f: f.sentence(),
    "word": lambda f: f.word(),
    "currency_code": lambda f: f.currency_code(),
    "language_code": lambda f: f.language_code(),
    "locale": lambda f: f.locale().replace("_", "-"),
    "timezone": lambda f: f.timezone(),
    "color": lambda f: f.color_name(),
    "slug": lambda f: f.slug(),
    "file_name": lambda f: f.file_name(),
    "mime_type": lambda f: f.mime_type(),
    "iban": lambda f: f.iban(),
    "status": lambda f: f.random_element(("active", "pending", "inactive", "completed")),
}


def draw() -> dict[str, Any]:
    """Return the file's content: POOL_SIZE distinct values of each kind (fewer when Faker has
    fewer), each kind from one en_US Faker re-seeded with its own constant."""
    from faker import Factory

    fake = Factory.create("en_US")
    pools: dict[str, list[str]] = {}
    for kind, source in SOURCES.items():
        fake.seed_instance(SEED + sum(map(ord, kind)))
        seen: dict[str, None] = {}
        for _ in range(POOL_SIZE * 3):
            seen.setdefault(source(fake), None)
            if len(seen) >= POOL_SIZE:
                break
        pools[kind] = list(seen)
    return {"faker": version("faker"), "written_by": "python -m tests.generate.pools", "pools": pools}


def text() -> str:
    """Return the file's text as written (one kind per line, so a diff shows what changed)."""
    data = draw()
    lines = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in data["pools"].items())
    return (f'{{\n  "faker": {json.dumps(data["faker"])},\n  "written_by": {json.dumps(data["written_by"])},\n'
            f'  "pools": {{\n{lines}\n  }}\n}}\n')


if __name__ == "__main__":
    TARGET.write_text(text(), encoding="utf-8")
    print(f"wrote {TARGET}", file=sys.stderr)
