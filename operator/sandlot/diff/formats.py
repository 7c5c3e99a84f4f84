"""Render a diff report as text, JSON, YAML, Markdown, JUnit XML or GitHub Actions annotations.

Called by sandlot.diff.run (and so by `sandlot diff --format ...`). Every format is built from
the same `as_data` record, whose field names follow oasdiff's JSON where it has an equivalent
(`id`, `level`, `operation` = the HTTP method, `operationId`, `path`, `text`, `baseSource`,
`revisionSource`), plus `message` (the same text) and `location` (pointer, file and line in
both documents).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from sandlot.diff.changes import Change, Location, counts, rank


@dataclass
class Report:
    """The outcome of one diff: what was compared and every change found."""

    old: str
    new: str
    changes: list[Change]


def _summary(changes: list[Change]) -> str:
    found = counts(changes)
    total = len(changes)
    return f"{total} change{'s' * (total != 1)}: " + ", ".join(
        f"{n} {level}{'s' * (n != 1 and level != 'info')}" for level, n in found.items())


def _place(location: Location | None) -> str:
    """Return "file:line" (or the file, or the pointer) of a location, "" when there is none."""
    if location is None:
        return ""
    if location.file and location.line:
        return f"{location.file}:{location.line}"
    return location.file or location.pointer


def _location_data(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {k: v for k, v in (("pointer", location.pointer), ("file", location.file), ("line", location.line))
            if v is not None}


def _source_data(location: Location | None) -> dict[str, Any] | None:
    if location is None or not location.file:
        return None
    return {"file": location.file, **({"line": location.line} if location.line else {})}


def change_data(change: Change) -> dict[str, Any]:
    """Return one change as the JSON/YAML record (oasdiff's field names where they exist)."""
    data: dict[str, Any] = {"id": change.id, "level": change.level, "operation": change.method or change.path}
    if change.operation_id:
        data["operationId"] = change.operation_id
    data["path"] = change.path
    data["message"] = data["text"] = change.message
    data["location"] = {"old": _location_data(change.old), "new": _location_data(change.new)}
    for key, location in (("baseSource", change.old), ("revisionSource", change.new)):
        source = _source_data(location)
        if source:
            data[key] = source
    return data


def as_data(report: Report) -> dict[str, Any]:
    """Return the whole report as plain data: sources, counts per level, changes."""
    return {"old": report.old, "new": report.new, "summary": counts(report.changes),
            "changes": [change_data(c) for c in report.changes]}


def render_text(report: Report, fail_on: str | None) -> str:
    """Render for a terminal: a summary line, then each change with its places in both documents."""
    if not report.changes:
        return f"No changes between {report.old} and {report.new}.\n"
    lines = [f"{report.old} -> {report.new}: {_summary(report.changes)}", ""]
    for change in report.changes:
        lines.append(f"{change.level:<8} {change.id}  {change.operation}".rstrip())
        lines.append(f"         {change.message}")
        for side, location in (("old", change.old), ("new", change.new)):
            if location is not None:
                place = _place(location)
                pointer = f" ({location.pointer})" if place != location.pointer else ""
                lines.append(f"         {side}: {place}{pointer}")
    return "\n".join(lines) + "\n"


def render_json(report: Report, fail_on: str | None) -> str:
    """Render as one JSON object whose `changes` list holds a record per change."""
    return json.dumps(as_data(report), indent=2, ensure_ascii=False) + "\n"


def render_yaml(report: Report, fail_on: str | None) -> str:
    """Render the JSON record as YAML."""
    return yaml.safe_dump(as_data(report), sort_keys=False, allow_unicode=True, width=1000)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report, fail_on: str | None) -> str:
    """Render a Markdown table (for a pull-request comment or a job summary)."""
    lines = [f"## API changes: {_summary(report.changes)}", "", f"`{report.old}` → `{report.new}`", ""]
    if report.changes:
        lines += ["| level | id | operation | change | where |", "|---|---|---|---|---|"]
        for change in report.changes:
            where = _place(change.new) or _place(change.old)
            lines.append(f"| {change.level} | `{change.id}` | `{_cell(change.operation)}` | {_cell(change.message)} "
                         f"| `{_cell(where)}` |")
    else:
        lines.append("No changes.")
    return "\n".join(lines) + "\n"


