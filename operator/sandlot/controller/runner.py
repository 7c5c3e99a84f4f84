"""`sandlot operator`: run the kopf operator with liveness and Prometheus endpoints.

Called by cli.py. Logs are JSON lines; kopf's per-object logger adds the sandbox's name
and namespace to every line about a sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import random

import kopf
from prometheus_client import start_http_server


def run_operator(args: argparse.Namespace) -> int:
    """Run the operator until interrupted; return the exit code."""
    kopf.configure(log_format=kopf.LogFormat.JSON, verbose=args.verbose)
    from sandlot.controller import handlers  # noqa: F401  (registers the handlers)

    start_http_server(args.metrics_port)
    # kopf enters peering mode whenever a peering name is given, so pass one only for HA.
    # Replicas with equal priority all pause, so each replica draws its own.
    peering = ({"peering_name": args.peering, "priority": random.SystemRandom().randint(1, 2**31 - 1)}
               if args.peering else {"standalone": True})
    asyncio.run(kopf.operator(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz",
        **peering,
    ))
    return 0
