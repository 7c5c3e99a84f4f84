"""The request's seeded generator (mock/seeded.py): deterministic, uniform enough, a full `random.Random`."""

from __future__ import annotations

import collections
import random

import pytest

from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest
from sandlot.mock.seeded import SeededRandom
from tests.mock.conftest import shared_spec


def draws(rng: random.Random) -> list[object]:
    return [rng.randint(1, 6), rng.choice("abcdef"), rng.random(), rng.getrandbits(70), rng.randrange(10, 20, 3),
            rng.uniform(1.5, 2.5), rng.sample(range(100), 3), rng.choices("xyz", k=4)]


def test_the_same_seed_gives_the_same_draws_and_another_seed_others():
    assert draws(SeededRandom(b"GET /pets/1")) == draws(SeededRandom(b"GET /pets/1"))
    assert draws(SeededRandom(b"GET /pets/1")) != draws(SeededRandom(b"GET /pets/2"))
    assert draws(SeededRandom(7)) == draws(SeededRandom("7"))  # non-bytes seeds by their text


def test_draws_stay_in_range_past_the_first_pool_of_bits():
    rng = SeededRandom(b"long")
    values = [rng.randint(-3, 3) for _ in range(2000)] + [rng.randrange(5) for _ in range(2000)]
    assert set(values[:2000]) == set(range(-3, 4)) and set(values[2000:]) == set(range(5))
    big = [rng.getrandbits(200) for _ in range(50)]  # more bits than one 512-bit pool holds, many times
    assert all(0 <= b < 2**200 for b in big) and max(big).bit_length() > 190
    assert all(0.0 <= rng.random() < 1.0 for _ in range(1000))
    assert rng.getrandbits(0) == 0
    with pytest.raises(ValueError):
        rng.getrandbits(-1)


def test_draws_are_about_uniform():
    counts = collections.Counter(SeededRandom(i.to_bytes(4, "big")).randint(1, 6) for i in range(30000))
    assert set(counts) == set(range(1, 7))
    assert all(4500 < n < 5500 for n in counts.values()), counts  # expected 5,000 each; 5 sigma is ~320
    mean = sum(SeededRandom(i.to_bytes(4, "big")).random() for i in range(20000)) / 20000
    assert abs(mean - 0.5) < 0.01


def test_state_round_trips_and_shuffle_works():
    rng = SeededRandom(b"state")
    rng.getrandbits(500)
    saved = rng.getstate()
    first = draws(rng)
    rng.setstate(saved)
    assert draws(rng) == first
    items = list(range(20))
    SeededRandom(b"shuffle").shuffle(items)
    assert sorted(items) == list(range(20)) and items != list(range(20))


def test_engine_answers_are_deterministic_and_differ_per_request():
    spec = shared_spec("oai/petstore.yaml")
    one, two = Engine.from_source(str(spec)), Engine.from_source(str(spec))
    ask = lambda engine, path: engine.handle(MockRequest("GET", path, "", {}, b"")).body  # noqa: E731
    assert ask(one, "/pets/5") == ask(two, "/pets/5") == ask(two, "/v1/pets/5")  # base path dropped
    assert len({ask(one, f"/pets/{n}") for n in range(20)}) == 20
    assert ask(Engine.from_source(str(spec), seed=1), "/pets/5") != ask(one, "/pets/5")
    assert isinstance(one.rng(MockRequest("GET", "/pets/5", "", {}, b"")), SeededRandom)
