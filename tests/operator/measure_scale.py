"""Benchmark the operator on the real control plane: N sandboxes applied at once, then deleted.

`make bench` runs `python -m tests.operator.measure_scale 1000`. It starts the test control
plane (tests/controlplane: kube-apiserver 1.36.3, etcd, controller-manager, scheduler, kwok),
installs the chart with helm, and runs `sandlot operator` as a separate process with the chart's
ServiceAccount. It then creates N SandboxEnvironments (one downstream each) as fast as the API
takes them and reports: the operator's peak RSS (VmHWM), the time from the first apply to all
Ready, create->Ready p50/p99 per sandbox, the operator's API write calls per sandbox (counted
in the apiserver's audit log, kopf's own bookkeeping and Events included), and the same for
deleting all N. Figures are printed; nothing here is a timed assertion.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("SANDLOT_STUB_IMAGE", "ghcr.io/sandlot-dev/sandlot:bench")

import kubernetes  # noqa: E402

from sandlot.kube import Kube  # noqa: E402
from tests.controlplane.build import ensure_built  # noqa: E402
from tests.controlplane.cluster import ControlPlane, write_kubeconfig  # noqa: E402
from tests.controlplane.fixtures import RELEASE, RELEASE_NAMESPACE, helm, service_account_token  # noqa: E402
from tests.operator.conftest import PETSTORE, sandbox_spec  # noqa: E402
from tests.operator.harness import OperatorProcess  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
API = "sandlot.dev/v1alpha1"
TEAM = "bench"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class PeakRss:
    """Follow a process's peak resident memory (VmHWM) across restarts of the same tracker."""

    def __init__(self) -> None:
        self.peak_kib = 0

    def sample(self, pid: int) -> None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))
        except (OSError, ValueError):
            pass


def writes_by_resource(plane: ControlPlane, user: str, since: int) -> collections.Counter[str]:
    """Return the operator's write calls after audit event `since`, by verb and resource."""
    counts: collections.Counter[str] = collections.Counter()
    for event in plane.audit_events(user)[since:]:
        if event.get("verb") in WRITE_VERBS:
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            counts[f"{event['verb']} {resource}"] += 1
    return counts


