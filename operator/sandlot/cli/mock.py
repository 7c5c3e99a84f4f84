"""`sandlot mock`: its options, and running it (`--check`, stateless or `--stateful`).

Called by the command line's parser (cli/__init__.py): `add_mock_command` adds the options,
`run_mock` prints, serves and returns the exit code. Composing the app is http/compose.py's
job and serving http/serve.py's; inputs that cannot work are one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sandlot.cli.args import LOG_LEVELS, port_number
from sandlot.cli.drift import add_proxy_options, proxy_settings

if TYPE_CHECKING:  # imported when used: `sandlot --help` must not load the app
    from sandlot.http.app import HttpApp
    from sandlot.state.config import SandboxConfig
    from sandlot.state.stage import StateStage

DEFAULT_DB = ".sandlot/sandbox.db"
log = logging.getLogger("sandlot.mock")


def add_mock_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `mock` and every option it takes to the top-level sub-commands."""
    mock = sub.add_parser("mock", help="serve a mock of an OpenAPI 3.x document or a GraphQL schema")
    mock.add_argument("spec", nargs="+",
                      help="path or URL of the OpenAPI document (JSON or YAML), or a ConfigMap manifest; or a "
                           "GraphQL schema: .graphql files (several are merged), a directory of them, or an "
                           "introspection result (JSON) (docs/graphql.md)")
    mock.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    mock.add_argument("--port", type=port_number, default=4010, help="port to bind (default 4010)")
    mock.add_argument("--seed", type=int, default=0, help="seed for generated data (default 0)")
    mock.add_argument("--check", action="store_true", help="validate the spec and exit")
    mock.add_argument("--no-watch", action="store_true", help="do not reload when the spec changes")
    mock.add_argument("--log-level", default="info", choices=LOG_LEVELS, help="log level (default info)")
    mock.add_argument("--dynamic", action="store_true",
                      help="generate every body from its schema, ignoring examples (Prism's -d)")
    mock.add_argument("--lenient", action="store_true",
                      help="accept what server frameworks coerce (\"3\" for an integer, \"true\"/\"1\" for a "
                           "boolean, one value for an array), each noted in a Sandlot-Warning header")
    mock.add_argument("--scenario", default=None,
                      help="scenario for every request that does not ask for another, e.g. "
                           "'unavailable' or 'slow; latency=100ms' (see docs/scenarios.md)")
    mock.add_argument("--examples", default=None,
                      help="GraphQL: YAML mapping operation names (or queries) to the data to answer")
    mock.add_argument("--config", default=None,
                      help="sidecar YAML: scenarios, magic values, rate limit, webhooks, journal retention; "
                           "with --stateful also collection overrides, quota, retention, live-key patterns")
    journal = mock.add_mutually_exclusive_group()
    journal.add_argument("--journal", default=None, metavar="FILE",
                         help="SQLite file for the request journal (default: the --db file with --stateful, "
                              "else memory; see docs/inspector.md)")
    journal.add_argument("--no-journal", action="store_true", help="record no requests (no inspector)")
    group = mock.add_argument_group("stateful sandbox (see docs/stateful.md)")
    group.add_argument("--stateful", action="store_true",
                       help="remember created objects per tenant (collections inferred from the spec)")
    group.add_argument("--explain", action="store_true",
                       help="print what was inferred for every operation (collection, key, envelope, identity, "
                            "action, filters) and exit")
    group.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file for the state (default {DEFAULT_DB})")
    group.add_argument("--workers", type=worker_count, default=1,
                       help="worker processes sharing the state file (default 1; up to the number of cores "
                            "pays): each serves requests on the same port")
    group.add_argument("--fixtures", default=None, help="YAML/JSON seed loaded into every new tenant")
    group.add_argument("--admin-token", default=None,
                       help="token for /__sandlot/ (default: $SANDLOT_ADMIN_TOKEN, else generated)")
    group.add_argument("--key", action="append", default=[],
                       help="a sandbox key issued elsewhere to accept (repeatable; also "
                            "$SANDLOT_KEYS, comma-separated); each gets its own tenant")
    add_proxy_options(mock)
    mock.set_defaults(func=run_mock)


