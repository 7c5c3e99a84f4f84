"""Parse and check seed fixtures: a YAML or JSON mapping of collection -> list of objects.

Called by the state stage (state/stage.py) (to register the seed every new tenant starts from) and by
`sandlot up` (fixtures from a ConfigMap, a file or S3, read by sandlot.util.sources). Pure:
text in, checked fixtures out, or a `FixtureError` naming the collection, the index and the fix.

Relations are plain ids: a charge's `customer: cus_seed_ada` must name a seeded customer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

Fixtures = dict[str, list[dict[str, Any]]]


class NamedFixtures(dict):  # type: ignore[type-arg]
    """Fixtures that remember the file (or ConfigMap) they came from, for error messages."""

    source: str = "<fixtures>"


def fixtures_source(fixtures: Fixtures) -> str:
    """Return where fixtures came from (as parse_fixtures was told), or `<fixtures>`."""
    return getattr(fixtures, "source", "<fixtures>")


class FixtureError(ValueError):
    """Fixtures that cannot be loaded; the message says where and how to fix it."""


def parse_fixtures(text: str | bytes, source: str = "<fixtures>") -> Fixtures:
    """Parse fixtures text (YAML, which includes JSON) and check its shape."""
    try:
        data = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as exc:
        raise FixtureError(f"{source}: not valid YAML or JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FixtureError(
            f"{source}: fixtures must be a mapping of collection name to a list of objects, "
            f"e.g. `customers: [{{id: cus_1, email: a@example.com}}]`; got {type(data).__name__}")
    fixtures = NamedFixtures()
    fixtures.source = source
    for collection, items in data.items():
        if items is None:
            items = []
        if not isinstance(items, list):
            raise FixtureError(f"{source}: {collection}: expected a list of objects, "
                               f"got {type(items).__name__}")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise FixtureError(f"{source}: {collection}[{i}]: expected an object, "
                                   f"got {type(item).__name__}")
        # Round-trip through JSON so YAML dates and the like become what an API would send.
        fixtures[str(collection)] = json.loads(json.dumps(items, default=str))
    return fixtures


def check_fixtures(fixtures: Fixtures, id_fields: Mapping[str, str],
                   relation_fields: Mapping[str, Mapping[str, str]] | None = None,
                   source: str = "<fixtures>") -> None:
    """Check fixtures against the inferred collections: known names, ids present and unique,
    and relations (child field -> parent collection) pointing at seeded objects."""
    for collection, items in fixtures.items():
        if collection not in id_fields:
            known = ", ".join(sorted(id_fields)) or "none"
            raise FixtureError(f"{source}: collection {collection!r} is not one the spec defines "
                               f"(known collections: {known}); rename it or remove it")
        id_field = id_fields[collection]
        seen: set[str] = set()
        for i, item in enumerate(items):
            if id_field not in item:
                raise FixtureError(f"{source}: {collection}[{i}] has no {id_field!r}; every seeded "
                                   f"object needs its id so others can refer to it")
            key = str(item[id_field])
            if key in seen:
                raise FixtureError(f"{source}: {collection}[{i}]: id {key!r} is used twice")
            seen.add(key)
    ids = {c: {str(o[id_fields[c]]) for o in items} for c, items in fixtures.items()}
    for collection, relations in (relation_fields or {}).items():
        for i, item in enumerate(fixtures.get(collection, ())):
            for field_name, parent in relations.items():
                value = item.get(field_name)
                if isinstance(value, (str, int)) and str(value) not in ids.get(parent, ()):
                    # A parent collection absent from the fixtures seeds nothing to point at.
                    raise FixtureError(
                        f"{source}: at /{collection}/{i}/{field_name}: {value!r} names no seeded "
                        f"{parent} object; add it under `{parent}:` or fix the id")
