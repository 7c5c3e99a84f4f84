"""Runs every measurement of `python -m bench` in order, one server at a time.

Called by `bench.__main__`. Each measurement starts its server, waits for the first answer on a
documented path, measures, and stops the server's whole process group before the next one
starts, so the two servers never compete for the CPU. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

from bench import specinfo
from bench.config import (
    CACHE_DIR,
    JOURNAL_ROUNDS,
    JOURNAL_SCENARIOS,
    LOOPBACK,
    PETSTORE_SPEC,
    THROUGHPUT,
    THROUGHPUT_ROUNDS,
    Budget,
    StartupScenario,
    ThroughputScenario,
    conformance_specs,
    startup_scenarios,
)
from bench.conformance import PHASES_FULL, PHASES_LARGE, ConformanceResult, run_schemathesis
from bench.load import DISTINCT, run_load
from bench.probing import candidate_paths, find_ok_path, get, wait_for_answer
from bench.processes import ServerProcess
from bench.results import LoadFigures, RunResults, StartupFigures, StartupRow, ThroughputRow
from bench.servers import PRISM, SANDLOT, prism_argv, sandlot_argv, sandlot_mock_help, sandlot_supports
from bench.tools import Toolbox, bundle_spec

RUN_DIR = CACHE_DIR / "run"      # servers' working directory and logs: nothing lands in the repo
STATEFUL_PETS = 20               # objects created before the stateful list is measured

Log = Callable[[str], None]
Command = Callable[[int], list[str]]  # port -> the server's command line


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _server(name: str, argv: list[str], label: str) -> ServerProcess:
    log_path = RUN_DIR / "logs" / f"{time.strftime('%H%M%S')}-{name}-{label}.log"
    return ServerProcess(argv, log_path, cwd=RUN_DIR)


class Runner:
    """Holds the run's budget, tools and logger; each method measures one thing."""

    def __init__(self, budget: Budget, toolbox: Toolbox, log: Log):
        self.budget = budget
        self.toolbox = toolbox
        self.log = log
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        for old_log in (RUN_DIR / "logs").glob("*.log"):  # keep only this run's server logs
            old_log.unlink()
        self._documents: dict[Path, dict] = {}

    def document(self, spec: Path) -> dict:
        """Parse a spec once per run."""
        if spec not in self._documents:
            self._documents[spec] = specinfo.load_document(spec)
        return self._documents[spec]

    # -- load ---------------------------------------------------------------------------------

    def load_test(self, name: str, command: Command, spec: Path, path: str, headers: dict[str, str],
                  prepare: Callable[[int, str], str] | None = None) -> LoadFigures:
        """Start one server, warm it up, load one path, and return what was measured."""
        port = free_port()
        argv = command(port)
        base = specinfo.base_path(self.document(spec))
        templates = candidate_paths(base, path)
        paths = [t.replace(DISTINCT, "1") for t in templates]
        with _server(name, argv, spec.stem) as server:
            ready_s, _, problem = wait_for_answer(server, port, paths, self.budget.ready_timeout_s, headers)
            if ready_s is None:
                return LoadFigures(peak_rss_mib=server.peak_rss_mib(), problem=problem)
            if prepare:
                problem = prepare(port, paths[0])
                if problem:
                    return LoadFigures(problem=problem)
            ok, problem = find_ok_path(port, paths, headers)
            if ok is None:
                return LoadFigures(peak_rss_mib=server.peak_rss_mib(), problem=problem)
            ok_path, size = templates[paths.index(ok.path)], len(ok.body)
            url = f"http://{LOOPBACK}:{port}{ok_path}"
            b = self.budget
            self.log(f"  {name}: {url} {headers or ''} warm-up {b.warmup_s:g} s, measure {b.duration_s:g} s")
            try:
                if b.warmup_s:
                    run_load(self.toolbox.wrk, url, headers, b.wrk_threads, b.wrk_connections, b.warmup_s)
                cpu_before = server.cpu_seconds()
                result = run_load(self.toolbox.wrk, url, headers, b.wrk_threads, b.wrk_connections, b.duration_s)
                cpu = server.cpu_seconds() - cpu_before
            except (RuntimeError, ValueError, OSError) as exc:
                return LoadFigures(peak_rss_mib=server.peak_rss_mib(), path=ok_path, body_bytes=size,
                                   problem=str(exc))
            if not server.alive:
                return LoadFigures(problem=f"server died under load: {server.log_tail()}")
            return LoadFigures(load=result, peak_rss_mib=server.peak_rss_mib(), path=ok_path, body_bytes=size,
                               cpu_us_per_request=cpu / result.requests * 1e6 if result.requests else None)

    def throughput(self, scenario: ThroughputScenario) -> ThroughputRow:
        """Measure one scenario on Sandlot and on Prism, alternately, THROUGHPUT_ROUNDS times each
        (each run a fresh server); keep each side's fastest run. On a shared machine one run of a
        side can land in a busy minute (the same code moved 2x between runs); the best of a few,
        taken the same way for both, is what each can do."""
        self.log(f"throughput: {scenario.name}")
        runs: dict[str, list[LoadFigures]] = {SANDLOT: [], PRISM: []}
        for _ in range(1 if self.budget.quick else THROUGHPUT_ROUNDS):
            runs[SANDLOT].append(self.load_test(
                SANDLOT, lambda port: sandlot_argv(scenario.spec, port), scenario.spec, scenario.path,
                scenario.sandlot_headers))
            if self.toolbox.prism_ok:
                runs[PRISM].append(self.load_test(
                    PRISM, lambda port: prism_argv(scenario.spec, port, scenario.prism_flags), scenario.spec,
                    scenario.path, {}))
        unavailable = LoadFigures(problem="Prism unavailable (see notes)")
        figures = {SANDLOT: _fastest(runs[SANDLOT]), PRISM: _fastest(runs[PRISM]) if runs[PRISM] else unavailable}
        return ThroughputRow(scenario.name, scenario.kind, figures)

    def stateful(self) -> tuple[list[ThroughputRow], str]:
        """Compare `GET /pets` on `--stateful` and stateless Sandlot; return rows or why skipped."""
        if not sandlot_supports("--stateful"):
            return [], "stateful row skipped: `sandlot mock --stateful` does not exist yet"
        self.log("stateful vs stateless: GET /pets")

        def create_pets(port: int, path: str) -> str:
            return _create_pets(port, path, STATEFUL_PETS)

        extra = ("--stateful",)
        if sandlot_supports("--db"):
            # A fresh store each run: the default file survives restarts and would grow run by run.
            db = RUN_DIR / "stateful-bench.db"
            for leftover in RUN_DIR.glob("stateful-bench.db*"):
                leftover.unlink()
            extra += ("--db", str(db))
        figures = {
            "stateful": self.load_test(SANDLOT, lambda port: sandlot_argv(PETSTORE_SPEC, port, extra),
                                       PETSTORE_SPEC, "/pets", {}, prepare=create_pets),
            "stateless": self.load_test(SANDLOT, lambda port: sandlot_argv(PETSTORE_SPEC, port), PETSTORE_SPEC,
                                        "/pets", {}),
        }
        note = f"stateful: GET /pets after creating {STATEFUL_PETS} pets with POST (petstore, no credentials)"
        return [ThroughputRow("GET /pets", "stateful", figures)], note

    def journal(self) -> tuple[list[ThroughputRow], str]:
        """Measure the stateless mock with its request journal on (the default) and off
        (`--no-journal`), alternately, JOURNAL_ROUNDS times each; keep each side's best run
        (by the server's CPU time per request: on a shared machine req/s move with the load of
        others far more than with the journal)."""
        if not sandlot_supports("--no-journal"):
            return [], "journal rows skipped: `sandlot mock --no-journal` does not exist yet"
        rows = []
        for name, path in JOURNAL_SCENARIOS:
            self.log(f"journal on vs off: {name}")
            runs: dict[str, list[LoadFigures]] = {"journal on": [], "journal off": []}
            for _ in range(1 if self.budget.quick else JOURNAL_ROUNDS):
                for label, extra in (("journal on", ()), ("journal off", ("--no-journal",))):
                    runs[label].append(self.load_test(
                        SANDLOT, lambda port, extra=extra: sandlot_argv(PETSTORE_SPEC, port, extra),
                        PETSTORE_SPEC, path, {}))
            rows.append(ThroughputRow(name, "journal", {label: _leanest(figs) for label, figs in runs.items()}))
        rounds = 1 if self.budget.quick else JOURNAL_ROUNDS
        note = (f"journal: the stateless mock with its request journal (in memory, the default) and with "
                f"--no-journal, alternately, {rounds} run(s) each; each side's run with the least server CPU "
                "per request is shown; the target is judged on requests per server CPU-second")
        return rows, note

    # -- start-up -----------------------------------------------------------------------------

    def startup_once(self, name: str, command: Command, spec: Path) -> StartupFigures:
        """Time one server from process start to its first answer on a documented GET path."""
        document = self.document(spec)
        port = free_port()
        argv = command(port)
        paths = candidate_paths(specinfo.base_path(document), specinfo.probe_path(document))
        with _server(name, argv, spec.stem) as server:
            seconds, answer, problem = wait_for_answer(server, port, paths, self.budget.startup_cap_s)
            rss = server.peak_rss_mib()
        if seconds is not None:
            self.log(f"  {name}: {seconds:.2f} s (answered {answer.status} on {answer.path})")
        else:
            self.log(f"  {name}: {problem}")
        return StartupFigures(seconds=seconds, peak_rss_mib=rss, problem=problem)

    def startup(self, scenario: StartupScenario) -> StartupRow:
        """Measure start-up on one spec for Sandlot, then Prism."""
        self.log(f"start-up: {scenario.name} ({scenario.spec.stat().st_size / 1e6:.1f} MB)")
        figures = {SANDLOT: self.startup_once(SANDLOT, lambda port: sandlot_argv(scenario.spec, port), scenario.spec)}
        if self.toolbox.prism_ok:
            figures[PRISM] = self.startup_once(PRISM, lambda port: prism_argv(scenario.spec, port), scenario.spec)
        else:
            figures[PRISM] = StartupFigures(problem="Prism unavailable")
        return StartupRow(scenario.name, self.budget.startup_cap_s, figures)

    # -- conformance --------------------------------------------------------------------------

    def conformance(self, spec: Path) -> ConformanceResult:
        """Serve one spec with Sandlot and run schemathesis against it."""
        self.log(f"schemathesis: {spec.name}")
        document = self.document(spec)
        base = specinfo.base_path(document)
        port = free_port()
        paths = candidate_paths(base, specinfo.probe_path(document))
        operations = specinfo.operation_count(document)
        phases = PHASES_FULL if operations <= self.budget.st_coverage_max_ops else PHASES_LARGE
        how = [f"phases {phases}, max {self.budget.st_max_examples} examples"]
        tested_spec = spec
        if specinfo.has_external_refs(document):
            tested_spec, note = bundle_spec(spec, RUN_DIR / "bundled")
            how.append(note)
        with _server(SANDLOT, sandlot_argv(spec, port), spec.stem) as server:
            seconds, answer, problem = wait_for_answer(server, port, paths, self.budget.ready_timeout_s)
            if seconds is None:
                return ConformanceResult(spec.name, detail=f"Sandlot {problem}", how="; ".join(how))
            prefix = base if base and answer.path.startswith(base + "/") else ""
            result = run_schemathesis(
                tested_spec, f"http://{LOOPBACK}:{port}{prefix}", specinfo.auth_arguments(document),
                self.budget.st_max_examples, phases, self.budget.st_timeout_s, RUN_DIR / "schemathesis")
        result = dataclasses.replace(result, spec=spec.name, how="; ".join(how))
        self.log(f"  {result.operations_tested} operations, {result.nonconforming} non-conforming, "
                 f"{result.server_errors} server errors")
        return result

    # -- everything ---------------------------------------------------------------------------

    def run(self, sections: set[str]) -> RunResults:
        """Run the selected sections and collect their results."""
        b = self.budget
        tool = f"wrk -t{b.wrk_threads} -c{b.wrk_connections} -d{b.duration_s:g}s" if self.toolbox.wrk else (
            f"Python load generator, {b.wrk_connections} connections, {b.duration_s:g} s")
        results = RunResults(load_settings=f"{tool}, petstore", notes=list(self.toolbox.notes))
        if not sandlot_mock_help():
            results.notes.append("`sandlot mock --help` failed: the Sandlot mock server is not available yet")
        if "throughput" in sections:
            results.throughput = [self.throughput(s) for s in THROUGHPUT]
            rounds = 1 if b.quick else THROUGHPUT_ROUNDS
            results.notes.append(f"throughput: each server run {rounds} time(s) per row, alternately, each a fresh "
                                 "process; each side's fastest run is shown (p50, p99 and RSS from that run)")
        if "stateful" in sections:
            results.stateful, note = self.stateful()
            results.notes.append(note)
        if "journal" in sections:
            results.journal, note = self.journal()
            results.notes.append(note)
        if "startup" in sections:
            results.startup = [self.startup(s) for s in startup_scenarios(b.quick) if s.spec.exists()]
        if "conformance" in sections:
            results.conformance = [self.conformance(spec) for spec in conformance_specs(b.quick)]
        return results