def worker_count(text: str) -> int:
    """Parse --workers: a whole number from 1 to 64."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"{count}: give 1 to 64 worker processes")
    return count


def run_mock(args: argparse.Namespace) -> int:
    """Run `sandlot mock`: check the spec, or serve it until interrupted. Return the exit code."""
    logging.basicConfig(level=str(args.log_level).upper(), format="%(asctime)s %(levelname)s %(message)s")
    # A ConfigMap manifest's spec is written here, and removed with it when the mock stops.
    with tempfile.TemporaryDirectory(prefix="sandlot-mock-") as scratch:
        return _run(args, Path(scratch))


def _run(args: argparse.Namespace, scratch: Path) -> int:
    started = time.perf_counter()
    from sandlot.http.compose import BESIDE_STATE, INPUT_ERRORS, build_app, spec_source
    from sandlot.state.config import load_config
    from sandlot.state.fixtures import parse_fixtures
    from sandlot.util.introspection import looks_like_graphql
    from sandlot.util.sources import read_file_or_configmap

    if args.workers > 1 and not args.stateful:
        print("error: --workers needs --stateful: worker processes share what they know through the state "
              "file, and the stateless mock keeps scenarios, clocks and webhooks in memory", file=sys.stderr)
        return 2
    try:
        # A ConfigMap manifest (as `kubectl apply`d) is served, and checked, from its OpenAPI key.
        specs = [spec_source(s, scratch) for s in args.spec]
        graphql = len(specs) > 1 or looks_like_graphql(specs[0])
        if len(specs) > 1 and not all(looks_like_graphql(s) for s in specs):
            print("error: several SPECs are GraphQL schema files (.graphql) to merge; an OpenAPI document "
                  "is served alone (it may $ref other files)", file=sys.stderr)
            return 2
        spec: str | list[str] = specs if len(specs) > 1 else specs[0]
        args.spec = ", ".join(args.spec)
        if graphql and (args.proxy or args.explain):
            print("error: --proxy and --explain take an OpenAPI document; for a GraphQL schema see docs/graphql.md",
                  file=sys.stderr)
            return 2
        if args.proxy:
            return _run_proxy(args, specs[0], started)
        if args.check:
            return _check_graphql(spec) if graphql else _check(specs[0], args.spec)
        if args.explain:
            return _explain(specs[0], load_config(args.config))
        config = load_config(args.config)
        generated = False
        if args.stateful:
            admin_token, generated = admin_token_from(args, config.admin_token)
            config = config.with_admin_token(admin_token)
        fixtures = None
        if args.stateful and args.fixtures:
            fixtures = parse_fixtures(read_file_or_configmap(args.fixtures)[0], args.fixtures)
        app = build_app(spec, seed=args.seed, watch=not args.no_watch, dynamic=args.dynamic, lenient=args.lenient,
                        db=args.db if args.stateful else None, config=config, fixtures=fixtures,
                        default_scenario=args.scenario, examples=args.examples,
                        journal=None if args.no_journal else args.journal or BESIDE_STATE)
    except INPUT_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = app.pipeline.state
    try:
        if state is not None and not _announce_stateful(args, state, config.admin_token if generated else None):
            return 2
        return _serve(app, args, started)
    finally:
        app.pipeline.close()  # writes the buffered request journal: SIGTERM must not lose it


def _run_proxy(args: argparse.Namespace, spec: str, started: float) -> int:
    """Serve the drift proxy in front of --proxy's real API (docs/drift.md); return the exit code."""
    from sandlot.http.compose import BESIDE_STATE, INPUT_ERRORS, build_app

    try:
        settings = proxy_settings(args)
        app = build_app(spec, seed=args.seed, watch=not args.no_watch, proxy=settings,
                        admin_token=args.admin_token or os.environ.get("SANDLOT_ADMIN_TOKEN"),
                        journal=None if args.no_journal else args.journal or BESIDE_STATE)
    except (ValueError, *INPUT_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("Proxying to %s: drift is added to %s%s", settings.upstream.url, settings.drift_db,
             f", responses recorded in {settings.record_dir}" if settings.record_dir else "")
    try:
        return _serve(app, args, started)
    finally:
        app.pipeline.close()  # writes the recorded examples and closes the drift record


def _check(spec: str, given: str) -> int:
    """Run `--check` on the spec (`given` names it in messages); return the exit code."""
    from sandlot.mock.check import check_spec
    from sandlot.openapi.loader import SpecError

    try:
        count = check_spec(spec)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - --check reports, it never shows a traceback
        print(f"error: {given}: the spec cannot be checked: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"OK: {count} operations")
    return 0


def _check_graphql(spec: str | list[str]) -> int:
    """Run `--check` on a GraphQL schema: every SDL and schema rule. Print each merged duplicate
    as a warning and each problem with its file, line and column; exit 2 if there is one."""
    from sandlot.graphql.schema import SchemaError, check_schema

    try:
        loaded, summary, problems = check_schema(spec)
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in loaded.warnings if loaded else []:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s); `sandlot mock` still serves what it can build ({summary})",
              file=sys.stderr)
        return 2
    print(f"OK: {summary}")
    return 0


