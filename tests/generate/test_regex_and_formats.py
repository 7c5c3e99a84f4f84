"""Unit tests of sandlot.mock.regex_gen and sandlot.mock.formats."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandlot.mock import formats
from sandlot.mock.regex_gen import PatternError, generate_matching, generation_form
from sandlot.openapi import patterns

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "pattern",
    [r"^AC[0-9a-fA-F]{32}$", r"^(SM|MM)[0-9a-f]{32}$", r"[a-z]+@[a-z]+\.com", r"^[^0-9]{3,5}$",
     r"^\+[1-9]\d{1,14}$", r"(ab)\1", r"^\D\S\w\W$", r"^[^\W\d_]{4}$", r"^(?=.*\d)[a-z\d]{8}$"],
)
def test_generated_strings_match(pattern):
    rng = random.Random(1)
    for _ in range(20):
        text = generate_matching(pattern, rng)
        assert text is not None and re.search(pattern, text)


def test_ecma_spellings_are_translated():
    assert patterns.translate(r"(?<year>\d{4})-\k<year>") == r"(?<year>\d{4})-(?P=year)"
    assert patterns.translate(r"\u{1F600}[^]\cJ") == r"\U0001f600[\s\S]\x0a"
    assert generation_form(r"(?<year>\d{4})-\k<year>") == r"(?P<year>\d{4})-(?P=year)"
    assert generation_form(r"^\p{L}+[\p{Lu}\s'-]*$") == r"^[A-Za-z]+[A-Z\s'-]*$"
    text = generate_matching(r"^(?<y>\d{2})/\k<y>$", random.Random(2))
    assert re.fullmatch(r"(\d{2})/\1", text)
    assert re.fullmatch(r"[A-Za-z]+", generate_matching(r"^\p{L}+$", random.Random(2)))


def test_length_bounds_are_met_or_none():
    rng = random.Random(3)
    text = generate_matching(r"[a-z]+", rng, min_length=30, max_length=35)
    assert 30 <= len(text) <= 35
    # anchored and fixed length: a longer string cannot match
    assert generate_matching(r"^[a-z]{4}$", rng, min_length=10) is None


def test_unparseable_pattern_raises_a_named_error():
    with pytest.raises(PatternError, match=r"\(unclosed"):
        generate_matching("(unclosed", random.Random(1))


@pytest.mark.parametrize("pattern", [r"^[\p{L}]+(?:[ '-][\p{L}]+)*$", r"^\p{Lu}\p{Ll}{2,8}$", r"^[\p{L}\p{N}_]{3,12}$",
                                     r"^\P{N}{4}$", r"^\u{1F600}?[a-z]{2}$"])
def test_unicode_property_escapes_are_generated_and_checked_as_ecma(pattern):
    # OpenAPI patterns are ECMA-262: `\p{L}` is valid there and in the `regex` package, not in `re`.
    rng = random.Random(5)
    for _ in range(20):
        text = generate_matching(pattern, rng)
        assert text is not None and patterns.search(pattern, text), (pattern, text)
    assert patterns.search(r"^[\p{L}]+$", "Zoë") and not patterns.search(r"^[\p{L}]+$", "Zoë1")


def test_patterns_that_do_not_compile_are_found_with_their_pointer():
    document = {"components": {"schemas": {
        "Name": {"type": "string", "pattern": "^[\\p{L}]+$"},
        "Bad": {"type": "object", "properties": {"pattern": {"type": "string", "pattern": "[a-"}},
                "patternProperties": {"(x": {"type": "string"}}},
        "Data": {"type": "object", "example": {"pattern": "(not a schema"}}}}}
    found = sorted(patterns.find_pattern_problems(document))
    assert [pointer for pointer, _ in found] == [
        "/components/schemas/Bad/patternProperties/(x", "/components/schemas/Bad/properties/pattern/pattern"]
    assert "'[a-' is not an ECMA-262 regular expression" in found[1][1]
    assert patterns.search("[a-", "anything")  # it constrains nothing while serving (reported at load)


def test_generation_does_not_depend_on_hash_seed():
    # Negated classes are expanded from sets; two interpreters with different hash seeds must agree.
    code = (
        "import random;from sandlot.mock.regex_gen import generate_matching as g;"
        "from sandlot.mock.generate import Generator;"
        "print(g(r'^[^a-c]{20}$', random.Random(4)));"
        "print(Generator({}, openapi_version='3.0.3').build({'type':'object','properties':{'n':{'type':'string'},"
        "'e':{'type':'string','format':'email'}}}, random.Random(4)))"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO)
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_name_hints():
    assert formats.string_kind_for_name("email") == "email"
    assert formats.string_kind_for_name("billingEmail") == "email"
    assert formats.string_kind_for_name("created_at") == "date-time"
    assert formats.string_kind_for_name("firstName") == "first_name"
    assert formats.string_kind_for_name("avatar_url") == "url"
    assert formats.string_kind_for_name("user_id") == "uuid"
    assert formats.string_kind_for_name("format") is None  # no accidental "...at" match
    assert formats.number_range_for_name("age") == (18, 90)
    assert formats.number_range_for_name("customerId") == (1, 100000)
    assert formats.number_range_for_name("flavour") is None
    assert formats.is_money_name("unit_price") and not formats.is_money_name("page")


def test_pools_are_realistic_and_fixed():
    names = formats.pool("first_name")
    assert len(names) == 200 and len(set(names)) == len(names)
    assert all(name[:1].isupper() for name in names)
    assert formats.pool("first_name") is names


def test_format_generators_cover_both_date_styles():
    rng = random.Random(9)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", formats.date_time(rng))
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000", formats.rfc2822(rng))
    assert formats.byte(rng, 0, 3) == ""  # base64 lengths are multiples of 4: only empty fits
    assert len(formats.byte(rng, 0, 8)) <= 8


def test_the_text_search_finds_every_pattern_the_walk_does():
    """find_pattern_problems first searches the document's JSON text for `"pattern":`; that must see
    every pattern of the schemas (a superset: example data too), on real specs and odd spellings."""
    from sandlot.openapi.loader import load_spec
    from tests.mock.conftest import shared_spec

    for relative in ("twilio/twilio_api_v2010.json", "oai/petstore.yaml", "oai/api-with-examples.yaml",
                     "oai/uspto.yaml"):
        document = load_spec(str(shared_spec(relative))).document
        walked = {pattern for _, pattern, is_key in patterns.iter_patterns(document) if not is_key}
        found = patterns._strings_after_pattern_keys(document)
        assert found is not None and walked <= found, relative
    twilio = load_spec(str(shared_spec("twilio/twilio_api_v2010.json"))).document
    assert len({p for _, p, _ in patterns.iter_patterns(twilio)}) > 30  # the comparison above saw many
    # DigitalOcean's examples hold an integer beyond 64 bits, which orjson does not write: the walk does it all.
    digitalocean = load_spec(str(shared_spec("digitalocean/specification/DigitalOcean-public.v2.yaml"))).document
    assert patterns._strings_after_pattern_keys(digitalocean) is None
    assert list(patterns.find_pattern_problems(digitalocean)) == []
    odd = {"a": {"type": "string", "pattern": 'say "hi"\\d+ é'}, 200: {"pattern": "^x$"},
           "b": {"description": 'not a key: "pattern":"(" in text'}}
    assert patterns._strings_after_pattern_keys(odd) == {'say "hi"\\d+ é', "^x$"}  # YAML's int keys too
    assert patterns._strings_after_pattern_keys({"x": {"patternProperties": {"^a": {}}}}) is None  # keys: walk
    assert patterns._strings_after_pattern_keys({"x": {"default": 2**70, "pattern": "("}}) is None


def test_pattern_problems_are_the_walks_whichever_way_they_are_found():
    good = {"components": {"schemas": {"A": {"type": "string", "pattern": "^[a-z]+$"},
                                       "B": {"type": "object", "example": {"pattern": "(data, not a schema"}}}}}
    assert list(patterns.find_pattern_problems(good)) == []  # the example's "pattern" is data: still none
    bad = {"components": {"schemas": {"A": {"type": "string", "pattern": "[a-"},
                                      "B": {"type": "object", "example": {"pattern": "(data"}}}}}
    assert [pointer for pointer, _ in patterns.find_pattern_problems(bad)] == ["/components/schemas/A/pattern"]
    fresh = "^fresh-[0-9]{3}$"
    assert list(patterns.find_pattern_problems({"x": {"type": "string", "pattern": fresh}})) == []
    hits = patterns._compile.cache_info().hits
    assert patterns.compiled(fresh) is not None and patterns._compile.cache_info().hits == hits + 1  # compiled at load
