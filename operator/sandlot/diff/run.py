"""`sandlot diff OLD NEW`: load both sides, compare, add file and line to every change, render.

Called by cli.py (one call: `run_diff`) and by tests; takes parsed values, never argv.
Exit codes: 0 no change at or above --fail-on (or no --fail-on), 1 such a change was found,
2 OLD or NEW cannot be read or compared (DiffInputError; cli.py prints it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from sandlot.diff.changes import Change, Location, exit_code, rank
from sandlot.diff.formats import Report, render
from sandlot.diff.inputs import DiffInputError, Input, load_input, text_input
from sandlot.openapi.sourcemap import SourceMap


def display_path(location: str) -> str:
    """Return a file as a person (or GitHub) names it: relative to the working directory when inside it."""
    if location.startswith(("http://", "https://")):
        return location
    path, here = Path(location).resolve(), Path.cwd().resolve()
    return str(path.relative_to(here)) if path.is_relative_to(here) else str(path)


def _placed(location: Location | None, sources: SourceMap | None) -> Location | None:
    if location is None or sources is None:
        return location
    file, line = sources.locate(location.pointer)
    return Location(location.pointer, display_path(file), line)


def compare(old: Input, new: Input, today: dt.date | None = None) -> list[Change]:
    """Return every change from OLD to NEW, errors first, each placed in its file and line."""
    if old.kind != new.kind:
        raise DiffInputError(f"cannot compare {old.source} ({old.kind}) with {new.source} ({new.kind}): "
                             f"give two OpenAPI documents or two GraphQL schemas")
    if old.sdl is not None and new.sdl is not None:
        from sandlot.diff.graphql import diff_graphql

        changes = diff_graphql(old.sdl, new.sdl, display_path(old.source), display_path(new.source))
    else:
        from sandlot.diff.openapi import diff_openapi

        assert old.spec is not None and new.spec is not None
        changes = [replace(c, old=_placed(c.old, old.sources), new=_placed(c.new, new.sources))
                   for c in diff_openapi(old.spec.document, new.spec.document, today)]
    return sorted(changes, key=lambda c: rank(c.level))  # stable: document order within a level


def compare_texts(old_name: str, old_text: str, new_name: str, new_text: str,
                  today: dt.date | None = None) -> list[Change]:
    """Return every change from one document's text to another's, errors first (raises DiffInputError).

    The operator's entry point: both sides are texts it holds (what a stub serves, what its source
    holds now), read by nothing but the loader, which follows no `$ref` out of them.
    """
    return compare(text_input(old_name, old_text), text_input(new_name, new_text), today)


def run_diff(old: str, new: str, *, fmt: str = "text", fail_on: str | None = None,
             today: dt.date | None = None) -> tuple[str, int]:
    """Compare two sources; return the rendered report and the exit code (raises DiffInputError)."""
    changes = compare(load_input(old), load_input(new), today)
    return render(Report(old, new, changes), fmt, fail_on), exit_code(changes, fail_on)


__all__ = ["DiffInputError", "compare", "compare_texts", "display_path", "run_diff"]
