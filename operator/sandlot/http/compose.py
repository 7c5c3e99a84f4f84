"""Compose the HTTP app: the explicit list of stages for a stub, stateless or stateful.

Called by the command line (`sandlot mock [--stateful]`, cli/mock.py), `sandlot up` (one app per
downstream, up.py) and the tests. `compose` decides the stages in order and their tenancy:

    admin (http/admin.py) -> journal (state/journal_stage.py, unless switched off) -> simulation
    (simulation/stage.py) -> state (state/stage.py, stateful only) -> the mock engine (mock/engine.py)

or, for `sandlot mock --proxy UPSTREAM`, admin -> journal -> the drift proxy (drift/stage.py),
which answers with the real API's responses. `build_app` loads the spec, opens the stores and
the journal and wraps the pipeline in the ASGI edge. A GraphQL schema (graphql/) is served by
the same stages over its HTTP surface (graphql/http.py), with GraphQL's last step:
graphql/stage.py (stateless) or state/graphql.py (stateful), and its subscriptions over
WebSocket (http/websocket.py).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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
from sandlot.mock.messages import MockRequest
from sandlot.openapi.loader import SpecError
from sandlot.simulation.scenarios import EngineScenario
from sandlot.simulation.stage import Simulation, SimulationError
from sandlot.state.auth import StoreTenancy, credential_tenant
from sandlot.state.config import ConfigError, SandboxConfig
from sandlot.state.fixtures import FixtureError, Fixtures
from sandlot.state.inference import InferenceError
from sandlot.state.journal import JournalStore
from sandlot.state.journal_stage import JournalStage
from sandlot.state.schema import StateFileError
from sandlot.state.sqlite_store import SQLiteStore
from sandlot.state.stage import StateStage
from sandlot.state.store import Store
from sandlot.util.introspection import looks_like_graphql
from sandlot.util.sources import SourceError, configmap_payload, read_file

if TYPE_CHECKING:  # a GraphQL stub imports these when composed: an OpenAPI stub never loads graphql-core
    from sandlot.graphql.engine import GraphQLEngine
    from sandlot.graphql.subscriptions import Hub
    from sandlot.http.websocket import GraphQLSockets

log = logging.getLogger("sandlot.http")

#: Errors that mean "the inputs are wrong": the command line reports them in one line, exit code 2.
INPUT_ERRORS = (SpecError, ConfigError, FixtureError, InferenceError, SourceError, SimulationError,
                UpstreamError, LiveUpstreamError, DriftStoreError, StateFileError)
#: Where `build_app` keeps the journal by default: in the state file (stateful), else in memory.
BESIDE_STATE = "beside-state"
IN_MEMORY = ":memory:"


def compose(holder: EngineHolder, *, config: SandboxConfig | None = None, store: Store | None = None,
            fixtures: Fixtures | None = None, default_scenario: str | None = None,
            admin_token: str | None = None, base_clock: Callable[[], float] = time.time,
            monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
            proxy: ProxyStage | None = None, journal: JournalStore | None = None) -> Pipeline:
    """Return the pipeline of a stub: stateful over `store`, else stateless, or a drift `proxy` in
    front of a real API (raises one of INPUT_ERRORS); requests are recorded in `journal` when
    there is one.

    `default_scenario` answers requests that ask for none (`--scenario`); the admin token is
    `admin_token`, else (stateful) the config's; a stateless stub without one lets any caller
    act as admin. `base_clock` is real time under the virtual clocks, `monotonic` times rate
    limits and `wall` signs webhooks (tests pass fakes)."""
    config = config or SandboxConfig()
    engine = holder.engine
    graphql = _is_graphql(engine)
    hub = None
    if graphql:
        from sandlot.graphql.subscriptions import Hub

        try:
            hub = Hub(lambda: _graphql(holder), lambda tenant: simulation.clock.now(tenant),
                      config.graphql.get("subscriptions"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    state: StateStage | None = None
    if store is not None and hub is not None:
        from sandlot.state.graphql import GraphQLStateStage

        state = GraphQLStateStage(engine, store, config, fixtures=fixtures, clock=base_clock, publish=hub.publish)
    elif store is not None:
        state = StateStage(engine, store, config, fixtures=fixtures, clock=base_clock)
    simulation = Simulation(engine, state=store, config=config.simulation, default_scenario=default_scenario,
                            base_clock=base_clock, monotonic=monotonic, wall=wall, durable=store,
                            engine_scenarios=_graphql_scenarios() if graphql else None)
    token = admin_token if admin_token is not None else (config.admin_token if store is not None else None)

    def health() -> dict[str, object]:
        facts: dict[str, object] = {"operations": len(holder.engine.operations), "reloads": holder.reloads,
                                    "last_reload_error": holder.last_error, "pid": os.getpid()}
        if proxy is not None:
            facts["proxy"] = proxy.upstream.url
        return facts

    recorder = JournalStage(journal, clock=base_clock) if journal is not None else None
    admin = AdminRouter(simulation, state, token, health, clock=base_clock, drift=proxy, journal=recorder)
    stages: list[Stage] = [admin]
    if recorder is not None:
        stages.append(recorder)
    stages += [proxy] if proxy is not None else [simulation]
    if state is not None:
        stages.append(state)
    elif hub is not None:
        from sandlot.graphql.stage import GraphQLStage

        stages.append(GraphQLStage(hub.publish))
    identify: Identify = credential_tenant
    if store is not None and state is not None:
        model_of = state  # the model is inferred again on a reload: ask the stage each time
        identify = StoreTenancy(store, base_clock, lambda: model_of.model.identity is not None)
    pipeline = Pipeline(holder, stages, identify, base_clock, simulation=simulation, state=state, proxy=proxy,
                        journal=recorder)
    if hub is not None:
        simulation.clock.listeners.append(hub.clock_moved)
        pipeline.sockets = _sockets(pipeline, hub, state, config)
    return pipeline


def _is_graphql(engine: Engine) -> bool:
    """Tell whether the engine is a GraphQL stub's surface. Only a GraphQL stub loads the module
    that defines it, so an OpenAPI stub answers without importing it (or graphql-core)."""
    module = sys.modules.get("sandlot.graphql.http")
    return module is not None and isinstance(engine, module.GraphQLSurface)


def _graphql_scenarios() -> dict[str, EngineScenario]:
    """The scenarios a GraphQL stub's engine answers itself (errors in the response body)."""
    from sandlot.graphql.engine import SCENARIOS

    return {name: EngineScenario(*value) for name, value in SCENARIOS.items()}


