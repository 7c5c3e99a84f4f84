"""Traffic drift on the command line: `sandlot mock SPEC --proxy UPSTREAM`'s options, and
`sandlot drift report`.

Called by the command line's parser (cli/__init__.py, cli/mock.py); only argparse is imported at
that point, and each command imports its work lazily (sandlot/drift/). docs/drift.md is the guide.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: `sandlot --help` must not load the app
    from sandlot.drift.stage import ProxySettings

DEFAULT_DRIFT_DB = ".sandlot/drift.db"
#: sandlot.drift.report's FORMATS and LEVELS, written out so that `sandlot --help` loads no engine (a test checks).
DRIFT_FORMATS = ("text", "json", "markdown")
DRIFT_LEVELS = ("error", "warning")
#: `sandlot mock` options that make no sense in front of a real API.
_NOT_WITH_PROXY = (("stateful", "--stateful"), ("scenario", "--scenario"), ("fixtures", "--fixtures"),
                   ("config", "--config"), ("dynamic", "--dynamic"))


def add_proxy_options(mock: argparse.ArgumentParser) -> None:
    """Add the `--proxy` options to `sandlot mock`."""
    group = mock.add_argument_group("traffic drift (see docs/drift.md)")
    group.add_argument("--proxy", metavar="UPSTREAM", default=None,
                       help="forward every request to this real (test or staging) API, answer with its response, "
                            "and record where requests and responses break the spec")
    group.add_argument("--upstream-header", metavar="'NAME: VALUE'", action="append", default=[],
                       help="a header added to every forwarded request, e.g. the staging API's test key (repeatable)")
    group.add_argument("--upstream-timeout", metavar="DURATION", default="30s",
                       help="how long to wait for the upstream's answer (default 30s; then 504)")
    group.add_argument("--drift-db", metavar="FILE", default=DEFAULT_DRIFT_DB,
                       help=f"SQLite file the findings are added to (default {DEFAULT_DRIFT_DB})")
    group.add_argument("--record", metavar="DIR", default=None,
                       help="keep the real responses (redacted) in DIR, and DIR/openapi.json with them as examples")
    group.add_argument("--allow-live-upstream", action="store_true",
                       help="send credentials that look live (sk_live_... and the like) upstream anyway")


def proxy_settings(args: argparse.Namespace) -> ProxySettings:
    """Return the proxy's settings from `sandlot mock`'s arguments (raises ValueError naming the fix)."""
    from sandlot.drift.stage import ProxySettings
    from sandlot.drift.upstream import Upstream
    from sandlot.util.durations import DurationError, parse_duration

    clashing = [flag for name, flag in _NOT_WITH_PROXY if getattr(args, name, None)]
    if clashing:
        raise ValueError(f"--proxy answers with the real API's responses, so {', '.join(clashing)} cannot be used "
                         "with it; drop them, or run `sandlot mock` without --proxy")
    if args.check:
        raise ValueError("--check validates the spec and exits; run it without --proxy")
    try:
        timeout = parse_duration(args.upstream_timeout, "--upstream-timeout")
    except DurationError as exc:
        raise ValueError(str(exc)) from None
    upstream = Upstream.parse(args.proxy, args.upstream_header, timeout)
    return ProxySettings(upstream, Path(args.drift_db), Path(args.record) if args.record else None,
                         args.allow_live_upstream)


def add_drift_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `sandlot drift report` to the top-level sub-commands."""
    drift = sub.add_parser("drift", help="what a `sandlot mock --proxy` run found (docs/drift.md)")
    drift_sub = drift.add_subparsers(dest="drift_command", required=True, metavar="ACTION")
    report = drift_sub.add_parser(
        "report", help="list every finding: operation, rule, count, first and last seen, a sample",
        description="Exit codes: 0 (no finding at --fail-on's level or above), 1 (there is one), "
                    "2 (no drift record at --db).")
    report.add_argument("--db", metavar="FILE", default=DEFAULT_DRIFT_DB,
                        help=f"the drift record a proxy wrote (its --drift-db; default {DEFAULT_DRIFT_DB})")
    report.add_argument("--format", default="text", choices=DRIFT_FORMATS, help="output format")
    report.add_argument("--fail-on", choices=DRIFT_LEVELS, default=None,
                        help="exit 1 when a finding of this level or a more severe one was recorded")
    report.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from sandlot.drift.report import exit_code, render
    from sandlot.drift.store import DriftStore, DriftStoreError

    try:
        store = DriftStore(args.db, create=False)
    except DriftStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        record = store.read()
    except DriftStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(render(record, args.format), end="")
    return exit_code(record, args.fail_on)