def run(count: int, workdir: Path, progress: Any = print) -> dict[str, Any]:
    """Run the benchmark with `count` sandboxes; return the figures."""
    bins = ensure_built(progress)
    with ControlPlane(workdir, bins) as plane:
        helm(plane, "install", RELEASE, str(REPO / "charts" / "sandlot"), "--namespace", RELEASE_NAMESPACE,
             "--create-namespace", "--wait=false")
        user = f"system:serviceaccount:{RELEASE_NAMESPACE}:{RELEASE}"
        token = service_account_token(plane, RELEASE_NAMESPACE, RELEASE)
        op_config = write_kubeconfig(workdir / "operator.kubeconfig", plane.server, plane.pki.ca_cert,
                                     user="operator", token=token)
        admin = kubernetes.config.new_client_from_config(config_file=str(plane.admin_kubeconfig))
        kube = Kube(admin)
        custom = kubernetes.client.CustomObjectsApi(admin)
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TEAM}})
        kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pets-openapi", "namespace": TEAM},
                     "data": {"openapi.yaml": PETSTORE}})
        operator = OperatorProcess(op_config, workdir / "operator.log").start()
        rss = PeakRss()
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                if operator.proc is not None:
                    rss.sample(operator.proc.pid)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        names = [f"s-{i:04d}" for i in range(count)]
        created: dict[str, float] = {}
        ready: dict[str, float] = {}
        audit_before = len(plane.audit_events(user))
        progress(f"applying {count} SandboxEnvironments at once")
        start = time.monotonic()

        def apply(name: str) -> None:
            body = {"apiVersion": API, "kind": "SandboxEnvironment", "metadata": {"name": name, "namespace": TEAM},
                    "spec": sandbox_spec()}
            custom.create_namespaced_custom_object("sandlot.dev", "v1alpha1", TEAM, "sandboxenvironments", body)
            created[name] = time.monotonic()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(apply, names))
        applied = time.monotonic() - start
        progress(f"  applied in {applied:.1f} s; waiting for Ready")
        last_report = time.monotonic()
        while len(ready) < count:
            now = time.monotonic()
            for obj in kube.list(API, "SandboxEnvironment", TEAM):
                name = obj["metadata"]["name"]
                if name not in ready and (obj.get("status") or {}).get("phase") == "Ready":
                    ready[name] = now
            if now - last_report > 15:
                progress(f"  {len(ready)}/{count} Ready after {now - start:.0f} s")
                last_report = now
            if now - start > 3600:
                raise RuntimeError(f"only {len(ready)}/{count} Ready after an hour")
            time.sleep(0.5)
        all_ready = time.monotonic() - start
        create_writes = writes_by_resource(plane, user, audit_before)
        latencies = [ready[n] - created[n] for n in names]

        progress("deleting all of them")
        audit_before = len(plane.audit_events(user))
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: kube.delete(API, "SandboxEnvironment", n, TEAM), names))
        while kube.list(API, "SandboxEnvironment", TEAM):
            if time.monotonic() - start > 3600:
                raise RuntimeError("sandboxes still present an hour after deletion")
            time.sleep(1)
        crs_gone = time.monotonic() - start
        while kube.list("v1", "Namespace", label_selector="app.kubernetes.io/managed-by=sandlot"):
            time.sleep(1)
        namespaces_gone = time.monotonic() - start
        delete_writes = writes_by_resource(plane, user, audit_before)
        stop.set()
        operator.stop()
        admin.close()
    return {
        "count": count, "apply_seconds": applied, "all_ready_seconds": all_ready,
        "ready_p50": statistics.median(latencies), "ready_p99": percentile(latencies, 99),
        "peak_rss_mib": rss.peak_kib / 1024,
        "create_writes_per_sandbox": sum(create_writes.values()) / count, "create_writes": create_writes,
        "delete_seconds": crs_gone, "namespaces_gone_seconds": namespaces_gone,
        "delete_writes_per_sandbox": sum(delete_writes.values()) / count, "delete_writes": delete_writes,
    }


def report(figures: dict[str, Any]) -> str:
    """Return the figures as a Markdown table plus the write breakdown."""
    n = figures["count"]
    rows = [
        ("sandboxes applied at once", f"{n}"),
        ("operator peak RSS", f"{figures['peak_rss_mib']:.0f} MiB"),
        ("first apply -> all Ready", f"{figures['all_ready_seconds']:.1f} s"),
        ("create -> Ready per sandbox, p50 / p99", f"{figures['ready_p50']:.1f} s / {figures['ready_p99']:.1f} s"),
        ("operator API writes per sandbox (create to Ready)", f"{figures['create_writes_per_sandbox']:.1f}"),
        ("delete all -> all CRs gone", f"{figures['delete_seconds']:.1f} s"),
        ("delete all -> all namespaces gone", f"{figures['namespaces_gone_seconds']:.1f} s"),
        ("operator API writes per sandbox (delete)", f"{figures['delete_writes_per_sandbox']:.1f}"),
    ]
    lines = ["| figure | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], ""]
    for phase in ("create", "delete"):
        counts = figures[f"{phase}_writes"]
        lines.append(f"{phase} writes per sandbox: " + ", ".join(
            f"{k} {v / n:.2f}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(prog="python -m tests.operator.measure_scale")
    parser.add_argument("count", type=int, nargs="?", default=1000, help="sandboxes to apply at once")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sandlot-scale-") as tmp:
        figures = run(args.count, Path(tmp), lambda msg: print(msg, file=sys.stderr, flush=True))
    print(report(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
