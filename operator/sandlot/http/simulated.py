"""Put the simulation layer on a mock app: used by `sandlot mock` (stateless and stateful),
`sandlot up` and the tests.

`simulate(app, ...)` takes http/app.py's `MockApp` (whose handler is the engine, or the stateful
handler), makes the `Simulation` its handler, gives the stateful handler the virtual clock, and
returns the ASGI app wrapped in the edge (http/edge.py) together with the simulation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandlot.http.edge import SimulationEdge
from sandlot.simulation.stage import Simulation


def simulate(app: Any, *, stateful_handler: Any = None, config: Mapping[str, Any] | None = None,
             default_scenario: str | None = None, admin_token: str | None = None,
             **clocks: Any) -> tuple[SimulationEdge, Simulation]:
    """Wrap a MockApp with the simulation layer; return (ASGI app, simulation).

    `clocks` may pass base_clock (virtual time base), monotonic (rate limits), wall (signatures).
    """
    store = stateful_handler.store if stateful_handler is not None else None
    token = admin_token
    if stateful_handler is not None and token is None:
        token = stateful_handler.config.admin_token
    simulation = Simulation(lambda: app.holder.engine, app.handler, store=store, admin_token=token,
                            config=config, default_scenario=default_scenario, **clocks)
    if stateful_handler is not None:
        # Stored timestamps, expiry and the request log follow the tenant's virtual clock.
        stateful_handler.clock = simulation.clock.current
    app.set_handler(simulation.handle)
    return SimulationEdge(app, simulation), simulation


def simulate_from_args(app: Any, args: Any) -> SimulationEdge:
    """Wrap the stateless mock's app for `sandlot mock`: `--config`'s simulation keys and
    `--scenario` (raises ConfigError or SimulationError, both ValueErrors, for bad input)."""
    from sandlot.state.config import load_config

    config = load_config(getattr(args, "config", None))
    wrapped, _ = simulate(app, config=config.simulation, default_scenario=getattr(args, "scenario", None))
    return wrapped
