"""Serve a spec statefully: build the ASGI app with the stateful handler, and `sandlot mock
--stateful` itself.

Called by cli.py (`sandlot mock --stateful`), by `sandlot up` (one app per downstream) and
by tests. The app is http/app.py's `MockApp`; this module only plugs the stateful handler in.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sandlot.openapi.loader import SpecError
from sandlot.state.config import ConfigError, SandboxConfig, load_config
from sandlot.state.inference import InferenceError
from sandlot.simulation.stage import SimulationError
from sandlot.state.sqlite_store import SQLiteStore
from sandlot.state.stage import StatefulHandler
from sandlot.state.auth import register_provided_keys
from sandlot.state.fixtures import FixtureError, Fixtures, parse_fixtures
from sandlot.util.sources import SourceError, configmap_payload, read_file, read_file_or_configmap

log = logging.getLogger("sandlot.sandbox")

#: Errors that mean "the inputs are wrong": reported in one line, exit code 2.
INPUT_ERRORS = (SpecError, ConfigError, FixtureError, InferenceError, SourceError, SimulationError)


@dataclass
class StatefulApp:
    """An ASGI app serving one spec statefully, with its handler (for keys, reset, ...)."""

    app: object
    handler: StatefulHandler
    simulation: object = None  # scenarios, webhooks, clock (simulation/stage.py)


def build_stateful_app(spec: str, db: str | Path, config: SandboxConfig,
                       fixtures: Fixtures | None = None, *, seed: int = 0,
                       watch: bool = False, scenario: str | None = None) -> StatefulApp:
    """Load the spec, open the store and build the app (raises one of INPUT_ERRORS).

    The app runs behind the simulation layer (docs/scenarios.md); `scenario` is the default
    scenario of every request (`--scenario`)."""
    from sandlot.http.app import create_app

    made: list[StatefulHandler] = []

    def factory(holder):  # type: ignore[no-untyped-def]
        handler = StatefulHandler(holder.engine, SQLiteStore(db), config, fixtures=fixtures,
                                  current_engine=lambda: holder.engine)
        made.append(handler)
        return handler.handle

    from sandlot.http.simulated import simulate

    app = create_app(spec, seed=seed, watch=watch, handler_factory=factory)
    try:
        wrapped, simulation = simulate(app, stateful_handler=made[0], config=config.simulation,
                                       default_scenario=scenario)
    except SimulationError:
        made[0].close()
        raise
    return StatefulApp(wrapped, made[0], simulation)


def admin_token_from(args: argparse.Namespace, config: SandboxConfig) -> tuple[str, bool]:
    """Return (admin token, whether it was generated now): --admin-token, then
    $SANDLOT_ADMIN_TOKEN, then the config file, else a new random token."""
    given = (getattr(args, "admin_token", None) or os.environ.get("SANDLOT_ADMIN_TOKEN")
             or config.admin_token)
    return (given, False) if given else ("adm_" + secrets.token_urlsafe(24), True)


def spec_source(spec: str, db: Path) -> str:
    """Return what the engine loads for SPEC: the spec itself, or, when SPEC is a ConfigMap
    manifest (examples/payments/payments-openapi.yaml), its OpenAPI key written next to the
    state file (the loader reads files; edits to the manifest need a restart)."""
    if spec.startswith(("http://", "https://")) or not Path(spec).is_file():
        return spec  # the loader reports what is wrong with it
    payload = configmap_payload(read_file(spec), spec)
    if payload is None:
        return spec
    key, text = payload
    target = db.parent / f"{db.stem}-{Path(key).name}"
    target.write_text(text, encoding="utf-8")
    log.info("%s is a ConfigMap: serving its key %s (written to %s)", spec, key, target)
    return str(target)


def run_stateful(args: argparse.Namespace) -> int:
    """Run `sandlot mock SPEC --stateful`: serve until interrupted; return the exit code."""
    logging.basicConfig(level=str(args.log_level).upper(),
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
        admin_token, generated = admin_token_from(args, config)
        config = config.with_admin_token(admin_token)
        fixtures = None
        if args.fixtures:
            fixtures = parse_fixtures(read_file_or_configmap(args.fixtures)[0], args.fixtures)
        spec = spec_source(args.spec, Path(args.db))
        built = build_stateful_app(spec, args.db, config, fixtures, seed=args.seed,
                                   watch=not args.no_watch, scenario=getattr(args, "scenario", None))
    except INPUT_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    handler = built.handler
    provided = [*args.key, *filter(None, os.environ.get("SANDLOT_KEYS", "").split(","))]
    try:
        register_provided_keys(handler.store, [k.strip() for k in provided], time.time())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        handler.close()
        return 2
    collections = ", ".join(sorted(handler.model.collections)) or "none"
    log.info("Stateful: collections %s; state in %s", collections, args.db)
    if not handler.store.list_keys():
        tenant_id, key = handler.issue_key(name="default")
        print(f"Sandbox key for tenant {tenant_id} (shown once): {key.secret}", flush=True)
    if generated:
        print(f"Admin token (shown once): {config.admin_token}", flush=True)
    from sandlot.http.graceful import serve_until_stopped

    engine = handler.engine
    log.info("Serving %d operations from %s at http://%s:%d", len(engine.operations), spec,
             args.host, args.port)
    started = time.perf_counter()
    try:
        serve_until_stopped(built.app, host=args.host, port=args.port, access_log=False,
                            log_level=str(args.log_level).lower(), lifespan="on")
    finally:
        handler.close()  # writes the buffered request log: SIGTERM must not lose it
    log.debug("served for %.1f s", time.perf_counter() - started)
    return 0