def _explain(spec: str, config: SandboxConfig) -> int:
    """Print what the stateful mode infers from the spec (`--stateful --explain`); return 0."""
    from sandlot.mock.engine import Engine
    from sandlot.state.explain import explain
    from sandlot.state.inference import infer_model

    model = infer_model(Engine.from_source(spec).spec.document, config.overrides)
    print("\n".join(explain(model)))
    return 0


def admin_token_from(args: argparse.Namespace, configured: str | None) -> tuple[str, bool]:
    """Return (admin token, whether it was generated now): --admin-token, then
    $SANDLOT_ADMIN_TOKEN, then the config file, else a new random token."""
    given = args.admin_token or os.environ.get("SANDLOT_ADMIN_TOKEN") or configured
    return (given, False) if given else ("adm_" + secrets.token_urlsafe(24), True)


def _announce_stateful(args: argparse.Namespace, state: StateStage, generated_token: str | None) -> bool:
    """Register the provided keys, issue one when there is none, and print what the user needs."""
    from sandlot.state.auth import register_provided_keys

    provided = [*args.key, *filter(None, os.environ.get("SANDLOT_KEYS", "").split(","))]
    try:
        register_provided_keys(state.store, [k.strip() for k in provided], time.time())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    log.info("Stateful: collections %s; state in %s", ", ".join(sorted(state.model.collections)) or "none",
             args.db)
    if not state.store.list_keys():
        tenant_id, key = state.issue_key(name="default")
        print(f"Sandbox key for tenant {tenant_id} (shown once): {key.secret}", flush=True)
    if generated_token:
        print(f"Admin token (shown once): {generated_token}", flush=True)
    return True


def inspector_url(host: str, port: int) -> str:
    """Return the inspector page's URL for a server bound to host:port (a wildcard address as 127.0.0.1)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else \
        f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/__sandlot/ui"


def _serve(app: HttpApp, args: argparse.Namespace, started: float) -> int:
    """Bind the socket (a busy port is exit 2 with the way out) and serve until stopped."""
    from sandlot.http.reload import freeze_heap
    from sandlot.http.serve import bind_error, listen_socket, serve_until_stopped, serve_workers

    try:
        sock = listen_socket(args.host, args.port)
    except OSError as exc:
        print(f"error: {bind_error(args.host, args.port, exc)}", file=sys.stderr)
        return 2
    freeze_heap()
    port = sock.getsockname()[1]
    engine = app.holder.engine
    workers = getattr(args, "workers", 1)
    processes = f", {workers} worker processes" if workers > 1 else ""
    if getattr(engine, "graphql", None) is not None:
        log.info("Serving the GraphQL schema %s at http://%s:%d%s (loaded in %.2f s)%s", args.spec, args.host,
                 port, getattr(engine, "path", ""), time.perf_counter() - started, processes)
    else:
        log.info("Serving %d operations from %s at http://%s:%d (loaded in %.2f s)%s",
                 len(engine.operations), args.spec, args.host, port, time.perf_counter() - started, processes)
    if app.pipeline.journal is not None:
        print(f"Inspector: {inspector_url(args.host, port)}", flush=True)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    config = {"host": args.host, "port": port, "access_log": False, "loop": loop,
              "log_level": str(args.log_level).lower(), "lifespan": "on"}
    try:
        # SIGTERM (how Kubernetes stops a stub) and Ctrl-C both return here, so clean-up runs.
        if workers > 1:
            pipeline = app.pipeline
            serve_workers(app, sock, workers, before_fork=pipeline.before_fork, in_worker=pipeline.in_worker,
                          worker_done=pipeline.close, **config)
        else:
            serve_until_stopped(app, sockets=[sock], **config)
    finally:
        sock.close()
    return 0
