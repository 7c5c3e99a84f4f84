"""The shipped pools (operator/sandlot/mock/pools.json) are what Faker draws, and a stub reads
them without importing Faker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sandlot.mock import formats
from tests.generate import pools


def test_the_shipped_pools_are_what_faker_draws() -> None:
    assert pools.TARGET == Path(formats.__file__).parent / formats.POOLS_FILE  # the file the stub reads
    assert pools.TARGET.read_text(encoding="utf-8") == pools.text(), (
        "operator/sandlot/mock/pools.json differs from Faker's draw: run `python -m tests.generate.pools` "
        "and commit the file")


def test_every_kind_has_a_full_pool_of_distinct_values() -> None:
    assert formats.pool_kinds() == tuple(pools.SOURCES)
    for kind in formats.pool_kinds():
        values = formats.pool(kind)
        assert len(set(values)) == len(values) and all(isinstance(v, str) and v for v in values), kind
        # A kind with fewer values than POOL_SIZE (50 states, 4 statuses) holds every one Faker has.
        assert 4 <= len(values) <= pools.POOL_SIZE, kind
    assert len(formats.pool("first_name")) == len(formats.pool("word")) == pools.POOL_SIZE


def test_generating_realistic_values_never_imports_faker() -> None:
    code = ("import sys, random\n"
            "from sandlot.mock import formats\n"
            "rng = random.Random(1)\n"
            "values = [formats.FORMAT_GENERATORS[f](rng) for f in ('email', 'currency', 'timezone')]\n"
            "values += [formats.pool(k)[0] for k in formats.pool_kinds()]\n"
            "assert all(values)\n"
            "print('faker' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
