"""Compose the HTTP app: the explicit list of stages for a stub, stateless or stateful.

Called by the command line (`sandlot mock [--stateful]`, cli/mock.py), `sandlot up` (one app per
downstream, up.py) and the tests. `compose` decides the stages in order and their tenancy:

    admin (http/admin.py) -> simulation (simulation/stage.py) -> state (state/stage.py, stateful
    only) -> the mock engine (mock/engine.py)

or, for `sandlot mock --proxy UPSTREAM`, admin -> the drift proxy (drift/stage.py), which answers
with the real API's responses. `build_app` loads the spec, opens the stores and wraps the
pipeline in the ASGI edge.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from sandlot.drift.guard import LiveUpstreamError
from sandlot.drift.stage import ProxySettings, ProxyStage
from sandlot.drift.store import DriftStoreError
from sandlot.drift.upstream import UpstreamError
from sandlot.http.admin import AdminRouter
from sandlot.http.app import HttpApp
from sandlot.http.pipeline import Identify, Pipeline
from sandlot.http.reload import EngineHolder
from sandlot.mock.context import Stage
from sandlot.mock.engine import Engine
from sandlot.openapi.loader import SpecError
from sandlot.simulation.stage import Simulation, SimulationError
from sandlot.state.auth import StoreTenancy, credential_tenant
from sandlot.state.config import ConfigError, SandboxConfig
from sandlot.state.fixtures import FixtureError, Fixtures
from sandlot.state.inference import InferenceError
from sandlot.state.schema import StateFileError
from sandlot.state.sqlite_store import SQLiteStore
from sandlot.state.stage import StateStage
from sandlot.state.store import Store
from sandlot.util.sources import SourceError, configmap_payload, read_file

log = logging.getLogger("sandlot.http")

#: Errors that mean "the inputs are wrong": the command line reports them in one line, exit code 2.
INPUT_ERRORS = (SpecError, ConfigError, FixtureError, InferenceError, SourceError, SimulationError,
                UpstreamError, LiveUpstreamError, DriftStoreError, StateFileError)


def compose(holder: EngineHolder, *, config: SandboxConfig | None = None, store: Store | None = None,
            fixtures: Fixtures | None = None, default_scenario: str | None = None,
            admin_token: str | None = None, base_clock: Callable[[], float] = time.time,
            monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
            proxy: ProxyStage | None = None) -> Pipeline:
    """Return the pipeline of a stub: stateful over `store`, else stateless, or a drift `proxy` in
    front of a real API (raises one of INPUT_ERRORS).

    `default_scenario` answers requests that ask for none (`--scenario`); the admin token is
    `admin_token`, else (stateful) the config's; a stateless stub without one lets any caller
    act as admin. `base_clock` is real time under the virtual clocks, `monotonic` times rate
    limits and `wall` signs webhooks (tests pass fakes)."""
    config = config or SandboxConfig()
    engine = holder.engine
    state = StateStage(engine, store, config, fixtures=fixtures, clock=base_clock) if store is not None else None
    simulation = Simulation(engine, state=store, config=config.simulation, default_scenario=default_scenario,
                            base_clock=base_clock, monotonic=monotonic, wall=wall, durable=store)
    token = admin_token if admin_token is not None else (config.admin_token if store is not None else None)

    def health() -> dict[str, object]:
        facts: dict[str, object] = {"operations": len(holder.engine.operations), "reloads": holder.reloads,
                                    "last_reload_error": holder.last_error, "pid": os.getpid()}
        if proxy is not None:
            facts["proxy"] = proxy.upstream.url
        return facts

    admin = AdminRouter(simulation, state, token, health, clock=base_clock, drift=proxy)
    stages: list[Stage] = [admin, proxy] if proxy is not None else [admin, simulation]
    if state is not None:
        stages.append(state)
    identify: Identify = credential_tenant
    if store is not None and state is not None:
        model_of = state  # the model is inferred again on a reload: ask the stage each time
        identify = StoreTenancy(store, base_clock, lambda: model_of.model.identity is not None)
    return Pipeline(holder, stages, identify, base_clock, simulation=simulation, state=state, proxy=proxy)


def build_app(spec: str, *, seed: int = 0, watch: bool = False, dynamic: bool = False, lenient: bool = False,
              db: str | Path | None = None, config: SandboxConfig | None = None,
              fixtures: Fixtures | None = None, default_scenario: str | None = None,
              admin_token: str | None = None, base_clock: Callable[[], float] = time.time,
              monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
              proxy: ProxySettings | None = None) -> HttpApp:
    """Load the spec, open the store at `db` (stateful) or the drift proxy (`proxy`) and return the
    ASGI app serving it (raises one of INPUT_ERRORS; the stores are closed again when composing fails)."""
    engine = Engine.from_source(spec, seed=seed, dynamic=dynamic, lenient=lenient)
    holder = EngineHolder(engine, spec, seed, dynamic, lenient)
    store = SQLiteStore(db) if db is not None else None
    if store is not None:
        # No other process serves this file yet (worker processes start after this): attempts
        # that were on the wire when the last one stopped are made again (docs/scenarios.md).
        released = store.release_claims()
        if released:
            log.info("%s: %d webhook deliveries were being attempted when the last process stopped; "
                     "they are attempted again", db, released)
    forwarding = None
    try:
        forwarding = ProxyStage(proxy, spec, clock=base_clock) if proxy is not None else None
        pipeline = compose(holder, config=config, store=store, fixtures=fixtures,
                           default_scenario=default_scenario, admin_token=admin_token,
                           base_clock=base_clock, monotonic=monotonic, wall=wall, proxy=forwarding)
    except BaseException:
        if store is not None:
            store.close()
        if forwarding is not None:
            forwarding.store.close()
        raise
    return HttpApp(pipeline, watch=watch)


def spec_source(spec: str, scratch: Path) -> str:
    """Return what the engine loads for SPEC: the spec itself, or, when SPEC is a ConfigMap
    manifest (examples/payments/payments-openapi.yaml), its OpenAPI key written into the
    `scratch` directory (the loader reads files; edits to the manifest need a restart)."""
    if spec.startswith(("http://", "https://")) or not Path(spec).is_file():
        return spec  # the loader reports what is wrong with it
    payload = configmap_payload(read_file(spec), spec)
    if payload is None:
        return spec
    key, text = payload
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / Path(key).name
    target.write_text(text, encoding="utf-8")
    log.info("%s is a ConfigMap: serving its key %s (written to %s)", spec, key, target)
    return str(target)
