"""Renders one run's results as aligned text tables (terminal) or Markdown (results file, docs).

Called by `python -m bench` at the end of a run. Pure: results in, text out. Both renderings come
from the same rows, so the printed table and bench/results/latest.md always agree.
"""

from __future__ import annotations

import math

from bench.results import LoadFigures, RunResults, ThroughputRow
from bench.servers import PRISM, SANDLOT
from bench.targets import all_verdicts

SERVER_LABELS = {SANDLOT: "Sandlot", PRISM: "Prism"}


def _num(value: float | None, digits: int = 1, thousands: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}" if thousands else f"{value:.{digits}f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "-"
    return f"{ours / theirs:.2f}x"


TEXT_CELL_LIMIT = 90  # the terminal table stays readable; the Markdown file keeps every word


def _clip(cell: str) -> str:
    return cell if len(cell) <= TEXT_CELL_LIMIT else cell[: TEXT_CELL_LIMIT - 3] + "..."


def table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    """Lay out rows under headers: a Markdown pipe table, or aligned plain text."""
    if markdown:
        escape = lambda cell: cell.replace("|", "\\|")  # noqa: E731 - one-line helper
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
        return "\n".join(lines)
    rows = [[_clip(str(cell)) for cell in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip()  # noqa: E731
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def _load_cells(fig: LoadFigures) -> list[str]:
    if fig.load is None:
        return ["-", "-", "-", _num(fig.peak_rss_mib, 0), "-", "-", fig.problem or "not measured"]
    load = fig.load
    errors = load.bad_responses + load.socket_errors
    return [_num(load.rps, 0, thousands=True), _num(load.p50_ms, 2), _num(load.p99_ms, 2),
            _num(fig.peak_rss_mib, 0), str(errors), _n(fig.body_bytes), fig.path]


def throughput_rows(rows: list[ThroughputRow], labels: dict[str, str]) -> list[list[str]]:
    """Build one line per server per scenario, then a ratio line (first server / second)."""
    out = []
    for row in rows:
        names = list(row.figures)
        for i, name in enumerate(names):
            out.append([row.name if i == 0 else "", labels.get(name, name), *_load_cells(row.figures[name])])
        if len(names) == 2:
            a, b = (row.figures[n] for n in names)
            al, bl = a.load, b.load
            out.append(["", f"{labels.get(names[0], names[0])}/{labels.get(names[1], names[1])}",
                        _ratio(al and al.rps, bl and bl.rps), _ratio(al and al.p50_ms, bl and bl.p50_ms),
                        _ratio(al and al.p99_ms, bl and bl.p99_ms), _ratio(a.peak_rss_mib, b.peak_rss_mib),
                        "", "", ""])
    return out


JOURNAL_HEADERS = ["scenario", "journal", "req/s", "p50 ms", "p99 ms", "server CPU us/request",
                   "requests per CPU-second", "errors"]


def journal_rows(rows: list[ThroughputRow]) -> list[list[str]]:
    """Build the journal on/off lines, then the on/off ratios (req/s, and per CPU-second)."""
    out = []
    for row in rows:
        for i, (label, fig) in enumerate(row.figures.items()):
            load, cpu = fig.load, fig.cpu_us_per_request
            if load is None:
                out.append([row.name if i == 0 else "", label, "-", "-", "-", "-", "-", fig.problem or "not measured"])
                continue
            out.append([row.name if i == 0 else "", label, _num(load.rps, 0, thousands=True), _num(load.p50_ms, 2),
                        _num(load.p99_ms, 2), _num(cpu, 1), _num(1e6 / cpu if cpu else None, 0, thousands=True),
                        str(load.bad_responses + load.socket_errors)])
        on, off = row.figures.get("journal on"), row.figures.get("journal off")
        if on and off and on.load and off.load:
            per_cpu = (_ratio(off.cpu_us_per_request, on.cpu_us_per_request)
                       if on.cpu_us_per_request and off.cpu_us_per_request else "-")
            out.append(["", "on/off", _ratio(on.load.rps, off.load.rps), _ratio(on.load.p50_ms, off.load.p50_ms),
                        _ratio(on.load.p99_ms, off.load.p99_ms), "", per_cpu, ""])
    return out


LOAD_HEADERS = ["scenario", "server", "req/s", "p50 ms", "p99 ms", "peak RSS MiB", "errors", "body bytes",
                "path / note"]


def _startup_cell(fig) -> str:
    if fig is None:
        return "-"
    return f"{fig.seconds:.2f}" if fig.seconds is not None else fig.problem


def render(results: RunResults, markdown: bool) -> str:
    """Render every section of a run: load, start-up, stateful, targets, conformance, notes."""
    heading = (lambda t: f"### {t}") if markdown else (lambda t: f"== {t} ==")
    parts = [heading(f"Throughput and latency ({results.load_settings})"),
             table(LOAD_HEADERS, throughput_rows(results.throughput, SERVER_LABELS), markdown)]
    if results.startup:
        rows = []
        for row in results.startup:
            ours, theirs = row.figures.get(SANDLOT), row.figures.get(PRISM)
            rows.append([
                row.spec, _startup_cell(ours), _startup_cell(theirs),
                _ratio(ours and ours.seconds, theirs and theirs.seconds),
                _num(ours and ours.peak_rss_mib, 0), _num(theirs and theirs.peak_rss_mib, 0),
            ])
        parts += [heading("Start-up: process start to first answer on a documented path (s)"),
                  table(["spec", "Sandlot s", "Prism s", "Sandlot/Prism", "Sandlot RSS MiB", "Prism RSS MiB"],
                        rows, markdown)]
    parts.append(heading("Stateful vs stateless Sandlot (issue 4)"))
    if results.stateful:
        labels = {"stateless": "stateless", "stateful": "stateful"}
        parts.append(table(LOAD_HEADERS, throughput_rows(results.stateful, labels), markdown))
    else:
        parts.append("skipped: " + next((n for n in results.notes if n.startswith("stateful")), "not run"))
    if results.journal:
        parts.append(heading("Request journal on vs off, stateless mock (issue 13)"))
        parts.append(table(JOURNAL_HEADERS, journal_rows(results.journal), markdown))
    verdicts = all_verdicts(results)
    if verdicts:
        parts += [heading("Targets (issues 3 and 13), ratios within this run"),
                  table(["target", "measured", "verdict"],
                        [[v.target, v.measured, v.verdict] for v in verdicts], markdown)]
    if results.conformance:
        rows = [[c.spec, f"{_n(c.operations_tested)}/{_n(c.operations_selected)}", _n(c.test_cases),
                 _n(c.nonconforming), _n(c.server_errors), _n(c.errored), c.detail or "-", c.breakdown or "-",
                 c.how]
                for c in results.conformance]
        parts += [heading("Schemathesis against the live Sandlot mock (response conformance)"),
                  table(["spec", "operations tested", "test cases", "non-conforming", "server errors",
                         "errored", "unique failures", "failing checks: code, input, status",
                         "how"], rows, markdown)]
    if results.notes:
        bullet = "- " if markdown else "* "
        parts += [heading("Notes"), "\n".join(bullet + n for n in results.notes)]
    return "\n\n".join(parts) + "\n"


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)