def _graphql(holder: EngineHolder) -> GraphQLEngine:
    from sandlot.graphql.http import GraphQLSurface

    surface = holder.engine
    assert isinstance(surface, GraphQLSurface)
    return surface.graphql


def _sockets(pipeline: Pipeline, hub: Hub, state: StateStage | None, config: SandboxConfig) -> GraphQLSockets:
    """Return the WebSocket endpoint of a GraphQL stub: subscriptions, with the stub's tenancy."""
    from sandlot.graphql.http import DEFAULT_PATH, GraphQLSurface
    from sandlot.http.websocket import GraphQLSockets
    from sandlot.state.graphql import StoreRecords

    def identify(req: MockRequest) -> str | None:
        return pipeline.context(req).tenant

    def records_for(tenant: str) -> StoreRecords | None:
        if state is None:
            return None
        return StoreRecords(state.store, tenant, hub.clock(tenant), state.model.collections, config.max_objects)

    def path() -> str:
        surface = pipeline.holder.engine
        return surface.path if isinstance(surface, GraphQLSurface) else DEFAULT_PATH

    return GraphQLSockets(hub, path, identify, records_for)


def graphql_holder(spec: str | Sequence[str], *, seed: int = 0, config: SandboxConfig | None = None,
                   examples: str | None = None) -> EngineHolder:
    """Load a GraphQL schema and return the holder of its surface, reloading the same way
    (`graphql.path`, `graphql.examples` and `graphql.magic` of the config; `examples` wins)."""
    from sandlot.graphql.engine import GraphQLEngine, load_examples
    from sandlot.graphql.http import DEFAULT_PATH, GraphQLSurface
    from sandlot.graphql.schema import SchemaError

    settings = (config or SandboxConfig()).graphql
    path = settings.get("path") or DEFAULT_PATH
    examples_file = examples or settings.get("examples")

    def load() -> GraphQLSurface:
        try:
            found = load_examples(examples_file) if examples_file else None
        except ValueError as exc:  # a SchemaError is what the command line and the reloader report
            raise SchemaError(str(exc).removeprefix(f"{examples_file}: "), file=str(examples_file)) from None
        graphql = GraphQLEngine.from_source(spec, seed=seed, examples=found, magic=settings.get("magic"))
        return GraphQLSurface(graphql, path=path, seed=seed)

    return EngineHolder(load(), spec if isinstance(spec, str) else ", ".join(spec), seed, False, load=load)


def build_app(spec: str | Sequence[str], *, seed: int = 0, watch: bool = False, dynamic: bool = False,
              lenient: bool = False,
              db: str | Path | None = None, config: SandboxConfig | None = None,
              fixtures: Fixtures | None = None, default_scenario: str | None = None,
              admin_token: str | None = None, base_clock: Callable[[], float] = time.time,
              monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
              proxy: ProxySettings | None = None, examples: str | None = None,
              journal: str | Path | None = BESIDE_STATE) -> HttpApp:
    """Load the spec (an OpenAPI document or a GraphQL schema), open the store at `db`
    (stateful) or the drift proxy (`proxy`), and the journal, and return the ASGI app serving it
    (raises one of INPUT_ERRORS; the stores are closed again when composing fails). `examples`
    is a GraphQL examples file.

    `journal` is a SQLite file, `:memory:`, None (no journal), or BESIDE_STATE: the state file
    when stateful, else memory."""
    if not isinstance(spec, str) or looks_like_graphql(spec):
        if proxy is not None:
            raise ConfigError("--proxy forwards to a REST API described by OpenAPI; it does not take a GraphQL schema")
        holder = graphql_holder(spec, seed=seed, config=config, examples=examples)
    else:
        holder = EngineHolder(Engine.from_source(spec, seed=seed, dynamic=dynamic, lenient=lenient), spec, seed,
                              dynamic, lenient)
    store = SQLiteStore(db) if db is not None else None
    if store is not None:
        # No other process serves this file yet (worker processes start after this): attempts
        # that were on the wire when the last one stopped are made again (docs/scenarios.md).
        released = store.release_claims()
        if released:
            log.info("%s: %d webhook deliveries were being attempted when the last process stopped; "
                     "they are attempted again", db, released)
    forwarding = None
    where = (db if db is not None else IN_MEMORY) if journal == BESIDE_STATE else journal
    journal_store = None if where is None else JournalStore(
        where, (config or SandboxConfig()).journal,
        beside=store if store is not None and str(where) == store.path else None)
    try:
        forwarding = ProxyStage(proxy, holder.source, clock=base_clock) if proxy is not None else None
        pipeline = compose(holder, config=config, store=store, fixtures=fixtures,
                           default_scenario=default_scenario, admin_token=admin_token,
                           base_clock=base_clock, monotonic=monotonic, wall=wall, proxy=forwarding,
                           journal=journal_store)
    except BaseException:
        if store is not None:
            store.close()
        if forwarding is not None:
            forwarding.store.close()
        if journal_store is not None:
            journal_store.close()
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
