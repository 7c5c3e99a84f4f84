"""The `sandlot` command line: parse arguments, call into the package, print.

Each sub-command imports its module lazily so that `sandlot mock` never pays for
kopf and the Kubernetes client, and `sandlot operator` never loads the mock engine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sandlot.cli.args import port_number


def _cmd_operator(args: argparse.Namespace) -> int:
    from sandlot.controller.runner import run_operator

    return run_operator(args)


def _cmd_crds(args: argparse.Namespace) -> int:
    from sandlot.crdgen import write_crds

    for path in write_crds(args.out, chart_dir=args.chart_dir, check=args.check):
        print(path)
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from sandlot.diff.run import DiffInputError, run_diff

    try:
        output, code = run_diff(args.old, args.new, fmt=args.format, fail_on=args.fail_on)
    except DiffInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(output, end="")
    return code


DESCRIPTION = (
    "Sandlot: API sandboxes integrators trust. Mock any OpenAPI 3.x document (`mock`), run a "
    "stateful sandbox on this machine (`up`), or run the Kubernetes operator (`operator`)."
)
def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for every sub-command."""
    from sandlot import __version__

    parser = argparse.ArgumentParser(prog="sandlot", description=DESCRIPTION,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"sandlot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.set_defaults(_subparsers=sub)

    from sandlot.cli.drift import add_drift_commands
    from sandlot.cli.mock import add_mock_command
    from sandlot.cli.sandbox import add_sandbox_commands
    from sandlot.cli.simulation import add_scenario_commands

    add_mock_command(sub)
    add_sandbox_commands(sub)
    add_scenario_commands(sub)
    add_drift_commands(sub)

    op = sub.add_parser("operator", help="run the Kubernetes operator")
    op.add_argument(
        "--namespace", "-n", action="append", default=[],
        help="namespace to watch (repeatable; default: all namespaces)",
    )
    op.add_argument("--health-port", type=port_number, default=8080, help="liveness endpoint port (default 8080)")
    op.add_argument("--metrics-port", type=port_number, default=9090, help="Prometheus metrics port (default 9090)")
    op.add_argument("--wake-port", type=lambda text: 0 if text == "0" else port_number(text), default=0,
                    help="serve the wake endpoint of sleeping sandboxes on this port (default 0: not served; "
                         "the chart serves it on 8081)")
    op.add_argument("--peering", default=None, help="kopf peering name for HA (default: standalone)")
    op.add_argument("--verbose", action="store_true", help="debug logging")
    op.set_defaults(func=_cmd_operator)

    crds = sub.add_parser("crds", help="write the CRDs generated from the models")
    crds.add_argument("--out", default="crds", help="directory for the CRD files (default crds/)")
    crds.add_argument(
        "--chart-dir", default="charts/sandlot/crds",
        help="also write the chart's copy here (empty string to skip)",
    )
    crds.add_argument("--check", action="store_true", help="fail if the files differ; write nothing")
    crds.set_defaults(func=_cmd_crds)

    from sandlot.diff.formats import FORMATS
    from sandlot.diff.rules import LEVELS

    diff = sub.add_parser("diff", help="list the changes from OLD to NEW and which break clients (docs/drift.md)",
                          description="Exit codes: 0 no change at --fail-on's level or above, 1 there is one, "
                                      "2 OLD or NEW cannot be read.")
    diff.add_argument("old", help="the spec clients were built against: file, URL, ConfigMap manifest or .graphql")
    diff.add_argument("new", help="the spec to compare it with")
    diff.add_argument("--format", default="text", choices=FORMATS, help="output format")
    diff.add_argument("--fail-on", choices=LEVELS, default=None,
                      help="exit 1 when a change of this level or a more severe one is found")
    diff.set_defaults(func=_cmd_diff)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # Report unknown options with the sub-command's own usage, not the top-level one.
        chosen = args._subparsers.choices.get(args.command, parser)
        chosen.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
