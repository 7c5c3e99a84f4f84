"""Benchmark harness for `make bench`: Sandlot's mock server against Stoplight Prism.

Run from the repository root as `python -m bench` (full run) or `python -m bench --quick`
(short durations, petstore only: checks that the harness itself works). It installs its own
peers and specs into `.cache/bench/`, starts one server at a time on 127.0.0.1, measures
throughput, latency, peak memory and start-up time, runs schemathesis against the live Sandlot
mock, prints a table and writes the same table to `bench/results/latest.md`.
How to read the figures: docs/performance.md. The harness's own checks: `pytest bench/tests`.

Modules, one idea each:
  config       paths, versions, durations and the scenarios to measure
  tools        installs and locates the peers, specs and load generator
  specinfo     reads what the harness needs from an OpenAPI document (base path, probe paths, auth)
  processes    starts and stops server process groups; measures their tree's memory
  servers      the command lines for Sandlot and Prism
  probing      waits for the first answer and finds the URL prefix a server routes under
  load         runs wrk (or the Python fallback in pyload) and parses its output
  pyload       a bounded asyncio keep-alive load generator used when wrk is missing
  conformance  runs schemathesis against the live mock and summarises its JSON report
  results      the records a run produces
  targets      judges the measurements against the issue's targets (pure)
  report       renders the tables as text and Markdown (pure)
  runner       runs every measurement in order and collects the results
"""
