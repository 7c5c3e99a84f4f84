"""Fast checks of the benchmark harness's pure parts (run: `.venv/bin/python -m pytest bench/tests`).

Kept out of the project suite on purpose (pytest's testpaths is tests/): they check the harness,
not Sandlot, and never run a benchmark.
"""
