"""`make cluster`: start the test control plane by hand and keep it up until Ctrl-C.

Builds the binaries on first use (tests/controlplane/build.py), starts etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok on 127.0.0.1 (tests/controlplane/cluster.py),
optionally installs the chart, and prints the KUBECONFIG line, so a person can use kubectl and
run `sandlot operator` against it. Everything stops on Ctrl-C (or SIGTERM); the working
directory with the logs is printed and kept.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from tests.controlplane.build import BuildFailed, GoUnavailable, ensure_built
from tests.controlplane.cluster import ControlPlane, ControlPlaneError


def main(argv: list[str] | None = None) -> int:
    """Start the control plane, print how to reach it, wait for a signal, stop it."""
    parser = argparse.ArgumentParser(prog="python -m tests.controlplane",
                                     description="Start the test Kubernetes control plane until Ctrl-C.")
    parser.add_argument("--workdir", type=Path, help="where certificates, etcd data and logs go (default: a temp dir)")
    parser.add_argument("--install-chart", action="store_true",
                        help="helm install charts/sandlot and print the operator ServiceAccount's kubeconfig too")
    args = parser.parse_args(argv)
    try:
        binaries = ensure_built(lambda msg: print(msg, file=sys.stderr, flush=True))
    except (GoUnavailable, BuildFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sandlot-cluster-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        plane = ControlPlane.started(binaries, workdir)
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"control plane up at {plane.server} (logs in {plane.logs})")
        print(f"export KUBECONFIG={plane.admin_kubeconfig}")
        if args.install_chart:
            from tests.controlplane.cluster import write_kubeconfig
            from tests.controlplane.fixtures import RELEASE, RELEASE_NAMESPACE, helm, service_account_token

            helm(plane, "install", RELEASE, str(Path(__file__).resolve().parents[2] / "charts" / "sandlot"),
                 "--namespace", RELEASE_NAMESPACE, "--create-namespace", "--wait=false")
            token = service_account_token(plane, RELEASE_NAMESPACE, RELEASE)
            path = write_kubeconfig(workdir / "operator.kubeconfig", plane.server, plane.pki.ca_cert,
                                    user="sandlot-operator", token=token)
            print(f"chart installed; run the operator as its ServiceAccount with:\n"
                  f"  KUBECONFIG={path} .venv/bin/sandlot operator")
        print("Ctrl-C stops it.", flush=True)
        stop.wait()
    finally:
        plane.stop()
        print(f"stopped; logs kept in {plane.logs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
