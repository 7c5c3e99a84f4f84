"""Run the Kubernetes API emulator by hand: `python -m tests.kubeemu [--kubeconfig PATH] [CRD.yaml ...]`.

Prints the URL and writes a kubeconfig so that kubectl or the operator can be pointed at it.
"""

import argparse
import threading
from pathlib import Path

from .server import KubeEmulator


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("crds", nargs="*", type=Path, help="CustomResourceDefinition YAML files to serve")
    parser.add_argument("--kubeconfig", type=Path, default=Path("kubeemu.kubeconfig"))
    args = parser.parse_args()
    with KubeEmulator(args.crds) as emulator:
        emulator.write_kubeconfig(args.kubeconfig)
        print(f"Kubernetes emulator at {emulator.url}; KUBECONFIG={args.kubeconfig.resolve()}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
