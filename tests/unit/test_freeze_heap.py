"""freeze_heap (http/reload.py): what a server does to the cyclic collector once its specs are loaded.

Run in a child interpreter: freezing the heap and moving the thresholds would change the test
process for every test after this one.
"""

from __future__ import annotations

import json
import subprocess
import sys

from sandlot.http.reload import GC_YOUNG_THRESHOLD

PROBE = """
import gc, json, sys
if sys.argv[1] == "off":
    gc.set_threshold(0)
elif sys.argv[1] == "high":
    gc.set_threshold(50_000, 7, 8)
loaded = [[i] for i in range(1000)]  # a spec's objects, alive when the server starts
from sandlot.http.reload import freeze_heap
freeze_heap()
print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(),
                  "tracked": sum(1 for o in gc.get_objects() if o is loaded)}))
"""


def probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_the_heap_is_frozen_and_the_young_generation_collected_less_often():
    seen = probe("default")
    assert seen["frozen"] > 1000  # the loaded objects are out of the collector's reach
    assert seen["tracked"] == 0
    young, middle, old = seen["threshold"]
    assert young == GC_YOUNG_THRESHOLD > 700
    assert (middle, old) == (10, 10)  # CPython's own for the older generations


def test_a_collector_turned_off_or_set_higher_is_left_so():
    assert probe("off")["threshold"][0] == 0
    assert probe("high")["threshold"] == [50_000, 7, 8]
