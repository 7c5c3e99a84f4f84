"""`sandlot operator`: run the kopf operator with liveness and Prometheus endpoints.

Called by cli.py. Logs are JSON lines; kopf's per-object logger adds the sandbox's name
and namespace to every line about a sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys

import kopf
from prometheus_client import start_http_server


def cluster_config_problem() -> str | None:
    """Return why no cluster can be reached (no service account, no readable kubeconfig), or None."""
    import kubernetes

    from sandlot.settings import load_settings

    try:
        kubernetes.config.load_incluster_config(client_configuration=kubernetes.client.Configuration())
        return None
    except kubernetes.config.ConfigException:
        pass
    path = (load_settings().kubeconfig or "").split(":")[0] or os.path.expanduser("~/.kube/config")
    try:
        kubernetes.config.load_kube_config(config_file=path, client_configuration=kubernetes.client.Configuration())
    except (kubernetes.config.ConfigException, OSError) as exc:
        return (f"no Kubernetes cluster configured: not running in a cluster, and the kubeconfig {path} "
                f"cannot be used ({exc}); set KUBECONFIG to a valid kubeconfig or run the operator in a cluster")
    return None


def run_operator(args: argparse.Namespace) -> int:
    """Run the operator until interrupted; return the exit code."""
    problem = cluster_config_problem()
    if problem:
        print(f"sandlot operator: {problem}", file=sys.stderr)
        return 2
    kopf.configure(log_format=kopf.LogFormat.JSON, verbose=args.verbose)
    from sandlot.controller.handlers import build_registry
    from sandlot.settings import load_settings

    registry = build_registry(load_settings())

    start_http_server(args.metrics_port)
    if args.wake_port:
        from sandlot.controller.wake import WakeServer
        from sandlot.kube import Kube, make_api_client

        WakeServer(Kube(make_api_client()), args.wake_port).start()
    # kopf enters peering mode whenever a peering name is given, so pass one only for HA.
    # Replicas with equal priority all pause, so each replica draws its own.
    peering = ({"peering_name": args.peering, "priority": random.SystemRandom().randint(1, 2**31 - 1)}
               if args.peering else {"standalone": True})
    asyncio.run(kopf.operator(
        registry=registry,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz",
        **peering,
    ))
    return 0
