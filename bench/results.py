"""The records one benchmark run produces, shared by the runner, the targets and the report."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.conformance import ConformanceResult
from bench.load import LoadResult


@dataclass(frozen=True)
class LoadFigures:
    """One server under one load scenario: what was measured, or why nothing was."""

    load: LoadResult | None = None
    peak_rss_mib: float | None = None
    path: str = ""          # the URL path the load was sent to
    body_bytes: int | None = None  # size of one response body: servers must do comparable work
    problem: str = ""
    cpu_us_per_request: float | None = None  # the server's CPU time per request served, measured run


@dataclass(frozen=True)
class ThroughputRow:
    """A load scenario measured on each server (keys: server names)."""

    name: str
    kind: str               # "examples", "dynamic" or "stateful"
    figures: dict[str, LoadFigures]


@dataclass(frozen=True)
class StartupFigures:
    """Seconds from process start to the first answer, or why there was none."""

    seconds: float | None = None
    peak_rss_mib: float | None = None
    problem: str = ""


@dataclass(frozen=True)
class StartupRow:
    """Start-up on one spec for each server (keys: server names)."""

    spec: str
    cap_s: float
    figures: dict[str, StartupFigures]


@dataclass
class RunResults:
    """Everything one `python -m bench` run measured."""

    load_settings: str = ""
    throughput: list[ThroughputRow] = field(default_factory=list)
    stateful: list[ThroughputRow] = field(default_factory=list)
    journal: list[ThroughputRow] = field(default_factory=list)
    startup: list[StartupRow] = field(default_factory=list)
    conformance: list[ConformanceResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
