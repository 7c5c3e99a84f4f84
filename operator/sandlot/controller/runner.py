"""`sandlot operator`: run the kopf operator with liveness and Prometheus endpoints.

Called by cli.py. Logs are JSON lines; kopf's per-object logger adds the sandbox's name
and namespace to every line about a sandbox.
"""

from __future__ import annotations

import argparse
import asyncio

import kopf
from prometheus_client import start_http_server


def run_operator(args: argparse.Namespace) -> int:
    """Run the operator until interrupted; return the exit code."""
    kopf.configure(log_format=kopf.LogFormat.JSON, verbose=False)
    from sandlot.controller import handlers  # noqa: F401  (registers the handlers)

    start_http_server(args.metrics_port)
    asyncio.run(kopf.operator(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz",
        standalone=args.peering is None,
        peering_name=args.peering or "sandlot",
    ))
    return 0