def _fastest(figures: list[LoadFigures]) -> LoadFigures:
    """Return the run with the most requests per second (a failed one only when all did)."""
    measured = [f for f in figures if f.load is not None and not f.problem]
    return max(measured, key=lambda f: f.load.rps if f.load is not None else 0.0) if measured else figures[0]


def _leanest(figures: list[LoadFigures]) -> LoadFigures:
    """Return the run that spent the least server CPU per request (a failed one only when all did)."""
    measured = [f for f in figures if f.load is not None and f.cpu_us_per_request]
    return min(measured, key=lambda f: f.cpu_us_per_request) if measured else figures[0]


def _create_pets(port: int, collection_path: str, count: int) -> str:
    """POST `count` pets to a stateful mock; return a problem, or '' when every create succeeded."""
    import http.client

    for n in range(1, count + 1):
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
        try:
            body = json.dumps({"id": n, "name": f"bench-{n}", "tag": "bench"})
            conn.request("POST", collection_path, body=body, headers={"Content-Type": "application/json"})
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            return f"POST {collection_path} failed: {exc}"
        finally:
            conn.close()
        if status >= 300:
            return f"POST {collection_path} answered {status}; stateful row not measured"
    return "" if get(port, collection_path) else f"GET {collection_path} did not answer after the POSTs"
