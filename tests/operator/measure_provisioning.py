"""Measure the operator against the API emulator: API writes per sandbox and create-to-Ready time.

Run with `python -m tests.operator.measure_provisioning [N]` (also part of `make bench`).
Create-to-Ready is the operator's own time: the emulator runs no controllers, so this script
marks workloads available as soon as they exist (like an instant kubelet) and the figure is
what the operator adds on top of the cluster's real rollout time.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SANDLOT_RECHECK_SECONDS", "0.5")
os.environ.setdefault("SANDLOT_RETRY_SECONDS", "1")

from sandlot.reconcile.naming import sandbox_namespace  # noqa: E402
from tests.kubeemu.server import KubeEmulator  # noqa: E402
from tests.operator.conftest import PETSTORE, sandbox_spec  # noqa: E402
from tests.operator.harness import Cluster, OperatorRunner, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def measure(count: int = 5) -> dict[str, float]:
    """Provision `count` sandboxes one after another; return the figures."""
    with KubeEmulator(sorted((ROOT / "crds").glob("*.yaml"))) as emu, tempfile.TemporaryDirectory() as tmp:
        os.environ["KUBECONFIG"] = str(emu.write_kubeconfig(Path(tmp) / "kubeconfig"))
        cluster = Cluster(emu.kubeconfig_path, emulator=emu)
        cluster.ensure_namespace("team")
        cluster.configmap("team", "pets-openapi", {"openapi.yaml": PETSTORE})
        runner = OperatorRunner().start()
        writes, seconds = [], []
        try:
            for i in range(count):
                time.sleep(1.0)  # let the previous sandbox's status writes settle
                before = emu.write_count
                start = time.monotonic()
                cluster.apply_sandbox("team", f"m-{i}", sandbox_spec())
                ns = sandbox_namespace("team", f"m-{i}")
                marked = 0

                def ready() -> bool:
                    nonlocal marked
                    marked += cluster.mark_workloads_available(ns)
                    body = cluster.sandbox("team", f"m-{i}") or {}
                    return (body.get("status") or {}).get("phase") == "Ready"

                wait_for(ready, timeout=60, interval=0.02, what="Ready")
                seconds.append(time.monotonic() - start)
                time.sleep(1.0)
                # Exclude this script's own writes: the CR and the simulated kubelet's status patches.
                writes.append(emu.write_count - before - 1 - marked)
        finally:
            runner.stop()
            cluster.close()
    return {"sandboxes": count, "api_writes_per_sandbox": statistics.median(writes),
            "create_to_ready_p50_s": statistics.median(seconds), "create_to_ready_max_s": max(seconds)}


if __name__ == "__main__":
    figures = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
    for key, value in figures.items():
        print(f"{key:>26}: {value:.3f}" if isinstance(value, float) else f"{key:>26}: {value}")
