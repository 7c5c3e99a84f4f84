"""Render a drift record as text, JSON or Markdown, and the exit code for `--fail-on`.

Called by `sandlot drift report` (cli/drift.py) and `GET /__sandlot/drift` (http/admin.py), both
over the record the proxy wrote (drift/store.py). Every format is built from one `as_data`
record; levels come from the conformance rules (mock/conformance.py). Times are UTC, ISO 8601.
Pure.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sandlot.drift.store import DriftRecord, Group
from sandlot.mock.conformance import ERROR, WARNING

LEVELS = (ERROR, WARNING)  # most severe first


def timestamp(seconds: float) -> str:
    """Return Unix seconds as UTC ISO 8601 to the second: 2026-12-01T10:00:00Z."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def where(group: Group) -> str:
    """Return where a group sits, as a person reads it: "200 body /data/*/email", "query limit"."""
    parts = [str(group.status)] if group.status else []
    if group.location in ("path", "query", "header", "cookie") and group.pointer.count("/") == 1:
        parts += [group.location, group.pointer[1:]]
    else:
        parts += [group.location, group.pointer]
    return " ".join(p for p in parts if p)


def summary(record: DriftRecord) -> dict[str, int]:
    """Return the counts a report opens with: groups per level, occurrences and requests."""
    counts = dict.fromkeys(LEVELS, 0)
    for group in record.groups:
        counts[group.level] = counts.get(group.level, 0) + 1
    return {"findings": len(record.groups), **counts, "occurrences": sum(g.count for g in record.groups),
            "requests": sum(o.requests for o in record.operations),
            "drifted": sum(o.drifted for o in record.operations)}


def group_data(group: Group) -> dict[str, Any]:
    """Return one group as the JSON record."""
    method, _, path = group.operation.partition(" ")
    return {"operation": group.operation, "method": method, "path": path, "rule": group.rule,
            "level": group.level, "status": group.status, "location": group.location,
            "pointer": group.pointer, "count": group.count, "firstSeen": timestamp(group.first_seen),
            "lastSeen": timestamp(group.last_seen), "sample": group.sample}


def as_data(record: DriftRecord) -> dict[str, Any]:
    """Return the whole record as plain data: what was proxied, the counts, every group, every operation."""
    return {"upstream": record.upstream, "spec": record.spec, "summary": summary(record),
            "findings": [group_data(g) for g in record.groups],
            "operations": [{"operation": o.operation, "requests": o.requests, "drifted": o.drifted}
                           for o in record.operations]}


def _headline(record: DriftRecord) -> str:
    counts = summary(record)
    against = f" against {record.upstream}" if record.upstream else ""
    spec = f" ({record.spec})" if record.spec else ""
    plural = "s" * (counts["findings"] != 1)
    levels = ", ".join(f"{counts[level]} {level}{'s' * (counts[level] != 1)}" for level in LEVELS)
    return (f"Drift{against}{spec}: {counts['findings']} finding{plural} ({levels}), seen "
            f"{counts['occurrences']} times; {counts['drifted']} of {counts['requests']} requests drifted")


def _sample_line(sample: dict[str, Any]) -> str:
    request = sample.get("request", "")
    status = sample.get("status")
    return f"{request} -> {status}" if status is not None else str(request)


def render_text(record: DriftRecord) -> str:
    """Render for a terminal: the headline, each group with its sample, then the requests per operation."""
    if not record.operations:
        return "No drift recorded yet: no request went through the proxy.\n"
    lines = [_headline(record), ""]
    for group in record.groups:
        lines.append(f"{group.level:<8} {group.rule}  {group.operation}  {where(group)}")
        lines.append(f"         {group.sample.get('message', '')}")
        lines.append(f"         seen {group.count} time{'s' * (group.count != 1)}, first "
                     f"{timestamp(group.first_seen)}, last {timestamp(group.last_seen)}")
        lines.append(f"         sample: {_sample_line(group.sample)}")
        if "value" in group.sample:
            lines.append(f"         value: {json.dumps(group.sample['value'], ensure_ascii=False)}")
    if record.groups:
        lines.append("")
    lines.append("Requests per operation:")
    width = max(len(o.operation) for o in record.operations)
    for op in record.operations:
        lines.append(f"  {op.operation:<{width}}  {op.requests} request{'s' * (op.requests != 1)}, "
                     f"{op.drifted} drifted")
    return "\n".join(lines) + "\n"


def render_json(record: DriftRecord) -> str:
    """Render as one JSON object (`findings`: a record per group)."""
    return json.dumps(as_data(record), indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(record: DriftRecord) -> str:
    """Render a Markdown table (a job summary, a pull-request comment, an issue)."""
    lines = [f"## {_headline(record)}", ""]
    if record.groups:
        lines += ["| level | rule | operation | where | count | first seen | last seen | sample |",
                  "|---|---|---|---|---|---|---|---|"]
        for g in record.groups:
            lines.append(f"| {g.level} | `{g.rule}` | `{_cell(g.operation)}` | `{_cell(where(g))}` | {g.count} "
                         f"| {timestamp(g.first_seen)} | {timestamp(g.last_seen)} "
                         f"| {_cell(str(g.sample.get('message', '')))} (`{_cell(_sample_line(g.sample))}`) |")
    else:
        lines.append("No drift: every request and response matched the spec.")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[DriftRecord], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown}
FORMATS = tuple(RENDERERS)
MEDIA_TYPES = {"text": "text/plain; charset=utf-8", "json": "application/json",
               "markdown": "text/markdown; charset=utf-8"}


def render(record: DriftRecord, fmt: str = "text") -> str:
    """Render a record in one of FORMATS."""
    return RENDERERS[fmt](record)


def exit_code(record: DriftRecord, fail_on: str | None) -> int:
    """Return 1 when a group is at least as severe as `fail_on` (None: never), else 0."""
    if fail_on is None:
        return 0
    return int(any(LEVELS.index(g.level) <= LEVELS.index(fail_on) for g in record.groups))