def render_junit(report: Report, fail_on: str | None) -> str:
    """Render JUnit XML: one test case per change, failed when at least as severe as --fail-on (error)."""
    threshold = rank(fail_on or "error")
    failing = sum(rank(c.level) <= threshold for c in report.changes)
    cases: list[Change | None] = list(report.changes) or [None]
    suites = ET.Element("testsuites", name="sandlot diff", tests=str(len(cases)), failures=str(failing))
    suite = ET.SubElement(suites, "testsuite", name=f"{report.old} -> {report.new}", tests=str(len(cases)),
                          failures=str(failing), errors="0", skipped="0")
    for change in cases:
        if change is None:
            ET.SubElement(suite, "testcase", classname="sandlot diff", name="no changes")
            continue
        case = ET.SubElement(suite, "testcase", classname=change.operation or "document", name=change.id)
        detail = "\n".join(f"{side}: {_place(loc)}" for side, loc in (("old", change.old), ("new", change.new)) if loc)
        if rank(change.level) <= threshold:
            failure = ET.SubElement(case, "failure", message=change.message, type=change.level)
            failure.text = detail
        else:
            ET.SubElement(case, "system-out").text = f"{change.level}: {change.message}\n{detail}"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


_ANNOTATION = {"error": "error", "warning": "warning", "info": "notice"}


def render_githubactions(report: Report, fail_on: str | None) -> str:
    """Render GitHub Actions workflow commands: one `::error file=...,line=...::` annotation per change.

    The annotation points at NEW's line (the file the pull request changes), else OLD's; files
    fetched over http(s) get no `file=` (GitHub can only annotate files in the repository).
    """
    lines = []
    for change in report.changes:
        place = next((loc for loc in (change.new, change.old) if loc and loc.file and loc.line
                      and not loc.file.startswith(("http://", "https://"))), None)
        props = [f"title={_escape_property(change.id)}"]
        if place is not None:
            props = [f"file={_escape_property(place.file or '')}", f"line={place.line}", *props]
        message = f"{change.operation}: {change.message}" if change.operation else change.message
        lines.append(f"::{_ANNOTATION[change.level]} {','.join(props)}::{_escape_data(message)}")
    lines.append(f"sandlot diff {report.old} -> {report.new}: {_summary(report.changes)}")
    return "\n".join(lines) + "\n"


_HIGHLIGHT = {"error": "\x1b[1;31m", "warning": "\x1b[33m"}  # bold red, yellow (ANSI)
_PLAIN = "\x1b[0m"


def render_summary(report: Report, *, color: bool = False, most: int = 20, cut_errors: bool = False,
                   command: bool = True) -> str:
    """Render a short summary for a log or a terminal (`sandlot up` when a spec changes) or a status
    condition (the operator): the counts, then one line per change, errors first and written ERROR
    (bold red with `color`), at most `most` lines (errors are cut too only with `cut_errors`); the
    line about the rest names the `sandlot diff` command that lists it all unless `command` is False."""
    if not report.changes:
        return "no change to the API (descriptions, examples or layout only)\n"
    errors = sum(change.level == "error" for change in report.changes)
    shown = report.changes[:most if cut_errors else max(most, errors)]
    lines = [_summary(report.changes) + (" (breaking)" if errors else "")]
    for change in shown:
        label = "ERROR" if change.level == "error" else change.level
        operation = f"  {change.operation}" if change.operation else ""
        text = f"  {label:<8} {change.id}{operation}: {change.message}"
        lines.append(f"{_HIGHLIGHT[change.level]}{text}{_PLAIN}" if color and change.level in _HIGHLIGHT else text)
    if len(shown) < len(report.changes):
        rest = f"  ... and {len(report.changes) - len(shown)} more"
        lines.append(f"{rest}: sandlot diff {report.old} {report.new}" if command else rest)
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Report, str | None], str]] = {
    "text": render_text, "json": render_json, "yaml": render_yaml, "markdown": render_markdown,
    "junit": render_junit, "githubactions": render_githubactions,
}
FORMATS = tuple(RENDERERS)


def render(report: Report, fmt: str = "text", fail_on: str | None = None) -> str:
    """Render a report in one of FORMATS (JUnit marks changes at least as severe as `fail_on` failed)."""
    return RENDERERS[fmt](report, fail_on)
